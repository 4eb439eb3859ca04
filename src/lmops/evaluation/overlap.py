"""N-gram overlap with the expected text: BLEU and chrF (sacrebleu), ROUGE (rouge-score).

The values are the libraries' own, unchanged: BLEU and chrF on sacrebleu's 0-100 scale
(as papers report them), ROUGE as an F-measure in 0-1. Each row gets its sentence score;
the set's BLEU and chrF are the corpus scores over the rows that scored, as sacrebleu
computes them (not a mean of sentence scores), while ROUGE's is the mean F-measure.
"""

from __future__ import annotations

import functools
import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from lmops.core.errors import InvalidInput, require_modules
from lmops.evaluation.scoring import Example, Score, Scorer, output_text, references

if TYPE_CHECKING:
    from sacrebleu.metrics.base import Metric

EXTRA = "eval"
_ROUGE_KINDS = re.compile(r"rouge[1-9]|rougeL|rougeLsum")


class _Sacrebleu(Scorer):
    """A sacrebleu metric: sentence scores per row, the corpus score for the set."""

    needs_expected = True

    def __init__(self, options: dict[str, Any], sentence_options: dict[str, Any]) -> None:
        require_modules(("sacrebleu",), f"the {self.name} scorer", EXTRA)
        self._sentence = self._metric({**options, **sentence_options})
        self._corpus = self._metric(options)

    @abstractmethod
    def _metric(self, options: dict[str, Any]) -> Metric:
        """The sacrebleu metric object with these options."""

    def compute(self, example: Example) -> Score:
        found = self._sentence.sentence_score(output_text(example), references(example))
        return Score(float(found.score))

    def aggregate(self, examples: Sequence[Example], scores: Sequence[Score]) -> float | None:
        rows = [e for e, s in zip(examples, scores, strict=True) if s.value is not None]
        if not rows:
            return None
        outputs = [output_text(e) for e in rows]
        refs = [references(e) for e in rows]
        # sacrebleu reads one stream per reference position; None fills the rows with fewer
        width = max(len(r) for r in refs)
        streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
        found = self._corpus.corpus_score(outputs, cast(list[list[str]], streams))
        return float(found.score)


class Bleu(_Sacrebleu):
    """sacrebleu's BLEU: `sentence_bleu` per row, `corpus_bleu` for the set (defaults alike)."""

    name = "bleu"

    def __init__(
        self, *, tokenize: str = "13a", lowercase: bool = False, name: str | None = None
    ) -> None:
        self.name = name or self.name
        # sentence_bleu's defaults differ from corpus_bleu's in one place: effective order
        super().__init__({"tokenize": tokenize, "lowercase": lowercase}, {"effective_order": True})

    def _metric(self, options: dict[str, Any]) -> Metric:
        from sacrebleu.metrics.bleu import BLEU

        if options["tokenize"] not in BLEU.TOKENIZERS:
            known = ", ".join(BLEU.TOKENIZERS)
            raise InvalidInput(
                f"unknown BLEU tokenizer {options['tokenize']!r} (known: {known})",
                field="tokenize",
            )
        return BLEU(**options)


class Chrf(_Sacrebleu):
    """sacrebleu's chrF (`word_order=2` makes it chrF++): `sentence_chrf` / `corpus_chrf`."""

    name = "chrf"

    def __init__(
        self, *, char_order: int = 6, word_order: int = 0, beta: int = 2, name: str | None = None
    ) -> None:
        self.name = name or self.name
        options = {"char_order": char_order, "word_order": word_order, "beta": beta}
        super().__init__(options, {})

    def _metric(self, options: dict[str, Any]) -> Metric:
        from sacrebleu.metrics.chrf import CHRF

        return CHRF(**options)


class Rouge(Scorer):
    """rouge-score's F-measure of one ROUGE type, Porter stemming on by default.

    With several acceptable answers the best F-measure counts (`score_multi`). `rougeLsum`
    treats each line as a sentence: put newlines between sentences to use it as intended.
    rouge-score keeps only ASCII letters and digits, so text in other scripts scores 0.
    """

    needs_expected = True

    def __init__(self, kind: str, *, use_stemmer: bool = True, name: str | None = None) -> None:
        if not isinstance(kind, str) or not _ROUGE_KINDS.fullmatch(kind):
            raise InvalidInput(
                f"unknown ROUGE type {kind!r}: use rouge1 to rouge9, rougeL or rougeLsum",
                field="kind",
            )
        require_modules(("rouge_score", "nltk"), f"the {kind} scorer", EXTRA)
        self.kind = kind
        self.use_stemmer = use_stemmer
        self.name = name or kind
        from rouge_score.rouge_scorer import RougeScorer

        self._rouge = RougeScorer([kind], tokenizer=_RougeTokenizer(use_stemmer))

    def compute(self, example: Example) -> Score:
        output, refs = output_text(example), references(example)
        if len(refs) == 1:  # score_multi's answer too, without its argmax over one item
            found = self._rouge.score(refs[0], output)
        else:
            found = self._rouge.score_multi(refs, output)
        return Score(float(found[self.kind].fmeasure))


class _RougeTokenizer:
    """rouge-score's default tokenizer, with a memory for the words it has stemmed.

    Porter stemming takes most of ROUGE's time, and answers repeat their words; the tokens
    are the default tokenizer's own (the same `tokenize` function, the same stemmer).
    """

    def __init__(self, use_stemmer: bool) -> None:
        self.use_stemmer = use_stemmer

    def tokenize(self, text: str) -> list[str]:
        from rouge_score.tokenize import tokenize

        tokens: list[str] = tokenize(text, _STEMMER if self.use_stemmer else None)
        return tokens


class _Stemmer:
    def stem(self, word: str) -> str:
        return _stem(word)


_STEMMER = _Stemmer()


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    stemmed: str = _porter().stem(word)
    return stemmed


@functools.cache
def _porter() -> Any:
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()
