"""Webhooks: registry events POSTed, signed, to the URLs that subscribed to them.

The audit log is the outbox. A governed change and its audit entry commit together, so
`scan` reads the entries after a cursor and turns each into a pending delivery for every
active webhook that subscribed to its action: no event is missed, none is invented, and
the request that made the change only ever writes its entry. `deliver_due` (in
`lmops.governance.delivery`) then POSTs what is due, signed as `lmops.governance.signing`
describes, retrying with backoff. The server runs both every second on a thread of its
own; `lmops webhooks deliver` runs one pass.

A webhook receives the entries recorded after it was created in its own project, for the
actions in `events` (["*"] for all of EVENTS). A `WebhookStore` sees, changes and lists the
deliveries of its project's webhooks only; another project's webhook is NotFound.
"""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.governance.delivery import MAX_ATTEMPTS, Attempt, deliver_due
from lmops.governance.entities import CreatedWebhook, Delivery, DeliveryStatus, Webhook
from lmops.governance.signing import verify_signature
from lmops.governance.tables import webhook_cursor, webhook_deliveries, webhooks
from lmops.store.audit import audit_log, record
from lmops.store.engine import writing

__all__ = [
    "ALL_EVENTS",
    "EVENTS",
    "MAX_ATTEMPTS",
    "Attempt",
    "WebhookStore",
    "deliver_due",
    "dispatch",
    "scan",
    "verify_signature",
]

EVENTS = (
    "model.create",
    "model_version.create",
    "model_version.update",
    "model_alias.set",
    "model_alias.delete",
    "model_card.save",
    "model_version.result",
    "alias_policy.set",
    "alias_policy.delete",
    "transition.requested",
    "transition.approved",
    "transition.rejected",
    "transition.cancelled",
)
ALL_EVENTS = "*"
MAX_URL_CHARS = 2048
MAX_EVENTS = 50
MAX_PAGE = 1000
SECRET_CHARS = (16, 256)
SCAN_BATCH = 500
# On PostgreSQL an entry can commit after one with a higher id. The cursor stops before
# such a gap until it is this old; by then its transaction has committed or rolled back.
GAP_GRACE = timedelta(minutes=5)
_HEX_ID = re.compile(r"[0-9a-f]{32}")


