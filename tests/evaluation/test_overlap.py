"""BLEU, chrF and ROUGE give exactly what sacrebleu and rouge-score give on the same text."""

from __future__ import annotations

import math
import pickle

import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from lmops.core.errors import InvalidInput
from lmops.evaluation import Bleu, Chrf, Example, Rouge, Score, get_scorer

PAIRS: list[tuple[str, str | list[str]]] = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("A quick brown fox jumps over the lazy dog", "The quick brown fox jumped over a lazy dog."),
    ("It was raining heavily in the city.", ["Heavy rain fell in the city.", "It rained a lot."]),
    ("Completely unrelated words here", "Nothing in common at all"),
    ("running runners ran quickly", "the runner runs quick"),  # stemming matters
    ("", "Something expected"),
    ("Das ist ein kleiner Test .", ["Das ist ein Test .", "Ein kleiner Test", "Test ."]),
    ("Identical sentence, word for word.", "Identical sentence, word for word."),
    ("First line of a summary.\nSecond line here.", "First line.\nAnother second line here."),
    ("Zahlen 1, 2 und 3", "Zahlen 1 2 3"),
]
ROWS = [Example({"id": i}, out, ref) for i, (out, ref) in enumerate(PAIRS)]


def refs(expected: str | list[str]) -> list[str]:
    return expected if isinstance(expected, list) else [expected]


def streams(all_refs: list[list[str]]) -> list[list[str | None]]:
    width = max(len(r) for r in all_refs)
    return [[r[i] if i < len(r) else None for r in all_refs] for i in range(width)]


def test_bleu_is_sacrebleus_sentence_and_corpus_bleu() -> None:
    bleu = get_scorer("bleu")
    scores = bleu.score_many(ROWS)
    assert [s.value for s in scores] == [
        sacrebleu.sentence_bleu(out, refs(ref)).score for out, ref in PAIRS
    ]
    corpus = sacrebleu.corpus_bleu(
        [out for out, _ in PAIRS],
        streams([refs(ref) for _, ref in PAIRS]),  # type: ignore[arg-type]
    )
    assert bleu.aggregate(ROWS, scores) == corpus.score
    assert scores[7].value == pytest.approx(100.0)  # word for word


def test_bleu_with_one_reference_per_row_matches_plain_corpus_bleu() -> None:
    rows = [e for e in ROWS if isinstance(e.expected, str)]
    bleu = Bleu()
    outputs, references = [e.output for e in rows], [[e.expected for e in rows]]
    assert (
        bleu.aggregate(rows, bleu.score_many(rows))
        == sacrebleu.corpus_bleu(outputs, references).score
    )


def test_bleu_options_are_sacrebleus() -> None:
    rows = ROWS[:4]
    for options in ({"lowercase": True}, {"tokenize": "char"}, {"tokenize": "intl"}):
        bleu = Bleu(**options)
        assert [s.value for s in bleu.score_many(rows)] == [
            sacrebleu.sentence_bleu(e.output, refs(e.expected), **options).score for e in rows
        ]
    with pytest.raises(InvalidInput, match="unknown BLEU tokenizer 'nope'"):
        Bleu(tokenize="nope")


def test_chrf_is_sacrebleus_sentence_and_corpus_chrf() -> None:
    chrf = get_scorer("chrf")
    scores = chrf.score_many(ROWS)
    assert [s.value for s in scores] == [
        sacrebleu.sentence_chrf(out, refs(ref)).score for out, ref in PAIRS
    ]
    corpus = sacrebleu.corpus_chrf(
        [out for out, _ in PAIRS],
        streams([refs(ref) for _, ref in PAIRS]),  # type: ignore[arg-type]
    )
    assert chrf.aggregate(ROWS, scores) == corpus.score
    plus = Chrf(word_order=2, name="chrf++")
    assert [s.value for s in plus.score_many(ROWS)] == [
        sacrebleu.sentence_chrf(out, refs(ref), word_order=2).score for out, ref in PAIRS
    ]


def test_corpus_figures_count_only_the_rows_that_scored() -> None:
    rows = [*ROWS[:3], Example({}, "no reference here"), Example({}, None, "an answer")]
    for scorer, corpus in ((Bleu(), sacrebleu.corpus_bleu), (Chrf(), sacrebleu.corpus_chrf)):
        scores = scorer.score_many(rows)
        assert [s.error for s in scores[3:]] == ["row has no expected value", "row has no output"]
        expected = corpus(
            [out for out, _ in PAIRS[:3]],
            streams([refs(ref) for _, ref in PAIRS[:3]]),  # type: ignore[arg-type]
        )
        assert scorer.aggregate(rows, scores) == expected.score
        assert scorer.aggregate(rows[3:], scores[3:]) is None


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
def test_rouge_is_rouge_scores_f_measure_with_stemming(kind: str) -> None:
    scorer = get_scorer(kind)
    direct = RougeScorer([kind], use_stemmer=True)
    scores = scorer.score_many(ROWS)
    assert [s.value for s in scores] == [
        direct.score_multi(refs(ref), out)[kind].fmeasure for out, ref in PAIRS
    ]
    single = [(s, e) for s, e in zip(scores, ROWS, strict=True) if isinstance(e.expected, str)]
    assert [s.value for s, _ in single] == [
        direct.score(e.expected, e.output)[kind].fmeasure for _, e in single
    ]
    values = [s.value for s in scores if s.value is not None]
    assert scorer.aggregate(ROWS, scores) == math.fsum(values) / len(values)
    assert scorer.name == kind and scorer.needs_expected and scorer.higher_is_better


def test_rouge_without_stemming_and_other_orders() -> None:
    plain = Rouge("rougeL", use_stemmer=False)
    direct = RougeScorer(["rougeL"])
    assert [plain.score(e).value for e in ROWS] == [
        direct.score_multi(refs(ref), out)["rougeL"].fmeasure for out, ref in PAIRS
    ]
    rouge3 = RougeScorer(["rouge3"], use_stemmer=True)
    assert Rouge("rouge3").score(ROWS[1]) == Score(
        rouge3.score(ROWS[1].expected, ROWS[1].output)["rouge3"].fmeasure
    )
    for bad in ("rouge0", "rougeX", "bleu", "rouge10"):
        with pytest.raises(InvalidInput, match="unknown ROUGE type"):
            Rouge(bad)


def test_overlap_scorers_survive_pickling_for_executors() -> None:
    for scorer in (Bleu(), Chrf(), Rouge("rougeL")):
        copy = pickle.loads(pickle.dumps(scorer))
        assert copy.score_many(ROWS) == scorer.score_many(ROWS)
        assert copy.name == scorer.name
