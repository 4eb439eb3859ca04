"""The audit log in projects, on SQLite and PostgreSQL: every entry carries the project of the
store that wrote it, and reading one project's log never returns another's entries."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.governance.webhooks import WebhookStore
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store.audit import AuditQuery, export_lines, search
from tests.registry.conftest import fake_model_dir


def _write(engine: Engine, artifacts: ArtifactStore, project: str, tmp_path: Path) -> None:
    """One change of each kind of store, in `project`."""
    registry = RegistryStore(engine, artifacts, project)
    registering.register_directory(registry, "chat", fake_model_dir(tmp_path / project))
    registry.set_alias("chat", "production", 1)
    import_source(DataStore(engine, artifacts, project), "qa", pa.table({"q": ["x"]}))
    hooks = WebhookStore(engine, project)
    hooks.delete(hooks.create("http://127.0.0.1:9/hook", ["*"]).id)


def test_each_projects_log_holds_its_own_entries_only(
    engine: Engine, artifacts: ArtifactStore, tmp_path: Path
) -> None:
    _write(engine, artifacts, "a", tmp_path)
    _write(engine, artifacts, "b", tmp_path)

    everything = search(engine)
    in_a = search(engine, AuditQuery(project="a"))
    in_b = search(engine, AuditQuery(project="b", limit=1000))
    assert {e.project for e in everything} == {"a", "b"}
    assert {e.project for e in in_a} == {"a"} and {e.project for e in in_b} == {"b"}
    assert {e.id for e in in_a}.isdisjoint(e.id for e in in_b)
    assert len(in_a) + len(in_b) == len(everything)
    assert [e.action for e in in_b] == [
        "model.create",
        "model_version.create",
        "model_alias.set",
        "dataset_version.create",
        "webhook.create",
        "webhook.delete",
    ]
    # filters and paging stay within the project
    assert search(engine, AuditQuery(project="b", action="model_alias.set"))[0].project == "b"
    page = search(engine, AuditQuery(project="b", after_id=in_a[-1].id))
    assert {e.project for e in page} == {"b"}
    exported = [json.loads(line) for line in export_lines(engine, AuditQuery(project="a"))]
    assert [e["id"] for e in exported] == [e.id for e in in_a]
    assert search(engine, AuditQuery(project="empty")) == []
