"""Ids and timestamps are made in Python, never by the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """Return a new 32-character hex id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch (metric timestamps)."""
    return int(datetime.now(UTC).timestamp() * 1000)
