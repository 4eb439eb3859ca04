"""`evaluate(target, data, scorers)`: run a target on every row with bounded concurrency and
retries, score each answer, and keep it all: each row (inputs, output, expected, every
scorer's value and rationale, latency, tokens, cost, trace id), the aggregates as a run in
tracking with lineage to the dataset and model versions, and the aggregates attached to the
model version, where registry policies read them.

A target that fails on a row (after its retries) or a scorer that cannot score a row marks
that row; the evaluation finishes with the rest and counts the failures by reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.data.entities import DatasetVersion
from lmops.data.loading import read_table
from lmops.data.store import DataStore
from lmops.evaluation.catalog import ScorerSpec, get_scorers
from lmops.evaluation.entities import EvalRow, Evaluation, RowScore
from lmops.evaluation.scoring import Example, Scorer
from lmops.evaluation.store import EvaluationStore
from lmops.evaluation.targets import Outcome, Target
from lmops.registry.results import attach_result
from lmops.registry.store import RegistryStore
from lmops.store.lineage import add_edge
from lmops.tracking.entities import Metric, RunStatus
from lmops.tracking.store import TrackingStore

MAX_ROWS = 100_000
MAX_CONCURRENCY = 256
RowSpan = Callable[[int], AbstractContextManager[str | None]]  # opens a row's trace; yields its id


@dataclass(frozen=True)
class Stores:
    evaluations: EvaluationStore
    tracking: TrackingStore
    data: DataStore
    registry: RegistryStore


@dataclass(frozen=True)
class Data:
    rows: list[dict[str, Any]]
    description: str  # a dataset version's URI, or "N rows"
    version: DatasetVersion | None = None


@dataclass(frozen=True)
class Result:
    evaluation: Evaluation
    rows: list[EvalRow]

    def summary(self) -> str:
        e = self.evaluation
        lines = [f"{e.uri} ({e.name}): {e.row_count} rows, {e.failed_rows} failed"]
        lines += [
            f"  {name}: {'-' if value is None else f'{value:.4f}'}"
            for name, value in e.aggregates.items()
        ]
        lines += [f"  failed {n}x: {reason}" for reason, n in e.failures.items()]
        return "\n".join(lines)


def load_data(data: str | Sequence[dict[str, Any]], store: DataStore) -> Data:
    if isinstance(data, str):
        version = store.get_version(data)
        rows = read_table(store, version).to_pylist()
        return Data(rows[:MAX_ROWS], version.uri, version)
    rows = list(data)
    if not all(isinstance(r, dict) for r in rows):
        raise InvalidInput("data must be a dataset URI or a list of dicts (rows)", field="data")
    return Data(rows[:MAX_ROWS], f"{len(rows)} rows")


def evaluate(
    target: Target,
    data: Data,
    scorers: Sequence[ScorerSpec],
    stores: Stores,
    *,
    name: str | None = None,
    expected_column: str = "expected",
    concurrency: int = 8,
    retries: int = 2,
    experiment: str = "evaluations",
    row_span: RowSpan | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInput(f"concurrency must be 1 to {MAX_CONCURRENCY}", field="concurrency")
    if not 0 <= retries <= 10:
        raise InvalidInput("retries must be 0 to 10", field="retries")
    if not data.rows:
        raise InvalidInput("the data has no rows", field="data")
    chosen = get_scorers(scorers)
    names = [s.name for s in chosen]
    if len(set(names)) != len(names):
        raise InvalidInput(f"scorer names repeat: {', '.join(names)}", field="scorers")
    inputs = [{k: v for k, v in r.items() if k != expected_column} for r in data.rows]
    expected = [r.get(expected_column) for r in data.rows]
    evaluation = stores.evaluations.start(
        name or f"eval of {target.description}"[:255],
        target=target.description,
        data=data.description,
        scorers=names,
        higher_is_better={s.name: s.higher_is_better for s in chosen},
        model_version=target.model_version,
        prompt_version=target.prompt_version,
    )
    try:
        outcomes = _run(target, inputs, concurrency, retries, row_span, progress)
        rows, aggregates = _score(chosen, inputs, expected, outcomes)
        failures = _failures(rows)
        run_id = _record_run(stores, experiment, evaluation, target, data, aggregates, rows)
        finished = stores.evaluations.finish(
            evaluation.id, rows, aggregates=aggregates, failures=failures, run_id=run_id
        )
    except BaseException as exc:
        stores.evaluations.fail(evaluation.id, f"{type(exc).__name__}: {exc}")
        raise
    _attach(stores.registry, target.model_version, aggregates, run_id)
    return Result(finished, rows)


# -- running the target -------------------------------------------------------------------


@dataclass
class _Done:
    outcome: Outcome | None
    error: str | None
    trace_id: str | None


def _run(
    target: Target,
    inputs: list[dict[str, Any]],
    concurrency: int,
    retries: int,
    row_span: RowSpan | None,
    progress: Callable[[int, int], None] | None,
) -> list[_Done]:
    """Every row through the target, `concurrency` at a time, in a loop of our own (on a
    thread of its own when the caller already runs one)."""

    async def main() -> list[_Done]:
        limit = asyncio.Semaphore(concurrency)
        finished = 0

        async def one(index: int) -> _Done:
            nonlocal finished
            async with limit:
                done = await _attempts(target, index, inputs[index], retries, row_span)
            finished += 1
            if progress is not None:
                progress(finished, len(inputs))
            return done

        try:
            return list(await asyncio.gather(*(one(i) for i in range(len(inputs)))))
        finally:
            await target.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    found: list[list[_Done]] = []
    worker = threading.Thread(target=lambda: found.append(asyncio.run(main())))
    worker.start()
    worker.join()
    if not found:
        raise RuntimeError("the evaluation's worker thread failed; see the log")
    return found[0]


async def _attempts(
    target: Target, index: int, inputs: dict[str, Any], retries: int, row_span: RowSpan | None
) -> _Done:
    error = ""
    with _span(row_span, index) as trace_id:
        for attempt in range(retries + 1):
            try:
                return _Done(await target(inputs), None, trace_id)
            except InvalidInput as exc:  # the row itself is wrong: retrying cannot help
                return _Done(None, exc.message, trace_id)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt < retries:
                    await asyncio.sleep(min(0.25 * 2**attempt, 4.0))
    return _Done(None, error, trace_id)


@contextlib.contextmanager
def _span(row_span: RowSpan | None, index: int) -> Iterator[str | None]:
    if row_span is None:
        yield None
        return
    with row_span(index) as trace_id:
        yield trace_id


# -- scoring --------------------------------------------------------------------------------


def _score(
    scorers: list[Scorer],
    inputs: list[dict[str, Any]],
    expected: list[Any],
    done: list[_Done],
) -> tuple[list[EvalRow], dict[str, float | None]]:
    """The rows with each scorer's score, and each scorer's figure over the answered rows."""
    rows = []
    for i, d in enumerate(done):
        o = d.outcome or Outcome()
        rows.append(
            EvalRow(
                index=i,
                inputs=inputs[i],
                output=o.output,
                expected=expected[i],
                latency_ms=o.latency_ms,
                input_tokens=o.input_tokens,
                output_tokens=o.output_tokens,
                cost=o.cost,
                trace_id=d.trace_id,
                error=d.error,
            )
        )
    answered = [r for r in rows if r.error is None]
    examples = [_example(r) for r in answered]
    aggregates: dict[str, float | None] = {}
    for scorer in scorers:
        scores = scorer.score_many(examples) if examples else []
        aggregates[scorer.name] = scorer.aggregate(examples, scores) if examples else None
        for row, score in zip(answered, scores, strict=True):
            row.scores[scorer.name] = RowScore(
                value=score.value, rationale=score.rationale, error=score.error
            )
        for row in rows:
            if row.error is not None:
                row.scores[scorer.name] = RowScore(error="the target failed on this row")
    return rows, aggregates


def _example(row: EvalRow) -> Example:
    return Example(
        inputs=row.inputs,
        output=row.output,
        expected=row.expected,
        latency_ms=row.latency_ms,
        cost=row.cost,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
    )


def _failures(rows: list[EvalRow]) -> dict[str, int]:
    """How many rows failed, by reason: the target's error, or a scorer's."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row.error is not None:
            counts[f"target: {row.error[:300]}"] += 1
            continue
        for name, score in row.scores.items():
            if score.error is not None:
                counts[f"{name}: {score.error[:300]}"] += 1
    return dict(counts.most_common(50))


