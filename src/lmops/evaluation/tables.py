"""Evaluation tables. Only evaluation/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata, project_column

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("run_id", Id),  # the tracking run holding params and aggregate metrics
    Column("target", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("model_version", String(255)),
    Column("prompt_version", String(255)),
    Column("scorers", JSONType, nullable=False),
    Column("higher_is_better", JSONType, nullable=False),  # {scorer: bool}, for comparisons
    Column("status", String(16), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("failed_rows", Integer, nullable=False),
    Column("aggregates", JSONType, nullable=False),
    Column("failures", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index(None, "project", "created_at"),
)

evaluation_rows = Table(
    "evaluation_rows",
    metadata,
    Column("evaluation_id", Id, ForeignKey("evaluations.id"), primary_key=True),
    Column("row_index", Integer, primary_key=True),
    Column("inputs", JSONType, nullable=False),
    Column("output", JSONType),
    Column("expected", JSONType),
    Column("scores", JSONType, nullable=False),
    Column("latency_ms", Float),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cost", Float),
    Column("trace_id", String(32)),
    Column("error", Text),
)

# Online scoring: a rule scores a sampled share of a project's finished traces as they come.
online_rules = Table(
    "online_rules",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("scorers", JSONType, nullable=False),  # [{name, options, feedback_name}]
    Column("sample_rate", Float, nullable=False),
    Column("filter", JSONType, nullable=False),  # TraceFilter fields
    Column("judge", String(1000)),
    Column("judge_model", String(255)),
    Column("judge_rubric", String(1000)),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("scores_from", UTCDateTime, nullable=False),  # traces written before: not its own
    # how far through the project's traces (by updated_at, then trace id) the rule has read
    Column("watermark_at", UTCDateTime, nullable=False),
    Column("watermark_trace", String(32), nullable=False),
    Column("last_pass_at", UTCDateTime),
    Column("last_error", Text),  # why the last pass failed; None when it did not
    UniqueConstraint("project", "name"),
)

# One row per sampled trace a rule scored: its claim (so no trace is scored twice, by any
# process) and its outcome. Traces deleted by retention take their rows with them.
online_scored = Table(
    "online_scored",
    metadata,
    Column("rule_id", Id, ForeignKey("online_rules.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "trace_id",
        String(32),
        ForeignKey("traces.trace_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("scored_at", UTCDateTime),  # None while it is being scored
    Column("scores", JSONType, nullable=False),  # {feedback name: value}
    Column("error", Text),
    Index(None, "rule_id", "claimed_at"),
)
