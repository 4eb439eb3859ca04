"""`lmops.evaluate`: an evaluation whose rows are traced, each a trace of its own with the
target's calls inside (a model loaded here records its request under the row)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lmops.evaluation.catalog import ScorerSpec
from lmops.evaluation.evaluate import Result
from lmops.fluent.tracing import export_span, flush_traces, span
from lmops.tracing.entities import SpanType
from lmops.tracing.rows import SpanRow


def evaluate(
    target: str | Callable[..., Any],
    data: str | Sequence[dict[str, Any]],
    scorers: Sequence[ScorerSpec] = ("exact_match",),
    **options: Any,
) -> Result:
    """Run `target` on every row of `data` (a dataset URI or a list of dicts), score each
    answer with `scorers` (names such as "rougeL", "bleu", "exact_match", Scorer objects or
    functions) and store it all; see `lmops.evaluation.sdk` for the targets and options
    (`model=`, `params=`, `name=`, `expected_column=`, `concurrency=`, `retries=`)."""
    from lmops.evaluation.sdk import run_evaluation

    label = options.get("name") or "evaluation"

    @contextmanager
    def row_span(index: int) -> Iterator[str | None]:
        with span(f"{label} row {index}", SpanType.CHAIN) as live:
            yield live.trace_id

    def record(row: SpanRow, project: str) -> None:
        export_span(row)

    try:
        return run_evaluation(target, data, scorers, row_span=row_span, record=record, **options)
    finally:
        flush_traces()
