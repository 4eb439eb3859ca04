"""Stable, vectorized hashes of Arrow strings: the same uint64 on every run, process and machine.

Python's `hash()` is salted per process and DuckDB's `hash()` may change between releases,
so neither can name a row in a stored result. Everything here is plain uint64 arithmetic in
numpy, which wraps modulo 2**64 the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lmops.core.errors import InvalidInput

U64 = npt.NDArray[np.uint64]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LENGTH_FACTOR = np.uint64(0xD6E8FEB86659FD93)
# masks keeping the first n bytes (n = 0..8) of a little-endian 8-byte word
_KEEP_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [2**64 - 1], dtype=np.uint64)
# rows hashed together at most, so that the per-word temporaries stay small
_BLOCK_BYTES = 1 << 24
# Unicode White_Space (\p{Z} and the ASCII/C1 controls) plus what Python's str.split() adds
_WHITESPACE = r"[\t\n\v\f\r\x{1c}-\x{1f}\x{85}\p{Z}]+"


def hash_uint64(values: npt.ArrayLike) -> U64:
    """SplitMix64 (Vigna) of each value: add the golden gamma, then Stafford's mix 13."""
    x = np.array(values, dtype=np.uint64)
    x += _GAMMA
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


NULL_HASH = hash_uint64(2**64 - 1)[()]  # what hash_strings gives a null


def normalize_text(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """NFKC, lowercase, each whitespace run as one space, stripped; for exact dedup."""
    out = pc.utf8_normalize(_as_array(texts), "NFKC")
    out = pc.utf8_lower(out)
    out = pc.replace_substring_regex(out, _WHITESPACE, " ")
    return pc.utf8_trim_whitespace(out)


def hash_strings(texts: pa.Array | pa.ChunkedArray) -> U64:
    """Hash each string's UTF-8 bytes to a uint64; nulls get `NULL_HASH`.

    Vectorized over all rows at once: the bytes are read straight from the Arrow buffers as
    little-endian 8-byte words (the last one zero-padded; an empty string is one zero word).
    Word i of a string contributes `hash_uint64(word ^ hash_uint64(i))`; the contributions
    are summed per string (`np.add.reduceat` past the first word), and the sum plus the byte
    length times an odd constant goes through `hash_uint64` once more. Mixing each word with
    its position before summing avoids the Thue-Morse collisions that any polynomial hash
    modulo 2**64 has, and costs a fraction of a per-byte polynomial.

    Not cryptographic: two random distinct strings collide with probability about 2**-64
    (so about n**2 / 2**65 for n strings), but collisions can be crafted on purpose, since
    nothing is secret. Do not rely on it where inputs are adversarial.
    """
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    out = np.empty(len(texts), dtype=np.uint64)
    done = 0
    for chunk in map(_with_offsets, chunks):
        for first, last in _blocks(_offsets(chunk)):
            out[done + first : done + last] = _hash_block(chunk.slice(first, last - first))
        done += len(chunk)
    return out


def hash_spans(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> U64:
    """Hash the byte spans `data[s : s + n]`; `data` must end with 8 spare zero bytes.

    The same function as `hash_strings`, for spans that are not Arrow strings (the words
    that the MinHash tokenizer finds inside a text).
    """
    first = _load_words(data, starts) & _KEEP_BYTES[np.minimum(lengths, 8)]
    sums = _word_terms(first, np.zeros(1, dtype=np.uint64))
    long = np.flatnonzero(lengths > 8)
    if long.size:
        sums[long] += _tail_sums(data, starts[long], lengths[long])
    return hash_uint64(sums + lengths.astype(np.uint64) * _LENGTH_FACTOR)


def _tail_sums(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> U64:
    """The summed terms of words 1, 2, ... of spans longer than 8 bytes."""
    words = (lengths - 1) >> 3
    first = np.cumsum(words) - words
    index = np.arange(int(words.sum()), dtype=np.int64) - np.repeat(first, words) + 1
    position = np.repeat(starts, words) + 8 * index
    left = np.minimum(np.repeat(lengths, words) - 8 * index, 8)
    terms = _word_terms(_load_words(data, position) & _KEEP_BYTES[left], index)
    return np.add.reduceat(terms, first)


def _word_terms(words: U64, index: npt.ArrayLike) -> U64:
    """What the 8-byte word at each word index adds to its string's sum."""
    return hash_uint64(words ^ hash_uint64(index))


def string_bytes(array: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The UTF-8 bytes of a string array (plus 8 zero bytes) and its row offsets into them."""
    offsets = _offsets(array)
    buffer = array.buffers()[2]
    raw = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.empty(0, np.uint8)
    data = np.zeros(int(offsets[-1] - offsets[0]) + 8, dtype=np.uint8)
    data[:-8] = raw[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


def _hash_block(array: pa.Array) -> U64:
    data, offsets = string_bytes(array)
    out = hash_spans(data, offsets[:-1], np.diff(offsets))
    if array.null_count:
        out[array.is_null().to_numpy(zero_copy_only=False)] = NULL_HASH
    return out


def _load_words(data: npt.NDArray[np.uint8], position: npt.NDArray[np.int64]) -> U64:
    """The little-endian 8-byte word starting at each byte position (unaligned loads)."""
    view = np.ndarray((max(len(data) - 7, 0),), dtype="<u8", buffer=data, strides=(1,))
    return view[position].astype(np.uint64, copy=False)


def _offsets(array: pa.Array) -> npt.NDArray[np.int64]:
    kind = np.int64 if _is_large(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=kind)
    return offsets[array.offset : array.offset + len(array) + 1].astype(np.int64)


def _blocks(offsets: npt.NDArray[np.int64]) -> Iterator[tuple[int, int]]:
    """Row ranges of about `_BLOCK_BYTES` each (one row at least)."""
    rows = len(offsets) - 1
    first = 0
    while first < rows:
        last = int(np.searchsorted(offsets, offsets[first] + _BLOCK_BYTES, side="right")) - 1
        last = min(max(last, first + 1), rows)
        yield first, last
        first = last


def _as_array(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        return texts.combine_chunks() if texts.num_chunks else pa.array([], texts.type)
    return texts


def _with_offsets(array: pa.Array) -> pa.Array:
    """`array` as a string or binary array with offsets (views are cast to large ones)."""
    kind = array.type
    if _is_large(kind) or pa.types.is_string(kind) or pa.types.is_binary(kind):
        return array
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        return array.cast(pa.large_binary())
    raise InvalidInput(f"cannot hash {kind} values as strings", field="texts")


def _is_large(kind: pa.DataType) -> bool:
    return bool(pa.types.is_large_string(kind) or pa.types.is_large_binary(kind))
