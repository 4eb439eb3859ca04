"""The audit log: an append-only record of every governed state change.

Who did what, when, to which object, with the state before and after. Stages write an
entry in the same transaction as the change (so a change without its entry cannot
commit), nothing in lmops updates or deletes entries, and the database refuses to: the
migration adds triggers that abort any UPDATE or DELETE on the table, on SQLite and on
PostgreSQL.

The actor is whoever the current context says (`acting_as`): the server sets the
authenticated user; the CLI and the SDK act as `local:<os user>`.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, Connection, Engine, Index, String, Table, Text, select

from lmops.core.errors import InvalidInput
from lmops.core.ids import utcnow
from lmops.store.metadata import BigId, JSONType, UTCDateTime, metadata, project_column

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    project_column(),
    Column("action", String(64), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_id", String(255), nullable=False),
    Column("target", Text, nullable=False),  # a readable name: models:/chat/3
    Column("before", JSONType),
    Column("after", JSONType),
    Index(None, "at"),
    Index(None, "target_kind", "target_id"),
    Index(None, "actor", "at"),
    Index(None, "project", "at"),
)

MAX_PAGE = 1000
_actor: ContextVar[str | None] = ContextVar("lmops_actor", default=None)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    project: str
    action: str
    target_kind: str
    target_id: str
    target: str
    before: Any = None
    after: Any = None


class AuditQuery(BaseModel):
    """Filters for reading the log; every one optional. `after_id` pages forward."""

    project: str | None = None
    actor: str | None = None
    action: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


def current_actor() -> str:
    """Who is acting: the authenticated user on the server, else `local:<os user>`."""
    actor = _actor.get()
    if actor is not None:
        return actor
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute the audit entries written inside to `actor`."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def record(
    conn: Connection,
    action: str,
    target_kind: str,
    target_id: str,
    target: str,
    *,
    project: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Append an entry about something in `project`, inside the caller's transaction."""
    conn.execute(
        audit_log.insert(),
        {
            "at": utcnow(),
            "actor": current_actor(),
            "project": project,
            "action": action,
            "target_kind": target_kind,
            "target_id": target_id,
            "target": target,
            "before": before,
            "after": after,
        },
    )


def search(engine: Engine, query: AuditQuery | None = None) -> list[AuditEntry]:
    """Entries oldest first, filtered; pass the last id as `after_id` for the next page."""
    q = query or AuditQuery()
    if q.since and q.until and q.since > q.until:
        raise InvalidInput("since must be before until", field="since")
    t = audit_log.c
    statement = select(audit_log).order_by(t.id).limit(q.limit)
    for column, value in (
        (t.project, q.project),
        (t.actor, q.actor),
        (t.action, q.action),
        (t.target_kind, q.target_kind),
        (t.target_id, q.target_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if q.since is not None:
        statement = statement.where(t.at >= q.since)
    if q.until is not None:
        statement = statement.where(t.at < q.until)
    if q.after_id is not None:
        statement = statement.where(t.id > q.after_id)
    with engine.connect() as conn:
        return [AuditEntry.model_validate(dict(r)) for r in conn.execute(statement).mappings()]


def export_lines(engine: Engine, query: AuditQuery | None = None) -> Iterator[str]:
    """Every entry the filters select as JSON lines, page by page (bounded memory)."""
    q = (query or AuditQuery()).model_copy(update={"limit": MAX_PAGE})
    while True:
        page = search(engine, q)
        for entry in page:
            yield entry.model_dump_json() + "\n"
        if len(page) < MAX_PAGE:
            return
        q = q.model_copy(update={"after_id": page[-1].id})
