"""evaluate() end to end on SQLite and PostgreSQL: rows stored with scores, failures counted
by reason, aggregates as a tracking run with lineage, results attached to the model version;
then compare() with bootstrap intervals and the CI gate."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput
from lmops.data.store import DataStore
from lmops.evaluation.compare import compare
from lmops.evaluation.evaluate import Data, Stores, evaluate, load_data
from lmops.evaluation.gate import judge
from lmops.evaluation.scoring import Example
from lmops.evaluation.store import EvaluationStore
from lmops.evaluation.targets import FunctionTarget
from lmops.registry.results import list_results
from lmops.registry.store import RegistryStore
from lmops.store.lineage import edges
from lmops.tracking.store import TrackingStore

ROWS = [{"question": f"what is {i} plus {i}?", "expected": str(2 * i)} for i in range(40)]


@pytest.fixture
def stores(engine: Engine, artifacts: ArtifactStore) -> Stores:
    return Stores(
        evaluations=EvaluationStore(engine),
        tracking=TrackingStore(engine, artifacts),
        data=DataStore(engine, artifacts),
        registry=RegistryStore(engine, artifacts),
    )


def number(question: str) -> int:
    return int(question.split()[2])


def right(question: str) -> str:
    return str(2 * number(question))


def mostly_right(question: str) -> str:
    n = number(question)
    if n == 7:
        raise ValueError("seven is unlucky")
    return str(2 * n) if n % 5 else str(n)  # wrong on multiples of 5


def test_rows_scores_failures_and_the_run_are_kept(stores: Stores) -> None:
    result = evaluate(
        FunctionTarget(mostly_right),
        Data(ROWS, "40 rows"),
        ["exact_match", "token_f1"],
        stores,
        name="arith",
        retries=1,
    )
    e = result.evaluation
    assert (e.status, e.row_count, e.failed_rows) == ("finished", 40, 1)
    # 39 answered, of which multiples of 5 but 0 (5, 10, ... 35) are wrong: 7 wrong.
    assert e.aggregates["exact_match"] == pytest.approx(32 / 39)
    assert e.failures == {
        "target: ValueError: seven is unlucky": 1,
    }
    rows = stores.evaluations.all_rows(e.id)
    assert len(rows) == 40
    failed = rows[7]
    assert failed.error == "ValueError: seven is unlucky"
    assert failed.scores["exact_match"].error == "the target failed on this row"
    assert rows[10].output == "10" and rows[10].scores["exact_match"].value == 0.0
    assert rows[11].scores["exact_match"].value == 1.0
    assert rows[11].latency_ms is not None

    run = stores.tracking.get_run(e.run_id or "")
    assert run.tags["lmops.evaluation"] == e.id
    assert run.params["scorers"] == "exact_match,token_f1"
    metrics = run.metrics
    assert metrics["exact_match"] == pytest.approx(32 / 39)
    assert metrics["failed_rows"] == 1


def test_a_dataset_version_is_read_and_linked(stores: Stores) -> None:
    import pyarrow as pa

    from lmops.data.importing import import_source

    version = import_source(stores.data, "qa", pa.Table.from_pylist(ROWS[:10]))
    data = load_data(version.uri, stores.data)
    assert data.description == version.uri and len(data.rows) == 10
    result = evaluate(FunctionTarget(right), data, ["exact_match"], stores)
    assert result.evaluation.aggregates["exact_match"] == 1.0
    found = edges(stores.evaluations.engine, "run", result.evaluation.run_id or "")
    assert [(e.from_kind, e.relation) for e in found] == [("dataset_version", "evaluated_on")]


def test_a_missing_column_is_each_rows_error_not_the_runs(stores: Stores) -> None:
    rows = [{"question": "what is 1 plus 1?", "expected": "2"}, {"question": "what is 2 plus 2?"}]
    result = evaluate(FunctionTarget(right), Data(rows, "2 rows"), ["exact_match"], stores)
    second = result.rows[1]
    assert second.scores["exact_match"].value is None
    assert second.scores["exact_match"].error  # says the row has no expected value
    assert result.evaluation.aggregates["exact_match"] == 1.0
    assert any(k.startswith("exact_match:") for k in result.evaluation.failures)


def test_concurrency_is_bounded_and_used(stores: Stores) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    async def slow(question: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        await asyncio.sleep(0.05)
        with lock:
            running -= 1
        return right(question)

    started = time.perf_counter()
    evaluate(FunctionTarget(slow), Data(ROWS, "40 rows"), ["exact_match"], stores, concurrency=8)
    took = time.perf_counter() - started
    assert most == 8
    assert took < 40 * 0.05  # sequential would take 2 s


def test_retries_then_success(stores: Stores) -> None:
    calls: dict[str, int] = {}

    def flaky(question: str) -> str:
        calls[question] = calls.get(question, 0) + 1
        if calls[question] < 3:
            raise ConnectionError("try again")
        return right(question)

    result = evaluate(
        FunctionTarget(flaky), Data(ROWS[:3], "3"), ["exact_match"], stores, retries=2
    )
    assert result.evaluation.failed_rows == 0
    assert set(calls.values()) == {3}


def test_bad_arguments_are_refused(stores: Stores) -> None:
    target = FunctionTarget(right)
    with pytest.raises(InvalidInput, match="concurrency"):
        evaluate(target, Data(ROWS, "x"), ["exact_match"], stores, concurrency=0)
    with pytest.raises(InvalidInput, match="no rows"):
        evaluate(target, Data([], "x"), ["exact_match"], stores)
    with pytest.raises(InvalidInput, match="no_such_scorer"):
        evaluate(target, Data(ROWS, "x"), ["no_such_scorer"], stores)
    assert stores.evaluations.list_evaluations() == []  # nothing half-written


def test_results_attach_to_the_model_version(stores: Stores, tmp_path: Path) -> None:
    from lmops.registry.registering import register_source
    from tests.registry.conftest import fake_model_dir

    version = register_source(stores.registry, "m", fake_model_dir(tmp_path / "m"))
    target = FunctionTarget(right)
    target.model_version = version.uri  # as a model target would say
    result = evaluate(target, Data(ROWS[:5], "5"), ["exact_match"], stores)
    attached = {r.name: r for r in list_results(stores.registry, version)}
    assert attached["exact_match"].value == 1.0
    assert attached["exact_match"].source == f"runs:/{result.evaluation.run_id}"


def test_compare_and_gate(stores: Stores) -> None:
    base = evaluate(FunctionTarget(mostly_right), Data(ROWS, "rows"), ["exact_match"], stores)
    better = evaluate(FunctionTarget(right), Data(ROWS, "rows"), ["exact_match"], stores)
    c = compare(stores.evaluations, base.evaluation.id, better.evaluation.id)
    m = c.metrics[0]
    assert (m.paired, m.wins, m.losses) == (39, 7, 0)
    assert m.delta == pytest.approx(7 / 39)
    assert m.low is not None and m.high is not None and 0 < m.low <= m.delta <= m.high
    assert m.verdict == "better"
    # the seven wrong rows, and row 7, which failed in A and scored in B
    assert {r.index for r in c.changed} == {5, 7, 10, 15, 20, 25, 30, 35}

    assert judge(c, "exact_match").passed
    worse = compare(stores.evaluations, better.evaluation.id, base.evaluation.id)
    gated = judge(worse, "exact_match")
    assert not gated.passed
    report = gated.report()
    assert "**failed**" in report and "| exact_match (gated) |" in report
    # Asking for more than the interval can show fails even the better candidate.
    assert not judge(c, "exact_match", min_delta=0.5).passed
    with pytest.raises(InvalidInput, match="no metric 'bleu'"):
        judge(c, "bleu")

    def right_but_seven(question: str) -> str:
        if number(question) == 7:
            raise ValueError("seven is unlucky")
        return right(question)

    # Equal on every row both answered, but it failed one: failing rows must not pass.
    failing = evaluate(FunctionTarget(right_but_seven), Data(ROWS, "rows"), ["exact_match"], stores)
    gated = judge(
        compare(stores.evaluations, better.evaluation.id, failing.evaluation.id), "exact_match"
    )
    assert not gated.passed
    assert "failed on 1 rows, the baseline on 0" in gated.report()


def test_a_custom_scorer_function(stores: Stores) -> None:
    def starts_with_digit(example: Example) -> float:
        return float(str(example.output)[:1].isdigit())

    result = evaluate(FunctionTarget(right), Data(ROWS[:4], "4"), [starts_with_digit], stores)
    assert result.evaluation.aggregates == {"starts_with_digit": 1.0}


def test_another_projects_evaluation_is_unknown(stores: Stores) -> None:
    from lmops.core.errors import NotFound

    done = evaluate(FunctionTarget(right), Data(ROWS[:2], "2"), ["exact_match"], stores)
    with pytest.raises(NotFound):
        stores.evaluations.in_project("other").get(done.evaluation.id)
    assert stores.evaluations.in_project("other").list_evaluations() == []
