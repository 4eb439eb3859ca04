"""Results attached to model versions: named numbers that alias policies read.

Evaluation attaches its aggregates here (`rougeL`, `eval/accuracy`); until it does, people
and scripts attach them by hand, saying where each came from in `source`. A version holds
one value per name: attaching the name again replaces the value, and the audit log keeps
the one before. This module and the policy checks are the only code that touches the
table (the registry store is large enough without it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from lmops.core.errors import Conflict, InvalidInput
from lmops.core.ids import utcnow
from lmops.core.text import check_text
from lmops.registry.entities import ModelVersion, VersionResult
from lmops.registry.tables import model_version_results
from lmops.store.audit import current_actor, record
from lmops.store.engine import writing
from lmops.tracking.entities import check_key

if TYPE_CHECKING:
    from lmops.registry.store import RegistryStore

MAX_SOURCE = 2000
_ATTEMPTS = 3  # two first attachments of one name may race; the loser updates instead


def check_value(value: object, field: str = "value") -> float:
    """A finite number, or InvalidInput (true and false are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number, got {type(value).__name__}", field=field)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{field} must be a finite number, not {value}", field=field)
    return number


def attach_result(
    store: RegistryStore, version: ModelVersion, name: str, value: float, source: str = ""
) -> VersionResult:
    """Attach result `name` = `value` to `version`, replacing an earlier value of `name`.

    `source` says where the number came from (`runs:/<id>` of an evaluation, a report).
    """
    key = check_key(name, "name")
    number = check_value(value)
    origin = check_text(source, "source", max_length=MAX_SOURCE)
    where = (model_version_results.c.version_id == version.id) & (
        model_version_results.c.name == key
    )
    for _ in range(_ATTEMPTS):
        row: dict[str, Any] = {
            "version_id": version.id,
            "name": key,
            "value": number,
            "source": origin,
            "attached_by": current_actor(),
            "attached_at": utcnow(),
        }
        try:
            with writing(store.engine) as conn:
                before = conn.execute(
                    select(model_version_results.c.value, model_version_results.c.source).where(
                        where
                    )
                ).first()
                if before is None:
                    conn.execute(model_version_results.insert(), row)
                else:
                    conn.execute(update(model_version_results).where(where).values(**row))
                record(
                    conn,
                    "model_version.result",
                    "model_version",
                    version.id,
                    f"{version.uri} result {key}",
                    project=store.project,
                    before=None if before is None else {"value": before[0], "source": before[1]},
                    after={"name": key, "value": number, "source": origin},
                )
        except IntegrityError:
            continue
        return VersionResult.model_validate(row)
    raise Conflict(f"could not attach {key} to {version.uri}: too many concurrent writers")


def list_results(store: RegistryStore, version: ModelVersion) -> list[VersionResult]:
    """The results attached to `version`, by name."""
    query = (
        select(model_version_results)
        .where(model_version_results.c.version_id == version.id)
        .order_by(model_version_results.c.name)
    )
    with store.engine.connect() as conn:
        return [VersionResult.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def result_values(conn: Connection, version_id: str) -> dict[str, float]:
    """{name: value} of a version's results, read in the caller's transaction."""
    query = select(model_version_results.c.name, model_version_results.c.value).where(
        model_version_results.c.version_id == version_id
    )
    return {name: float(value) for name, value in conn.execute(query)}
