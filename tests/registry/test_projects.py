"""Registered models in projects, on SQLite and PostgreSQL: the same name in two projects, and
nothing of one project (models, versions, aliases, cards, secrets, runs) readable, movable or
loadable from another. Another project's model looks exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import lmops
import lmops.registry
from lmops.artifacts import ArtifactStore
from lmops.core.errors import LmopsError, NotFound
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store.audit import AuditQuery, search
from lmops.tracking.store import TrackingStore
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def a(engine: Engine, artifacts: ArtifactStore) -> RegistryStore:
    return RegistryStore(engine, artifacts, "a")


@pytest.fixture
def b(a: RegistryStore) -> RegistryStore:
    return a.in_project("b")


def _same_as_unknown(a: RegistryStore, call: Callable[[RegistryStore], Any]) -> None:
    """`call` fails in project b exactly as in a project that never had anything."""
    errors = []
    for project in ("b", "empty"):
        with pytest.raises(LmopsError) as caught:
            call(a.in_project(project))
        errors.append(caught.value)
    seen_from_b, never = errors
    assert isinstance(seen_from_b, NotFound)
    assert (type(seen_from_b), seen_from_b.message) == (type(never), never.message)


def test_the_same_name_in_two_projects_is_two_models(
    a: RegistryStore, b: RegistryStore, tmp_path: Path
) -> None:
    in_a = registering.register_directory(a, "chat", fake_model_dir(tmp_path / "a"))
    in_b = registering.register_directory(b, "chat", fake_model_dir(tmp_path / "b", params=128))
    registering.register_directory(b, "chat", fake_model_dir(tmp_path / "b"))
    a.set_alias("chat", "production", 1)
    b.set_alias("chat", "production", 2)

    assert in_a.uri == in_b.uri == "models:/chat/1" and in_a.model_id != in_b.model_id
    assert [(m.name, m.latest_version, m.aliases) for m in a.list_models()] == [
        ("chat", 1, {"production": 1})
    ]
    assert [(m.name, m.latest_version, m.aliases) for m in b.list_models()] == [
        ("chat", 2, {"production": 2})
    ]
    assert a.get_version("models:/chat@production").id == in_a.id
    assert b.get_version("models:/chat/1").id == in_b.id
    assert b.create_model("only-b").name == "only-b"
    assert [m.name for m in a.list_models()] == ["chat"]


def test_another_projects_model_is_unknown(
    a: RegistryStore, b: RegistryStore, tmp_path: Path
) -> None:
    version = registering.register_directory(a, "secret", fake_model_dir(tmp_path / "m"))
    a.set_alias("secret", "production", 1)
    a.save_card(version.id, "# secret\n", generated=False)
    gpt = registering.register_endpoint(a, "gpt", "http://127.0.0.1:9/v1", "m", api_key="sk-a")

    assert b.list_models() == []
    _same_as_unknown(a, lambda s: s.get_model("secret"))
    _same_as_unknown(a, lambda s: s.list_versions("secret"))
    _same_as_unknown(a, lambda s: s.get_version("models:/secret/1"))
    _same_as_unknown(a, lambda s: s.get_version("models:/secret@production"))
    _same_as_unknown(a, lambda s: s.get_version("models:/secret@latest"))
    _same_as_unknown(a, lambda s: s.set_alias("secret", "staging", 1))
    _same_as_unknown(a, lambda s: s.delete_alias("secret", "production"))
    _same_as_unknown(a, lambda s: s.update_version("models:/secret/1", description="mine"))
    _same_as_unknown(a, lambda s: s.get_version_by_id(version.id))
    _same_as_unknown(a, lambda s: s.save_card(version.id, "# taken\n", generated=False))

    assert b.get_card(version.id) is None and b.list_cards(version.id) == []
    assert b.api_key(gpt.id) is None and a.api_key(gpt.id) == "sk-a"
    # nothing of a's changed
    assert a.get_model("secret").aliases == {"production": 1}
    assert [c.revision for c in a.list_cards(version.id)] == [1]
    assert a.get_version("models:/secret/1").description == ""


def test_an_adapter_needs_a_base_in_its_own_project(
    a: RegistryStore, b: RegistryStore, tmp_path: Path
) -> None:
    base = registering.register_directory(a, "base", fake_model_dir(tmp_path / "base"))
    adapter = fake_model_dir(tmp_path / "lora", adapter=True)
    with pytest.raises(NotFound, match="no registered model named 'base'"):
        registering.register_directory(b, "lora", adapter, base="models:/base/1")
    with pytest.raises(NotFound, match="no model version with id"):
        b.create_version(
            "lora",
            format=base.format.model_copy(update={"kind": "adapter"}),
            source=base.source,
            digest=base.digest,
            base_version_id=base.id,
        )
    assert b.list_models() == []
    assert registering.register_directory(a, "lora", adapter, base="models:/base/1").base_version_id


def test_a_version_registers_only_a_run_of_its_own_project(
    a: RegistryStore, b: RegistryStore, tmp_path: Path
) -> None:
    tracking = TrackingStore(a.engine, a.artifacts, "a")
    run = tracking.create_run(tracking.create_experiment("sft").id)
    tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out"), "model")

    with pytest.raises(NotFound):
        registering.register_run_artifact(b, "sft", f"runs:/{run.id}/model")
    assert b.list_models() == []
    assert registering.register_run_artifact(a, "sft", f"runs:/{run.id}/model").version == 1


def test_audit_entries_carry_the_models_project(
    a: RegistryStore, b: RegistryStore, tmp_path: Path
) -> None:
    registering.register_directory(a, "chat", fake_model_dir(tmp_path / "a"))
    version = registering.register_directory(b, "chat", fake_model_dir(tmp_path / "b"))
    b.set_alias("chat", "production", 1)
    b.save_card(version.id, "# chat\n", generated=False)
    b.update_version(version.uri, tags={"k": "v"})
    b.delete_alias("chat", "production")

    def actions(project: str) -> list[str]:
        return [e.action for e in search(a.engine, AuditQuery(project=project))]

    assert actions("a") == ["model.create", "model_version.create"]
    assert actions("b") == [
        "model.create",
        "model_version.create",
        "model_alias.set",
        "model_card.save",
        "model_version.update",
        "model_alias.delete",
    ]


@pytest.fixture
def sdk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LMOPS_PROJECT", "a")
    lmops.configure(home=tmp_path / "home", uri="")
    yield tmp_path / "home"
    monkeypatch.delenv("LMOPS_PROJECT")
    lmops.configure(home=tmp_path / "other", uri="")


def test_the_sdk_registers_and_loads_in_lmops_project(
    sdk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = lmops.register_model("chat", fake_model_dir(tmp_path / "m"))
    lmops.set_model_alias("chat", "production", 1)
    assert lmops.load_model("models:/chat@production") == sdk_home / "models" / version.digest

    monkeypatch.setenv("LMOPS_PROJECT", "b")
    lmops.configure(home=sdk_home, uri="")
    assert lmops.registry.list_models() == []
    for call in (
        lambda: lmops.load_model("models:/chat@production"),
        lambda: lmops.load_model("models:/chat/1"),
        lambda: lmops.get_model_version("models:/chat/1"),
        lambda: lmops.set_model_alias("chat", "staging", 1),
        lambda: lmops.registry.list_model_versions("chat"),
    ):
        with pytest.raises(NotFound, match="no registered model named 'chat'"):
            call()
    assert lmops.register_model("chat", fake_model_dir(tmp_path / "m2")).version == 1
