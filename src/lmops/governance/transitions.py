"""Controlled transitions: a protected alias moves when an approver approves a request.

A protected alias (one with a policy, `lmops.registry.policies`) cannot be set directly.
Someone requests a transition (`request_transition`): the policy's checks run and are
recorded with the request, for the approver to read. An approver then approves or rejects
it with a comment; the requester may cancel it. The rules:

- One pending request per alias. A second is refused, naming the pending one: cancel it
  or have it decided first. An approver so always weighs one candidate against the current
  version, and approving one request can never silently overrule another.
- Approval re-runs the checks in its own transaction and is refused, naming every failed
  check, unless all pass; the request then stays pending until fixed or rejected.
- The approval, the alias move and their audit entries commit in one transaction. The
  transition and the policy rows are locked for it (FOR UPDATE on PostgreSQL; SQLite runs
  one writer at a time), so two approvers, or an approval and a rejection, cannot both win.
- Four eyes: whoever requested a transition cannot approve it. People are compared, not
  connections: an actor `<name>@<host>` is the person `<name>` (user names hold no "@").
  With auth off the server names every caller `anonymous@<host>`: there is no one to tell
  apart, so the rule waits until auth is on. Local callers (`local:<os user>`) are people.
- A rejection needs a comment saying why; only the requester cancels.

Roles are the server's business (approve and reject need the approver role there); these
functions are what it calls, and what the CLI calls in-process.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from sqlalchemy import Connection, select, update

from lmops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.text import check_text
from lmops.core.uris import VersionRef, check_name
from lmops.governance.entities import Transition, TransitionStatus
from lmops.governance.tables import transitions
from lmops.registry.entities import ModelVersion, PolicyCheck, RegisteredModel
from lmops.registry.policies import alias_version, check_version, move_alias, read_policy
from lmops.registry.store import LATEST, RegistryStore
from lmops.store.audit import current_actor, record
from lmops.store.engine import writing

PENDING = "pending"
STATUSES: tuple[str, ...] = get_args(TransitionStatus)
MAX_COMMENT = 10_000
MAX_PAGE = 1000
UNIDENTIFIED = "anonymous@"  # how the server names a caller with auth off
_HEX_ID = re.compile(r"[0-9a-f]{32}")


def person(actor: str) -> str:
    """Who an audit actor is: `alice@10.0.0.7` is alice, and so is `local:alice` (an OS user
    working on the store directly): four eyes would rather refuse two people who share a
    name than let one person approve their own request under two spellings."""
    return (actor.rpartition("@")[0] or actor).removeprefix("local:")


def identified(actor: str) -> bool:
    """Whether `actor` names someone (not the anonymous caller of a server with auth off)."""
    return not actor.startswith(UNIDENTIFIED)


def evaluate_policy(
    registry: RegistryStore, version: ModelVersion, alias: str
) -> list[PolicyCheck]:
    """The checks of the policy protecting `alias`, judged against `version` now ([] when
    the alias is not protected)."""
    alias = _check_alias(alias)
    with registry.engine.connect() as conn:
        return check_version(conn, read_policy(conn, version.model_id, alias), version.id)


def request_transition(
    registry: RegistryStore, uri: str | VersionRef, alias: str, comment: str = ""
) -> Transition:
    """Ask for the protected `alias` to point at version `uri`; recorded with its checks."""
    version = registry.get_version(uri)
    alias = _check_alias(alias)
    text = _comment(comment)
    name = version.model_name
    with writing(registry.engine) as conn:
        policy = read_policy(conn, version.model_id, alias, lock=True)
        if policy is None:
            raise InvalidInput(
                f"models:/{name}@{alias} is not protected (it has no policy), so it needs no "
                f"transition: set it directly with `lmops models alias {name} {alias} "
                f"{version.version}` or PUT /api/v1/models/{name}/aliases/{alias}",
                field="alias",
            )
        current = alias_version(conn, version.model_id, alias)
        if current is not None and current[0] == version.id:
            raise Conflict(f"models:/{name}@{alias} already points at {version.uri}")
        _refuse_second_request(conn, version, alias)
        checks = check_version(conn, policy, version.id)
        row: dict[str, Any] = {
            "id": new_id(),
            "model_id": version.model_id,
            "version_id": version.id,
            "alias": alias,
            "from_version_id": None if current is None else current[0],
            "status": PENDING,
            "requested_by": current_actor(),
            "requested_at": utcnow(),
            "comment": text,
            "checks": {"request": _dump(checks), "decision": None},
        }
        conn.execute(transitions.insert(), row)
        after = {
            "version": version.version,
            "from_version": None if current is None else current[1],
            "comment": text,
            "checks": _dump(checks),
        }
        _record(conn, registry, "transition.requested", row["id"], name, alias, version, after)
    return get_transition(registry, row["id"])


def approve(registry: RegistryStore, transition_id: str, comment: str = "") -> Transition:
    """Approve a pending transition and move its alias, if every check passes now."""
    text = _comment(comment)
    found = get_transition(registry, transition_id)
    _refuse_decided(found)
    actor = current_actor()
    if identified(actor) and person(actor) == person(found.requested_by):
        raise Forbidden(
            f"{person(actor)} requested transition {found.id} and so cannot approve it "
            "(four eyes): another approver must"
        )
    with writing(registry.engine) as conn:
        _refuse_decided(_locked(conn, found.id))
        policy = read_policy(conn, found.model_id, found.alias, lock=True)
        checks = check_version(conn, policy, found.version_id)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise Conflict(_refusal(found, checks, failed))
        current = alias_version(conn, found.model_id, found.alias)
        values = _decision("approved", actor, text, found, checks)
        values["from_version_id"] = None if current is None else current[0]
        conn.execute(update(transitions).where(transitions.c.id == found.id).values(**values))
        move_alias(
            conn,
            project=registry.project,
            model_name=found.model_name,
            model_id=found.model_id,
            alias=found.alias,
            version_id=found.version_id,
            version=found.version,
            transition_id=found.id,
        )
        after = {
            "version": found.version,
            "from_version": None if current is None else current[1],
            "comment": text,
            "checks": _dump(checks),
        }
        _record_decision(conn, registry, "transition.approved", found, after)
    return get_transition(registry, found.id)


def reject(registry: RegistryStore, transition_id: str, comment: str) -> Transition:
    """Reject a pending transition, saying why (`comment` is required)."""
    text = _comment(comment)
    if not text.strip():
        raise InvalidInput(
            "say why the transition is rejected: a comment is required", field="comment"
        )
    found = get_transition(registry, transition_id)
    _refuse_decided(found)
    with writing(registry.engine) as conn:
        _refuse_decided(_locked(conn, found.id))
        checks = check_version(
            conn, read_policy(conn, found.model_id, found.alias), found.version_id
        )
        values = _decision("rejected", current_actor(), text, found, checks)
        conn.execute(update(transitions).where(transitions.c.id == found.id).values(**values))
        after = {"version": found.version, "comment": text, "checks": _dump(checks)}
        _record_decision(conn, registry, "transition.rejected", found, after)
    return get_transition(registry, found.id)


def cancel(registry: RegistryStore, transition_id: str, comment: str = "") -> Transition:
    """Withdraw a pending transition; only whoever requested it may."""
    text = _comment(comment)
    found = get_transition(registry, transition_id)
    _refuse_decided(found)
    actor = current_actor()
    if identified(actor) and person(actor) != person(found.requested_by):
        raise Forbidden(
            f"only {person(found.requested_by)}, who requested transition {found.id}, can "
            "cancel it; an approver can reject it instead"
        )
    with writing(registry.engine) as conn:
        _refuse_decided(_locked(conn, found.id))
        values = _decision("cancelled", actor, text, found, None)
        conn.execute(update(transitions).where(transitions.c.id == found.id).values(**values))
        after = {"version": found.version, "comment": text}
        _record_decision(conn, registry, "transition.cancelled", found, after)
    return get_transition(registry, found.id)


def get_transition(registry: RegistryStore, transition_id: str) -> Transition:
    """A transition of a model in the registry's project; NotFound for any other."""
    missing = NotFound(f"no transition with id {str(transition_id)[:100]!r}")
    if not isinstance(transition_id, str) or not _HEX_ID.fullmatch(transition_id):
        raise missing
    with registry.engine.connect() as conn:
        row = conn.execute(select(transitions).where(transitions.c.id == transition_id)).first()
    models = {m.id: m for m in registry.list_models()}
    if row is None or row.model_id not in models:
        raise missing
    return _entities(registry, models, [dict(row._mapping)])[0]


