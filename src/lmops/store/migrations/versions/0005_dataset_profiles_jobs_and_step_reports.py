"""dataset profiles, jobs and step reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dataset_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset_name", sa.String(length=255), nullable=False),
        sa.Column("op", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("input_version_id", sa.String(length=32), nullable=True),
        sa.Column("output_version_id", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_jobs")),
    )
    with op.batch_alter_table("dataset_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_jobs_dataset_name_started_at"),
            ["dataset_name", "started_at"],
            unique=False,
        )
    op.create_table(
        "dataset_profiles",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_profiles_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_dataset_profiles")),
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("report")
    op.drop_table("dataset_profiles")
    with op.batch_alter_table("dataset_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_jobs_dataset_name_started_at"))
    op.drop_table("dataset_jobs")
