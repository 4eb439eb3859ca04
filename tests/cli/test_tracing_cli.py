"""`lmops traces` and `lmops prices` through click's runner."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli
from lmops.cli.tracing import parse_age
from lmops.core.errors import InvalidInput
from lmops.core.ids import new_id, utcnow
from lmops.store import open_engine
from lmops.tracing.entities import Span, TraceContext
from lmops.tracing.store import TracingStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TracingStore:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    return TracingStore(open_engine(f"sqlite:///{tmp_path / 'lmops.db'}"))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _trace(store: TracingStore, name: str, age: timedelta, user: str = "u") -> str:
    t, start = new_id(), utcnow() - age
    root = Span(
        trace_id=t,
        span_id=new_id()[:16],
        name=name,
        start_time=start,
        end_time=start + timedelta(milliseconds=120),
        context=TraceContext(user_id=user),
    )
    child = Span(
        trace_id=t,
        span_id=new_id()[:16],
        parent_span_id=root.span_id,
        name="llm",
        span_type="LLM",
        start_time=start,
        end_time=start + timedelta(milliseconds=50),
        model="m",
        input_tokens=5,
        output_tokens=7,
    )
    store.write_spans([root, child])
    return t


def test_list_show_and_delete(store: TracingStore) -> None:
    old = _trace(store, "old", timedelta(days=40))
    new = _trace(store, "new", timedelta(minutes=5), user="bob")
    code, out = run_cli("traces", "list", "--json")
    assert code == 0
    assert [t["trace_id"] for t in json.loads(out)] == [new, old]
    code, out = run_cli("traces", "list", "--user", "bob")
    assert out.splitlines()[1].split()[0] == new
    code, out = run_cli("traces", "list", "--since", "1h", "--json")
    assert [t["trace_id"] for t in json.loads(out)] == [new]
    code, out = run_cli("traces", "list", "--prompt", "prompts:/qa/1", "--json")
    assert (code, json.loads(out)) == (0, [])  # neither used a registered prompt
    code, out = run_cli("traces", "show", new)
    assert code == 0
    assert "  - new (UNKNOWN) 120 ms [UNSET]" in out
    assert "    - llm (LLM) 50 ms [UNSET]  m" in out
    code, out = run_cli("traces", "delete", "--older-than", "30d")
    assert (code, out.strip()) == (0, "deleted 1 traces older than 30d")
    code, out = run_cli("traces", "show", old)
    assert code == 1
    assert out.strip() == f"Error: no trace with id '{old}'"


def test_prices(store: TracingStore) -> None:
    code, out = run_cli(
        "prices", "set", "m", "--input", "1.5", "--output", "6", "--source", "contract 2026"
    )
    assert code == 0
    code, out = run_cli("prices", "list", "--json")
    assert json.loads(out)[0]["source"] == "contract 2026"
    _trace(store, "priced", timedelta(0))
    code, out = run_cli("traces", "list", "--json")
    assert json.loads(out)[0]["cost"] == pytest.approx((5 * 1.5 + 7 * 6) / 1e6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("traces", "delete"), "give a trace id or --older-than"),
        (("traces", "delete", "--older-than", "soon"), "cannot read age 'soon'"),
        (("traces", "list", "--limit", "0"), "limit: Input should be greater than or equal to 1"),
    ],
)
def test_errors_are_one_line(store: TracingStore, args: tuple[str, ...], message: str) -> None:
    code, out = run_cli(*args)
    assert code != 0
    assert message in out
    assert "Traceback" not in out


def test_parse_age() -> None:
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("12h") == timedelta(hours=12)
    with pytest.raises(InvalidInput):
        parse_age("-3d")
