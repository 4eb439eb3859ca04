"""LLM-as-judge: a model grades each answer against a rubric, or picks the better of two.

The judge model is reached through `complete(messages) -> text`, which the caller gives
(evaluate() passes one bound to an endpoint; a test passes a function). The reply is read
forgivingly: the JSON the rubric asks for, else the number after "score", else the first
number in it. A reply with no grade, or a `complete` that raises, is that row's error.

Rows are judged `max_workers` at a time, in threads: `complete` must be thread-safe
(an HTTP client is), or pass `max_workers=1`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from lmops.core.errors import InvalidInput
from lmops.evaluation.rubrics import (
    DEFAULT_PAIRWISE_RUBRIC,
    DEFAULT_RUBRIC,
    Messages,
    Rubric,
    check_rubric,
    render_rubric,
    row_variables,
)
from lmops.evaluation.scoring import (
    Example,
    RowError,
    Score,
    Scorer,
    as_text,
    describe,
    output_text,
)

Complete = Callable[[Messages], str]
Verdict = Literal["A", "B", "tie"]
BASELINE_KEY = "__baseline_output__"

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_SCORE_WORD = re.compile(rf"score\W{{0,5}}({_NUMBER})", re.IGNORECASE)
_FIRST_NUMBER = re.compile(_NUMBER)
_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)  # MT-Bench's "[[A]]"
_WINNER_WORD = re.compile(r"winner\W{0,5}(A|B|tie)\b", re.IGNORECASE)
_VERDICTS: dict[str, Verdict] = {"a": "A", "b": "B", "tie": "tie", "c": "tie", "draw": "tie"}
# (verdict with the output shown first, with it shown second) -> the output's score
_OUTCOMES: dict[tuple[Verdict, Verdict], float] = {("A", "B"): 1.0, ("B", "A"): 0.0}
_SHOWN = 300  # characters of an unreadable reply quoted in the row's error
MAX_WORKERS = 64  # judge calls in flight at once, per scorer


class _Judged(Scorer):
    """What both judges share: the endpoint call, the rubric, rows judged in threads."""

    def __init__(self, complete: Complete, rubric: Rubric, max_workers: int) -> None:
        if not callable(complete):
            raise InvalidInput("complete must be a function of chat messages", field="complete")
        if not 1 <= max_workers <= MAX_WORKERS:
            raise InvalidInput(f"max_workers is 1 to {MAX_WORKERS}", field="max_workers")
        self.complete = complete
        self.rubric = check_rubric(rubric)
        self.max_workers = max_workers

    def compute_many(self, examples: Sequence[Example]) -> list[Score]:
        if self.max_workers == 1 or len(examples) < 2:
            return [self._safe(example) for example in examples]
        with ThreadPoolExecutor(min(self.max_workers, len(examples))) as pool:
            return list(pool.map(self._safe, examples))

    def ask(self, messages: Messages) -> str:
        """The judge model's reply; a failed call is the row's error, not the run's."""
        try:
            reply = self.complete(messages)
        except Exception as exc:
            raise RowError(f"judge call failed: {describe(exc)}") from exc
        if not isinstance(reply, str):
            raise RowError(f"judge call returned {type(reply).__name__}, not text")
        return reply


class Judge(_Judged):
    """Grade each answer with a judge model on the rubric's scale, scaled to 0-1.

    The default rubric grades correctness from 1 to 5 against the expected answer when the
    row has one, else on the judge's own knowledge. A custom rubric should ask for
    `{"score": n, "rationale": "..."}` and say its scale in `min_score`/`max_score`.
    """

    name = "judge"

    def __init__(
        self,
        complete: Complete,
        rubric: Rubric = DEFAULT_RUBRIC,
        *,
        min_score: float = 1,
        max_score: float = 5,
        name: str | None = None,
        needs_expected: bool = False,
        max_workers: int = 4,
    ) -> None:
        super().__init__(complete, rubric, max_workers)
        if not min_score < max_score:
            raise InvalidInput("min_score must be below max_score", field="min_score")
        self.min_score, self.max_score = float(min_score), float(max_score)
        self.name = name or self.name
        self.needs_expected = needs_expected

    def compute(self, example: Example) -> Score:
        variables = row_variables(example, output=output_text(example))
        reply = self.ask(render_rubric(self.rubric, variables))
        grade, rationale = parse_grade(reply)
        if not self.min_score <= grade <= self.max_score:
            raise RowError(
                f"judge gave {grade:g}, outside {self.min_score:g} to {self.max_score:g}: "
                f"{reply[:_SHOWN]!r}"
            )
        value = (grade - self.min_score) / (self.max_score - self.min_score)
        return Score(value, rationale=f"[{grade:g}/{self.max_score:g}] {rationale}".rstrip())


