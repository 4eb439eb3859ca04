"""The preparation walk-through through the CLI: profile, dedup, redact, split, sql, reproduce."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli


def document(i: int) -> str:
    """40 words drawn at random (seeded by i) from 5,000: unrelated documents share little."""
    rng = random.Random(i)
    return " ".join(f"w{rng.randrange(5000)}" for _ in range(40))


@pytest.fixture
def raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    rows = [{"id": i, "text": document(i)} for i in range(40)]
    rows += [{"id": 100, "text": document(3) + " and a tail"}]  # a near copy of 3
    rows += [{"id": 101, "text": document(5)}]  # exact copy of 5
    rows += [{"id": 102, "text": "reach me at sam@example.net " + document(50)}]
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_walk_through(raw: Path) -> None:
    assert run("data", "import", str(raw), "-n", "docs")[0] == 0
    code, out = run("data", "profile", "datasets:/docs/1", "--executor", "none")
    assert code == 0, out
    assert "datasets:/docs/1: 43 rows" in out
    assert "exact dups 1, near dups 2" in out and "PII: email 1" in out

    code, out = run("data", "dedup", "datasets:/docs/1", "--threshold", "0.7", "--executor", "none")
    assert code == 0, out
    assert out.startswith("datasets:/docs/2: 41 rows") and '"rows_removed": 2' in out

    code, out = run("data", "redact", "datasets:/docs/2", "-c", "text")
    assert code == 0 and out.startswith("datasets:/docs/3: 41 rows") and '"email": 1' in out

    code, out = run(
        "data", "split", "datasets:/docs/3", "--key", "id", "--check", "text", "--executor", "none"
    )
    assert code == 0, out
    assert '"exact_rows": 0' in out and '"near_rows": 0' in out

    code, out = run("data", "sql", "select split, count(*) n from 'datasets:/docs/4' group by all")
    assert code == 0 and sum(json.loads(line)["n"] for line in out.splitlines()) == 41

    code, out = run("data", "reproduce", "datasets:/docs/4")
    assert code == 0, out
    assert out.splitlines()[-1] == "datasets:/docs/4: same content hash"
    assert [line.split()[0] for line in out.splitlines()[:-1]] == ["ok"] * 3

    code, out = run("data", "apply", "datasets:/docs/4", "filter", "-p", "where=id < 10")
    assert code == 0 and out.startswith("datasets:/docs/5: 10 rows")


def test_steps_are_listed_and_mistakes_are_one_line(raw: Path) -> None:
    code, out = run("data", "steps")
    assert code == 0 and "dedup_near(column='text', threshold=0.8" in out
    run("data", "import", str(raw), "-n", "docs")
    code, out = run("data", "dedup", "datasets:/docs/1", "-c", "body", "--executor", "none")
    assert code == 1 and out.strip().splitlines() == [
        "Error: datasets:/docs/1 has no column 'body'; its columns are id, text"
    ]
    code, out = run("data", "apply", "datasets:/docs/1", "filter", "-p", "nonsense")
    assert code == 1 and "key=value" in out
    code, out = run("data", "leakage", "datasets:/docs/1", "--executor", "none")
    assert code == 1 and "no column 'split'" in out
