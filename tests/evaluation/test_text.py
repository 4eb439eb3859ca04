"""Text scorers: SQuAD v1.1's exact match and F1, substrings, patterns, length, usage."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

import pytest

from lmops.core.errors import InvalidInput
from lmops.evaluation import (
    Contains,
    Cost,
    ExactMatch,
    Example,
    Latency,
    Length,
    Regex,
    Score,
    TokenF1,
    WordCount,
)

# -- the SQuAD v1.1 evaluation script's functions as published (evaluate-v1.1.py), typed --


def squad_normalize_answer(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text: str) -> str:
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_f1_score(prediction: str, ground_truth: str) -> float:
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def squad_exact_match_score(prediction: str, ground_truth: str) -> bool:
    return squad_normalize_answer(prediction) == squad_normalize_answer(ground_truth)


def squad_max_over_ground_truths(
    metric_fn: Callable[[str, str], float], prediction: str, ground_truths: list[str]
) -> float:
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# -------------------------------------------------------------------------------------------

CASES: list[tuple[str, str | list[str]]] = [
    ("Denver Broncos", "Denver Broncos"),
    ("the Denver Broncos!", "Denver Broncos"),
    ("The  Broncos of Denver", ["Denver Broncos", "Broncos"]),
    ("Santa Clara, California", ["Santa Clara", "Levi's Stadium", "Santa Clara, California"]),
    ("an apple a day", "apple day"),
    ("Théâtre de l'Odéon", "theatre de l odeon"),
    ("1,000 years", "1000 years"),
    ("Thea the theatre", "theatre"),  # articles only as whole words
    ("", ""),  # v1.1: two empty answers have F1 0, exact match 1
    ("the", "a"),
    ("cat cat cat", "cat"),
    ("  Spaces\tand\nnewlines ", "spaces and newlines"),
    ("42", ["forty-two", "42"]),
    ("Something else entirely", ["gold", "silver"]),
]


@pytest.mark.parametrize(("prediction", "truth"), CASES)
def test_exact_match_and_f1_are_squads_own(prediction: str, truth: str | list[str]) -> None:
    truths = truth if isinstance(truth, list) else [truth]
    example = Example({"question": "?"}, prediction, truth)
    em = squad_max_over_ground_truths(squad_exact_match_score, prediction, truths)
    f1 = squad_max_over_ground_truths(squad_f1_score, prediction, truths)
    assert ExactMatch().score(example) == Score(float(em))
    assert TokenF1().score(example) == Score(float(f1))


def test_squad_figures_by_hand() -> None:
    example = Example({}, "the big red dog", "a red dog")
    assert ExactMatch().score(example).value == 0.0
    # tokens: [big, red, dog] vs [red, dog]: precision 2/3, recall 1
    assert TokenF1().score(example).value == pytest.approx(0.8)
    assert ExactMatch().score(Example({}, "The Dog.", "dog")).value == 1.0


def test_text_scorers_need_the_expected_value_and_an_output() -> None:
    rows = [Example({}, "x", None), Example({}, None, "x"), Example({}, "x", [])]
    for scorer in (ExactMatch(), TokenF1(), Contains()):
        assert scorer.needs_expected
        assert [s.error for s in scorer.score_many(rows)] == [
            "row has no expected value",
            "row has no output",
            "expected is an empty list",
        ]


def test_non_text_values_are_compared_as_json_text() -> None:
    assert ExactMatch().score(Example({}, 42, 42)).value == 1.0
    assert ExactMatch().score(Example({}, {"a": 1}, '{"a": 1}')).value == 1.0


def test_contains_looks_for_any_expected_text() -> None:
    rows = [
        Example({}, "The capital is Paris.", "Paris"),
        Example({}, "The capital is paris.", "Paris"),
        Example({}, "It is Lyon or Paris", ["Marseille", "Paris"]),
        Example({}, "Berlin", ["Marseille", "Paris"]),
    ]
    assert [s.value for s in Contains().score_many(rows)] == [1.0, 0.0, 1.0, 0.0]
    found = Contains(ignore_case=True).score_many(rows)
    assert [s.value for s in found] == [1.0, 1.0, 1.0, 0.0]
    assert found[1].rationale == "contains 'paris'"
    assert found[3].rationale == "no expected text in the output"


def test_regex_searches_or_matches_the_whole_output() -> None:
    iso_date = Regex(r"\d{4}-\d{2}-\d{2}")
    assert iso_date.score(Example({}, "due 2024-05-01, firm")) == Score(
        1.0, rationale="matched '2024-05-01'"
    )
    assert iso_date.score(Example({}, "due May 1st")) == Score(
        0.0, rationale="no match for '\\\\d{4}-\\\\d{2}-\\\\d{2}'"
    )
    assert not iso_date.needs_expected
    whole = Regex(r"yes|no", full_match=True, ignore_case=True, name="yes_no")
    assert whole.name == "yes_no"
    assert [whole.score(Example({}, text)).value for text in ("YES", "no", "yes!")] == [
        1.0,
        1.0,
        0.0,
    ]
    with pytest.raises(InvalidInput, match="bad regular expression"):
        Regex("(unclosed")


def test_length_and_word_count() -> None:
    rows = [Example({}, "two words"), Example({}, "  one  "), Example({}, ""), Example({}, None)]
    assert [s.value for s in Length().score_many(rows)] == [9.0, 7.0, 0.0, None]
    assert [s.value for s in WordCount().score_many(rows)] == [2.0, 1.0, 0.0, None]
    assert not Length().higher_is_better and not WordCount().higher_is_better
    assert Length().aggregate(rows, Length().score_many(rows)) == pytest.approx(16 / 3)


def test_latency_and_cost_read_what_the_call_cost() -> None:
    rows = [
        Example({}, "a", latency_ms=120.0, cost=0.002),
        Example({}, "b", latency_ms=80, cost=None),
    ]
    assert Latency().score_many(rows) == [Score(120.0), Score(80.0)]
    assert Cost().score_many(rows) == [Score(0.002), Score(None, error="row has no cost")]
    assert Latency().aggregate(rows, Latency().score_many(rows)) == 100.0
    assert not Latency().higher_is_better and not Cost().higher_is_better
    assert Latency().score(Example({}, "c")).error == "row has no latency"