class WebhookStore(InProject):
    """Webhook subscriptions of one project and their deliveries."""

    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project

    def create(
        self,
        url: str,
        events: Sequence[str],
        *,
        description: str = "",
        secret: str | None = None,
        active: bool = True,
    ) -> CreatedWebhook:
        """Subscribe `url` to `events`; the answer holds the signing secret, shown only now.

        Without a `secret` one is generated. The subscription is itself audited.
        """
        row: dict[str, Any] = {
            "id": new_id(),
            "project": self.project,
            "url": check_url(url),
            "secret": _check_secret(secret) if secret is not None else _new_secret(),
            "events": check_events(events),
            "active": active,
            "description": check_text(description, "description", max_length=10_000),
        }
        with writing(self.engine) as conn:
            # Taken with the scan's lock: every entry recorded from now on is scanned after
            # this commit, so the new webhook sees all of them.
            _lock_cursor(conn)
            row["created_at"] = utcnow()
            conn.execute(webhooks.insert(), row)
            after = {k: row[k] for k in ("url", "events", "active", "description")}
            record(
                conn,
                "webhook.create",
                "webhook",
                row["id"],
                _target(row),
                project=row["project"],
                after=after,
            )
        return CreatedWebhook.model_validate(row)

    def list(self) -> builtins.list[Webhook]:
        """Every webhook of the project, oldest first, without secrets."""
        query = (
            select(*_public_columns())
            .where(self._in_project())
            .order_by(webhooks.c.created_at, webhooks.c.id)
        )
        with self.engine.connect() as conn:
            return [Webhook.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def get(self, webhook_id: str) -> Webhook:
        """One webhook, without its secret; NotFound for an unknown id."""
        query = select(*_public_columns()).where(
            webhooks.c.id == _check_id(webhook_id), self._in_project()
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            raise NotFound(f"no webhook {webhook_id!r}")
        return Webhook.model_validate(dict(found))

    def delete(self, webhook_id: str) -> None:
        """Unsubscribe: the webhook and its deliveries go, and the log records it."""
        hook = self.get(webhook_id)
        with writing(self.engine) as conn:
            _lock_cursor(conn)  # no scan is queueing deliveries for it meanwhile
            conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == hook.id)
            )
            if conn.execute(delete(webhooks).where(webhooks.c.id == hook.id)).rowcount == 0:
                raise NotFound(f"no webhook {webhook_id!r}")  # deleted by someone else
            before = hook.model_dump(
                mode="json", include={"url", "events", "active", "description"}
            )
            record(
                conn,
                "webhook.delete",
                "webhook",
                hook.id,
                _target(before),
                project=hook.project,
                before=before,
            )

    def deliveries(
        self,
        webhook_id: str | None = None,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
    ) -> builtins.list[Delivery]:
        """Deliveries newest first, of one webhook (it must exist) or of all the project's."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        d = webhook_deliveries.c
        query = (
            select(webhook_deliveries, audit_log.c.action.label("event"), audit_log.c.target)
            .join(audit_log, audit_log.c.id == d.audit_id)
            .join(webhooks, webhooks.c.id == d.webhook_id)
            .where(self._in_project())
            .order_by(d.audit_id.desc(), d.webhook_id)
            .limit(limit)
        )
        if webhook_id is not None:
            query = query.where(d.webhook_id == self.get(webhook_id).id)
        if status is not None:
            query = query.where(d.status == status)
        with self.engine.connect() as conn:
            return [Delivery.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def _in_project(self) -> ColumnElement[bool]:
        """The filter every query of this store carries: webhooks of this project only."""
        return webhooks.c.project == self.project


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, or InvalidInput saying what is wrong."""
    check_text(url, "url", max_length=MAX_URL_CHARS)
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput("url must be an http(s) URL without spaces", field="url")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(
            f"url must be an absolute http:// or https:// URL, not {url[:100]!r}", field="url"
        )
    return url


def check_events(events: Iterable[str]) -> list[str]:
    """The subscribed actions, deduplicated in order; ["*"] alone means every one of EVENTS."""
    if isinstance(events, str):
        raise InvalidInput("events must be a list of event names", field="events")
    chosen = list(dict.fromkeys(events))
    if not chosen or len(chosen) > MAX_EVENTS:
        raise InvalidInput(
            f"give 1 to {MAX_EVENTS} events (or {ALL_EVENTS!r}); known: {', '.join(EVENTS)}",
            field="events",
        )
    unknown = [e for e in chosen if e not in EVENTS and e != ALL_EVENTS]
    if unknown:
        shown = ", ".join(repr(e[:100]) for e in unknown[:3])
        raise InvalidInput(
            f"unknown event {shown}; known: {', '.join(EVENTS)} or {ALL_EVENTS!r}",
            field="events",
        )
    return [ALL_EVENTS] if ALL_EVENTS in chosen else chosen


def subscribes(events: Sequence[str], action: str) -> bool:
    """Whether a webhook with `events` receives `action`."""
    return action in events or (ALL_EVENTS in events and action in EVENTS)


def _check_secret(secret: str) -> str:
    low, high = SECRET_CHARS
    check_text(secret, "secret", max_length=high)
    if len(secret) < low or not secret.isprintable() or not secret.isascii():
        raise InvalidInput(
            f"secret must be {low} to {high} printable ASCII characters", field="secret"
        )
    return secret


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _check_id(webhook_id: str) -> str:
    # Not an id lmops makes: nothing to look up (and nothing odd reaches the database).
    if not isinstance(webhook_id, str) or not _HEX_ID.fullmatch(webhook_id):
        raise NotFound(f"no webhook {str(webhook_id)[:100]!r}")
    return webhook_id


def _public_columns() -> list[Any]:
    return [c for c in webhooks.c if c.name != "secret"]


def _target(row: dict[str, Any]) -> str:
    return f"webhook {row['url']}"


# -- the outbox scan ---------------------------------------------------------------------