def parse_grade(reply: str) -> tuple[float, str]:
    """The grade in a judge's reply and its rationale (the whole reply, without JSON)."""
    data = json_object(reply)
    if data is not None and "score" in data:
        grade = _number(data["score"])
        if grade is not None:
            return grade, as_text(data.get("rationale") or data.get("reason") or "")
    match = _SCORE_WORD.search(reply) or _FIRST_NUMBER.search(reply)
    if match is None:
        raise RowError(f"judge reply has no score: {reply[:_SHOWN]!r}")
    return float(match.group(match.lastindex or 0)), reply.strip()


def json_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in the text (bare, fenced in markdown, or amid prose)."""
    decoder = json.JSONDecoder()
    start = reply.find("{")
    while start != -1:
        try:
            found, _ = decoder.raw_decode(reply, start)
        except ValueError:
            start = reply.find("{", start + 1)
            continue
        if isinstance(found, dict):
            return found
        start = reply.find("{", start + 1)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
        return float(value)
    return None


class PairwiseJudge(_Judged):
    """Which is better, the row's output (A) or a baseline's output (B) for the same input?

    B is read from `inputs[baseline_key]` (`"__baseline_output__"` by default; evaluate()
    puts the baseline's answer there, and keys starting with `__` are never shown to the
    judge as inputs). The judge is asked twice, A first and then B first, to cancel its
    position bias: 1 when A wins both times, 0 when B does, 0.5 for a split or a tie.
    """

    name = "pairwise_judge"

    def __init__(
        self,
        complete: Complete,
        rubric: Rubric = DEFAULT_PAIRWISE_RUBRIC,
        *,
        baseline_key: str = BASELINE_KEY,
        name: str | None = None,
        max_workers: int = 4,
    ) -> None:
        super().__init__(complete, rubric, max_workers)
        self.baseline_key = baseline_key
        self.name = name or self.name

    def compute(self, example: Example) -> Score:
        output = output_text(example)
        if example.inputs.get(self.baseline_key) is None:
            raise RowError(f"row has no baseline output (inputs[{self.baseline_key!r}])")
        baseline = as_text(example.inputs[self.baseline_key])
        first, why_first = self._verdict(example, output, baseline)
        second, why_second = self._verdict(example, baseline, output)
        value = _OUTCOMES.get((first, second), 0.5)
        rationale = (
            f"output shown first: {_winner(first, 'output', 'baseline')}. {why_first}\n"
            f"baseline shown first: {_winner(second, 'baseline', 'output')}. {why_second}"
        )
        return Score(value, rationale=rationale)

    def _verdict(self, example: Example, a: str, b: str) -> tuple[Verdict, str]:
        variables = row_variables(example, response_a=a, response_b=b)
        return parse_verdict(self.ask(render_rubric(self.rubric, variables)))


def _winner(verdict: Verdict, a: str, b: str) -> str:
    return "tie" if verdict == "tie" else f"{a if verdict == 'A' else b} wins"


def parse_verdict(reply: str) -> tuple[Verdict, str]:
    """Which answer a pairwise judge picked ("A", "B" or "tie") and its rationale."""
    data = json_object(reply)
    if data is not None:
        picked = _VERDICTS.get(str(data.get("winner", "")).strip().lower())
        if picked is not None:
            return picked, as_text(data.get("rationale") or data.get("reason") or "")
    match = _BRACKETED.search(reply) or _WINNER_WORD.search(reply)
    bare = reply.strip().strip(".\"'").lower()
    picked = _VERDICTS.get(match.group(1).lower()) if match else _VERDICTS.get(bare)
    if picked is None:
        raise RowError(f"judge reply names no winner: {reply[:_SHOWN]!r}")
    return picked, reply.strip()
