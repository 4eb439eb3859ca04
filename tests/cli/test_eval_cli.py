"""`lmops eval ...` through click's runner: a model version and a prompt with a model on a
dataset version, list and show, compare, and the gate's exit code, report and result."""

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
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout if result.exit_code in (0, 1) else result.output


def test_run_compare_and_gate(home: Path) -> None:
    rows = home / "qa.jsonl"
    rows.write_text(
        "\n".join(
            json.dumps({"question": f"say {w}", "expected": w}) for w in ("cat", "dog", "sun")
        )
    )
    assert run("data", "import", "-n", "qa", str(rows))[0] == 0
    assert run("models", "build-tiny", "--name", "tiny", "--seed", "1")[0] == 0
    assert run("models", "build-tiny", "--name", "tiny", "--seed", "2")[0] == 0

    code, out = run(
        "eval", "run", "models:/tiny/1", "-d", "datasets:/qa/1", "-s", "rougeL", "-s", "length",
        "--param", "max_tokens=4", "--name", "first", "--json",
    )  # fmt: skip
    assert code == 0, out
    first = json.loads(out)
    assert (first["row_count"], first["failed_rows"]) == (3, 0)
    assert first["model_version"] == "models:/tiny/1"
    assert set(first["aggregates"]) == {"rougeL", "length"}

    code, out = run("prompts", "register", "say", "--template", "Repeat the word {{ question }}")
    assert code == 0, out
    code, out = run(
        "eval", "run", "prompts:/say/1", "--model", "models:/tiny/2", "-d", "datasets:/qa/1",
        "-s", "rougeL", "--param", "max_tokens=4",
    )  # fmt: skip
    assert code == 0, out
    assert "3 rows, 0 failed" in out

    code, out = run("eval", "list", "--json")
    listed = json.loads(out)
    assert [e["name"] for e in listed][1] == "first"
    assert listed[0]["prompt_version"] == "prompts:/say/1"

    code, out = run("eval", "show", first["id"], "--rows", "2")
    assert code == 0 and "#0:" in out and "#1:" in out and "#2:" not in out

    code, out = run("eval", "compare", first["id"], listed[0]["id"], "--json")
    assert code == 0, out
    assert [m["name"] for m in json.loads(out)["metrics"]] == ["rougeL"]

    report = home / "gate.md"
    code, out = run(
        "eval", "gate", "--candidate", "models:/tiny/2", "--baseline", "models:/tiny/1",
        "-d", "datasets:/qa/1", "--metric", "length", "--min-delta", "1000",
        "--param", "max_tokens=4", "--report", str(report),
    )  # fmt: skip
    assert code == 1, out  # no model grows its answers by 1000 characters
    assert "### lmops eval gate: length **failed**" in report.read_text()
    code, out = run("models", "result", "list", "models:/tiny/2", "--json")
    assert code == 0, out
    results = {r["name"]: r["value"] for r in json.loads(out)}
    assert results["gate.length"] == 0.0
    assert "rougeL" in results  # the evaluations attached their aggregates too


def test_bad_targets_and_data_are_clear_errors(home: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "run", "models:/tiny/1", "-d", "datasets:/qa/1"])
    assert result.exit_code != 0 and "qa" in result.output  # no such dataset
    rows = home / "qa.jsonl"
    rows.write_text(json.dumps({"question": "hi", "expected": "hi"}))
    assert run("data", "import", "-n", "qa", str(rows))[0] == 0
    result = CliRunner().invoke(cli, ["eval", "run", "prompts:/nope/1", "-d", "datasets:/qa/1"])
    assert result.exit_code != 0 and "needs a model" in result.output
