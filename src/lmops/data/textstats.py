"""Per-row text statistics and word n-gram counts, vectorized over Arrow string arrays.

Everything here runs in pyarrow.compute kernels and numpy, never in a Python loop per row, so
a profile of a million rows takes seconds. Word tokens are runs of Unicode letters, marks,
digits and underscores (Python's `\\w+` plus combining marks, so Devanagari or Thai words are
not cut at their vowel signs), lowercased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmops.core.errors import InvalidInput

# RE2 syntax: `\w` is ASCII-only there, so the word class is spelled out in Unicode classes.
# Plain spaces are left out of the class: the commonest separator is then not rewritten,
# which makes tokenizing three times faster than one regex split.
_NON_WORD_NON_SPACE = r"[^\p{L}\p{M}\p{N}_ ]+"
# C0 controls except \t \n \r, DEL, and the C1 block.
_CONTROL = r"[\x{00}-\x{08}\x{0B}\x{0C}\x{0E}-\x{1F}\x{7F}-\x{9F}]"
# Rows per slice when counting n-grams: bounds the memory of the joined n-gram strings.
_SLICE_ROWS = 65_536
_MAX_N = 3

Texts: TypeAlias = "pa.Array | pa.ChunkedArray"


def text_chunks(texts: Texts) -> list[pa.Array]:
    """The chunks of a string array, checked: utf8 or large_utf8 (an all-null array counts)."""
    if not isinstance(texts, pa.Array | pa.ChunkedArray):
        raise InvalidInput(
            f"texts must be a pyarrow string Array or ChunkedArray, not {type(texts).__name__}",
            field="texts",
        )
    kind = texts.type
    if pa.types.is_null(kind) or pa.types.is_string_view(kind):
        texts = texts.cast(pa.string())
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InvalidInput(f"texts must hold strings, not {kind}", field="texts")
    if isinstance(texts, pa.ChunkedArray):
        return list(texts.chunks)
    return [texts]


def _per_row(
    texts: Texts, dtype: type[np.generic], fn: Callable[[pa.Array], np.ndarray]
) -> np.ndarray:
    parts = [fn(chunk) for chunk in text_chunks(texts)]
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)


def _bools(mask: pa.Array, null_as: bool) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, null_as).to_numpy(zero_copy_only=False), dtype=np.bool_)


def char_lengths(texts: Texts) -> np.ndarray:
    """Length of each row in Unicode code points (not bytes); null rows give -1."""
    return _per_row(texts, np.int64, lambda c: pc.fill_null(pc.utf8_length(c), -1).to_numpy())


def empty_mask(texts: Texts) -> np.ndarray:
    """True where a row is null, empty or only whitespace."""
    return _per_row(
        texts,
        np.bool_,
        lambda c: _bools(pc.equal(pc.binary_length(pc.utf8_trim_whitespace(c)), 0), True),
    )


def control_char_mask(texts: Texts) -> np.ndarray:
    """True where a row holds a control character other than tab, newline or carriage return.

    That is C0 (U+0000-U+001F less \\t \\n \\r), DEL (U+007F) and C1 (U+0080-U+009F): the
    marks of mis-decoded bytes or binary data pasted into text. Null rows are False.
    """
    return _per_row(texts, np.bool_, lambda c: _bools(pc.match_substring_regex(c, _CONTROL), False))


def _chunk_tokens(chunk: pa.Array) -> pa.ListArray:
    spaced = pc.replace_substring_regex(pc.utf8_lower(chunk), _NON_WORD_NON_SPACE, " ")
    parts = pc.split_pattern(spaced, " ")
    flat = pc.list_flatten(parts)
    # Splitting leaves "" between two spaces, at a row's ends and for an empty row.
    keep = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(parts).to_numpy()
    per_row = np.bincount(parents[keep], minlength=len(chunk))
    offsets = np.zeros(len(chunk) + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    return pa.ListArray.from_arrays(
        pa.array(offsets), flat.filter(pa.array(keep)), mask=pc.is_null(chunk)
    )


def tokens(texts: Texts) -> pa.ListArray:
    """Lowercase word tokens of each row; a null row gives a null list."""
    lists = [_chunk_tokens(chunk) for chunk in text_chunks(texts)]
    if not lists:
        return pa.array([], type=pa.list_(pa.string()))
    return lists[0] if len(lists) == 1 else pa.concat_arrays(lists)


def ngrams(toks: pa.ListArray, n: int) -> pa.Array:
    """Every word n-gram of every row, tokens joined by a space; none crosses two rows."""
    _check_n(n)
    flat = pc.list_flatten(toks)
    if n == 1:
        return flat
    windows = len(flat) - n + 1
    if windows <= 0:
        return pa.array([], type=flat.type)
    parents = pc.list_parent_indices(toks).to_numpy()
    # A window stays inside one row exactly when its first and last tokens share a parent.
    same_row = parents[:windows] == parents[n - 1 :]
    shifted = [flat.slice(i, windows) for i in range(n)]
    return pc.binary_join_element_wise(*shifted, " ").filter(pa.array(same_row))


def _check_n(n: int) -> None:
    if not 1 <= n <= _MAX_N:
        raise InvalidInput(f"n must be 1, 2 or 3, not {n}", field="n")


def _slices(texts: Texts) -> Iterator[pa.Array]:
    for chunk in text_chunks(texts):
        for start in range(0, len(chunk), _SLICE_ROWS):
            yield chunk.slice(start, _SLICE_ROWS)


def _empty_counts() -> pa.Table:
    return pa.table({"values": pa.array([], pa.string()), "counts": pa.array([], pa.int64())})


def _count(grams: pa.Array) -> pa.Table:
    counted = pc.value_counts(grams)
    values = counted.field("values").cast(pa.string())
    return pa.table({"values": values, "counts": counted.field("counts").cast(pa.int64())})


def _merge(tables: list[pa.Table]) -> pa.Table:
    summed = pa.concat_tables(tables).group_by("values").aggregate([("counts", "sum")])
    return summed.rename_columns(["values", "counts"])


def _top(counts: pa.Table, k: int) -> pa.Table:
    """The k most frequent rows, ties broken alphabetically, in that order."""
    k = min(k, counts.num_rows)
    if k == 0:
        return counts.slice(0, 0)
    keys = [("counts", "descending"), ("values", "ascending")]
    return counts.take(pc.select_k_unstable(counts, k=k, sort_keys=keys))


def _as_pairs(counts: pa.Table) -> list[tuple[str, int]]:
    return list(zip(counts["values"].to_pylist(), counts["counts"].to_pylist(), strict=True))


def top_ngrams(texts: Texts, n: int, k: int = 20) -> list[tuple[str, int]]:
    """The k most frequent word n-grams (n in 1..3) with exact counts, ties alphabetical.

    Memory grows with the number of distinct n-grams; over a large dataset, `NgramCounter`
    keeps it bounded.
    """
    _check_n(n)
    if k < 0:
        raise InvalidInput(f"k must be zero or more, not {k}", field="k")
    counts = [_count(ngrams(_chunk_tokens(piece), n)) for piece in _slices(texts)]
    return _as_pairs(_top(_merge([_empty_counts(), *counts]), k))


@dataclass
class NgramCounter:
    """Approximate heavy hitters among word n-grams, mergeable across chunks and workers.

    After each slice of at most 65,536 rows (and after each merge) only the `keep` most
    frequent n-grams survive, so memory stays bounded however much text passes through.
    The price: an n-gram that was cut once and comes back later restarts from zero, so
    counts are lower bounds and a rare-everywhere n-gram may be missed. While the number of
    distinct n-grams stays under `keep`, every count is exact.
    """

    n: int
    keep: int = 10_000
    _counts: pa.Table = field(default_factory=_empty_counts, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_n(self.n)
        if self.keep < 1:
            raise InvalidInput(f"keep must be 1 or more, not {self.keep}", field="keep")

    def add(self, texts: Texts) -> None:
        """Count the n-grams of these rows."""
        for piece in _slices(texts):
            self.add_tokens(_chunk_tokens(piece))

    def add_tokens(self, toks: pa.ListArray) -> None:
        """Count the n-grams of rows split by `tokens`, as one batch.

        Lets several counters share one tokenization, the costliest step for unigrams.
        """
        self._absorb(_count(ngrams(toks, self.n)))

    def merge(self, other: NgramCounter) -> None:
        """Fold another counter's counts into this one."""
        if other.n != self.n:
            raise InvalidInput(
                f"cannot merge {other.n}-gram counts into {self.n}-gram counts", field="other"
            )
        self._absorb(other._counts)

    def top(self, k: int) -> list[tuple[str, int]]:
        """The k most frequent n-grams seen so far, ties broken alphabetically."""
        if k < 0:
            raise InvalidInput(f"k must be zero or more, not {k}", field="k")
        return _as_pairs(_top(self._counts, k))

    def _absorb(self, counts: pa.Table) -> None:
        # Exactly _top(_merge([kept, counts]), keep), merging far fewer rows: an n-gram that
        # is not kept yet can only make the new top if it is in the top of the newcomers.
        known = pc.is_in(counts["values"], value_set=self._counts["values"])
        fresh = _top(counts.filter(pc.invert(known)), self.keep)
        merged = _merge([self._counts, counts.filter(known), fresh])
        self._counts = _top(merged, self.keep)