class _Entry(NamedTuple):
    id: int
    at: datetime
    action: str
    project: str


def scan(engine: Engine, now: datetime | None = None) -> int:
    """Turn audit entries after the cursor into pending deliveries; return how many.

    Each batch commits its deliveries together with the cursor's move, so a crash between
    batches repeats nothing and skips nothing.
    """
    moment = now or utcnow()
    with engine.connect() as conn:
        cursor = conn.execute(select(webhook_cursor.c.audit_id)).scalar_one()
        if conn.execute(select(audit_log.c.id).where(audit_log.c.id > cursor).limit(1)).first():
            position: int | None = cursor
        else:
            return 0  # the usual case: nothing new, and no write transaction
    made = 0
    settled = True  # whether the cursor may follow `position`
    while position is not None:
        count, position, settled = _scan_batch(engine, position, settled, moment)
        made += count
    return made


def _lock_cursor(conn: Connection) -> int:
    """Read the cursor, locking it on PostgreSQL until the transaction ends.

    Scans, and the creation and deletion of webhooks, take this lock, so they happen one
    after another (SQLite's writers are serialized already).
    """
    query = select(webhook_cursor.c.audit_id).where(webhook_cursor.c.id == 1)
    return int(conn.execute(query.with_for_update()).scalar_one())


def _scan_batch(
    engine: Engine, position: int, settled: bool, now: datetime
) -> tuple[int, int | None, bool]:
    """One batch after `position`: (deliveries made, next position or None, settled)."""
    with writing(engine) as conn:
        cursor = _lock_cursor(conn)
        start = max(position, cursor)
        entries = [
            _Entry(*row)
            for row in conn.execute(
                select(audit_log.c.id, audit_log.c.at, audit_log.c.action, audit_log.c.project)
                .where(audit_log.c.id > start)
                .order_by(audit_log.c.id)
                .limit(SCAN_BATCH)
            )
        ]
        rows = _new_deliveries(conn, entries, now)
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)
        if settled and start == cursor:
            end, settled = _scanned_through(cursor, entries, now - GAP_GRACE)
            if end != cursor:
                conn.execute(update(webhook_cursor).values(audit_id=end))
        else:
            settled = False
    more = len(entries) == SCAN_BATCH
    return len(rows), (entries[-1].id if more else None), settled


def _new_deliveries(
    conn: Connection, entries: Sequence[_Entry], now: datetime
) -> list[dict[str, Any]]:
    """A pending delivery per (entry, subscribed active webhook of its project) that has none
    yet."""
    if not entries:
        return []
    w = webhooks.c
    hooks = conn.execute(
        select(w.id, w.project, w.events, w.created_at).where(
            w.active.is_(True), w.project.in_(sorted({e.project for e in entries}))
        )
    ).all()
    if not hooks:
        return []
    ids = [e.id for e in entries]
    # Entries after a gap are read again until the gap settles; they keep one delivery.
    existing = {
        (webhook_id, audit_id)
        for webhook_id, audit_id in conn.execute(
            select(webhook_deliveries.c.webhook_id, webhook_deliveries.c.audit_id).where(
                webhook_deliveries.c.audit_id.in_(ids)
            )
        )
    }
    return [
        _pending(hook.id, entry.id, now)
        for entry in entries
        for hook in hooks
        if entry.project == hook.project
        and entry.at >= hook.created_at
        and subscribes(hook.events, entry.action)
        and (hook.id, entry.id) not in existing
    ]


def _pending(webhook_id: str, audit_id: int, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "webhook_id": webhook_id,
        "audit_id": audit_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


def _scanned_through(
    cursor: int, entries: Sequence[_Entry], settled_before: datetime
) -> tuple[int, bool]:
    """How far the cursor may move: up to the first gap that could still fill in."""
    end = cursor
    for entry in entries:
        if entry.id != end + 1 and entry.at > settled_before:
            return end, False
        end = entry.id
    return end, True


def dispatch(engine: Engine, client: httpx.Client, now: datetime | None = None) -> list[Attempt]:
    """One pass: scan the log for new events, then POST every delivery that is due."""
    scan(engine, now)
    return deliver_due(engine, client, now)
