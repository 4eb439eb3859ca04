"""prompts: prompt templates, their immutable versions and aliases

A prompt belongs to a project and its name is unique there; a version holds a text
template or chat messages, the model parameters and response format it was written for.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project", sa.String(length=255), server_default="default", nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("project", "name", name=op.f("uq_prompts_project_name")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("messages", JSON, nullable=True),
        sa.Column("model_params", JSON, nullable=False),
        sa.Column("response_format", JSON, nullable=True),
        sa.Column("commit_message", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_versions_prompt_id_prompts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint(
            "prompt_id", "version", name=op.f("uq_prompt_versions_prompt_id_version")
        ),
    )
    op.create_table(
        "prompt_aliases",
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_aliases_prompt_id_prompts")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_aliases_version_id_prompt_versions"),
        ),
        sa.PrimaryKeyConstraint("prompt_id", "alias", name=op.f("pk_prompt_aliases")),
    )


def downgrade() -> None:
    op.drop_table("prompt_aliases")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
