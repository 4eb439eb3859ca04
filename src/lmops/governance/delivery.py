"""POST due webhook deliveries, signed, and schedule retries with exponential backoff.

A delivery is attempted when its `next_attempt_at` has come. A 2xx answer delivers it;
anything else (another status, a redirect, a refused connection, a timeout) is a failed
attempt with its error kept, retried after 10 s, 30 s, 90 s, ... (capped at an hour) until
MAX_ATTEMPTS, when it is marked failed. No database transaction is open while a request is
in flight, so a slow receiver holds up nothing but its own delivery.

Delivery is at least once: a worker that dies between the POST and recording its answer
sends it again once its claim lapses. Receivers drop repeats by `X-Lmops-Delivery`.

A webhook is sent only entries of its own project: the scan queues no other, and a
delivery whose entry is of another project (a row made by hand) is never due.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select, update

from lmops.core.ids import utcnow
from lmops.governance.entities import DeliveryStatus
from lmops.governance.signing import sign
from lmops.governance.tables import webhook_deliveries, webhooks
from lmops.store.audit import AuditEntry, audit_log
from lmops.store.engine import writing

MAX_ATTEMPTS = 8
TIMEOUT_S = 5.0  # per POST: a receiver should answer at once and do its work later
FIRST_RETRY_S = 10.0
BACKOFF_FACTOR = 3.0
MAX_RETRY_S = 3600.0
# A claimed delivery is not due again until its attempt must have ended (or its worker died).
CLAIM = timedelta(seconds=TIMEOUT_S * 4 + 10)
MAX_ERROR_CHARS = 500
PARALLEL = 8


@dataclass(frozen=True)
class Attempt:
    """What one POST of a delivery came to."""

    delivery_id: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class _Due:
    delivery_id: str
    webhook_id: str
    url: str
    secret: str
    attempts: int
    entry: AuditEntry


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 10 s, 30 s, 90 s, ..."""
    seconds = FIRST_RETRY_S * BACKOFF_FACTOR ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_RETRY_S))


def payload(entry: AuditEntry) -> bytes:
    """The JSON body a webhook receives for an audit entry, as the exact bytes signed."""
    body: dict[str, Any] = {
        "id": entry.id,
        "event": entry.action,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "target": entry.target,
        "target_kind": entry.target_kind,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    now: datetime | None = None,
    *,
    limit: int = 100,
    timeout: float = TIMEOUT_S,
) -> list[Attempt]:
    """POST every pending delivery due at `now` (up to `limit`, a few at a time).

    `now` is the clock for what is due, for the retry schedule and for the signature
    timestamp; tests move it forward instead of sleeping.
    """
    moment = now or utcnow()
    due = _due(engine, moment, limit)
    if not due:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(due))) as pool:
        results = pool.map(lambda d: _attempt(engine, client, d, moment, timeout), due)
        return [r for r in results if r is not None]


def _due(engine: Engine, now: datetime, limit: int) -> list[_Due]:
    d, w = webhook_deliveries.c, webhooks.c
    query = (
        select(
            d.id.label("delivery_id"),
            d.webhook_id,
            d.attempts,
            w.url,
            w.secret,
            *audit_log.c,
        )
        .join(webhooks, w.id == d.webhook_id)
        .join(audit_log, (audit_log.c.id == d.audit_id) & (audit_log.c.project == w.project))
        .where(d.status == "pending", d.next_attempt_at <= now, w.active.is_(True))
        .order_by(d.next_attempt_at, d.audit_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        _Due(
            delivery_id=r["delivery_id"],
            webhook_id=r["webhook_id"],
            url=r["url"],
            secret=r["secret"],
            attempts=r["attempts"],
            entry=AuditEntry.model_validate({c.name: r[c] for c in audit_log.c}),
        )
        for r in rows
    ]


def _attempt(
    engine: Engine, client: httpx.Client, due: _Due, now: datetime, timeout: float
) -> Attempt | None:
    """Claim, POST and record one delivery; None if another worker claimed it first."""
    if not _claim(engine, due.delivery_id, now):
        return None
    status_code, error = _post(client, due, now, timeout)
    return _record(engine, due, status_code, error, now)


def _claim(engine: Engine, delivery_id: str, now: datetime) -> bool:
    """Push the delivery's next attempt past this one, unless another worker already did."""
    d = webhook_deliveries.c
    with writing(engine) as conn:
        done = conn.execute(
            update(webhook_deliveries)
            .where(d.id == delivery_id, d.status == "pending", d.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM, updated_at=now)
        )
    return done.rowcount == 1


def _post(
    client: httpx.Client, due: _Due, now: datetime, timeout: float
) -> tuple[int | None, str | None]:
    """Send the signed body; (status code, None) on 2xx, else what went wrong."""
    body = payload(due.entry)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "lmops-webhooks",
        "x-lmops-event": due.entry.action,
        "x-lmops-delivery": due.delivery_id,
        "x-lmops-timestamp": str(timestamp),
        "x-lmops-signature": sign(due.secret, timestamp, body),
    }
    try:
        with client.stream(
            "POST", due.url, content=body, headers=headers, timeout=timeout
        ) as response:
            if response.is_success:
                return response.status_code, None
            return response.status_code, f"HTTP {response.status_code}: {_snippet(response)}"
    # Whatever a receiver does wrong is its delivery's failure, never the worker's.
    except Exception as exc:
        return None, _describe(exc)


def _snippet(response: httpx.Response) -> str:
    """The start of a refusal's body (a receiver's explanation), never the whole of it."""
    try:
        chunk = next(response.iter_bytes(), b"")
    except Exception:
        return ""
    return chunk[:200].decode("utf-8", errors="replace").strip()


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:MAX_ERROR_CHARS]


def _record(
    engine: Engine, due: _Due, status_code: int | None, error: str | None, now: datetime
) -> Attempt:
    """Store the attempt: delivered, due again after the backoff, or failed for good."""
    attempts = due.attempts + 1
    status: DeliveryStatus = "delivered"
    next_at = now
    if error is not None:
        status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        next_at = now + retry_delay(attempts)
    values = {
        "status": status,
        "attempts": attempts,
        "next_attempt_at": next_at,
        "last_status_code": status_code,
        "last_error": None if error is None else error[:MAX_ERROR_CHARS],
        "updated_at": now,
    }
    with writing(engine) as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == due.delivery_id)
            .values(**values)
        )
    return Attempt(due.delivery_id, due.webhook_id, status, attempts, status_code, error)
