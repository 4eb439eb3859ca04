"""Stable string hashes, MinHash signatures and LSH clusters, and near-duplicates in Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmops.core.errors import InvalidInput
from lmops.core.executors import get_executor
from lmops.data.hashing import NULL_HASH, hash_strings, hash_uint64, normalize_text
from lmops.data.minhash import (
    EMPTY_KEY,
    MinHashParams,
    band_keys,
    clusters,
    signatures,
)
from lmops.data.neardup import TASK_ROWS, find_near_duplicates

# -- helpers ---------------------------------------------------------------------------------


def random_docs(count: int, seed: int, words: tuple[int, int] = (40, 80)) -> list[str]:
    """`count` texts of random words from a vocabulary of 5,000 made-up words."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(5000)]
    return [
        " ".join(vocab[i] for i in rng.integers(0, len(vocab), size=rng.integers(*words)))
        for _ in range(count)
    ]


def change_last_word(text: str) -> str:
    """`text` with its last word replaced: one shingle of ~100 differs, Jaccard ~0.98."""
    return text.rsplit(" ", 1)[0] + " changed"


def estimate(a: str, b: str, params: MinHashParams) -> float:
    sigs = signatures(pa.array([a, b]), params)
    return float((sigs[0] == sigs[1]).mean())


# -- hash_uint64, hash_strings, normalize_text -----------------------------------------------


def test_hash_uint64_is_splitmix64() -> None:
    # the first three outputs of Vigna's SplitMix64 seeded with 0
    gamma = 0x9E3779B97F4A7C15
    states = np.array([0, gamma, 2 * gamma % 2**64], dtype=np.uint64)
    assert hash_uint64(states).tolist() == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]


def test_hash_strings_golden_values() -> None:
    texts = pa.array(["", "a", "hello world", "the quick brown fox jumps", None])
    assert hash_strings(texts).tolist() == [
        0x238275BC38FCBE91,
        0xAB3F109C5B8E8777,
        0x2CEF91796E7739D8,
        0xF64C7852D27597DD,
        0xE4D971771B652C20,
    ]
    assert hash_strings(texts).dtype == np.uint64


def test_hash_strings_equal_iff_strings_equal() -> None:
    distinct = [f"row {i}" for i in range(20_000)] + ["", "a", "a\0", "ab", "é", "e\u0301"]
    distinct += ["x" * n for n in range(1, 40)]  # every length around the 8-byte words
    hashes = hash_strings(pa.array(distinct + distinct[::-1]))
    assert len(set(hashes[: len(distinct)].tolist())) == len(distinct)
    assert hashes[len(distinct) :].tolist() == hashes[: len(distinct)][::-1].tolist()


def test_hash_strings_same_for_any_layout() -> None:
    values = ["alpha", None, "", "a much longer string than eight bytes", "ünïcode"] * 3
    whole = hash_strings(pa.array(values))
    chunked = pa.chunked_array([pa.array(values[:4]), pa.array(values[4:9]), pa.array(values[9:])])
    assert hash_strings(chunked).tolist() == whole.tolist()
    assert hash_strings(pa.array(values).slice(3, 7)).tolist() == whole[3:10].tolist()
    for kind in (pa.large_string(), pa.string_view()):
        assert hash_strings(pa.array(values, kind)).tolist() == whole.tolist()


def test_hash_strings_nulls_get_one_fixed_value() -> None:
    hashes = hash_strings(pa.array([None, "", None, "null"]))
    assert hashes[0] == hashes[2] == NULL_HASH
    assert NULL_HASH not in hashes[[1, 3]]


def test_hash_strings_refuses_non_strings() -> None:
    with pytest.raises(InvalidInput) as caught:
        hash_strings(pa.array([1, 2]))
    assert caught.value.field == "texts"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Hello   World  ", "hello world"),
        ("tab\tnew\nline\r\nend", "tab new line end"),
        (
            "\ufb01ne \uff37\uff49\uff44\uff45",
            "fine wide",
        ),  # NFKC folds ligatures and full-width letters
        ("no\u00a0break\u2003em\u3000ideographic\u2028line", "no break em ideographic line"),
        ("ÉCOLE", "école"),
        ("", ""),
        (None, None),
    ],
)
def test_normalize_text(raw: str | None, normal: str | None) -> None:
    assert normalize_text(pa.array([raw], pa.string())).to_pylist() == [normal]


