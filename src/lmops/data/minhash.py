"""MinHash signatures, LSH band keys and clusters of near-duplicate texts, vectorized.

A text's features are its word shingles: k consecutive words, where a word is a maximal run
of Unicode letters, digits and underscores (Python's `\\w`) after lowercasing.

Signatures use one-permutation hashing (Li, Owen and Zhang, "One Permutation Hashing",
NeurIPS 2012): each shingle is hashed once to 64 bits, the high bits pick one of `num_perm`
bins and each bin keeps its smallest hash. Empty bins borrow from other bins along a probe
sequence that depends only on the bin and the seed: first a few hashed probes, as in optimal
densification (Shrivastava, "Optimal Densification for Fast and Accurate Minwise Hashing",
ICML 2017), then the next bins in turn, as in densification by rotation (Shrivastava and Li,
ICML 2014), which bounds the work for short texts. Either way two signatures agree in each
position with probability equal to the Jaccard similarity of the shingle sets, as with
`num_perm` independent permutations, for one hash per shingle instead of `num_perm`. The
estimate's variance is that of `num_perm` permutations for texts of some hundred shingles; a
text with far fewer shingles than `num_perm` bins repeats its few values, and its estimates
are noisier. Values are 64-bit, so that two short texts (a single shingle fills every bin
with one value) collide by chance only with probability 2**-64.

Banding follows Leskovec, Rajaraman and Ullman, "Mining of Massive Datasets", ch. 3, with the
band count chosen the way datasketch's `MinHashLSH` chooses it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lmops.core.errors import InvalidInput
from lmops.data.hashing import U64, hash_spans, hash_uint64, string_bytes

I64 = npt.NDArray[np.int64]

EMPTY_VALUE = np.uint64(2**64 - 1)  # a signature position no shingle reached
EMPTY_KEY = np.uint64(0)  # the band key of an empty or null text; never matches anything
_NOT_WORD = r"[^\p{L}\p{N}_]+"
_SHINGLE_FACTORS = hash_uint64(np.arange(64, dtype=np.uint64) + np.uint64(0x5348494E)) | 1
_PROBE_SALT = np.uint64(0x50524F4245)
_QUADRATURE_NODES = 128
# texts per vectorized step: small enough that the per-byte and per-bin arrays stay in cache
_BLOCK_ROWS = 4096
_HASHED_PROBES = 8


MAX_PERMUTATIONS = 1024  # beyond it, memory per block grows for no useful precision


@dataclass(frozen=True)
class MinHashParams:
    """How texts are shingled and hashed, and the Jaccard threshold the bands aim at."""

    threshold: float = 0.8
    num_perm: int = 128
    shingle_size: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise InvalidInput("threshold must lie strictly between 0 and 1", field="threshold")
        if not 2 <= self.num_perm <= MAX_PERMUTATIONS:
            raise InvalidInput(
                f"num_perm must be between 2 and {MAX_PERMUTATIONS}", field="num_perm"
            )
        if self.shingle_size < 1:
            raise InvalidInput("shingle_size must be 1 or more", field="shingle_size")
        if not 0 <= self.seed < 2**64:
            raise InvalidInput("seed must be an integer in [0, 2**64)", field="seed")
        if self.shingle_size > len(_SHINGLE_FACTORS):
            raise InvalidInput(
                f"shingle_size must be {len(_SHINGLE_FACTORS)} or less", field="shingle_size"
            )

    @property
    def bands(self) -> int:
        return _optimal_bands_rows(self.threshold, self.num_perm)[0]

    @property
    def rows(self) -> int:
        return _optimal_bands_rows(self.threshold, self.num_perm)[1]


@functools.cache
def _optimal_bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) with bands * rows <= num_perm that minimise the area of false
    positives below the threshold plus false negatives above it, equally weighted, as in
    datasketch's `_optimal_param`. Gauss-Legendre quadrature is exact here up to
    bands * rows = 255."""
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    b, r = pairs[:, :1].astype(np.float64), pairs[:, 1:].astype(np.float64)
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)

    def area(lo: float, hi: float, below: bool) -> npt.NDArray[np.float64]:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        hit = 1 - (1 - s**r) ** b
        return (hi - lo) / 2 * ((hit if below else 1 - hit) @ weights)

    error = 0.5 * area(0.0, threshold, True) + 0.5 * area(threshold, 1.0, False)
    best = pairs[int(np.argmin(error))]
    return int(best[0]), int(best[1])


