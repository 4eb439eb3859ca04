"""The metadata store: one SQLAlchemy engine switch for SQLite and PostgreSQL, migrated on open."""

from lmops.store.engine import close_engine, create_db_engine, open_engine, upgrade, writing

__all__ = ["close_engine", "create_db_engine", "open_engine", "upgrade", "writing"]
