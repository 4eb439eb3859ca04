"""The store opens, migrates itself, and matches the tables the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from lmops.core.errors import InvalidInput
from lmops.store import create_db_engine, upgrade
from lmops.store.schema import target_metadata


def test_migrations_create_every_declared_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(target_metadata().tables) <= tables
    assert "alembic_version" in tables


def test_migrated_schema_matches_the_code(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), target_metadata())
    assert diff == [], f"tables.py and the migrations disagree: {diff}"


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    first = upgrade(engine)
    assert upgrade(engine) == first
    assert first is not None


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    from lmops.core.ids import new_id, utcnow
    from lmops.store import writing
    from lmops.tracking.tables import runs

    with pytest.raises(IntegrityError), writing(engine) as conn:
        conn.execute(
            runs.insert(),
            {
                "id": new_id(),
                "experiment_id": "missing",
                "name": "x",
                "status": "RUNNING",
                "start_time": utcnow(),
            },
        )


@pytest.mark.parametrize("uri", ["mysql://x/y", "not a uri", "http://host:5000"])
def test_unsupported_uris_are_clear_errors(uri: str) -> None:
    with pytest.raises(InvalidInput, match="URI"):
        create_db_engine(uri)