def signatures(texts: pa.Array | pa.ChunkedArray, params: MinHashParams) -> U64:
    """MinHash signatures, uint64 of shape (len(texts), num_perm); texts without any word
    (empty, null, punctuation only) get all `EMPTY_VALUE`."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts = [
        _block_signatures(chunk.slice(first, _BLOCK_ROWS), params)
        for chunk in chunks
        for first in range(0, len(chunk), _BLOCK_ROWS)
    ]
    return np.concatenate(parts) if parts else np.empty((0, params.num_perm), np.uint64)


def band_keys(sigs: U64, params: MinHashParams) -> U64:
    """One uint64 per band per row, shape (n, bands): a hash of the band's `rows` values.

    Rows whose signature is empty get `EMPTY_KEY` in every band; other rows never do.
    """
    n = len(sigs)
    values = sigs[:, : params.bands * params.rows].reshape(n, params.bands, params.rows)
    keys = np.zeros((n, params.bands), dtype=np.uint64)
    for i in range(params.rows):
        keys = hash_uint64(keys ^ values[:, :, i])
    keys[keys == EMPTY_KEY] = 1
    keys[(sigs == EMPTY_VALUE).all(axis=1)] = EMPTY_KEY
    return keys


def clusters(keys: U64) -> I64:
    """Label rows that share any band key, shape (n,): the smallest row index of each
    connected component. `EMPTY_KEY` joins nothing."""
    return cluster_bands((keys[:, band] for band in range(keys.shape[1])), len(keys))


def cluster_bands(bands: Iterable[U64], n: int) -> I64:
    """`clusters` fed one band's keys (n,) at a time, so that only one band sits in memory."""
    labels = np.arange(n, dtype=np.int64)
    for keys in bands:
        order = np.argsort(keys)
        ordered = keys[order]
        same = (ordered[1:] == ordered[:-1]) & (ordered[1:] != EMPTY_KEY)
        _union(labels, order[:-1][same], order[1:][same])
    return labels


def _union(labels: I64, a: I64, b: I64) -> None:
    """Join the components of each pair (a[i], b[i]); `labels` maps every row to its root.

    Roots hook under the smaller root (np.minimum.at), then pointer jumping flattens the
    forest again; repeated until every pair shares a root, which is then the smallest row.
    """
    while a.size:
        root_a, root_b = labels[a], labels[b]
        apart = root_a != root_b
        a, b, root_a, root_b = a[apart], b[apart], root_a[apart], root_b[apart]
        np.minimum.at(labels, np.maximum(root_a, root_b), np.minimum(root_a, root_b))
        while not np.array_equal(jumped := labels[labels], labels):
            labels[:] = jumped


