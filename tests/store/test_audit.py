"""The audit log on SQLite and PostgreSQL: entries for governed changes, append-only."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import DBAPIError

from lmops.artifacts import ArtifactStore
from lmops.core.ids import utcnow
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store.audit import AuditQuery, acting_as, audit_log, export_lines, search
from tests.registry.conftest import fake_model_dir


def test_governed_changes_are_recorded_with_actor_and_before_after(
    engine: Engine, artifacts: ArtifactStore, tmp_path: Path
) -> None:
    registry = RegistryStore(engine, artifacts)
    with acting_as("alice"):
        version = registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))
        registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))
        registry.set_alias("chat", "production", 1)
    with acting_as("bob"):
        registry.set_alias("chat", "production", 2)
        registry.update_version(version.uri, tags={"eval": "ok"})
        registry.delete_alias("chat", "production")
    import_source(DataStore(engine, artifacts), "qa", pa.table({"q": ["a"]}))

    entries = search(engine)
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("alice", "model.create", "models:/chat"),
        ("alice", "model_version.create", "models:/chat/1"),
        ("alice", "model_version.create", "models:/chat/2"),
        ("alice", "model_alias.set", "models:/chat@production"),
        ("bob", "model_alias.set", "models:/chat@production"),
        ("bob", "model_version.update", "models:/chat/1"),
        ("bob", "model_alias.delete", "models:/chat@production"),
        (entries[-1].actor, "dataset_version.create", "datasets:/qa/1"),
    ]
    assert entries[-1].actor.startswith("local:")
    moved = entries[4]
    assert (moved.before, moved.after) == ({"version": 1}, {"version": 2})
    assert entries[5].before == {"tags": {}} and entries[5].after == {"tags": {"eval": "ok"}}

    assert [e.action for e in search(engine, AuditQuery(actor="bob"))] == [
        "model_alias.set",
        "model_version.update",
        "model_alias.delete",
    ]
    page = search(engine, AuditQuery(limit=3))
    rest = search(engine, AuditQuery(after_id=page[-1].id))
    assert [e.id for e in page + rest] == [e.id for e in entries]
    assert search(engine, AuditQuery(since=utcnow() + timedelta(minutes=1))) == []
    lines = [json.loads(line) for line in export_lines(engine, AuditQuery(target_kind="model"))]
    assert [line["action"] for line in lines] == [
        "model.create",
        "model_alias.set",
        "model_alias.set",
        "model_alias.delete",
    ]


def test_the_database_refuses_to_change_or_delete_entries(
    engine: Engine, artifacts: ArtifactStore, tmp_path: Path
) -> None:
    registering.register_directory(
        RegistryStore(engine, artifacts), "chat", fake_model_dir(tmp_path / "m")
    )
    statements = [
        update(audit_log).values(actor="mallory"),
        delete(audit_log),
    ]
    if engine.dialect.name == "postgresql":
        statements.append(text("TRUNCATE audit_log"))
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    assert "mallory" not in {e.actor for e in search(engine)} and len(search(engine)) == 2
