"""Alembic environment: runs on the connection lmops hands it (see store.engine.upgrade)."""

from __future__ import annotations

from alembic import context

from lmops.store.schema import target_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
