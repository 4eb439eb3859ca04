"""Evaluation tables. Only evaluation/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

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
