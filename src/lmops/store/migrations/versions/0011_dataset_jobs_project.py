"""dataset jobs belong to a project

A job names its dataset by name, and names are unique only within a project since 0010,
so a job keeps its project too. Jobs made before belong to "default", as their datasets do.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.drop_index(batch_op.f("ix_dataset_jobs_dataset_name_started_at"))
        batch_op.create_index(
            batch_op.f("ix_dataset_jobs_project_dataset_name_started_at"),
            ["project", "dataset_name", "started_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("dataset_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_jobs_project_dataset_name_started_at"))
        batch_op.create_index(
            batch_op.f("ix_dataset_jobs_dataset_name_started_at"),
            ["dataset_name", "started_at"],
            unique=False,
        )
        batch_op.drop_column("project")
