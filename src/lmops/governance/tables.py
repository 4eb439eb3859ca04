"""Governance tables. Only governance's webhook modules and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata

# A subscription: where to POST which audit actions. The secret signs every delivery; it is
# shown once when the webhook is made and never read back by any listing.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", JSONType, nullable=False),  # action names, or ["*"]
    Column("active", Boolean, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# One audit entry on its way to one webhook. The id is the X-Lmops-Delivery header, the
# same on every retry, so a receiver can drop repeats.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("webhook_id", Id, ForeignKey("webhooks.id"), nullable=False),
    # No foreign key: entries are never deleted, and one would change how TRUNCATE is refused.
    Column("audit_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("webhook_id", "audit_id"),
    Index(None, "status", "next_attempt_at"),
)

# One row (id 1): every audit id up to `audit_id` has been turned into deliveries, so each
# scan reads only what came after. The migration inserts it at the log's end.
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("audit_id", BigInteger, nullable=False),
)
