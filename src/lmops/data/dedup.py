"""Deduplication steps (exact and near) and the leakage check between splits.

Both steps keep one row per group of duplicates and report what they removed. Memory is
one 64-bit integer or two per row (hashes, cluster labels), never the texts themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.data.hashing import hash_strings, normalize_text
from lmops.data.parquet import ROW_GROUP_ROWS
from lmops.data.steps import Report, StepContext, step

KEEP = ("first", "longest", "shortest")
EXAMPLES = 20  # duplicate groups shown in a report
SNIPPET = 200  # characters of each example text


@step("dedup_exact")
def dedup_exact(
    ctx: StepContext, columns: list[str] | None = None, normalize: bool = True
) -> Report:
    """Drop rows whose `columns` (default ["text"]) repeat an earlier row's, after
    normalizing case, Unicode form and whitespace when `normalize` is on."""
    columns = list(columns or ["text"])
    _require_text(ctx, columns)
    hashes = np.concatenate(
        [_row_hashes(b, columns, normalize) for b in ctx.batches(columns)] or [np.zeros(0, "u8")]
    )
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    labels = first[inverse]
    keep = labels == np.arange(len(hashes))
    examples = _examples(ctx.source.path, columns[0], labels, keep)
    ctx.write_kept(keep)
    return {
        "rows_in": len(keep),
        "rows_removed": int((~keep).sum()),
        "groups": len(np.unique(labels[~keep])),
        "examples": examples,
    }


@step("dedup_near")
def dedup_near(
    ctx: StepContext,
    column: str = "text",
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_size: int = 5,
    keep: str = "first",
    seed: int = 1,
) -> Report:
    """Drop near-duplicates of `column`: rows whose word-shingle Jaccard similarity is about
    `threshold` or more (MinHash LSH) fall in one cluster, and `keep` (first, longest or
    shortest) picks the row each cluster keeps."""
    from lmops.data.minhash import MinHashParams
    from lmops.data.neardup import find_near_duplicates

    if keep not in KEEP:
        raise InvalidInput(f"unknown keep policy {keep!r}: use one of {', '.join(KEEP)}")
    _require_text(ctx, [column])
    params = MinHashParams(
        threshold=threshold, num_perm=num_perm, shingle_size=shingle_size, seed=seed
    )
    ctx.progress.start("hashing", ctx.source.version.row_count)
    found = _with_executor(
        ctx.executor,
        lambda ex: find_near_duplicates(
            ctx.source.path, column, params, executor=ex, progress=ctx.progress
        ),
    )
    labels = _relabel(found.labels, _lengths(ctx.source.path, column), keep)
    kept = labels == np.arange(len(labels))
    examples = _examples(ctx.source.path, column, labels, kept)
    ctx.write_kept(kept)
    return {
        "rows_in": len(kept),
        "rows_removed": int((~kept).sum()),
        "clusters": int(found.cluster_count),
        "bands": params.bands,
        "rows_per_band": params.rows,
        "examples": examples,
    }


def leakage(
    path: Path,
    column: str,
    split_column: str,
    *,
    threshold: float = 0.8,
    executor: str | None = None,
) -> dict[str, Any]:
    """Rows of each split whose `column` also appears in an earlier split of the file at `path`.

    Splits are taken in order of first appearance; "exact" counts normalized-text matches,
    "near" counts rows in a MinHash cluster (at `threshold`) that spans another split.
    For example {"exact": {"test": {"train": 3}}} says 3 test rows repeat a train row.
    """
    from lmops.data.minhash import MinHashParams
    from lmops.data.neardup import find_near_duplicates

    file = pq.ParquetFile(path)
    splits = _column(file, split_column).to_numpy(zero_copy_only=False).astype(str)
    hashes = np.concatenate(
        [
            _row_hashes(b, [column], True)
            for b in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=[column])
        ]
    )
    exact = _overlaps(splits, np.unique(hashes, return_inverse=True)[1])
    near_labels = _with_executor(
        executor,
        lambda ex: (
            find_near_duplicates(
                path, column, MinHashParams(threshold=threshold), executor=ex
            ).labels
        ),
    )
    near = _overlaps(splits, near_labels)
    return {
        "column": column,
        "threshold": threshold,
        "exact": exact,
        "near": near,
        "exact_rows": sum(sum(v.values()) for v in exact.values()),
        "near_rows": sum(sum(v.values()) for v in near.values()),
    }


def _overlaps(splits: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, int]]:
    """For each split after the first, how many rows share a group with an earlier split."""
    order = list(dict.fromkeys(splits.tolist()))
    result: dict[str, dict[str, int]] = {}
    for i, later in enumerate(order[1:], start=1):
        mine = groups[splits == later]
        counts = {
            earlier: int(np.isin(mine, groups[splits == earlier]).sum()) for earlier in order[:i]
        }
        if any(counts.values()):
            result[later] = {k: v for k, v in counts.items() if v}
    return result


def _require_text(ctx: StepContext, columns: list[str]) -> None:
    ctx.require(*columns)
    for name in columns:
        if ctx.column_type(name) not in ("string", "large_string"):
            raise InvalidInput(
                f"column {name!r} is {ctx.column_type(name)}, not text: deduplicate text columns"
            )


def _row_hashes(batch: pa.RecordBatch, columns: list[str], normalize: bool) -> np.ndarray:
    texts = [batch.column(c) for c in columns]
    if normalize:
        texts = [normalize_text(t) for t in texts]
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
    return hash_strings(joined)


def _relabel(labels: np.ndarray, lengths: np.ndarray, keep: str) -> np.ndarray:
    """Cluster labels re-pointed at the row `keep` chooses (ties: the earliest row)."""
    if keep == "first":
        return labels
    rows = np.arange(len(labels))
    size = lengths if keep == "shortest" else -lengths
    order = np.lexsort((rows, size, labels))
    starts = np.r_[True, labels[order][1:] != labels[order][:-1]]
    keeper = np.empty_like(labels)
    keeper[labels[order][starts]] = order[starts]
    chosen: np.ndarray = keeper[labels]
    return chosen


def _lengths(path: Path, column: str) -> np.ndarray:
    file = pq.ParquetFile(path)
    parts = [
        pc.fill_null(pc.utf8_length(b.column(0)), 0).to_numpy()
        for b in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=[column])
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _examples(
    path: Path, column: str, labels: np.ndarray, kept: np.ndarray
) -> list[dict[str, Any]]:
    """Up to EXAMPLES removed groups: the kept row and the rows removed with it."""
    removed = np.flatnonzero(~kept)
    groups = list(dict.fromkeys(labels[removed].tolist()))[:EXAMPLES]
    members = {g: np.flatnonzero(labels == g)[:5].tolist() for g in groups}
    wanted = sorted({i for rows in members.values() for i in rows})
    texts = _texts_at(path, column, wanted)
    return [
        {
            "kept": {"row": g, "text": texts.get(g)},
            "removed": [{"row": i, "text": texts.get(i)} for i in rows if i != g],
            "size": int((labels == g).sum()),
        }
        for g, rows in members.items()
    ]


def _texts_at(path: Path, column: str, rows: list[int]) -> dict[int, str | None]:
    """The (shortened) texts of a few rows, read in one pass without holding the column."""
    found: dict[int, str | None] = {}
    wanted = np.array(rows, dtype=np.int64)
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_ROWS, columns=[column]):
        here = wanted[(wanted >= start) & (wanted < start + batch.num_rows)]
        values = batch.column(0).take(pa.array(here - start)).to_pylist()
        found.update(zip(here.tolist(), (_snippet(v) for v in values), strict=True))
        start += batch.num_rows
    return found


def _snippet(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= SNIPPET else text[:SNIPPET] + "..."


def _column(file: pq.ParquetFile, name: str) -> pa.ChunkedArray:
    if name not in file.schema_arrow.names:
        raise InvalidInput(f"no column {name!r}; the columns are {file.schema_arrow.names}")
    return file.read([name]).column(0)


def _with_executor(name: str | None, work: Any) -> Any:
    """Run `work(executor)` with the named executor (or None, in this process), then shut it."""
    if name is None:
        return work(None)
    from lmops.core.executors import get_executor

    executor = get_executor(name)
    try:
        return work(executor)
    finally:
        executor.shutdown()
