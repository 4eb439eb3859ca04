"""Alias policies: what must hold before an alias of a model may point at a version.

An alias with a policy is *protected*. `RegistryStore.set_alias` and `delete_alias` refuse
to touch it (`refuse_if_protected`); it moves only when an approver approves a transition
(`lmops.governance.transitions`), which calls `move_alias` in the transaction that records
the approval, so the approval and the move commit together or not at all. A policy asks
for tags (a name, or name=value), results at or above a threshold (`lmops.registry.results`)
and a model card; one that asks for nothing still makes every move wait for an approver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from lmops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from lmops.core.ids import utcnow
from lmops.core.text import check_text
from lmops.core.uris import check_name
from lmops.registry.entities import AliasPolicy, PolicyCheck
from lmops.registry.results import check_value, result_values
from lmops.registry.tables import (
    alias_policies,
    model_aliases,
    model_cards,
    model_versions,
    registered_models,
)
from lmops.store.audit import current_actor, record
from lmops.store.engine import writing
from lmops.tracking.entities import check_key

if TYPE_CHECKING:
    from lmops.registry.store import RegistryStore

MAX_REQUIREMENTS = 100
_ATTEMPTS = 3
_LATEST = "latest"  # registry.store.LATEST; imported from there it would make a cycle


def set_policy(
    store: RegistryStore,
    name: str,
    alias: str,
    *,
    required_tags: Iterable[str] = (),
    min_results: Mapping[str, float] | None = None,
    require_card: bool = False,
) -> AliasPolicy:
    """Protect `alias` of model `name` with this policy, replacing any it had."""
    model = store.get_model(name)
    alias = _check_alias(alias)
    row: dict[str, Any] = {
        "model_id": model.id,
        "alias": alias,
        "required_tags": _check_tags(required_tags),
        "min_results": _check_results(min_results or {}),
        "require_card": _check_flag(require_card),
        "updated_by": current_actor(),
        "updated_at": utcnow(),
    }
    for _ in range(_ATTEMPTS):
        try:
            with writing(store.engine) as conn:
                before = _policy_row(conn, model.id, alias, lock=True)
                if before is None:
                    conn.execute(alias_policies.insert(), row)
                else:
                    # An update, not a delete and insert: an approval waiting on this row's
                    # lock then reads the new policy, where a deleted row would read as none.
                    conn.execute(
                        update(alias_policies).where(_where(model.id, alias)).values(**row)
                    )
                record(
                    conn,
                    "alias_policy.set",
                    "model",
                    model.id,
                    f"models:/{model.name}@{alias} policy",
                    project=store.project,
                    before=None if before is None else _rules(before),
                    after=_rules(row),
                )
        except IntegrityError:  # another first policy of this alias committed meanwhile
            continue
        return AliasPolicy.model_validate({**row, "model_name": model.name})
    raise Conflict(f"could not set the policy of models:/{model.name}@{alias}: retry")


def get_policy(store: RegistryStore, name: str, alias: str) -> AliasPolicy:
    """The policy protecting `alias` of model `name`; NotFound when it has none."""
    model = store.get_model(name)
    alias = _check_alias(alias)
    with store.engine.connect() as conn:
        row = _policy_row(conn, model.id, alias)
    if row is None:
        raise NotFound(
            f"models:/{model.name}@{alias} has no policy: it is not protected "
            f"(protect it with `lmops models policy set {model.name} {alias} ...`)"
        )
    return AliasPolicy.model_validate({**row, "model_name": model.name})


def list_policies(store: RegistryStore, name: str) -> list[AliasPolicy]:
    """The policies of model `name`, by alias."""
    model = store.get_model(name)
    query = (
        select(alias_policies)
        .where(alias_policies.c.model_id == model.id)
        .order_by(alias_policies.c.alias)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [AliasPolicy.model_validate({**r, "model_name": model.name}) for r in rows]


def delete_policy(store: RegistryStore, name: str, alias: str) -> None:
    """Remove the policy of `alias`: from then on the alias moves without approval."""
    model = store.get_model(name)
    alias = _check_alias(alias)
    with writing(store.engine) as conn:
        before = _policy_row(conn, model.id, alias, lock=True)
        if before is None:
            raise NotFound(f"models:/{model.name}@{alias} has no policy to remove")
        conn.execute(delete(alias_policies).where(_where(model.id, alias)))
        record(
            conn,
            "alias_policy.delete",
            "model",
            model.id,
            f"models:/{model.name}@{alias} policy",
            project=store.project,
            before=_rules(before),
        )


# -- what the registry store and the transitions call, inside their transactions ----------


def refuse_if_protected(
    conn: Connection, model_id: str, name: str, alias: str, version: int | None = None
) -> None:
    """Refuse a direct move (`version`) or removal (None) of a protected alias."""
    if _policy_row(conn, model_id, alias) is None:
        return
    where = f"models:/{name}@{alias}"
    if version is None:
        raise Forbidden(
            f"{where} is protected by a policy and cannot be removed directly: an admin "
            f"removes its policy first (`lmops models policy remove {name} {alias}`)"
        )
    raise Forbidden(
        f"{where} is protected by a policy: request a transition instead "
        f"(`lmops models transition request models:/{name}/{version} {alias} -m ...` or "
        f"POST /api/v1/models/{name}/transitions) and have an approver approve it"
    )


def read_policy(
    conn: Connection, model_id: str, alias: str, *, lock: bool = False
) -> AliasPolicy | None:
    """The policy of `alias` (None: it is not protected), read in `conn`.

    With `lock` the row stays locked until the caller's transaction ends: requests and
    approvals for one alias take it, so on PostgreSQL they happen one at a time (SQLite's
    write transactions are one at a time already)."""
    row = _policy_row(conn, model_id, alias, lock=lock)
    if row is None:
        return None
    name = conn.execute(
        select(registered_models.c.name).where(registered_models.c.id == model_id)
    ).scalar_one()
    return AliasPolicy.model_validate({**row, "model_name": name})


def check_version(
    conn: Connection, policy: AliasPolicy | None, version_id: str
) -> list[PolicyCheck]:
    """Judge the version against every requirement of `policy`, reading in `conn`."""
    if policy is None:
        return []
    tags = conn.execute(
        select(model_versions.c.tags).where(model_versions.c.id == version_id)
    ).scalar_one()
    checks = [_tag_check(requirement, tags or {}) for requirement in policy.required_tags]
    results = result_values(conn, version_id)
    for metric, least in sorted(policy.min_results.items()):
        found = results.get(metric)
        check = f"result {metric} >= {least:g}"
        if found is None:
            checks.append(PolicyCheck(check=check, passed=False, detail="no result attached"))
        else:
            passed = found >= least
            detail = f"{metric} is {found:g}" + ("" if passed else f", below {least:g}")
            checks.append(PolicyCheck(check=check, passed=passed, detail=detail))
    if policy.require_card:
        revision = conn.execute(
            select(func.max(model_cards.c.revision)).where(model_cards.c.version_id == version_id)
        ).scalar()
        detail = "no model card (generate one)" if revision is None else f"revision {revision}"
        checks.append(PolicyCheck(check="model card", passed=revision is not None, detail=detail))
    return checks


def alias_version(conn: Connection, model_id: str, alias: str) -> tuple[str, int] | None:
    """(version id, version number) that `alias` points at now, read in `conn`."""
    query = (
        select(model_versions.c.id, model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where((model_aliases.c.model_id == model_id) & (model_aliases.c.alias == alias))
    )
    found = conn.execute(query).first()
    return None if found is None else (str(found[0]), int(found[1]))


def move_alias(
    conn: Connection,
    *,
    project: str,
    model_name: str,
    model_id: str,
    alias: str,
    version_id: str,
    version: int,
    transition_id: str,
) -> None:
    """Point a protected alias at `version_id` for approved transition `transition_id`,
    inside the transaction that records the approval."""
    where = (model_aliases.c.model_id == model_id) & (model_aliases.c.alias == alias)
    previous = conn.execute(
        select(model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where(where)
    ).scalar()
    conn.execute(delete(model_aliases).where(where))
    conn.execute(
        model_aliases.insert(),
        {"model_id": model_id, "alias": alias, "version_id": version_id, "updated_at": utcnow()},
    )
    record(
        conn,
        "model_alias.set",
        "model",
        model_id,
        f"models:/{model_name}@{alias}",
        project=project,
        before=None if previous is None else {"version": previous},
        after={"version": version, "transition_id": transition_id},
    )


# -- helpers ------------------------------------------------------------------------------


def _where(model_id: str, alias: str) -> Any:
    return (alias_policies.c.model_id == model_id) & (alias_policies.c.alias == alias)


def _policy_row(
    conn: Connection, model_id: str, alias: str, *, lock: bool = False
) -> dict[str, Any] | None:
    query = select(alias_policies).where(_where(model_id, alias))
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)


def _rules(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("required_tags", "min_results", "require_card")}


def _tag_check(requirement: str, tags: Mapping[str, str]) -> PolicyCheck:
    key, sep, wanted = requirement.partition("=")
    check = f"tag {requirement}"
    found = tags.get(key)
    if found is None:
        return PolicyCheck(check=check, passed=False, detail=f"tag {key} is not set")
    if sep and found != wanted:
        detail = f"tag {key} is {found!r}, not {wanted!r}"
        return PolicyCheck(check=check, passed=False, detail=detail)
    return PolicyCheck(check=check, passed=True, detail=f"{key}={found}")


def _check_alias(alias: str) -> str:
    check_name(alias, "alias", field="alias")
    if alias == _LATEST:
        raise InvalidInput("@latest always means the highest version; it has no policy")
    return alias


def _check_tags(required: Iterable[str]) -> list[str]:
    if isinstance(required, str | bytes) or not isinstance(required, Iterable):
        raise InvalidInput("required_tags must be a list of names or name=value", field="tags")
    found: list[str] = []
    for item in required:
        text = check_text(item, "required_tags", max_length=5000)
        key, _, _ = text.partition("=")
        if not key.strip():
            raise InvalidInput(
                f"a required tag is a name or name=value, not {text[:100]!r}",
                field="required_tags",
            )
        if text not in found:
            found.append(text)
    _bounded(len(found), "required_tags")
    return found


def _check_results(least: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(least, Mapping):
        raise InvalidInput("min_results must map result names to numbers", field="min_results")
    _bounded(len(least), "min_results")
    return {
        check_key(k, "min_results"): check_value(v, f"min_results.{k}") for k, v in least.items()
    }


def _check_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("require_card must be true or false", field="require_card")
    return value


def _bounded(count: int, field: str) -> None:
    if count > MAX_REQUIREMENTS:
        raise InvalidInput(f"{field} has more than {MAX_REQUIREMENTS} entries", field=field)
