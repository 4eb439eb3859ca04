"""Scorers that read the answer as text: SQuAD's exact match and token F1, substrings,
regular expressions and length.

`exact_match` and `token_f1` are the SQuAD v1.1 evaluation script's definitions: both
sides are normalized (lower case, ASCII punctuation and the articles a/an/the removed,
whitespace collapsed), and with several acceptable answers the best one counts.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from lmops.core.errors import InvalidInput
from lmops.evaluation.scoring import Example, Score, Scorer, output_text, references

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalization: lower, drop punctuation, drop articles, fix whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """SQuAD v1.1's token F1 (two empty answers score 0, as in v1.1, not 1 as in v2.0)."""
    predicted = normalize_answer(prediction).split()
    truth = normalize_answer(ground_truth).split()
    same = sum((Counter(predicted) & Counter(truth)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(truth)
    return (2 * precision * recall) / (precision + recall)


class ExactMatch(Scorer):
    """1 when the normalized output equals a normalized acceptable answer, else 0."""

    name = "exact_match"
    needs_expected = True

    def compute(self, example: Example) -> Score:
        output = output_text(example)
        return Score(max(exact_match_score(output, truth) for truth in references(example)))


class TokenF1(Scorer):
    """Token overlap F1 against the best acceptable answer."""

    name = "token_f1"
    needs_expected = True

    def compute(self, example: Example) -> Score:
        output = output_text(example)
        return Score(max(f1_score(output, truth) for truth in references(example)))


class Contains(Scorer):
    """1 when the output contains the expected text (any of them, for a list), else 0."""

    name = "contains"
    needs_expected = True

    def __init__(self, *, ignore_case: bool = False, name: str | None = None) -> None:
        self.ignore_case = ignore_case
        self.name = name or self.name

    def compute(self, example: Example) -> Score:
        output = output_text(example)
        wanted = references(example)
        if self.ignore_case:
            output, wanted = output.casefold(), [w.casefold() for w in wanted]
        found = next((w for w in wanted if w in output), None)
        if found is None:
            return Score(0.0, rationale="no expected text in the output")
        return Score(1.0, rationale=f"contains {found!r}")


class Regex(Scorer):
    """1 when the pattern matches the output (`re.search`, or the whole of it), else 0."""

    name = "regex"

    def __init__(
        self,
        pattern: str,
        *,
        ignore_case: bool = False,
        full_match: bool = False,
        name: str | None = None,
    ) -> None:
        try:
            self.pattern = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except (re.error, TypeError) as exc:
            raise InvalidInput(
                f"bad regular expression {pattern!r}: {exc}", field="pattern"
            ) from None
        self.full_match = full_match
        self.name = name or self.name

    def compute(self, example: Example) -> Score:
        output = output_text(example)
        match = self.pattern.fullmatch(output) if self.full_match else self.pattern.search(output)
        if match is None:
            return Score(0.0, rationale=f"no match for {self.pattern.pattern!r}")
        return Score(1.0, rationale=f"matched {match.group(0)[:200]!r}")


class Length(Scorer):
    """The output's length in characters."""

    name = "length"
    higher_is_better = False

    def compute(self, example: Example) -> Score:
        return Score(float(len(output_text(example))))


class WordCount(Scorer):
    """The output's length in words (runs of non-whitespace)."""

    name = "word_count"
    higher_is_better = False

    def compute(self, example: Example) -> Score:
        return Score(float(len(output_text(example).split())))