def test_normalize_text_takes_chunked_arrays() -> None:
    texts = pa.chunked_array([["A  b"], ["C"]])
    assert normalize_text(texts).to_pylist() == ["a b", "c"]


# -- MinHashParams ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"num_perm": 1}, "num_perm"),
        ({"shingle_size": 0}, "shingle_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_params_refuse_bad_values(options: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        MinHashParams(**options)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("threshold", "num_perm"), [(0.8, 128), (0.5, 128), (0.9, 256), (0.7, 64), (0.3, 32)]
)
def test_bands_and_rows_as_datasketch_picks_them(threshold: float, num_perm: int) -> None:
    datasketch = pytest.importorskip("datasketch")
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
    params = MinHashParams(threshold=threshold, num_perm=num_perm)
    assert (params.bands, params.rows) == (lsh.b, lsh.r)


# -- signatures -----------------------------------------------------------------------------


def test_signature_agreement_estimates_jaccard() -> None:
    params = MinHashParams(num_perm=256, shingle_size=1)
    words = [f"w{i}" for i in range(400)]
    errors = []
    for shared in (0, 40, 80, 120, 160, 190, 200):
        # two sets of 200 words that share `shared`: Jaccard = shared / (400 - shared)
        a = words[:200]
        b = words[200 - shared : 400 - shared]
        true = shared / (400 - shared)
        errors.append(abs(estimate(" ".join(a), " ".join(b), params) - true))
    # one estimate's standard deviation is at most 0.5 / sqrt(256) = 0.031
    assert errors[0] == errors[-1] == 0.0
    assert max(errors) < 0.1
    assert float(np.mean(errors)) < 0.04


def test_signatures_see_words_not_case_or_punctuation() -> None:
    params = MinHashParams(shingle_size=2)
    assert estimate("Hello, World! How are you?", "hello world how are you", params) == 1.0
    assert estimate("café—crème brûlée", "café crème brûlée", params) == 1.0
    assert estimate("snake_case words", "snake case words", params) < 0.5


def test_short_texts_are_one_shingle_of_all_their_words() -> None:
    params = MinHashParams(shingle_size=5)
    assert estimate("three short words", "three short words", params) == 1.0
    assert estimate("three short words", "three short wordz", params) < 0.1
    assert estimate("three short words", "short three words", params) < 0.1


def test_signatures_shape_and_seed() -> None:
    texts = pa.array(random_docs(10, seed=1))
    sigs = signatures(texts, MinHashParams(num_perm=64))
    assert sigs.shape == (10, 64)
    assert sigs.dtype == np.uint64
    assert signatures(texts, MinHashParams(num_perm=64)).tolist() == sigs.tolist()
    assert (signatures(texts, MinHashParams(num_perm=64, seed=2)) != sigs).mean() > 0.9


def test_signatures_same_for_chunked_input() -> None:
    texts = random_docs(30, seed=2)
    params = MinHashParams()
    whole = signatures(pa.array(texts), params)
    chunked = signatures(pa.chunked_array([texts[:7], texts[7:], []]), params)
    assert chunked.tolist() == whole.tolist()


# -- band keys and clusters ------------------------------------------------------------------


def test_planted_near_duplicates_cluster_and_others_do_not() -> None:
    docs = random_docs(400, seed=3, words=(80, 120))
    planted = {400 + i: i * 7 for i in range(40)}  # copy row -> original row
    docs += [change_last_word(docs[original]) for original in planted.values()]
    labels = clusters(band_keys(signatures(pa.array(docs), MinHashParams()), MinHashParams()))
    for copy, original in planted.items():
        assert labels[copy] == labels[original] == original
    originals = set(planted.values())
    assert all(labels[i] == i for i in range(400) if i not in originals)


