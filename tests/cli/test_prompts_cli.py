"""`lmops prompts ...` through click's runner, against a real store in a temp home."""

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
    return result.exit_code, result.output


def test_register_list_show_diff_and_alias(home: Path) -> None:
    code, out = run(
        "prompts", "register", "qa", "--template", "Answer {{ question }}.",
        "--param", "temperature=0.2", "--param", "stop=[\"\\n\"]", "-m", "first",
        "--tag", "team=nlp",
    )  # fmt: skip
    assert (code, out) == (0, "prompts:/qa/1: text prompt using question\n")
    messages = home / "chat.json"
    messages.write_text(
        json.dumps(
            [
                {"role": "system", "content": "Answer in {{ language }}."},
                {"role": "user", "content": "{{ question }}"},
            ]
        )
    )
    schema = home / "schema.json"
    schema.write_text(json.dumps({"type": "object"}))
    code, out = run(
        "prompts", "register", "qa", "--messages-file", str(messages),
        "--response-format", str(schema), "--param", "temperature=0.7",
    )  # fmt: skip
    assert (code, out) == (0, "prompts:/qa/2: chat prompt using language, question\n")
    assert run("prompts", "alias", "qa", "production", "1") == (
        0,
        "prompts:/qa@production -> prompts:/qa/1\n",
    )
    code, out = run("prompts", "list", "--json")
    listed = json.loads(out)
    assert [(p["name"], p["version_count"], p["aliases"]) for p in listed] == [
        ("qa", 2, {"production": 1})
    ]
    code, out = run("prompts", "show", "prompts:/qa@production")
    assert code == 0 and out.startswith("prompts:/qa/1  (@production)\n")
    assert 'params     {"temperature": 0.2, "stop": ["\\n"]}' in out
    assert "message    first" in out and out.endswith("Answer {{ question }}.\n")
    code, out = run("prompts", "show", "prompts:/qa/2", "--json")
    assert json.loads(out)["messages"][1] == {"role": "user", "content": "{{ question }}"}
    code, out = run("prompts", "diff", "prompts:/qa/1", "prompts:/qa/2")
    assert code == 0
    assert "--- prompts:/qa/1\n+++ prompts:/qa/2\n" in out and "-Answer {{ question }}." in out
    assert "+[system]" in out and "model_params.temperature: 0.2 -> 0.7" in out


def test_bad_input_is_one_line(home: Path) -> None:
    code, out = run("prompts", "register", "qa", "--template", "Hi {{ name")
    assert code == 1 and out.startswith("Error: template has a syntax error at line 1")
    code, out = run("prompts", "register", "qa", "--template", "x", "--template-file", "f")
    assert code == 1 and "give one of --template" in out
    code, out = run("prompts", "register", "qa", "--messages-file", str(home / "missing.json"))
    assert code == 1 and "cannot read messages" in out
    code, out = run("prompts", "register", "qa", "--template", "x", "--param", "novalue")
    assert code == 1 and "parameters are key=value" in out
    code, out = run("prompts", "show", "prompts:/qa/1")
    assert (code, out) == (1, "Error: no prompt named 'qa'\n")
