"""online scoring rules, the traces they scored, and endpoint fallbacks

A rule scores a sampled share of a project's finished traces with scorers and attaches
the results as feedback; `online_scored` holds one row per trace a rule took (its claim
and outcome). Traces get an index on (project, updated_at), the order rules read them
in. An endpoint gains an ordered list of fallback models (existing endpoints: none).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "online_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project", sa.String(length=255), server_default="default", nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("scorers", JSON, nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("judge", sa.String(length=1000), nullable=True),
        sa.Column("judge_model", sa.String(length=255), nullable=True),
        sa.Column("judge_rubric", sa.String(length=1000), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scores_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark_trace", sa.String(length=32), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_rules")),
        sa.UniqueConstraint("project", "name", name=op.f("uq_online_rules_project_name")),
    )
    op.create_table(
        "online_scored",
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["online_rules.id"],
            name=op.f("fk_online_scored_rule_id_online_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trace_id"],
            ["traces.trace_id"],
            name=op.f("fk_online_scored_trace_id_traces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "trace_id", name=op.f("pk_online_scored")),
    )
    with op.batch_alter_table("online_scored", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_online_scored_rule_id_claimed_at"), ["rule_id", "claimed_at"]
        )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fallbacks", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_traces_project_updated_at"), ["project", "updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traces_project_updated_at"))
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("fallbacks")
    with op.batch_alter_table("online_scored", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_scored_rule_id_claimed_at"))
    op.drop_table("online_scored")
    op.drop_table("online_rules")
