"""Registry tables. Only registry/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata, project_column

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "name"),
)

# Files, format and source never change after insert; tags and description may.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("model_id", Id, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSONType, nullable=False),
    Column("digest", String(64)),
    Column("format", JSONType, nullable=False),
    Column("source", JSONType, nullable=False),
    Column("base_version_id", Id, ForeignKey("model_versions.id")),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("model_id", "version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Id, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# An external endpoint's API key. Kept apart so no listing query can carry it by accident;
# only the serving code reads it, and no route returns it.
model_secrets = Table(
    "model_secrets",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id"), primary_key=True),
    Column("api_key", Text, nullable=False),
)

# Every edit of a version's card is a new revision; none is ever overwritten.
model_cards = Table(
    "model_cards",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("markdown", Text, nullable=False),
    Column("generated", Boolean, nullable=False),
    Column("author", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Results attached to a version (evaluation attaches its aggregates here); policies read them.
model_version_results = Table(
    "model_version_results",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Float, nullable=False),
    Column("source", Text, nullable=False, default=""),  # e.g. runs:/<id> of the evaluation
    Column("attached_by", String(255), nullable=False),
    Column("attached_at", UTCDateTime, nullable=False),
)

# What must hold before `alias` of a model may move; an alias with a policy is protected:
# it moves only through an approved transition.
alias_policies = Table(
    "alias_policies",
    metadata,
    Column("model_id", Id, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("required_tags", JSONType, nullable=False),  # ["reviewed", "license=apache-2.0"]
    Column("min_results", JSONType, nullable=False),  # {"rougeL": 0.3}
    Column("require_card", Boolean, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
