"""Governance tables: webhooks, users and keys, transitions. Only governance and the
migrations touch them."""

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

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata, project_column

# A subscription: where to POST which audit actions. The secret signs every delivery; it is
# shown once when the webhook is made and never read back by any listing.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
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


# -- projects, users and keys -------------------------------------------------------------

projects = Table(
    "projects",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# A user logs in to the UI with a password (scrypt hash) and calls the API with keys.
# `superuser` marks server admins, who manage users and projects.
users = Table(
    "users",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("password_hash", Text),
    Column("superuser", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_name", String(255), ForeignKey("users.name"), primary_key=True),
    Column("project", String(255), ForeignKey("projects.name"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# A key works in one project with its user's role there. Only its sha256 is kept: the key
# itself is shown once, when made. `prefix` (the first characters) tells keys apart in lists.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("user_name", String(255), ForeignKey("users.name"), nullable=False),
    Column("project", String(255), ForeignKey("projects.name"), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Index(None, "user_name"),
)

# A UI login. Only the token's sha256 is kept; the cookie carries the token.
sessions = Table(
    "sessions",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("user_name", String(255), ForeignKey("users.name"), nullable=False),
    Column("project", String(255), ForeignKey("projects.name"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "user_name"),
)

# -- controlled transitions ------------------------------------------------------------------

# A request to point `alias` at `version_id`, its checks as run at request and at decision,
# and the decision. `status`: pending, approved, rejected or cancelled.
transitions = Table(
    "transitions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("model_id", Id, ForeignKey("registered_models.id"), nullable=False),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("alias", String(255), nullable=False),
    Column("from_version_id", Id, ForeignKey("model_versions.id")),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("checks", JSONType, nullable=False),
    Column("decided_by", String(255)),
    Column("decided_at", UTCDateTime),
    Column("decision_comment", Text),
    Index(None, "model_id", "status"),
)