def list_transitions(
    registry: RegistryStore,
    name: str | None = None,
    *,
    status: str | None = None,
    limit: int = 100,
) -> list[Transition]:
    """Transitions of model `name` (or of every model in the project), newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"status is one of {', '.join(STATUSES)}, not {status!r}", field="status"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
    chosen = [registry.get_model(name)] if name is not None else registry.list_models()
    models = {m.id: m for m in chosen}
    query = (
        select(transitions)
        .where(transitions.c.model_id.in_(list(models)))
        .order_by(transitions.c.requested_at.desc(), transitions.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(transitions.c.status == status)
    with registry.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return _entities(registry, models, rows)


# -- helpers ------------------------------------------------------------------------------


def _check_alias(alias: str) -> str:
    check_name(alias, "alias", field="alias")
    if alias == LATEST:
        raise InvalidInput("@latest always means the highest version; it cannot be moved")
    return alias


def _comment(comment: str) -> str:
    return check_text(comment, "comment", max_length=MAX_COMMENT)


def _refuse_second_request(conn: Connection, version: ModelVersion, alias: str) -> None:
    t = transitions.c
    pending = conn.execute(
        select(t.id, t.requested_by).where(
            (t.model_id == version.model_id) & (t.alias == alias) & (t.status == PENDING)
        )
    ).first()
    if pending is not None:
        raise Conflict(
            f"transition {pending.id} (requested by {pending.requested_by}) is already pending "
            f"for models:/{version.model_name}@{alias}: its requester can cancel it, or an "
            "approver decide it, before another is requested"
        )


def _refuse_decided(found: Transition | dict[str, Any]) -> None:
    row = found.model_dump() if isinstance(found, Transition) else found
    if row["status"] != PENDING:
        raise Conflict(
            f"transition {row['id']} was {row['status']} by {row['decided_by']} "
            f"at {row['decided_at']:%Y-%m-%d %H:%M:%S} UTC; it can no longer be decided"
        )


def _locked(conn: Connection, transition_id: str) -> dict[str, Any]:
    query = select(transitions).where(transitions.c.id == transition_id).with_for_update()
    return dict(conn.execute(query).mappings().one())


def _refusal(found: Transition, checks: list[PolicyCheck], failed: list[PolicyCheck]) -> str:
    reasons = "; ".join(f"{c.check}: {c.detail}" for c in failed)
    return (
        f"cannot approve transition {found.id} ({found.uri} to @{found.alias}): "
        f"{len(failed)} of {len(checks)} policy checks fail: {reasons}. "
        "Fix them and approve again, or reject the request"
    )


def _decision(
    status: str, actor: str, text: str, found: Transition, checks: list[PolicyCheck] | None
) -> dict[str, Any]:
    return {
        "status": status,
        "decided_by": actor,
        "decided_at": utcnow(),
        "decision_comment": text,
        "checks": {
            "request": _dump(found.checks),
            "decision": None if checks is None else _dump(checks),
        },
    }


def _dump(checks: list[PolicyCheck]) -> list[dict[str, Any]]:
    return [c.model_dump() for c in checks]


def _record(
    conn: Connection,
    registry: RegistryStore,
    action: str,
    transition_id: str,
    name: str,
    alias: str,
    version: ModelVersion,
    after: dict[str, Any],
) -> None:
    target = f"models:/{name}@{alias} -> {version.uri}"
    record(conn, action, "transition", transition_id, target, project=registry.project, after=after)


def _record_decision(
    conn: Connection,
    registry: RegistryStore,
    action: str,
    found: Transition,
    after: dict[str, Any],
) -> None:
    record(
        conn,
        action,
        "transition",
        found.id,
        f"models:/{found.model_name}@{found.alias} -> {found.uri}",
        project=registry.project,
        before={"status": found.status, "requested_by": found.requested_by},
        after=after,
    )


def _entities(
    registry: RegistryStore, models: dict[str, RegisteredModel], rows: list[dict[str, Any]]
) -> list[Transition]:
    numbers: dict[str, int] = {}
    for model_id in {r["model_id"] for r in rows}:
        numbers.update((v.id, v.version) for v in registry.list_versions(models[model_id].name))
    found = []
    for row in rows:
        checks = row["checks"] or {}
        found.append(
            Transition.model_validate(
                {
                    **row,
                    "model_name": models[row["model_id"]].name,
                    "version": numbers[row["version_id"]],
                    "from_version": numbers.get(row["from_version_id"] or ""),
                    "checks": checks.get("request") or [],
                    "decision_checks": checks.get("decision"),
                }
            )
        )
    return found
