"""Prompt tables. Only prompts/store.py and the migrations touch them."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from lmops.store.metadata import Id, JSONType, UTCDateTime, metadata, project_column

prompts = Table(
    "prompts",
    metadata,
    Column("id", Id, primary_key=True),
    project_column(),
    Column("name", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "name"),
)

# A version never changes after insert: a new text is a new version.
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("prompt_id", Id, ForeignKey("prompts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("template", Text),  # a text prompt; NULL for a chat prompt
    Column("messages", JSONType),  # [{role, content}] for a chat prompt
    Column("model_params", JSONType, nullable=False),
    Column("response_format", JSONType),
    Column("commit_message", Text, nullable=False),
    Column("tags", JSONType, nullable=False),
    Column("variables", JSONType, nullable=False),  # derived from the templates
    Column("author", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("prompt_id", "version"),
)

prompt_aliases = Table(
    "prompt_aliases",
    metadata,
    Column("prompt_id", Id, ForeignKey("prompts.id"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version_id", Id, ForeignKey("prompt_versions.id"), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
