"""The CLI works in LMOPS_PROJECT (SQLite and PostgreSQL): `lmops audit`, `lmops webhooks`,
`lmops models` and `lmops data` see that project's objects and entries only."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from lmops.artifacts import ArtifactStore
from lmops.cli.main import cli
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store import open_engine
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def a(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    """Project a holds model `chat`, dataset `qa` and a webhook; the CLI works in b."""
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", store_uri)
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    registry = RegistryStore(open_engine(store_uri), artifacts, "a")
    registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))
    import_source(DataStore(registry.engine, artifacts, "a"), "qa", pa.table({"q": ["x"]}))
    monkeypatch.setenv("LMOPS_PROJECT", "a")
    assert run_cli("webhooks", "add", "http://127.0.0.1:9/a", "--event", "*")[0] == 0
    monkeypatch.setenv("LMOPS_PROJECT", "b")
    return registry


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_cli_sees_only_lmops_project(a: RegistryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (("audit", "list"), ("webhooks", "list"), ("models", "list"), ("data", "list")):
        code, out = run_cli(*args, "--json")
        assert (code, json.loads(out)) == (0, []), args
    code, out = run_cli("models", "show", "models:/chat/1")
    assert code != 0 and "no registered model named 'chat'" in out
    code, out = run_cli("data", "show", "datasets:/qa/1")
    assert code != 0 and "no dataset version datasets:/qa/1" in out

    monkeypatch.setenv("LMOPS_PROJECT", "a")
    code, out = run_cli("audit", "list", "--json")
    assert code == 0
    assert [(e["project"], e["action"]) for e in json.loads(out)] == [
        ("a", "model.create"),
        ("a", "model_version.create"),
        ("a", "dataset_version.create"),
        ("a", "webhook.create"),
    ]
    assert len(json.loads(run_cli("webhooks", "list", "--json")[1])) == 1


def test_audit_export_writes_lmops_projects_entries(
    a: RegistryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("audit", "export", str(tmp_path / "b.jsonl")) == (
        0,
        f"wrote 0 audit entries to {tmp_path / 'b.jsonl'}\n",
    )
    monkeypatch.setenv("LMOPS_PROJECT", "a")
    assert run_cli("audit", "export", str(tmp_path / "a.jsonl"))[0] == 0
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert {json.loads(line)["project"] for line in lines} == {"a"} and len(lines) == 4