def test_clusters_merge_transitively_to_the_smallest_row() -> None:
    keys = np.array(
        [
            [10, 20],  # row 0 alone
            [11, 21],  # rows 1, 3 share band 0; rows 3, 4 share band 1; so 1, 3, 4 together
            [12, 22],
            [11, 23],
            [14, 23],
            [12, 25],  # rows 2, 5 share band 0
            [16, 26],
        ],
        dtype=np.uint64,
    )
    assert clusters(keys).tolist() == [0, 1, 2, 1, 1, 2, 6]
    # a chain reached only through higher rows: 4-2 in band 0, 2-3 in band 1, 3-0 in band 0
    chain = np.array([[5, 1], [6, 2], [7, 9], [5, 9], [7, 3]], dtype=np.uint64)
    assert clusters(chain).tolist() == [0, 1, 0, 0, 0]


def test_empty_and_null_texts_never_cluster() -> None:
    params = MinHashParams()
    texts = pa.array(
        ["", None, "!!! ...", "", None, "some real words here", "some real words here"]
    )
    keys = band_keys(signatures(texts, params), params)
    assert (keys[:5] == EMPTY_KEY).all()
    assert (keys[5:] != EMPTY_KEY).all()
    assert clusters(keys).tolist() == [0, 1, 2, 3, 4, 5, 5]


def test_band_keys_shape() -> None:
    params = MinHashParams(threshold=0.5, num_perm=64)
    keys = band_keys(signatures(pa.array(random_docs(5, seed=4)), params), params)
    assert keys.shape == (5, params.bands)
    assert keys.dtype == np.uint64


# -- find_near_duplicates --------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, int]]:
    """A Parquet file of more than TASK_ROWS rows in 16,384-row groups, with near-duplicates
    planted across task boundaries: (path, copy row -> original row).

    The other rows are distinct one-shingle texts, which fill every signature position with
    one value: with 32-bit values, some of these 120,000 would collide by chance."""
    rows = TASK_ROWS + 20_000
    docs: list[str | None] = [f"row {i} of the corpus" for i in range(rows)]
    originals = random_docs(20, seed=5, words=(60, 90))
    planted: dict[int, int] = {}
    for i, text in enumerate(originals):
        first, copy = 100 + i * 37, TASK_ROWS + 1_000 + i * 53
        docs[first], docs[copy] = text, change_last_word(text)
        planted[copy] = first
    docs[-1] = None
    path = tmp_path_factory.mktemp("neardup") / "docs.parquet"
    table = pa.table({"id": np.arange(rows), "text": docs})
    pq.write_table(table, path, row_group_size=16_384, compression="zstd")
    return path, planted


def test_find_near_duplicates_in_process_and_on_executor(
    corpus: tuple[Path, dict[int, int]],
) -> None:
    path, planted = corpus
    seen: dict[str, list[tuple[int, int]]] = {"here": [], "there": []}
    here = find_near_duplicates(
        path, "text", MinHashParams(), progress=lambda *p: seen["here"].append(p)
    )
    executor = get_executor("local", max_workers=2)
    try:
        there = find_near_duplicates(
            path,
            "text",
            MinHashParams(),
            executor=executor,
            progress=lambda *p: seen["there"].append(p),
        )
    finally:
        executor.shutdown()
    assert there.labels.tolist() == here.labels.tolist()
    for copy, original in planted.items():
        assert here.labels[copy] == original
    assert here.cluster_count == len(planted)
    assert here.duplicate_rows == len(planted)
    total = TASK_ROWS + 20_000
    for reports in seen.values():
        assert len(reports) == 2  # one per task
        assert reports[0][0] < reports[1][0] == total
        assert {grand for _, grand in reports} == {total}


def test_find_near_duplicates_on_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    found = find_near_duplicates(path, "text", MinHashParams())
    assert found.labels.tolist() == []
    assert (found.cluster_count, found.duplicate_rows) == (0, 0)


def test_find_near_duplicates_refuses_a_missing_column(
    corpus: tuple[Path, dict[int, int]],
) -> None:
    with pytest.raises(InvalidInput) as caught:
        find_near_duplicates(corpus[0], "body", MinHashParams())
    assert caught.value.field == "column"
    assert "'body'" in caught.value.message
    assert "id, text" in caught.value.message


def test_find_near_duplicates_refuses_a_non_text_column(
    corpus: tuple[Path, dict[int, int]],
) -> None:
    with pytest.raises(InvalidInput) as caught:
        find_near_duplicates(corpus[0], "id", MinHashParams())
    assert caught.value.field == "column"
    assert "int64" in caught.value.message
