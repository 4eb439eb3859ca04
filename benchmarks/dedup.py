"""How fast near-duplicate texts are found: lmops MinHash LSH next to datasketch, same run.

Run it from the repository root:

    .venv/bin/python benchmarks/dedup.py                  # 100,000 documents
    .venv/bin/python benchmarks/dedup.py --docs 20000     # any count
    .venv/bin/python benchmarks/dedup.py --quick          # 5,000 documents, a smoke run

datasketch is a dev dependency (`pip install datasketch`); without it the comparison is
skipped and the report says why.

The workload (seeded): `--docs` documents of 50-150 words drawn with Zipf-like frequencies
from a vocabulary of 20,000 made-up words. One in twenty rows is a planted near-copy of
another row: its first a and last b words replaced by other words (a + b >= 1), which
changes exactly a + b of its word 5-shingles; a + b is drawn so that the pair's true
Jaccard similarity lies in [0.9, 1), clearly above the 0.8 threshold. Rows are shuffled, so
pairs cross row groups. The true Jaccard of every pair is computed from the shingle sets.

What is measured, both at threshold 0.8, 128 permutations, word 5-shingles (words are `\\w+`
runs of the lowercased text):

- lmops: `find_near_duplicates` on the documents written to Parquet as the data stage
  writes them (zstd, 16,384-row groups), in this process (`executor=None`); the clock
  includes reading the Parquet file, not writing it. Median of `--repeats` trials after
  one untimed warm-up call (lazy imports and cached tables; the file is in the page cache
  either way, having just been written).
- datasketch: from the documents as Python strings in memory: shingling in Python,
  `MinHash.bulk` (its batched `update_batch` path), `MinHashLSH` inserted through an
  insertion session, then one `query` per document and a union-find over the answers to
  count clusters. One trial (it is the slow side).

A planted pair counts as found when both rows share a cluster (lmops) or the query for one
returns the other (datasketch). Figures are printed with their targets and marked met / not
met; a missed target never makes the script fail.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from harness import (
    NOISE_NOTE,
    Load,
    bench_dir,
    mark,
    median_line,
    new_parser,
    print_machine,
    run_steps,
)

from lmops.data.minhash import MinHashParams
from lmops.data.neardup import find_near_duplicates

VOCABULARY = 20_000
WORDS = (50, 150)
PLANTED_SHARE = 20  # one row in 20 is a near-copy
MIN_PLANTED_JACCARD = 0.9
PARAMS = MinHashParams(threshold=0.8, num_perm=128, shingle_size=5)
TARGET_RECALL = 0.95
TARGET_RATIO = 10.0
WORD = re.compile(r"\w+")


@dataclass
class Corpus:
    """The documents and the planted pairs (row, row, true Jaccard)."""

    docs: pa.Array
    pairs: np.ndarray
    jaccard: np.ndarray


@dataclass
class Outcome:
    """What one side found, and how long it took."""

    seconds: list[float]
    found: int
    clusters: int
    others_clustered: int  # rows in a cluster that belong to no planted pair
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class Report:
    """Everything measured; printed at the end."""

    corpus: Corpus
    lmops: Outcome | None = None
    datasketch: Outcome | None = None
    datasketch_version: str = ""
    datasketch_skipped: str | None = None
    load: list[Load] = field(default_factory=list)


# -- the workload -----------------------------------------------------------------------------


def make_corpus(docs: int, seed: int) -> Corpus:
    """`docs` random documents, one in `PLANTED_SHARE` a near-copy of another, shuffled."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    copies = docs // PLANTED_SHARE
    lengths = rng.integers(WORDS[0], WORDS[1] + 1, size=docs - copies)
    weights = 1.0 / np.arange(10, VOCABULARY + 10)
    words = rng.choice(VOCABULARY, size=int(lengths.sum()), p=weights / weights.sum())
    texts = np.split(words, np.cumsum(lengths)[:-1])
    originals = rng.choice(len(texts), size=copies, replace=False)
    jaccard = np.empty(copies)
    for i, original in enumerate(originals):
        copy, jaccard[i] = _near_copy(texts[original], rng)
        texts.append(copy)
    order = rng.permutation(docs)  # row of each text after the shuffle
    pairs = np.stack([order[originals], order[docs - copies :]], axis=1)
    shuffled = [texts[i] for i in np.argsort(order)]
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in shuffled])]).astype(np.int32)
    tokens = pa.ListArray.from_arrays(offsets, vocab.take(pa.array(np.concatenate(shuffled))))
    return Corpus(pc.binary_join(tokens, " "), np.sort(pairs, axis=1), jaccard)