# -- keeping the results --------------------------------------------------------------------


def _record_run(
    stores: Stores,
    experiment: str,
    evaluation: Evaluation,
    target: Target,
    data: Data,
    aggregates: dict[str, float | None],
    rows: list[EvalRow],
) -> str:
    tracking = stores.tracking
    exp = tracking.get_or_create_experiment(experiment)
    run = tracking.create_run(
        exp.id, name=evaluation.name, tags={"lmops.evaluation": evaluation.id}
    )
    params = {
        "target": target.description,
        "data": data.description,
        "scorers": ",".join(evaluation.scorers),
    }
    if target.model_version:
        params["model_version"] = target.model_version
    if target.prompt_version:
        params["prompt_version"] = target.prompt_version
    tracking.log_params(run.id, params)
    failed = sum(1 for r in rows if r.error is not None)
    now = int(time.time() * 1000)
    figures = {**aggregates, "rows": float(len(rows)), "failed_rows": float(failed)}
    points = [
        Metric(key=k, value=v, step=0, timestamp=now) for k, v in figures.items() if v is not None
    ]
    tracking.log_metrics(run.id, points)
    tracking.end_run(run.id, RunStatus.FINISHED)
    engine = stores.evaluations.engine
    if data.version is not None:
        add_edge(engine, "dataset_version", data.version.id, "run", run.id, "evaluated_on")
    if target.model_version:
        version = stores.registry.get_version(target.model_version)
        add_edge(engine, "model_version", version.id, "run", run.id, "evaluated")
    return run.id


def _attach(
    registry: RegistryStore,
    model_version: str | None,
    aggregates: dict[str, float | None],
    run_id: str,
) -> None:
    if not model_version:
        return
    version = registry.get_version(model_version)
    for name, value in aggregates.items():
        if value is not None:
            attach_result(registry, version, name, value, source=f"runs:/{run_id}")
