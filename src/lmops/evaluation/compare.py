"""Two evaluations side by side: per-metric deltas with paired bootstrap confidence intervals,
and which rows got better or worse.

Rows pair up by position (both evaluations ran on the same data). The delta of a metric is
the mean of B's row scores minus A's over the rows both scored; its interval comes from
resampling those rows with replacement. A corpus-level aggregate (BLEU) is shown as each
evaluation stored it, but the interval is over row means, the only thing rows can resample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lmops.core.errors import InvalidInput
from lmops.evaluation.entities import EvalRow, Evaluation
from lmops.evaluation.store import EvaluationStore

RESAMPLES = 2000


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: float | None  # each evaluation's stored aggregate
    b: float | None
    paired: int  # rows both scored
    delta: float | None  # mean over paired rows: B - A
    low: float | None  # the confidence interval of the delta
    high: float | None
    wins: int  # rows where B beats A (by the metric's direction)
    losses: int
    ties: int
    higher_is_better: bool = True

    @property
    def verdict(self) -> str:
        """better, worse or unclear: whether the interval excludes zero, and on which side."""
        if self.low is None or self.high is None:
            return "unclear"
        good = self.low > 0 if self.higher_is_better else self.high < 0
        bad = self.high < 0 if self.higher_is_better else self.low > 0
        return "better" if good else "worse" if bad else "unclear"


@dataclass(frozen=True)
class RowChange:
    index: int
    a: EvalRow
    b: EvalRow
    changes: dict[str, tuple[float | None, float | None]]  # metric -> (A's value, B's value)


@dataclass(frozen=True)
class Comparison:
    a: Evaluation
    b: Evaluation
    metrics: list[MetricDelta]
    changed: list[RowChange] = field(default_factory=list)
    same_data: bool = True
    confidence: float = 0.95


def compare(
    store: EvaluationStore,
    a_id: str,
    b_id: str,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
    directions: dict[str, bool] | None = None,
) -> Comparison:
    """Compare evaluation `b` against `a`; `directions` says per metric whether higher is
    better (the scorer's own `higher_is_better` when known; else higher)."""
    if not 0.5 <= confidence < 1:
        raise InvalidInput("confidence must be at least 0.5 and below 1", field="confidence")
    if not 100 <= resamples <= 100_000:
        raise InvalidInput("resamples must be 100 to 100,000", field="resamples")
    a, b = store.get(a_id), store.get(b_id)
    rows_a, rows_b = store.all_rows(a.id), store.all_rows(b.id)
    metrics = [m for m in a.scorers if m in b.scorers]
    if not metrics:
        raise InvalidInput(
            f"{a.uri} and {b.uri} share no scorer ({', '.join(a.scorers)} against "
            f"{', '.join(b.scorers)})",
            field="b",
        )
    stored = {**a.higher_is_better, **b.higher_is_better}  # as each evaluation's scorers said
    directions = {**_directions(metrics), **stored, **(directions or {})}
    pairs = list(zip(rows_a, rows_b, strict=False))
    deltas = [_delta(m, a, b, pairs, directions[m], confidence, resamples, seed) for m in metrics]
    changed = []
    for row_a, row_b in pairs:
        moved = {
            m: (_value(row_a, m), _value(row_b, m))
            for m in metrics
            if _value(row_a, m) != _value(row_b, m)
        }
        if moved:
            changed.append(RowChange(row_a.index, row_a, row_b, moved))
    same = a.data == b.data and len(rows_a) == len(rows_b)
    return Comparison(a, b, deltas, changed, same, confidence)


def _directions(metrics: list[str]) -> dict[str, bool]:
    """Whether higher is better, read from each registered scorer's class (nothing is built:
    a judge needs an endpoint to build); a name no longer registered counts as higher."""
    from lmops.evaluation.catalog import scorers

    known = scorers()
    return {m: bool(getattr(known.get(m), "higher_is_better", True)) for m in metrics}


def _value(row: EvalRow, metric: str) -> float | None:
    score = row.scores.get(metric)
    return None if score is None else score.value


def _delta(
    metric: str,
    a: Evaluation,
    b: Evaluation,
    pairs: list[tuple[EvalRow, EvalRow]],
    higher_is_better: bool,
    confidence: float,
    resamples: int,
    seed: int,
) -> MetricDelta:
    diffs = []
    for row_a, row_b in pairs:
        va, vb = _value(row_a, metric), _value(row_b, metric)
        if va is not None and vb is not None:
            diffs.append(vb - va)
    sign = 1 if higher_is_better else -1
    wins = sum(1 for d in diffs if d * sign > 0)
    losses = sum(1 for d in diffs if d * sign < 0)
    low = high = delta = None
    if diffs:
        delta = sum(diffs) / len(diffs)
        low, high = _bootstrap(diffs, confidence, resamples, seed)
    return MetricDelta(
        name=metric,
        a=a.aggregates.get(metric),
        b=b.aggregates.get(metric),
        paired=len(diffs),
        delta=delta,
        low=low,
        high=high,
        wins=wins,
        losses=losses,
        ties=len(diffs) - wins - losses,
        higher_is_better=higher_is_better,
    )


def _bootstrap(
    diffs: list[float], confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """The percentile interval of the mean of `diffs` over resamples with replacement."""
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[int(tail * (resamples - 1))], means[int((1 - tail) * (resamples - 1))]
