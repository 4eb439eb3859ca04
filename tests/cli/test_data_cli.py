"""`lmops data ...` through click's runner, against a real store in a temp home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.data import data
from lmops.cli.main import LmopsGroup

ROWS = [{"prompt": f"q{i}", "answer": f"a{i}"} for i in range(12)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    return tmp_path


@pytest.fixture
def chat(home: Path) -> Path:
    path = home / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def run_cli(*args: str) -> tuple[int, str]:
    # The root group (cli/main.py) registers `data`; a local one keeps this test to this group.
    root = LmopsGroup(commands={"data": data})
    result = CliRunner().invoke(root, list(args))
    return result.exit_code, result.output


def test_import_list_show(chat: Path) -> None:
    code, out = run_cli("data", "import", str(chat), "--name", "chat")
    assert code == 0 and out.startswith("datasets:/chat/1: 12 rows, 2 columns, digest ")
    code, out = run_cli("data", "import", str(chat), "-n", "chat", "--json")
    second = json.loads(out)
    assert code == 0 and second["version"] == 2 and second["recipe"]["format"] == "jsonl"

    code, out = run_cli("data", "list")
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "VERSIONS", "LATEST", "CREATED"]
    assert out.splitlines()[1].split()[:3] == ["chat", "2", "2"]
    code, out = run_cli("data", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["chat"]

    code, out = run_cli("data", "show", "datasets:/chat@latest")
    assert code == 0 and out.startswith("datasets:/chat/2\n")
    assert "rows     12" in out and second["digest"] in out and '"op": "import"' in out
    assert "prompt  string" in out and " *   2" in out
    code, out = run_cli("data", "show", "datasets:/chat/1", "--json")
    assert json.loads(out)["columns"] == [
        {"name": "prompt", "type": "string"},
        {"name": "answer", "type": "string"},
    ]


def test_head_and_export(chat: Path, home: Path) -> None:
    run_cli("data", "import", str(chat), "--name", "chat")
    code, out = run_cli("data", "head", "datasets:/chat/1", "-n", "3")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == ROWS[:3]
    code, out = run_cli("data", "head", "datasets:/chat/1", "--json")
    assert json.loads(out) == ROWS[:10]

    for name in ("out.csv", "out.parquet", "out.jsonl"):
        code, out = run_cli("data", "export", "datasets:/chat/1", str(home / name))
        assert code == 0 and f"wrote 12 rows of datasets:/chat/1 to {home / name}" in out
    assert (home / "out.jsonl").read_text() == chat.read_text()
    assert (home / "out.csv").read_text().splitlines()[:2] == ['"prompt","answer"', '"q0","a0"']
    code, out = run_cli(
        "data", "export", "datasets:/chat/1", str(home / "x.txt"), "--format", "csv"
    )
    assert code == 0 and "(csv)" in out
    code, _ = run_cli("data", "import", str(home / "out.parquet"), "--name", "copy", "--json")
    assert code == 0


def test_errors_are_one_line(chat: Path, home: Path) -> None:
    broken = home / "broken.jsonl"
    broken.write_text('{"a": 1}\n{"a": \n')
    code, out = run_cli("data", "import", str(broken), "--name", "bad")
    assert (
        code == 1 and out == f"Error: {broken}, line 2, column 7: not valid JSON: Expecting value\n"
    )
    code, out = run_cli("data", "show", "datasets:/bad/1")
    assert code == 1 and out == "Error: no dataset version datasets:/bad/1\n"
    code, out = run_cli("data", "list", "--json")
    assert json.loads(out) == []
    code, out = run_cli("data", "import", str(chat), "--name", "x", "--format", "xml")
    assert code == 2 and "Invalid value for '--format'" in out
    code, out = run_cli("data", "head", "models:/x/1")
    assert code == 1 and "not a dataset URI" in out
