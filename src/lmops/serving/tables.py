"""Gateway tables. Only serving/store.py and the migrations touch them."""

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

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("routes", JSONType, nullable=False),  # [{model, weight}]
    Column("fallbacks", JSONType, nullable=False),  # [model URI], tried in order on failure
    Column("sticky", Boolean, nullable=False),
    Column("cache", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "name"),
)

key_limits = Table(
    "key_limits",
    metadata,
    Column("key_id", Id, ForeignKey("api_keys.id"), primary_key=True),
    Column("requests_per_minute", Integer),
    Column("tokens_per_minute", Integer),
    Column("monthly_budget", Float),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What each key spent per calendar month, added to as requests finish.
key_usage = Table(
    "key_usage",
    metadata,
    Column("key_id", Id, ForeignKey("api_keys.id"), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost", Float, nullable=False),
)
