"""The metadata store: one SQLAlchemy engine switch for SQLite and PostgreSQL, migrated on open."""

from lmops.store.engine import create_db_engine, open_engine, upgrade, writing

__all__ = ["create_db_engine", "open_engine", "upgrade", "writing"]
