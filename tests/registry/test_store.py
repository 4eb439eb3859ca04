"""The registry on SQLite and PostgreSQL: versions, URIs, aliases, sources, lineage, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.registry.tables import model_versions
from lmops.store.audit import acting_as
from lmops.store.lineage import edges
from lmops.tracking.store import TrackingStore
from tests.registry.conftest import fake_model_dir


def test_versions_from_a_directory_with_their_format(
    registry: RegistryStore, tmp_path: Path
) -> None:
    model_dir = fake_model_dir(tmp_path / "m", params=64)
    first = registering.register_directory(
        registry, "chat", model_dir, description="first", tags={"team": "nlp"}, license="apache-2.0"
    )
    second = registering.register_directory(registry, "chat", model_dir)
    assert (first.uri, second.uri) == ("models:/chat/1", "models:/chat/2")
    assert first.digest == second.digest and registry.artifacts.exists(first.digest or "")
    fmt = first.format
    assert (fmt.kind, fmt.task, fmt.architecture) == (
        "model",
        "text-generation",
        "LlamaForCausalLM",
    )
    assert (fmt.parameter_count, fmt.dtype, fmt.license) == (64, "float32", "apache-2.0")
    assert fmt.tokenizer and fmt.chat_template and fmt.size_bytes > 0
    assert first.source.type == "import" and first.source.path == str(model_dir)
    assert first.tags == {"team": "nlp"} and first.description == "first"
    model = registry.get_model("chat")
    assert (model.version_count, model.latest_version) == (2, 2)
    assert registry.get_version("models:/chat@latest") == second
    assert [v.version for v in registry.list_versions("chat")] == [1, 2]


def test_aliases_move_and_resolve(registry: RegistryStore, tmp_path: Path) -> None:
    model_dir = fake_model_dir(tmp_path / "m")
    for _ in range(3):
        registering.register_directory(registry, "chat", model_dir)
    assert registry.set_alias("chat", "production", 1).aliases == ["production"]
    assert registry.get_version("models:/chat@production").version == 1
    registry.set_alias("chat", "production", 3)
    registry.set_alias("chat", "staging", 2)
    assert registry.get_version("models:/chat@production").version == 3
    assert registry.get_model("chat").aliases == {"production": 3, "staging": 2}
    assert registry.get_version("models:/chat/1").aliases == []
    registry.delete_alias("chat", "staging")
    with pytest.raises(NotFound, match=r"no alias 'staging' \(aliases: production\)"):
        registry.get_version("models:/chat@staging")
    with pytest.raises(InvalidInput, match="cannot be set"):
        registry.set_alias("chat", "latest", 1)
    with pytest.raises(NotFound):
        registry.set_alias("chat", "production", 9)
    with pytest.raises(InvalidInput, match="invalid alias name"):
        registry.set_alias("chat", "bad alias", 1)


def test_a_run_artifact_becomes_a_version_without_a_copy(
    registry: RegistryStore, tmp_path: Path
) -> None:
    tracking = TrackingStore(registry.engine, registry.artifacts)
    experiment = tracking.create_experiment("sft")
    run = tracking.create_run(experiment.id)
    logged = tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out"), "model")
    version = registering.register_run_artifact(registry, "sft", f"runs:/{run.id}/model")
    assert version.digest == logged.digest
    assert (version.source.type, version.source.run_id) == ("run", run.id)
    upstream = edges(registry.engine, "model_version", version.id, direction="upstream")
    assert [(e.from_kind, e.from_id, e.relation) for e in upstream] == [("run", run.id, "produced")]
    with pytest.raises(NotFound):
        registering.register_run_artifact(registry, "sft", f"runs:/{run.id}/missing")


def test_adapters_name_their_base(registry: RegistryStore, tmp_path: Path) -> None:
    base = registering.register_directory(registry, "base", fake_model_dir(tmp_path / "b"))
    adapter_dir = fake_model_dir(tmp_path / "a", adapter=True)
    with pytest.raises(InvalidInput, match="an adapter needs the version it adapts"):
        registering.register_directory(registry, "lora", adapter_dir)
    adapter = registering.register_directory(registry, "lora", adapter_dir, base="models:/base/1")
    assert adapter.format.kind == "adapter" and adapter.base_version_id == base.id
    assert adapter.format.parameter_count == 64
    downstream = edges(registry.engine, "model_version", base.id, direction="downstream")
    assert [(e.to_id, e.relation) for e in downstream] == [(adapter.id, "adapter_of")]


def test_external_endpoints_keep_their_key_secret(registry: RegistryStore) -> None:
    version = registering.register_endpoint(
        registry, "gpt", "https://api.example.com/v1/", "gpt-x", api_key="sk-secret-123"
    )
    assert version.has_api_key and version.digest is None
    assert version.source.endpoint_url == "https://api.example.com/v1"
    assert "sk-secret-123" not in version.model_dump_json()
    assert "sk-secret-123" not in registry.get_model("gpt").model_dump_json()
    assert registry.api_key(version.id) == "sk-secret-123"
    with pytest.raises(InvalidInput, match="endpoint URL"):
        registering.register_endpoint(registry, "gpt", "ftp://x", "m")


def test_bad_input_registers_nothing(registry: RegistryStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="not a Hugging Face model directory"):
        registering.register_directory(registry, "x", tmp_path / "empty")
    with pytest.raises(InvalidInput, match="is not a directory"):
        registering.register_directory(registry, "x", tmp_path / "nope")
    broken = fake_model_dir(tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(InvalidInput, match="not a safetensors file"):
        registering.register_directory(registry, "x", broken)
    with pytest.raises(InvalidInput, match="invalid model name"):
        registering.register_directory(registry, "bad name", fake_model_dir(tmp_path / "ok"))
    with pytest.raises(InvalidInput, match="not a model URI"):
        registry.get_version("datasets:/x/1")
    with registry.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model_versions)).scalar_one() == 0
    registry.create_model("taken")
    with pytest.raises(Conflict):
        registry.create_model("taken")


def test_tags_and_description_change_but_files_do_not(
    registry: RegistryStore, tmp_path: Path
) -> None:
    version = registering.register_directory(registry, "m", fake_model_dir(tmp_path / "m"))
    changed = registry.update_version(
        version.uri, description="better", tags={"eval": "passed", "x": "1"}
    )
    changed = registry.update_version(version.uri, remove_tags=["x"])
    assert changed.description == "better" and changed.tags == {"eval": "passed"}
    assert changed.digest == version.digest and changed.format == version.format


def test_card_revisions_list_newest_first_without_their_text(
    registry: RegistryStore, tmp_path: Path
) -> None:
    one = registering.register_directory(registry, "m", fake_model_dir(tmp_path / "m"))
    two = registering.register_directory(registry, "m", fake_model_dir(tmp_path / "m"))
    assert registry.list_cards(one.id) == []
    with acting_as("ana"):
        first = registry.save_card(one.id, "# m\n", generated=True)
    with acting_as("bo"):
        second = registry.save_card(one.id, "# m, reviewed\n", generated=False)
    registry.save_card(two.id, "# another version's card\n", generated=False)
    listed = registry.list_cards(one.id)
    assert [(r.revision, r.generated, r.author) for r in listed] == [
        (2, False, "bo"),
        (1, True, "ana"),
    ]
    assert [r.created_at for r in listed] == [second.created_at, first.created_at]
    assert "markdown" not in listed[0].model_dump()
    assert [r.revision for r in registry.list_cards(two.id)] == [1]
    assert registry.list_cards("0" * 32) == []
