"""Which natural languages a text column is written in.

Identification uses py3langid (the `data` extra): a naive Bayes model over byte n-grams
that ships inside the wheel, so nothing is downloaded, covering about 140 languages. It
answers ISO 639-1 codes ("en", "fr", "zh"), and ISO 639-3 codes for the few languages that
have no two-letter code ("ary" for Moroccan Arabic, "yue" for Cantonese). The model loads
on the first detection, not on import.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from lmops.core.errors import InvalidInput, MissingExtra
from lmops.data.textstats import Texts, empty_mask, text_chunks

UNDETERMINED = "und"
_MIN_LETTERS = 3
# Enough text to tell any language apart; keeps one huge document from stalling a profile.
_MAX_CHARS = 10_000
# The model's label for text without linguistic content (digits, symbols, markup).
_NO_LANGUAGE = "zxx"


@functools.cache
def _classify() -> Callable[[str], tuple[str, float]]:
    try:
        import py3langid  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingExtra("language detection", "data") from exc
    classify: Callable[[str], tuple[str, float]] = py3langid.classify
    return classify


def _has_letters(text: str) -> bool:
    letters = itertools.islice(filter(str.isalpha, text), _MIN_LETTERS)
    return sum(1 for _ in letters) == _MIN_LETTERS


def _detect_one(text: str | None) -> str:
    if not text or not _has_letters(text):
        return UNDETERMINED
    code, _score = _classify()(text[:_MAX_CHARS])
    return UNDETERMINED if code == _NO_LANGUAGE else code


def detect(texts: Sequence[str]) -> list[str]:
    """The language code of each text; "und" when it has fewer than 3 letters."""
    return [_detect_one(text) for text in texts]


def _sample_rows(texts: Texts, sample: int, seed: int) -> list[str]:
    """At most `sample` non-empty rows, picked at random but the same for the same seed."""
    candidates = np.flatnonzero(~empty_mask(texts))
    size = min(sample, len(candidates))
    chosen = np.sort(np.random.default_rng(seed).choice(candidates, size=size, replace=False))
    rows: list[str] = []
    start = 0
    for chunk in text_chunks(texts):
        # Each chunk takes the chosen positions that fall inside it, shifted to its own start.
        lo, hi = np.searchsorted(chosen, [start, start + len(chunk)])
        rows += chunk.take(chosen[lo:hi] - start).to_pylist()
        start += len(chunk)
    return rows


def language_mix(texts: Texts, sample: int = 2000, seed: int = 0) -> tuple[dict[str, int], int]:
    """Languages among a deterministic sample of non-empty rows.

    Returns the rows per language, most frequent first (ties alphabetical), and the
    number of rows sampled: `sample`, or every non-empty row when there are fewer.
    """
    if sample < 0:
        raise InvalidInput(f"sample must be zero or more, not {sample}", field="sample")
    rows = _sample_rows(texts, sample, seed)
    counts = Counter(detect(rows))
    ordered = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return ordered, len(rows)
