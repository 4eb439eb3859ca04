"""Evaluation: scorers that grade a target's answers, row by row and for the whole set.

from lmops.evaluation import Example, get_scorer, scorer

@scorer(needs_expected=True)
def starts_right(example: Example) -> bool:
    return str(example.output).startswith(str(example.expected))

rouge = get_scorer("rougeL")
scores = rouge.score_many(examples)
overall = rouge.aggregate(examples, scores)
"""

from __future__ import annotations

from lmops.evaluation.catalog import get_scorer, get_scorers, scorer_names
from lmops.evaluation.judges import Judge, PairwiseJudge
from lmops.evaluation.overlap import Bleu, Chrf, Rouge
from lmops.evaluation.rubrics import DEFAULT_PAIRWISE_RUBRIC, DEFAULT_RUBRIC
from lmops.evaluation.scoring import Example, FunctionScorer, RowError, Score, Scorer, scorer
from lmops.evaluation.semantic import SemanticSimilarity
from lmops.evaluation.structured import JsonSchema, JsonValid
from lmops.evaluation.text import Contains, ExactMatch, Length, Regex, TokenF1, WordCount
from lmops.evaluation.usage import Cost, Latency

__all__ = [
    "DEFAULT_PAIRWISE_RUBRIC",
    "DEFAULT_RUBRIC",
    "Bleu",
    "Chrf",
    "Contains",
    "Cost",
    "ExactMatch",
    "Example",
    "FunctionScorer",
    "JsonSchema",
    "JsonValid",
    "Judge",
    "Latency",
    "Length",
    "PairwiseJudge",
    "Regex",
    "Rouge",
    "RowError",
    "Score",
    "Scorer",
    "SemanticSimilarity",
    "TokenF1",
    "WordCount",
    "get_scorer",
    "get_scorers",
    "scorer",
    "scorer_names",
]