def _vocabulary(rng: np.random.Generator) -> pa.Array:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters, size=rng.integers(2, 11))))
    return pa.array(sorted(words))


def _near_copy(words: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """`words` with its first a and last b words replaced: exactly a + b shingles change."""
    shingles = len(words) - PARAMS.shingle_size + 1
    most = int(shingles * (1 - MIN_PLANTED_JACCARD) / (1 + MIN_PLANTED_JACCARD))
    changed = int(rng.integers(1, max(most, 1) + 1))
    head = int(rng.integers(0, changed + 1))
    copy = words.copy()
    where = np.r_[0:head, len(words) - (changed - head) : len(words)]
    copy[where] = (copy[where] + rng.integers(1, VOCABULARY, size=len(where))) % VOCABULARY
    return copy, _jaccard(words, copy)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    k = PARAMS.shingle_size
    wa, wb = a.tolist(), b.tolist()
    sa = {tuple(wa[i : i + k]) for i in range(len(wa) - k + 1)}
    sb = {tuple(wb[i : i + k]) for i in range(len(wb) - k + 1)}
    return len(sa & sb) / len(sa | sb)


def expected_recall(jaccard: np.ndarray) -> float:
    """The LSH S-curve 1 - (1 - J**rows)**bands averaged over the planted pairs."""
    return float(np.mean(1 - (1 - jaccard**PARAMS.rows) ** PARAMS.bands))


# -- lmops ------------------------------------------------------------------------------------


def write_parquet(corpus: Corpus, path: Path) -> None:
    """The documents as the data stage stores them: zstd, 16,384-row groups."""
    table = pa.table({"text": corpus.docs})
    pq.write_table(table, path, row_group_size=16_384, compression="zstd", version="2.6")


def run_lmops(report: Report, path: Path, repeats: int) -> None:
    find_near_duplicates(path, "text", PARAMS)  # untimed: first-use costs (imports, caches)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = find_near_duplicates(path, "text", PARAMS)
        seconds.append(time.perf_counter() - start)
    labels = found.labels
    pairs = report.corpus.pairs
    in_cluster = np.bincount(labels, minlength=len(labels))[labels] > 1
    report.lmops = Outcome(
        seconds=seconds,
        found=int((labels[pairs[:, 0]] == labels[pairs[:, 1]]).sum()),
        clusters=found.cluster_count,
        others_clustered=_others(np.flatnonzero(in_cluster), pairs),
    )


def _others(clustered_rows: np.ndarray, pairs: np.ndarray) -> int:
    return int(np.setdiff1d(clustered_rows, pairs.ravel()).size)


# -- datasketch -------------------------------------------------------------------------------


def run_datasketch(report: Report) -> None:
    try:
        import datasketch  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        report.datasketch_skipped = f"datasketch is not installed ({exc})"
        return
    report.datasketch_version = datasketch.__version__
    texts = report.corpus.docs.to_pylist()
    parts: dict[str, float] = {}
    start = time.perf_counter()
    shingles = [_shingles(text) for text in texts]
    parts["shingling"] = _lap(start)
    hashes = datasketch.MinHash.bulk(shingles, num_perm=PARAMS.num_perm)
    parts["MinHash.bulk"] = _lap(start, parts)
    lsh = datasketch.MinHashLSH(threshold=PARAMS.threshold, num_perm=PARAMS.num_perm)
    with lsh.insertion_session() as session:
        for row, minhash in enumerate(hashes):
            session.insert(row, minhash)
    parts["insert"] = _lap(start, parts)
    answers = [lsh.query(minhash) for minhash in hashes]
    labels = _union_find(answers)
    parts["query + union-find"] = _lap(start, parts)
    seconds = time.perf_counter() - start
    pairs = report.corpus.pairs
    roots, sizes = np.unique(labels, return_counts=True)
    report.datasketch = Outcome(
        seconds=[seconds],
        found=sum(int(b) in answers[a] for a, b in pairs),
        clusters=int((sizes > 1).sum()),
        others_clustered=_others(np.flatnonzero(np.isin(labels, roots[sizes > 1])), pairs),
        parts=parts,
    )


def _shingles(text: str) -> list[bytes]:
    """Word 5-shingles as lmops makes them: `\\w+` runs of the lowercased text, and one
    shingle of all the words for a text shorter than that."""
    words = WORD.findall(text.lower())
    k = PARAMS.shingle_size
    return [" ".join(words[i : i + k]).encode() for i in range(max(len(words) - k + 1, 1))]


def _lap(start: float, parts: dict[str, float] | None = None) -> float:
    return time.perf_counter() - start - sum((parts or {}).values())


def _union_find(answers: list[list[Any]]) -> np.ndarray:
    """Each row's smallest connected row, joining every row with the rows its query returned."""
    parent = list(range(len(answers)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row, found in enumerate(answers):
        for other in found:
            a, b = root(row), root(int(other))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([root(row) for row in range(len(answers))])


# -- the report -------------------------------------------------------------------------------


def _print_workload(r: Report) -> None:
    c = r.corpus
    print(
        f"\n-- workload: {len(c.docs):,} docs of {WORDS[0]}-{WORDS[1]} words "
        f"(vocabulary {VOCABULARY:,}), {len(c.pairs):,} planted near-duplicate pairs"
    )
    j = c.jaccard
    print(
        f"  planted pairs' true Jaccard: min {j.min():.3f}, median {np.median(j):.3f}, "
        f"max {j.max():.3f}; the S-curve (bands {PARAMS.bands}, rows {PARAMS.rows}) "
        f"expects recall {expected_recall(j):.3f}"
    )


def _print_outcome(label: str, o: Outcome, pairs: int) -> None:
    print(f"  recall of planted pairs:  {o.found:,}/{pairs:,} = {o.found / pairs:.3f}")
    print(f"  clusters of 2+ rows:      {o.clusters:,}")
    print(f"  unplanted rows clustered: {o.others_clustered:,}")
    print(f"  wall time ({label}): {o.median_s:.3f} s")
    for part, seconds in o.parts.items():
        print(f"    {part:<20} {seconds:7.3f} s")


def print_report(r: Report) -> None:
    pairs = len(r.corpus.pairs)
    docs = len(r.corpus.docs)
    _print_workload(r)
    ours = r.lmops
    assert ours is not None
    print("-- lmops find_near_duplicates (in-process; the clock includes the Parquet read)")
    print(median_line("lmops", [docs / s for s in ours.seconds], "docs/s", 9))
    _print_outcome(f"median of {len(ours.seconds)}", ours, pairs)
    theirs = r.datasketch
    if theirs is None:
        print(f"-- datasketch comparison skipped: {r.datasketch_skipped}")
    else:
        print(f"-- datasketch {r.datasketch_version} MinHash.bulk + MinHashLSH (from memory)")
        _print_outcome("one trial, shingling included", theirs, pairs)
        print(f"-- ratio: datasketch / lmops wall time = {theirs.median_s / ours.median_s:.1f}x")
    _print_targets(r, pairs)
    print_machine(r.load)
    print(NOISE_NOTE)


def _print_targets(r: Report, pairs: int) -> None:
    rows: list[tuple[str, str, bool | None]] = []
    for name, o in (("lmops", r.lmops), ("datasketch", r.datasketch)):
        recall = None if o is None else o.found / pairs
        shown = "not measured" if recall is None else f"{recall:.3f}"
        rows.append((f"{name} recall >= {TARGET_RECALL}", shown, _at_least(recall, TARGET_RECALL)))
    ratio = None
    if r.lmops is not None and r.datasketch is not None:
        ratio = r.datasketch.median_s / r.lmops.median_s
    shown = "not measured" if ratio is None else f"{ratio:.1f}x"
    rows.append((f"lmops >= {TARGET_RATIO:.0f}x faster", shown, _at_least(ratio, TARGET_RATIO)))
    print("-- targets")
    for name, value, ok in rows:
        print(f"  {name:<28} {value:>12}   {mark(ok)}")


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the corpus")
    parser.add_argument("--repeats", type=int, default=3, help="lmops trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated corpus")
    parser.add_argument("--quick", action="store_true", help="5,000 docs, one trial")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    docs, repeats = (min(args.docs, 5_000), 1) if args.quick else (args.docs, args.repeats)
    print(f"generating {docs:,} documents ...", flush=True)
    report = Report(make_corpus(docs, args.seed))
    with bench_dir() as tmp:
        path = tmp / "docs.parquet"
        write_parquet(report.corpus, path)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("lmops", lambda: run_lmops(report, path, repeats)),
            ("datasketch", lambda: run_datasketch(report)),
        ]
        run_steps(steps, report.load, load_after="lmops")
    print_report(report)


if __name__ == "__main__":
    main()
