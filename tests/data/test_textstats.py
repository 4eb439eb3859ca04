from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from lmops.core.errors import InvalidInput
from lmops.data.textstats import (
    NgramCounter,
    char_lengths,
    control_char_mask,
    empty_mask,
    tokens,
    top_ngrams,
)


def test_char_lengths_count_code_points_not_bytes() -> None:
    texts = pa.chunked_array([["héllo", None, ""], ["中文字", "😀!"]])
    lengths = char_lengths(texts)
    assert lengths.dtype == np.int64
    assert lengths.tolist() == [5, -1, 0, 3, 2]


def test_empty_mask() -> None:
    texts = pa.array(["a", None, "", "  \t\n", "\u3000", " x "])
    assert empty_mask(texts).tolist() == [False, True, True, True, True, False]


def test_control_char_mask() -> None:
    texts = pa.array(
        ["tab\tnew\nret\r", "nul\x00", "bell\x07", "del\x7f", "c1\x85", "é中", None, "\x1b[0m"]
    )
    expected = [False, True, True, True, True, False, False, True]
    assert control_char_mask(texts).tolist() == expected


def test_tokens_are_lowercase_words() -> None:
    texts = pa.chunked_array([["The Cat's  HAT!", None], ["", "Grüße, 世界 x_y 42"]])
    assert tokens(texts).to_pylist() == [
        ["the", "cat", "s", "hat"],
        None,
        [],
        ["grüße", "世界", "x_y", "42"],
    ]


def test_tokens_of_a_slice() -> None:
    texts = pa.array(["a b", "c d", "e"]).slice(1)
    assert tokens(texts).to_pylist() == [["c", "d"], ["e"]]


ROWS = ["the cat sat", "the cat ran", None, "", "sat the cat"]


def test_top_ngrams_exact_counts() -> None:
    texts = pa.chunked_array([ROWS[:2], ROWS[2:]])
    assert top_ngrams(texts, 1, k=3) == [("cat", 3), ("the", 3), ("sat", 2)]
    assert top_ngrams(texts, 2) == [("the cat", 3), ("cat ran", 1), ("cat sat", 1), ("sat the", 1)]
    assert top_ngrams(texts, 3) == [("sat the cat", 1), ("the cat ran", 1), ("the cat sat", 1)]
    assert top_ngrams(texts, 1, k=0) == []


def test_ngrams_never_cross_rows() -> None:
    texts = pa.array(["a b", "c d", "e", "f g h"])
    grams = dict(top_ngrams(texts, 2, k=100))
    assert grams == {"a b": 1, "c d": 1, "f g": 1, "g h": 1}
    assert top_ngrams(texts, 3, k=100) == [("f g h", 1)]


def test_top_ngrams_rejects_bad_n() -> None:
    with pytest.raises(InvalidInput) as info:
        top_ngrams(pa.array(["x"]), 4)
    assert info.value.field == "n"
    with pytest.raises(InvalidInput):
        NgramCounter(0)


def python_ngrams(rows: list[str], n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in rows:
        words = row.lower().split()
        counts.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return counts


@pytest.mark.parametrize("n", [1, 2, 3])
def test_counter_merge_equals_counting_everything(n: int) -> None:
    rng = np.random.default_rng(n)
    vocab = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    rows = [" ".join(rng.choice(vocab, size=rng.integers(0, 9))) for _ in range(300)]
    left, right, whole = NgramCounter(n), NgramCounter(n), NgramCounter(n)
    left.add(pa.array(rows[:120]))
    right.add(pa.chunked_array([rows[120:200], rows[200:]]))
    left.merge(right)
    whole.add(pa.array(rows))
    expected = sorted(python_ngrams(rows, n).items(), key=lambda kv: (-kv[1], kv[0]))
    assert left.top(1000) == whole.top(1000) == expected
    assert top_ngrams(pa.array(rows), n, k=1000) == expected


def test_counter_keeps_only_the_heaviest() -> None:
    counter = NgramCounter(1, keep=2)
    counter.add(pa.array(["a a a b b c"]))
    counter.add(pa.array(["c d"]))
    # "c" was cut after the first chunk, so it restarts from one: counts are lower bounds.
    assert counter.top(5) == [("a", 3), ("b", 2)]
    counter.add(pa.array(["c c c c"]))
    assert counter.top(5) == [("c", 4), ("a", 3)]


def test_counter_shares_one_tokenization() -> None:
    texts = pa.array(["x y z", "x y"])
    shared = NgramCounter(2)
    shared.add_tokens(tokens(texts))
    direct = NgramCounter(2)
    direct.add(texts)
    assert shared.top(10) == direct.top(10) == [("x y", 2), ("y z", 1)]


def test_counter_merge_needs_same_n() -> None:
    with pytest.raises(InvalidInput) as info:
        NgramCounter(1).merge(NgramCounter(2))
    assert info.value.field == "other"


def test_counter_prunes_like_merging_everything_then_cutting() -> None:
    # Reference: after each add, sum the counts and keep the `keep` heaviest (ties alphabetical).
    rng = np.random.default_rng(5)
    vocab = np.array([f"w{i}" for i in range(30)])
    counter = NgramCounter(2, keep=7)
    kept: Counter[str] = Counter()
    for _ in range(12):
        rows = [" ".join(rng.choice(vocab, size=12)) for _ in range(20)]
        counter.add(pa.array(rows))
        kept.update(python_ngrams(rows, 2))
        kept = Counter(dict(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))[:7]))
        assert counter.top(7) == sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
