"""`lmops eval online ...` through click's runner: create a rule (scorer options, filter,
backfill), run a pass here over traces the SDK recorded, list and show what it scored,
switch it off, delete it; bad rules exit with the reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import lmops
from lmops.cli.main import cli
from lmops.core.settings import current
from lmops.store import open_engine
from lmops.tracing.store import TracingStore


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    lmops.configure(home=tmp_path, uri="")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@lmops.trace(name="answer")
def answer(question: str) -> str:
    return "Paris is the capital" if "France" in question else "I do not know"


def test_create_run_show_and_delete_a_rule(home: Path) -> None:
    for question in ("capital of France?", "capital of Chad?"):
        answer(question)
    lmops.flush_traces()

    code, out = run(
        "eval", "online", "create", "checks", "-s", "word_count",
        "-s", "regex:pattern=Paris,ignore_case=true,feedback_name=paris",
        "--trace-name", "answer", "--backfill", "1",
    )  # fmt: skip
    assert code == 0, out
    assert out.strip() == "checks: word_count, paris on 100% of traces where name=answer"

    # A trace written this instant may still grow: the pass leaves the last 2 s alone.
    code, out = run("eval", "online", "run", "checks")
    assert code == 0, out
    assert out.strip().startswith("checks: read ")

    code, out = run("eval", "online", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["scorers"][1] == {
        "name": "regex",
        "options": {"pattern": "Paris", "ignore_case": True},
        "feedback_name": "paris",
    }

    tracing = TracingStore(open_engine(current().uri))
    traces = tracing.search_traces().traces
    assert len(traces) == 2

    time.sleep(2.1)  # now they have settled
    code, out = run("eval", "online", "run")
    assert code == 0, out
    code, out = run("eval", "online", "show", "checks")
    assert code == 0, out
    assert "scored 2 traces, 0 failed" in out
    assert "paris=0.5" in out and "word_count=4" in out
    paris = {
        t.trace_id: {f.name: f.value for f in tracing.feedback.list_feedback(t.trace_id)}
        for t in traces
    }
    assert sorted(v["paris"] for v in paris.values()) == [0.0, 1.0]

    code, out = run("eval", "online", "update", "checks", "--disable", "--sample-rate", "0.5")
    assert code == 0, out
    assert out.strip().endswith("on 50% of traces where name=answer (disabled)")
    assert run("eval", "online", "delete", "checks") == (0, "deleted online rule checks\n")
    assert run("eval", "online", "show", "checks")[0] != 0


def test_bad_rules_exit_with_the_reason(home: Path) -> None:
    code, out = run("eval", "online", "create", "x", "-s", "rougeL")
    assert code != 0
    assert "rougeL needs an expected answer" in out
    code, out = run("eval", "online", "create", "x", "-s", "judge")
    assert code != 0
    assert "needs a judge model" in out
    code, out = run("eval", "online", "create", "x", "-s", "length", "--sample-rate", "0")
    assert code != 0
    assert "sample-rate must be above 0" in out
    code, out = run("eval", "online", "update", "nope", "--enable")
    assert code != 0
    assert "no online scoring rule named 'nope'" in out
