"""What every scorer shares: rows that cannot be scored fail alone, functions become scorers."""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence

import pytest

from lmops.core.errors import InvalidInput
from lmops.evaluation import Example, FunctionScorer, RowError, Score, Scorer, scorer


def row(output: object = "out", expected: object = None, **inputs: object) -> Example:
    return Example(inputs=dict(inputs), output=output, expected=expected)


@scorer
def shouts(example: Example) -> bool:
    """Whether the answer is in capitals."""
    return str(example.output).isupper()


@scorer("length_ratio", needs_expected=True, higher_is_better=False)
def length_ratio(example: Example) -> tuple[float, str]:
    ratio = len(str(example.output)) / len(str(example.expected))
    return ratio, f"{len(str(example.output))} of {len(str(example.expected))} characters"


def test_a_decorated_function_is_a_scorer_and_still_a_function() -> None:
    assert isinstance(shouts, FunctionScorer) and isinstance(shouts, Scorer)
    assert (shouts.name, shouts.needs_expected, shouts.higher_is_better) == ("shouts", False, True)
    assert shouts.__doc__ == "Whether the answer is in capitals."
    assert shouts(row("YES")) is True  # the function itself, for its own unit tests
    assert shouts.score(row("YES")) == Score(1.0)
    assert shouts.score(row("no")) == Score(0.0)
    named = length_ratio
    assert (named.name, named.needs_expected, named.higher_is_better) == (
        "length_ratio",
        True,
        False,
    )
    assert named.score(row("ab", "abcd")) == Score(0.5, rationale="2 of 4 characters")


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (True, Score(1.0)),
        (False, Score(0.0)),
        (3, Score(3.0)),
        (0.25, Score(0.25)),
        ((0.5, "half"), Score(0.5, rationale="half")),
        ((True, "yes"), Score(1.0, rationale="yes")),
        (Score(0.7, rationale="given"), Score(0.7, rationale="given")),
        (Score(2), Score(2.0)),
    ],
)
def test_what_a_function_returns_becomes_a_score(returned: object, expected: Score) -> None:
    found = FunctionScorer(lambda example: returned).score(row())  # type: ignore[arg-type, return-value]
    assert found == expected
    assert found.value is None or type(found.value) is float


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        (None, "scorer returned NoneType; return a number, a bool, a Score or (value, rationale)"),
        ("0.5", "scorer returned str; return a number, a bool, a Score or (value, rationale)"),
        (math.nan, "scorer returned nan"),
        (Score(math.inf), "scorer returned inf"),
        (Score("high"), "scorer returned a str value, not a number"),  # type: ignore[arg-type]
    ],
)
def test_a_return_that_is_not_a_score_is_the_rows_error(returned: object, error: str) -> None:
    found = FunctionScorer(lambda example: returned).score(row())  # type: ignore[arg-type, return-value]
    assert found == Score(None, error=error)


def test_a_row_that_raises_fails_alone_and_the_others_still_score() -> None:
    @scorer
    def picky(example: Example) -> float:
        if example.output == "bad":
            raise ValueError("cannot read this")
        if example.output == "worse":
            raise RowError("a clean reason")
        return 1.0

    scores = picky.score_many([row("a"), row("bad"), row("worse"), row("b")])
    assert scores == [
        Score(1.0),
        Score(None, error="ValueError: cannot read this"),
        Score(None, error="a clean reason"),
        Score(1.0),
    ]
    assert picky.aggregate([row()] * 4, scores) == 1.0


def test_a_row_without_the_expected_value_gets_an_error_not_the_batch() -> None:
    scores = length_ratio.score_many([row("ab", "abcd"), row("ab"), row("abc", "abc")])
    assert [s.value for s in scores] == [0.5, None, 1.0]
    assert scores[1] == Score(None, error="row has no expected value")


def test_aggregate_is_the_mean_of_the_rows_that_scored() -> None:
    scores = [Score(0.1), Score(None, error="x"), Score(0.2), Score(0.3)]
    assert shouts.aggregate([row()] * 4, scores) == math.fsum([0.1, 0.2, 0.3]) / 3
    assert shouts.aggregate([row()], [Score(None, error="x")]) is None
    assert shouts.aggregate([], []) is None


class Batched(Scorer):
    """A scorer whose batch path fails on one row: each row is then scored alone."""

    name = "batched"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def compute(self, example: Example) -> Score:
        if example.output == "poison":
            raise ValueError("poisoned")
        return Score(float(len(example.output)))

    def compute_many(self, examples: Sequence[Example]) -> list[Score]:
        self.batches.append(len(examples))
        return [self.compute(example) for example in examples]  # raises for the whole batch


def test_a_failed_batch_falls_back_to_rows_so_only_the_bad_one_fails() -> None:
    batched = Batched()
    assert batched.score_many([row("ab"), row("abc")]) == [Score(2.0), Score(3.0)]
    scores = batched.score_many([row("ab"), row("poison"), row("abcd")])
    assert scores == [Score(2.0), Score(None, error="ValueError: poisoned"), Score(4.0)]
    assert batched.batches == [2, 3]
    assert batched.score(row("x")) == Score(1.0)


def test_a_batch_that_answers_the_wrong_number_of_rows_is_not_trusted() -> None:
    class Short(Batched):
        def compute_many(self, examples: Sequence[Example]) -> list[Score]:
            return [Score(0.0)]

    assert Short().score_many([row("ab"), row("abc")]) == [Score(2.0), Score(3.0)]


def test_decorated_scorers_pickle_by_name_so_executors_can_ship_them() -> None:
    assert pickle.loads(pickle.dumps(shouts)) is shouts
    assert pickle.loads(pickle.dumps(length_ratio)) is length_ratio


def test_a_scorer_function_must_be_callable() -> None:
    with pytest.raises(InvalidInput, match="must be callable"):
        FunctionScorer("not a function")  # type: ignore[arg-type]


def test_example_and_score_are_frozen() -> None:
    example = Example({"q": "1+1?"}, "2", "2", latency_ms=12.5, cost=0.001)
    with pytest.raises(AttributeError):
        example.output = "3"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Score(1.0).value = 0.0  # type: ignore[misc]
