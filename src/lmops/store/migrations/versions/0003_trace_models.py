"""trace models

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_models",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"],
            ["traces.trace_id"],
            name=op.f("fk_trace_models_trace_id_traces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", "model", name=op.f("pk_trace_models")),
    )
    with op.batch_alter_table("trace_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_models_model_trace_id"), ["model", "trace_id"], unique=False
        )
    op.execute(
        "INSERT INTO trace_models (trace_id, model) "
        "SELECT DISTINCT trace_id, model FROM spans WHERE model IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("trace_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_models_model_trace_id"))

    op.drop_table("trace_models")
