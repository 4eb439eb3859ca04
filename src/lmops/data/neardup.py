"""Near-duplicate rows of a Parquet text column: MinHash LSH in row-group tasks, then clusters.

Memory stays bounded however long the file is: each task reads only its own row groups and
hands back band keys (never texts), the keys go to a temporary file laid out band
by band (plain writes, not a memory map, so the page cache is not charged to this process),
and clustering reads one band at a time, so what stays in memory is O(rows) int64.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.core.executors import Executor, map_bounded
from lmops.data.minhash import MinHashParams, band_keys, cluster_bands, signatures

TASK_ROWS = 100_000
_KEY_BYTES = 8

Progress = Callable[[int, int], None]
_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)


@dataclass
class NearDuplicates:
    """Clusters of near-duplicate rows."""

    labels: npt.NDArray[np.int64]  # per row: the smallest row index of its cluster
    cluster_count: int  # clusters of 2 rows or more
    duplicate_rows: int  # rows that are not the smallest index of their cluster


def find_near_duplicates(
    path: str | Path,
    column: str,
    params: MinHashParams,
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> NearDuplicates:
    """Cluster the rows of `column` in the Parquet file at `path` whose word-shingle Jaccard
    similarity reaches about `params.threshold`; tasks of about `TASK_ROWS` rows run on
    `executor`, or here when it is None; `progress(rows_done, rows_total)` follows them."""
    with pq.ParquetFile(path) as file:
        schema, metadata = file.schema_arrow, file.metadata
    _check_column(schema, column, path)
    total = metadata.num_rows
    if total == 0:
        return _summarize(np.empty(0, dtype=np.int64))
    with tempfile.TemporaryDirectory(prefix="lmops-neardup-") as tmp:
        spill = Path(tmp) / "band_keys.u64"  # band-major: band b's keys, then band b+1's
        with open(spill, "w+b") as f:
            done = 0
            for first, block in _run(str(path), column, params, _plan(metadata), executor):
                for band in range(params.bands):
                    f.seek((band * total + first) * _KEY_BYTES)
                    f.write(np.ascontiguousarray(block[:, band]).tobytes())
                done += len(block)
                if progress is not None:
                    progress(done, total)
            f.flush()
            labels = cluster_bands((_band(f, band, total) for band in range(params.bands)), total)
    return _summarize(labels)


def _band(f: BinaryIO, band: int, total: int) -> npt.NDArray[np.uint64]:
    """One band's keys for every row, read back from the spill file (plain reads, no map)."""
    f.seek(band * total * _KEY_BYTES)
    return np.frombuffer(f.read(total * _KEY_BYTES), dtype=np.uint64)


def band_keys_task(
    path: str, row_groups: list[int], column: str, params: MinHashParams
) -> npt.NDArray[np.uint64]:
    """The band keys (rows, bands) of `column` in `row_groups`, read one row group at a time."""
    parts = [np.empty((0, params.bands), dtype=np.uint64)]
    with pq.ParquetFile(path) as file:
        for group in row_groups:
            texts = file.read_row_group(group, columns=[column]).column(0)
            parts.append(band_keys(signatures(texts, params), params))
    return np.concatenate(parts)


def _plan(metadata: pq.FileMetaData) -> list[tuple[int, list[int]]]:
    """Consecutive row groups in tasks of about `TASK_ROWS` rows: (first row, row groups)."""
    tasks: list[tuple[int, list[int]]] = []
    first = rows = 0
    groups: list[int] = []
    for group in range(metadata.num_row_groups):
        if groups and rows + metadata.row_group(group).num_rows > TASK_ROWS:
            tasks.append((first, groups))
            first, rows, groups = first + rows, 0, []
        groups.append(group)
        rows += metadata.row_group(group).num_rows
    if groups:
        tasks.append((first, groups))
    return tasks


def _run(
    path: str,
    column: str,
    params: MinHashParams,
    tasks: list[tuple[int, list[int]]],
    executor: Executor | None,
) -> Iterator[tuple[int, npt.NDArray[np.uint64]]]:
    """(first row, band keys) of each task, in task order, with few tasks in flight at once
    so finished keys never pile up in memory (see `map_bounded`)."""
    if executor is None:
        for first, groups in tasks:
            yield first, band_keys_task(path, groups, column, params)
        return
    items = ((path, groups, column, params) for _, groups in tasks)
    for (first, _), keys in zip(tasks, map_bounded(executor, band_keys_task, items), strict=True):
        yield first, keys


def _check_column(schema: pa.Schema, column: str, path: str | Path) -> None:
    if column not in schema.names:
        raise InvalidInput(
            f"no column {column!r} in {path}: its columns are {', '.join(schema.names)}",
            field="column",
        )
    kind = schema.field(column).type
    if not any(is_text(kind) for is_text in _TEXT_TYPES):
        raise InvalidInput(
            f"column {column!r} holds {kind}, not text: near-duplicates need strings",
            field="column",
        )


def _summarize(labels: npt.NDArray[np.int64]) -> NearDuplicates:
    duplicates = labels != np.arange(len(labels))
    return NearDuplicates(
        labels=labels,
        cluster_count=len(np.unique(labels[duplicates])),
        duplicate_rows=int(duplicates.sum()),
    )
