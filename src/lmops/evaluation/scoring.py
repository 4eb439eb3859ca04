"""What a scorer is: it reads an `Example` (inputs, the target's output, the expected answer
and what the call cost) and gives a `Score` per row, then one figure for the whole set.

A row a scorer cannot score (no expected value, a judge that answered nonsense, a function
that raised) gets a `Score` with `value=None` and an `error` saying why; the other rows
still score, so one bad row never costs a whole evaluation.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from lmops.core.errors import InvalidInput


@dataclass(frozen=True)
class Example:
    """One evaluated row: what the target was given, what it answered, what was expected."""

    inputs: dict[str, Any]
    output: Any
    expected: Any = None
    latency_ms: float | None = None
    cost: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Score:
    """A row's score; `value=None` with an `error` when the row could not be scored."""

    value: float | None
    rationale: str | None = None
    error: str | None = None


class RowError(Exception):
    """Raised inside a scorer for a row it cannot score; the message becomes `Score.error`."""


class Scorer(ABC):
    """Scores rows one by one (`compute`) or in batches (`compute_many`) and aggregates them.

    Subclasses implement `compute`, and override `compute_many` where a batch pays (one
    forward pass of an embedding model) and `aggregate` where the set's figure is not the
    mean of the rows (corpus BLEU). Callers use `score` and `score_many`, which never raise
    for a row: a missing expected value or an exception becomes that row's error.
    """

    name: str = "scorer"
    needs_expected: bool = False
    higher_is_better: bool = True

    @abstractmethod
    def compute(self, example: Example) -> Score:
        """Score one row; raise RowError (or anything else) when it cannot be scored."""

    def compute_many(self, examples: Sequence[Example]) -> list[Score]:
        """Score rows that all have what the scorer needs; the default goes row by row."""
        return [self._safe(example) for example in examples]

    def score(self, example: Example) -> Score:
        """Score one row; never raises for the row's sake."""
        return self.score_many([example])[0]

    def score_many(self, examples: Iterable[Example]) -> list[Score]:
        """Score every row, in order; a row that cannot be scored gets an error Score."""
        rows = list(examples)
        scores: list[Score | None] = [None] * len(rows)
        ready: list[int] = []
        for i, example in enumerate(rows):
            if self.needs_expected and example.expected is None:
                scores[i] = Score(None, error="row has no expected value")
            else:
                ready.append(i)
        try:
            batch = self.compute_many([rows[i] for i in ready])
            if len(batch) != len(ready):
                raise RuntimeError(f"compute_many gave {len(batch)} scores for {len(ready)} rows")
        except Exception:
            # A batch fails as a whole; row by row, only the rows at fault fail.
            batch = [self._safe(rows[i]) for i in ready]
        for i, found in zip(ready, batch, strict=True):
            scores[i] = found
        return [s if s is not None else Score(None, error="not scored") for s in scores]

    def aggregate(self, examples: Sequence[Example], scores: Sequence[Score]) -> float | None:
        """The set's figure: the mean of the rows that scored (None when none did)."""
        values = [s.value for s in scores if s.value is not None]
        return math.fsum(values) / len(values) if values else None

    def _safe(self, example: Example) -> Score:
        try:
            return checked(self.compute(example))
        except RowError as exc:
            return Score(None, error=str(exc))
        except Exception as exc:
            return Score(None, error=describe(exc))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def describe(exc: BaseException) -> str:
    """`TypeName: message`, the way a row's error names an exception."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def checked(score: Score) -> Score:
    """Refuse a value that would poison a mean (NaN, infinity, not a number)."""
    if not isinstance(score, Score):
        raise RowError(f"scorer returned {type(score).__name__}, not a Score")
    if score.value is None:
        return score
    if isinstance(score.value, bool) or not isinstance(score.value, int | float):
        raise RowError(f"scorer returned a {type(score.value).__name__} value, not a number")
    if not math.isfinite(score.value):
        raise RowError(f"scorer returned {score.value}")
    if type(score.value) is float:
        return score
    return Score(float(score.value), score.rationale, score.error)


# -- reading rows --------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """A value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular structure
        return str(value)


def output_text(example: Example) -> str:
    """The row's output as text; a row without one cannot be scored."""
    if example.output is None:
        raise RowError("row has no output")
    return as_text(example.output)


def references(example: Example) -> list[str]:
    """The acceptable answers: `expected` itself, or each item when it is a list."""
    expected = example.expected
    if expected is None:
        raise RowError("row has no expected value")
    if isinstance(expected, list | tuple):
        if not expected:
            raise RowError("expected is an empty list")
        return [as_text(item) for item in expected]
    return [as_text(expected)]


# -- scorers from functions ----------------------------------------------------------------

ScoreResult = float | bool | Score | tuple[float, str]
ScoreFunction = Callable[[Example], ScoreResult]


class FunctionScorer(Scorer):
    """A scorer made from `f(example)` returning a number, a bool, a Score or (value, why)."""

    def __init__(
        self,
        fn: ScoreFunction,
        *,
        name: str | None = None,
        needs_expected: bool = False,
        higher_is_better: bool = True,
    ) -> None:
        if not callable(fn):
            raise InvalidInput(f"a scorer function must be callable, got {fn!r}", field="scorer")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.needs_expected = needs_expected
        self.higher_is_better = higher_is_better
        functools.update_wrapper(self, fn)

    def compute(self, example: Example) -> Score:
        return to_score(self.fn(example))

    def __call__(self, example: Example) -> ScoreResult:
        """Call the function itself, so a decorated function can still be tested directly."""
        return self.fn(example)

    def __reduce__(self) -> str | tuple[Any, ...]:
        # `@scorer def f` leaves this object at module.f: pickle it by that name (the plain
        # function cannot be pickled, its name points here), so executors can ship it.
        module = sys.modules.get(getattr(self, "__module__", ""))
        qualname = getattr(self, "__qualname__", "")
        if module is not None and getattr(module, qualname, None) is self:
            return qualname
        return super().__reduce__()


def to_score(result: object) -> Score:
    """What a scorer function returned, as a Score."""
    if isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score(1.0 if result else 0.0)
    if isinstance(result, int | float):
        return Score(float(result))
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str | None):
        value = result[0]
        if isinstance(value, bool):
            value = 1.0 if value else 0.0
        if isinstance(value, int | float) or value is None:
            return Score(None if value is None else float(value), rationale=result[1])
    raise RowError(
        f"scorer returned {type(result).__name__}; return a number, a bool, a Score "
        "or (value, rationale)"
    )


@overload
def scorer(name: ScoreFunction, /) -> FunctionScorer: ...


@overload
def scorer(
    name: str | None = None, /, *, needs_expected: bool = False, higher_is_better: bool = True
) -> Callable[[ScoreFunction], FunctionScorer]: ...


def scorer(
    name: str | ScoreFunction | None = None,
    /,
    *,
    needs_expected: bool = False,
    higher_is_better: bool = True,
) -> FunctionScorer | Callable[[ScoreFunction], FunctionScorer]:
    """Turn `def f(example) -> float | bool | Score | (value, rationale)` into a Scorer.

    Use it bare (`@scorer`), or with a name and options
    (`@scorer("polite", needs_expected=False, higher_is_better=True)`).
    """
    if callable(name):
        return FunctionScorer(name)

    def wrap(fn: ScoreFunction) -> FunctionScorer:
        return FunctionScorer(
            fn, name=name, needs_expected=needs_expected, higher_is_better=higher_is_better
        )

    return wrap
