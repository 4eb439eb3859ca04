"""Read a version back: whole (pandas, Arrow, a `datasets.Dataset`), its first rows, or a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.data.entities import DatasetVersion
from lmops.data.store import DataStore

AS = ("pandas", "arrow", "datasets")
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
Target = Literal["pandas", "arrow", "datasets"]


def read_table(store: DataStore, version: DatasetVersion) -> pa.Table:
    """The whole version as an Arrow table."""
    with store.artifacts.open(version.digest) as f:
        return pq.read_table(f)


def iter_batches(
    store: DataStore, version: DatasetVersion, batch_size: int = 16_384
) -> Iterator[pa.RecordBatch]:
    """The version's rows in Arrow batches, without holding them all in memory."""
    with store.artifacts.open(version.digest) as f:
        yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size)


def head(store: DataStore, version: DatasetVersion, n: int = 10) -> pa.Table:
    """The first `n` rows."""
    if n < 0:
        raise InvalidInput("n must be zero or more", field="n")
    with store.artifacts.open(version.digest) as f:
        file = pq.ParquetFile(f)
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in file.iter_batches(batch_size=max(n, 1)):
            if rows >= n:
                break
            batches.append(batch.slice(0, n - rows))
            rows += batches[-1].num_rows
        return pa.Table.from_batches(batches, file.schema_arrow)


def convert(table: pa.Table, as_: str) -> Any:
    """Hand an Arrow table over as pandas, Arrow or a Hugging Face `datasets.Dataset`."""
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    if as_ == "datasets":
        import datasets
        from datasets.table import InMemoryTable

        return datasets.Dataset(InMemoryTable(table))
    raise InvalidInput(f"unknown as_={as_!r}: use one of {', '.join(AS)}", field="as_")


def export(store: DataStore, version: DatasetVersion, out: str | Path, format: str) -> Path:
    """Write the version to `out` as JSON lines, CSV or (the stored bytes) Parquet."""
    if format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"unknown export format {format!r}: use one of {', '.join(EXPORT_FORMATS)}",
            field="format",
        )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "parquet":
        return store.artifacts.get_file(version.digest, path)
    if format == "csv":
        import pyarrow.csv as pc

        nested = [c.name for c in version.columns if c.type.startswith(("list", "struct", "map"))]
        if nested:
            raise InvalidInput(
                f"CSV cannot hold the nested columns {nested}: export as jsonl or parquet",
                field="format",
            )
        writer: pc.CSVWriter | None = None
        try:
            for batch in iter_batches(store, version):
                writer = writer or pc.CSVWriter(path, batch.schema)
                writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
        return path
    with open(path, "w", encoding="utf-8") as f:
        for batch in iter_batches(store, version):
            for row in batch.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path
