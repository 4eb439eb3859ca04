"""Deduplication steps (exact and near) and the leakage check between splits.

Both steps keep one row per group of duplicates and report what they removed. Memory is
one 64-bit integer or two per row (hashes, cluster labels), never the texts themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from lmops.core.errors import InvalidInput
from lmops.data.hashing import hash_strings, hash_uint64, normalize_text
from lmops.data.parquet import ROW_GROUP_ROWS
from lmops.data.steps import Report, Seed, StepContext, step

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
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.8,
    num_perm: Annotated[int, Field(ge=2, le=1024)] = 128,
    shingle_size: Annotated[int, Field(ge=1, le=64)] = 5,
    keep: Literal["first", "longest", "shortest"] = "first",
    seed: Seed = 1,
) -> Report:
    """Drop near-duplicates of `column`: rows whose word-shingle Jaccard similarity is about
    `threshold` or more (MinHash LSH) fall in one cluster, and `keep` (first, longest or
    shortest) picks the row each cluster keeps."""
    from lmops.data.minhash import MinHashParams
    from lmops.data.neardup import find_near_duplicates

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
    """Rows of each split whose `column` also occurs in an earlier split of the file at `path`.

    Splits are taken in order of first appearance. A row leaks when its normalized text
    ("exact") or its MinHash cluster at `threshold` ("near") also occurs in an earlier
    split; it counts once, under the first such split. {"exact": {"test": {"train": 3}}}
    says 3 test rows repeat a train row. Empty and null texts never count.
    """
    from lmops.data.minhash import MinHashParams
    from lmops.data.neardup import find_near_duplicates
    from lmops.data.textstats import empty_mask

    file = pq.ParquetFile(path)
    for name in (column, split_column):
        if name not in file.schema_arrow.names:
            raise InvalidInput(f"no column {name!r}; the columns are {file.schema_arrow.names}")
    kind = file.schema_arrow.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InvalidInput(f"the leakage check compares text: column {column!r} is {kind}")
    codes, names = _split_codes(file, split_column)
    hashes, empty = [], []
    for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=[column]):
        hashes.append(_row_hashes(batch, [column], True))
        empty.append(empty_mask(batch.column(0)))
    counted = (codes >= 0) & ~_joined(empty, bool)
    near_labels = _with_executor(
        executor,
        lambda ex: (
            (
                find_near_duplicates(path, column, MinHashParams(threshold=threshold), executor=ex)
            ).labels
        ),
    )
    near = _overlaps(codes, near_labels, names, counted)
    groups = np.unique(_joined(hashes, np.uint64), return_inverse=True)[1]
    exact = _overlaps(codes, groups, names, counted)
    return {
        "column": column,
        "threshold": threshold,
        "exact": exact,
        "near": near,
        "exact_rows": sum(sum(v.values()) for v in exact.values()),
        "near_rows": sum(sum(v.values()) for v in near.values()),
    }


def _split_codes(file: pq.ParquetFile, split_column: str) -> tuple[np.ndarray, list[str]]:
    """Each row's split as a small integer (-1 for null), numbered by first appearance."""
    names: dict[str, int] = {}
    parts = []
    for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=[split_column]):
        encoded = pc.dictionary_encode(pc.cast(batch.column(0), pa.string()))
        local = np.array(
            [names.setdefault(str(v), len(names)) for v in encoded.dictionary.to_pylist()] or [0],
            dtype=np.int32,
        )
        indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        parts.append(np.where(indices >= 0, local[np.maximum(indices, 0)], -1))
    return _joined(parts, np.int32), list(names)


def _joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _overlaps(
    codes: np.ndarray, groups: np.ndarray, names: list[str], counted: np.ndarray
) -> dict[str, dict[str, int]]:
    """Per later split, its counted rows that share a group with an earlier split's."""
    result: dict[str, dict[str, int]] = {}
    for later in range(1, len(names)):
        mine = groups[(codes == later) & counted]
        matched = np.zeros(len(mine), dtype=bool)
        counts: dict[str, int] = {}
        for earlier in range(later):
            hit = np.isin(mine, groups[(codes == earlier) & counted]) & ~matched
            matched |= hit
            if hit.any():
                counts[names[earlier]] = int(hit.sum())
        if counts:
            result[names[later]] = counts
    return result


def _require_text(ctx: StepContext, columns: list[str]) -> None:
    ctx.require(*columns)
    for name in columns:
        if ctx.column_type(name) not in ("string", "large_string"):
            raise InvalidInput(
                f"column {name!r} is {ctx.column_type(name)}, not text: deduplicate text columns"
            )


def _row_hashes(batch: pa.RecordBatch, columns: list[str], normalize: bool) -> np.ndarray:
    """One 64-bit hash per row of `columns` together: each column hashed on its own (a null
    has its own hash), then combined with its position, so ("a", null) and ("b", null)
    differ and no separator can make two rows collide."""
    combined = np.zeros(batch.num_rows, dtype=np.uint64)
    for position, name in enumerate(columns):
        texts = normalize_text(batch.column(name)) if normalize else batch.column(name)
        salt = hash_uint64(np.array([position], dtype=np.uint64))
        combined = hash_uint64(combined ^ hash_uint64(hash_strings(texts) ^ salt))
    return combined


def _relabel(labels: np.ndarray, lengths: np.ndarray, keep: str) -> np.ndarray:
    """Cluster labels re-pointed at the row `keep` chooses (ties: the earliest row)."""
    if keep == "first":
        return labels
    if not len(labels):
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
