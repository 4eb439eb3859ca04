"""The one place that knows SQLite from PostgreSQL: engines, pragmas, locking, migrations."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from lmops.core.errors import InvalidInput, MissingExtra, Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"
_BUSY_TIMEOUT_MS = 60_000
_PG_MIGRATION_LOCK = 0x6C6D6F7073  # "lmops": serializes concurrent first opens on PostgreSQL


def create_db_engine(uri: str) -> Engine:
    """Create an engine for a `sqlite:///` or `postgresql+psycopg://` URI (not migrated)."""
    try:
        url = make_url(uri)
    except Exception as exc:
        raise InvalidInput(f"cannot parse store URI {uri!r}: {exc}", field="uri") from exc
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(uri, url.database)
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtra("A PostgreSQL store", "postgres") from exc
        return create_engine(uri, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise InvalidInput(
        f"unsupported store URI {uri!r}: use sqlite:///path, postgresql+psycopg://... "
        "or http(s)://host:port for a server",
        field="uri",
    )


def _sqlite_engine(uri: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(uri, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN, so writers can ask for IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # LIKE matches case as on PostgreSQL (ILIKE ignores it on both).
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail at once with "database is
        # locked" when another process writes; taking the write lock up front waits instead.
        immediate = conn.get_execution_options().get("lmops_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """Open a write transaction that commits on success and rolls back on error.

    Failures of the database itself (locked past the busy timeout, connection lost,
    deadlock) become Unavailable: nothing was written and the same write may be retried.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(lmops_write=True)
            with conn.begin():
                yield conn
    except OperationalError as exc:
        raise Unavailable(f"the store could not complete the write, retry: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply the Alembic migrations up to `revision`; return the revision now current."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with _migration_lock(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if revision == "head" and current == head:
            return current
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """Hold a cross-process lock while migrating, so two first opens do not race."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _without_foreign_keys(engine) as conn:
            yield conn
        return
    with open(f"{database}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with _without_foreign_keys(engine) as conn:
                yield conn
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def _without_foreign_keys(engine: Engine) -> Iterator[Connection]:
    """A SQLite connection with foreign keys off, as SQLite's own recipe for rebuilding a
    table asks: otherwise dropping a parent table in a batch migration fails (or cascades).
    Migrations that rebuild tables run `PRAGMA foreign_key_check` before they finish."""
    with engine.connect() as conn:
        # Outside any transaction (the pragma is a no-op inside one): the driver's own call.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            yield conn
        finally:
            conn.rollback()
            raw.execute("PRAGMA foreign_keys=ON")


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def open_engine(uri: str) -> Engine:
    """Return the migrated engine for `uri`, created once per process."""
    with _engines_lock:
        if uri not in _engines:
            engine = create_db_engine(uri)
            upgrade(engine)
            _engines[uri] = engine
        return _engines[uri]


def _forget_pools_in_child() -> None:
    # A forked child must not share its parent's database connections.
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_in_child)


def close_engine(uri: str) -> None:
    """Close the pooled connections of `uri`'s engine and forget it (tests, reconfiguration)."""
    with _engines_lock:
        engine = _engines.pop(uri, None)
    if engine is not None:
        engine.dispose()
