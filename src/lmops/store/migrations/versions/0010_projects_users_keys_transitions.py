"""projects, users, API keys, sessions; alias policies, transitions and version results

Every root row (experiment, trace, dataset, model, webhook, audit entry) gets a project;
what exists already belongs to "default". Names are unique per project from here on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projects")),
    )
    op.execute(
        "INSERT INTO projects (name, description, created_at) "
        "VALUES ('default', 'Everything made before projects existed', CURRENT_TIMESTAMP)"
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("superuser", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
    )
    op.create_table(
        "alias_policies",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("required_tags", JSON, nullable=False),
        sa.Column("min_results", JSON, nullable=False),
        sa.Column("require_card", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_alias_policies_model_id_registered_models"),
        ),
        sa.PrimaryKeyConstraint("model_id", "alias", name=op.f("pk_alias_policies")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name=op.f("fk_api_keys_project_projects")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_api_keys_user_name_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("hash", name=op.f("uq_api_keys_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_user_name"), ["user_name"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name=op.f("fk_memberships_project_projects")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_memberships_user_name_users")
        ),
        sa.PrimaryKeyConstraint("user_name", "project", name=op.f("pk_memberships")),
    )
    op.create_table(
        "sessions",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name=op.f("fk_sessions_project_projects")
        ),
        sa.ForeignKeyConstraint(
            ["user_name"], ["users.name"], name=op.f("fk_sessions_user_name_users")
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_name"), ["user_name"], unique=False)

    op.create_table(
        "model_version_results",
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("attached_by", sa.String(length=255), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_version_results_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "name", name=op.f("pk_model_version_results")),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("from_version_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("checks", JSON, nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["model_versions.id"],
            name=op.f("fk_transitions_from_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name=op.f("fk_transitions_model_id_registered_models"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_transitions_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transitions_model_id_status"), ["model_id", "status"], unique=False
        )

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_audit_log_project_at"), ["project", "at"], unique=False
        )

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("uq_datasets_name"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_datasets_project_name"), ["project", "name"]
        )

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("uq_experiments_name"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_experiments_project_name"), ["project", "name"]
        )

    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("uq_registered_models_name"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_registered_models_project_name"), ["project", "name"]
        )

    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_traces_project_start_time"), ["project", "start_time"], unique=False
        )

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="default", nullable=False)
        )
    _check_foreign_keys()


def _check_foreign_keys() -> None:
    """SQLite rebuilt tables above with foreign keys off; make sure every reference holds."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the table rebuilds: {broken[:5]}")


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("project")

    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traces_project_start_time"))
        batch_op.drop_column("project")

    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_registered_models_project_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_registered_models_name"), ["name"])
        batch_op.drop_column("project")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_experiments_project_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_experiments_name"), ["name"])
        batch_op.drop_column("project")

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_datasets_project_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_datasets_name"), ["name"])
        batch_op.drop_column("project")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_project_at"))
        batch_op.drop_column("project")

    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transitions_model_id_status"))

    op.drop_table("transitions")
    op.drop_table("model_version_results")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_name"))

    op.drop_table("sessions")
    op.drop_table("memberships")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_name"))

    op.drop_table("api_keys")
    op.drop_table("alias_policies")
    op.drop_table("users")
    op.drop_table("projects")
