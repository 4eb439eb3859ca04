"""Tracing tables. Only tracing/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata, project_column

TraceIdType = String(32)
SpanIdType = String(16)

# One row per trace, with totals kept up to date as spans arrive (list pages read only this).
traces = Table(
    "traces",
    metadata,
    Column("trace_id", TraceIdType, primary_key=True),
    project_column(),
    Column("name", String(1000)),
    Column("start_time", UTCDateTime, nullable=False),
    Column("end_time", UTCDateTime),
    Column("latency_ms", Float),
    Column("status", String(8), nullable=False),
    Column("span_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost", Float),
    Column("user_id", String(255)),
    Column("session_id", String(255)),
    Column("environment", String(255)),
    Column("tags", JSONType, nullable=False),
    Column("metadata", JSONType, nullable=False),
    Column("run_id", String(64)),
    Column("prompt_version", String(255)),
    Column("model_version", String(255)),
    Column("endpoint", String(255)),
    Column("models", JSONType, nullable=False),
    Column("input_preview", Text),
    Column("output_preview", Text),
    Column("feedback_count", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "start_time"),
    Index(None, "project", "start_time"),
    Index(None, "session_id", "start_time"),
    Index(None, "user_id", "start_time"),
    Index(None, "latency_ms"),
    Index(None, "project", "updated_at"),  # online scoring reads traces as they settle
)

spans = Table(
    "spans",
    metadata,
    Column(
        "trace_id", TraceIdType, ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("span_id", SpanIdType, primary_key=True),
    Column("parent_span_id", SpanIdType),
    Column("name", String(1000), nullable=False),
    Column("span_type", String(16), nullable=False),
    Column("start_time", UTCDateTime, nullable=False),
    Column("end_time", UTCDateTime),
    Column("status", String(8), nullable=False),
    Column("status_message", Text),
    Column("attributes", JSONType, nullable=False),
    Column("events", JSONType, nullable=False),
    Column("inputs", JSONType),
    Column("outputs", JSONType),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("cached_tokens", BigInteger),
    Column("reasoning_tokens", BigInteger),
    Column("cost", Float),
    Column("cost_source", String(1000)),
    Column("model", String(255)),
    Column("provider", String(255)),
    Column("context", JSONType, nullable=False),
)

# Tags also live here, one row each, so that filters by tag are plain indexed SQL.
trace_tags = Table(
    "trace_tags",
    metadata,
    Column(
        "trace_id", TraceIdType, ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("key", String(250), primary_key=True),
    Column("value", String(1000), nullable=False),
    Index(None, "key", "value"),
)

# The models each trace used, so that a filter by model never reads the spans table.
trace_models = Table(
    "trace_models",
    metadata,
    Column(
        "trace_id", TraceIdType, ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("model", String(255), primary_key=True),
    Index(None, "model", "trace_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "trace_id", TraceIdType, ForeignKey("traces.trace_id", ondelete="CASCADE"), nullable=False
    ),
    Column("span_id", SpanIdType),
    Column("name", String(250), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", JSONType),
    Column("numeric_value", Float),
    Column("correction", JSONType),
    Column("source", String(8), nullable=False),
    Column("comment", Text),
    Column("author", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "trace_id"),
    Index(None, "name", "numeric_value"),
)

feedback_configs = Table(
    "feedback_configs",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("allowed_values", JSONType),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("description", Text, nullable=False),
)

# Tokens an app hands to its end users to rate one trace without an API key (hash only).
feedback_tokens = Table(
    "feedback_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "trace_id", TraceIdType, ForeignKey("traces.trace_id", ondelete="CASCADE"), nullable=False
    ),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

model_prices = Table(
    "model_prices",
    metadata,
    Column("model", String(250), primary_key=True),
    Column("input_per_million", Float, nullable=False),
    Column("output_per_million", Float, nullable=False),
    Column("cached_input_per_million", Float),
    Column("reasoning_per_million", Float),
    Column("source", String(1000), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
