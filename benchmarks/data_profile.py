"""Profile 1,000,000 rows of generated text: wall time and peak memory of the whole process tree.

    .venv/bin/python benchmarks/data_profile.py            # 1,000,000 rows
    .venv/bin/python benchmarks/data_profile.py --quick    # 100,000 rows
    .venv/bin/python benchmarks/data_profile.py --rows 10000000 --dedup   # the scale claim, ~8 min

The rows are English-like texts of 20-60 words with PII planted in about 1% of them, a
label column, a number and exact duplicates in about 5% (within each 500,000-row chunk
they are generated in). They are written to Parquet and imported as a version first (not
timed); then `profile_version` runs with the `local` executor (one process per
CPU) and every statistic on: types, nulls, distinct, lengths, languages (2,000-row sample),
exact and near-duplicates, PII, n-grams, control characters. Memory is the peak of the
summed proportional set size (PSS) of this process and its workers, sampled every 250 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
from harness import bench_dir, mark, print_machine

TARGET_ROWS = 1_000_000
TARGET_S = 60.0
TARGET_BYTES = 2 * 1024**3
WORDS = [
    "the",
    "a",
    "model",
    "data",
    "train",
    "answer",
    "question",
    "user",
    "system",
    "prompt",
    "token",
    "learning",
    "evaluation",
    "response",
    "language",
    "large",
    "small",
    "fine",
    "tune",
    "dataset",
    "quality",
    "good",
    "bad",
    "fast",
    "slow",
    "open",
    "source",
    "platform",
    "python",
    "server",
    "client",
    "request",
    "feedback",
    "score",
    "metric",
    "label",
    "text",
    "value",
    "sample",
    "is",
    "are",
    "was",
    "be",
    "to",
    "of",
    "and",
    "in",
    "for",
    "on",
    "with",
    "that",
    "this",
    "it",
    "as",
    "at",
    "by",
    "from",
    "we",
    "you",
    "they",
]
PII = [
    "write to jane.doe{i}@example.com",
    "call +1 415 555 {i:04d}",
    "card 4111 1111 1111 1111",
    "from 10.0.{a}.{b}",
]


def generate(rows: int, seed: int = 0) -> pa.Table:
    """Texts built from a word list, with duplicates and PII planted at known rates."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 61, rows)
    words = np.array(WORDS)[rng.integers(0, len(WORDS), int(lengths.sum()))]
    cuts = np.cumsum(lengths)[:-1]
    texts = [" ".join(chunk) for chunk in np.split(words, cuts)]
    for i in np.flatnonzero(rng.random(rows) < 0.01):
        pii = PII[i % len(PII)].format(i=i % 10_000, a=i % 256, b=(i // 256) % 256)
        texts[i] = f"{texts[i]} {pii}"
    dups = np.flatnonzero(rng.random(rows) < 0.05)
    for i in dups:
        texts[i] = texts[int(rng.integers(0, rows))]
    labels = np.array(["positive", "negative", "neutral"])[rng.integers(0, 3, rows)]
    return pa.table({"text": texts, "label": labels, "score": rng.normal(0.5, 0.2, rows).round(3)})


def write_generated(path: Path, rows: int, chunk: int = 500_000) -> Path:
    """Generate `rows` rows chunk by chunk into one Parquet file (bounded memory here too)."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, generate(1).schema) as writer:
        for i, start in enumerate(range(0, rows, chunk)):
            writer.write_table(generate(min(chunk, rows - start), seed=i))
    return path


class PeakMemory:
    """Peak summed PSS of this process and its children, sampled in a thread.

    PSS (proportional set size) splits pages that forked workers share with this process,
    so shared memory is counted once rather than once per worker as RSS would.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_full_info().pss
            self.peak = max(self.peak, total)
            time.sleep(self.interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--executor", default="local", help="'none' to profile in-process")
    parser.add_argument(
        "--dedup", action="store_true", help="then also run the dedup_near step (keep longest)"
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows

    from lmops.artifacts.store import ArtifactStore
    from lmops.data.importing import import_source
    from lmops.data.profiling import profile_version
    from lmops.data.store import DataStore
    from lmops.store import open_engine

    load = [os.getloadavg()]
    with bench_dir() as home:
        store = DataStore(
            open_engine(f"sqlite:///{home / 'db.sqlite'}"), ArtifactStore(str(home / "art"))
        )
        print(f"generating and importing {rows:,} rows ...", flush=True)
        version = import_source(store, "bench", write_generated(home / "raw.parquet", rows))
        gc.collect()
        size = Path(store.artifacts.path_of(version.digest)).stat().st_size
        print(f"profiling {version.uri} ({size / 1e6:.0f} MB of Parquet) ...", flush=True)
        executor = None if args.executor == "none" else args.executor
        with PeakMemory() as memory:
            started = time.perf_counter()
            profile = profile_version(store, version, executor=executor)
            wall = time.perf_counter() - started
        load.append(os.getloadavg())
        dedup = run_dedup(store, version.uri, executor) if args.dedup else None
    text = next(c for c in profile.columns if c.name == "text").text
    assert text is not None
    print(f"\nprofile of {rows:,} rows ({args.executor} executor)")
    judged = rows == TARGET_ROWS  # the targets are stated for 1,000,000 rows
    print(
        f"  wall time    {wall:8.1f} s    target < {TARGET_S:.0f} s at 1M rows: "
        f"{mark(wall < TARGET_S if judged else None)}"
    )
    print(
        f"  peak memory  {memory.peak / 1024**3:8.2f} GiB  target < 2 GiB at 1M rows: "
        f"{mark(memory.peak < TARGET_BYTES if judged else None)}"
    )
    print(f"  rows/s       {rows / wall:10,.0f}")
    print(
        f"  found: exact duplicates {text.exact_duplicates:,}, near duplicates "
        f"{text.near_duplicates:,}, PII {sum(text.pii.values()):,} "
        f"({', '.join(f'{k} {v}' for k, v in text.pii.items() if v)}), "
        f"languages {dict(list(text.languages.items())[:3])}"
    )
    if dedup is not None:
        print(f"\ndedup_near step on the same {rows:,} rows (threshold 0.8, keep longest)")
        print(f"  wall time    {dedup[0]:8.1f} s")
        print(f"  peak memory  {dedup[1] / 1024**3:8.2f} GiB")
        print(f"  rows removed {dedup[2]:10,}")
    print_machine(load)


def run_dedup(store: Any, uri: str, executor: str | None) -> tuple[float, int, int]:
    """(wall seconds, peak bytes, rows removed) of the dedup_near step on `uri`."""
    from lmops.data.steps import apply

    print("deduplicating ...", flush=True)
    with PeakMemory() as memory:
        started = time.perf_counter()
        out = apply(store, uri, "dedup_near", {"keep": "longest"}, executor=executor)
        wall = time.perf_counter() - started
    return wall, memory.peak, int((out.report or {})["rows_removed"])


if __name__ == "__main__":
    main()