def _block_signatures(texts: pa.Array, params: MinHashParams) -> U64:
    shingles, owners = _shingles(texts, params.shingle_size)
    values = hash_uint64(shingles ^ hash_uint64(params.seed))
    k = params.num_perm
    # the bin comes from the high 32 bits, scaled into [0, k)
    bins = ((values >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)
    sigs = np.full(len(texts) * k, EMPTY_VALUE, dtype=np.uint64)
    np.minimum.at(sigs, owners * k + bins.astype(np.int64), values)
    return _densify(sigs.reshape(len(texts), k), params.seed)


def _densify(sigs: U64, seed: int) -> U64:
    """Fill each empty bin j from the first non-empty bin in a sequence that depends on j
    and the seed only, never on the text: `_HASHED_PROBES` hashed bins (Shrivastava 2017),
    then j+1, j+2, ... circularly (the rotation of Shrivastava and Li, ICML 2014), which
    bounds the work for texts with few shingles. Texts without any stay all EMPTY_VALUE."""
    n, k = sigs.shape
    flat = sigs.reshape(-1)
    original = flat.copy()
    empty = (original == EMPTY_VALUE).reshape(n, k)
    empty[empty.all(axis=1)] = False
    cells = np.flatnonzero(empty)
    cols = cells % k
    for probes in _hashed_probes(k, seed):
        found = original[cells - cols + probes[cols]]
        flat[cells] = found  # a miss writes EMPTY_VALUE over EMPTY_VALUE
        missed = np.flatnonzero(found == EMPTY_VALUE)
        cells, cols = cells[missed], cols[missed]
    if cells.size:
        flat[cells] = _next_filled(original.reshape(n, k), cells // k, cols)
    return sigs


@functools.cache
def _hashed_probes(k: int, seed: int) -> I64:
    """(attempts, k): the bin that empty bin j borrows from at each hashed attempt."""
    keys = np.arange(_HASHED_PROBES * k, dtype=np.uint64) ^ hash_uint64(seed) ^ _PROBE_SALT
    probes = (hash_uint64(keys) >> np.uint64(32)) * np.uint64(k) >> np.uint64(32)
    return probes.astype(np.int64).reshape(_HASHED_PROBES, k)


def _next_filled(sigs: U64, rows: I64, cols: I64) -> U64:
    """The value of the first non-empty bin after each (row, col), wrapping around."""
    unique_rows, which = np.unique(rows, return_inverse=True)
    block = sigs[unique_rows]
    k = block.shape[1]
    # positions over the row written twice; an empty bin's position is past the end
    position = np.where(block != EMPTY_VALUE, np.arange(k), 3 * k)
    twice = np.concatenate([position, position + k], axis=1)
    nearest = np.minimum.accumulate(twice[:, ::-1], axis=1)[:, ::-1]
    values: U64 = block[which, nearest[which, cols + 1] % k]
    return values


def _shingles(texts: pa.Array, size: int) -> tuple[U64, I64]:
    """Each text's word-shingle hashes and the row each belongs to (rows ascending).

    A shingle's hash is sum(word_hash[i + j] * factor[j]); a text of fewer than `size` words
    gives one shingle of all its words, an empty one none.
    """
    words, word_offsets = _words(texts)
    counts = np.diff(word_offsets)
    owners = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    # each text's words followed by size - 1 zeros, so that no window reaches the next text
    slots = np.arange(len(words), dtype=np.int64) + owners * (size - 1)
    padded = np.zeros(len(words) + len(counts) * (size - 1), dtype=np.uint64)
    padded[slots] = words
    width = len(padded) - size + 1
    windows = np.zeros(max(width, 0), dtype=np.uint64)
    for j in range(size):
        windows += padded[j : j + width] * _SHINGLE_FACTORS[j]
    in_text = np.arange(len(words), dtype=np.int64) - word_offsets[owners]
    keep = in_text <= np.maximum(counts - size, 0)[owners]
    return windows[slots[keep]], owners[keep]


def _words(texts: pa.Array) -> tuple[U64, I64]:
    """Hashes of the words of all texts in order (each as `hash_strings` would hash the word
    alone) and each text's first word (n + 1 offsets into them)."""
    lowered = _separate_non_ascii(pc.utf8_lower(pc.fill_null(_as_strings(texts), "")))
    data, offsets = string_bytes(lowered)
    is_word = _is_word_byte(data[:-8])
    # a word byte continues the byte before (after) it if that is a word byte of the same text
    edge = np.zeros(len(is_word) + 1, dtype=np.bool_)
    edge[offsets] = True
    joins_previous = np.zeros_like(is_word)
    joins_previous[1:] = is_word[:-1]
    joins_previous &= ~edge[:-1]
    joins_next = np.zeros_like(is_word)
    joins_next[:-1] = is_word[1:]
    joins_next &= ~edge[1:]
    starts = np.flatnonzero(is_word & ~joins_previous)
    ends = np.flatnonzero(is_word & ~joins_next) + 1
    word_offsets = np.searchsorted(starts, offsets).astype(np.int64)
    return hash_spans(data, starts, ends - starts), word_offsets


def _is_word_byte(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Bytes of lowercased UTF-8 that belong to words, once non-ASCII separators are gone:
    a-z, 0-9, _ and every byte of a multi-byte character (uint8 wraps below 'a' and '0')."""
    lower = (data - np.uint8(ord("a"))) < 26
    digit = (data - np.uint8(ord("0"))) < 10
    word: npt.NDArray[np.bool_] = lower | digit | (data == ord("_")) | (data >= 0x80)
    return word


def _as_strings(texts: pa.Array) -> pa.Array:
    kind = texts.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return texts
    if pa.types.is_string_view(kind):
        return texts.cast(pa.large_string())
    raise InvalidInput(f"MinHash needs string values, not {kind}", field="texts")


def _separate_non_ascii(texts: pa.Array) -> pa.Array:
    """Replace every non-word run by a space in the texts that are not pure ASCII, so that
    any byte >= 0x80 left over belongs to a word."""
    non_ascii = pc.invert(pc.string_is_ascii(texts))
    if not pc.any(non_ascii).as_py():
        return texts
    spaced = pc.replace_substring_regex(texts.filter(non_ascii), _NOT_WORD, " ")
    return pc.replace_with_mask(texts, non_ascii, spaced)
