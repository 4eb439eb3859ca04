"""Data tables. Only data/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

datasets = Table(
    "datasets",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "name"),
)

# Rows are written once and never updated: a version is immutable.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dataset_id", Id, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("columns", JSONType, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("parent_version_id", Id, ForeignKey("dataset_versions.id")),
    Column("recipe", JSONType, nullable=False),
    # what the step that made the version found: clusters removed, PII replaced, overlaps
    Column("report", JSONType),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "digest"),
)

# One profile per version; profiling again replaces it.
dataset_profiles = Table(
    "dataset_profiles",
    metadata,
    Column("version_id", Id, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("profile", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Long operations (import, profile, steps) report progress here for the CLI and the UI.
dataset_jobs = Table(
    "dataset_jobs",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("dataset_name", String(255), nullable=False),
    Column("op", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("done", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("input_version_id", Id),
    Column("output_version_id", Id),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "project", "dataset_name", "started_at"),
)
