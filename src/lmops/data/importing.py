"""Write any source as one deterministic Parquet file, then register it as a version.

The digest of a version is the sha256 of its Parquet bytes, so the bytes must depend on
the rows alone. What keeps them stable:
- fixed writer settings (format 2.6, zstd, dictionary on, statistics on, data page v1);
- row groups of exactly `ROW_GROUP_ROWS` rows, however the reader happened to batch them;
- no schema metadata (pandas writes its own version there) and one type per kind of
  column (large_string becomes string, and so on);
- the pyarrow version: the Parquet footer names the writer ("parquet-cpp-arrow
  version X"), so a different pyarrow may give different bytes for the same rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.data.entities import Column, DatasetVersion
from lmops.data.sources import Part, Source, find_bad_json_line, resolve
from lmops.data.store import DataStore, check_dataset_name

ROW_GROUP_ROWS = 16_384
WRITER_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "store_schema": True,
}


@dataclass(frozen=True)
class Written:
    columns: list[Column]
    row_count: int


def import_source(
    store: DataStore,
    name: str,
    source: Any,
    format: str | None = None,
    description: str = "",
) -> DatasetVersion:
    """Import `source` as the next version of dataset `name`; on any error, register nothing."""
    check_dataset_name(name)
    resolved = resolve(source, format)
    with tempfile.TemporaryDirectory(prefix="lmops-import-") as tmp:
        path = Path(tmp) / "data.parquet"
        written = write_parquet(resolved, path)
        recipe = {"op": "import", "source": resolved.description, "format": resolved.format}
        return store.add_version(
            name,
            path,
            columns=written.columns,
            row_count=written.row_count,
            recipe=recipe,
            description=description,
        )


def write_parquet(source: Source, dest: Path) -> Written:
    """Stream every part of `source` into one Parquet file at `dest`."""
    schemas = [_schema_of(part, source.format) for part in source.parts]
    target = _shared_schema(source.parts, schemas)
    total = 0
    with pq.ParquetWriter(dest, target, **WRITER_OPTIONS) as writer:
        groups = _RowGroups(writer, target)
        for part in source.parts:
            rows = 0
            for batch in _batches(part, source.format):
                rows += batch.num_rows
                groups.add(_conform(batch, target, part.label))
            if rows == 0:
                raise InvalidInput(f"{part.label} has no rows", field="source")
            total += rows
        groups.close()
    return Written([Column(name=f.name, type=str(f.type)) for f in target], total)


def _schema_of(part: Part, format: str) -> pa.Schema:
    with _diagnosed(part, format):
        schema, _ = part.open()
    return schema


def _batches(part: Part, format: str) -> Iterator[pa.RecordBatch]:
    with _diagnosed(part, format):
        _, batches = part.open()
        yield from batches


class _diagnosed:
    """Turn a reader's Arrow error into InvalidInput that names the file (and line)."""

    def __init__(self, part: Part, format: str) -> None:
        self.part, self.format = part, format

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or not isinstance(exc, pa.ArrowException | OSError):
            return
        label = self.part.label
        if self.format == "jsonl" and (line := find_bad_json_line(Path(label))):
            raise InvalidInput(line, field="source") from None
        what = {"parquet": "a Parquet file", "csv": "CSV", "jsonl": "JSON lines"}
        raise InvalidInput(
            f"{label}: cannot read as {what.get(self.format, self.format)}: {exc}", field="source"
        ) from None


def _shared_schema(parts: list[Part], schemas: list[pa.Schema]) -> pa.Schema:
    first = schemas[0]
    for part, schema in zip(parts[1:], schemas[1:], strict=True):
        missing = set(first.names) - set(schema.names)
        extra = set(schema.names) - set(first.names)
        if missing or extra:
            raise InvalidInput(
                f"{part.label} does not match {parts[0].label}: "
                f"missing columns {sorted(missing)}, extra columns {sorted(extra)}",
                field="source",
            )
    try:
        unified = pa.unify_schemas(
            [s.remove_metadata() for s in schemas], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        labels = ", ".join(p.label for p in parts)
        raise InvalidInput(
            f"the column types of {labels} do not agree: {exc}", field="source"
        ) from None
    if not unified.names:
        raise InvalidInput(f"{parts[0].label} has no columns", field="source")
    return pa.schema([pa.field(f.name, _stable_type(f.type), f.nullable) for f in unified])


def _stable_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(t.value_field.with_type(_stable_type(t.value_type)).remove_metadata())
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_stable_type(f.type)).remove_metadata() for f in t])
    return t


def _conform(batch: pa.RecordBatch, target: pa.Schema, label: str) -> pa.RecordBatch:
    try:
        return batch.select(target.names).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"{label}: cannot convert its columns to the shared schema: {exc}", field="source"
        ) from None


class _RowGroups:
    """Regroup incoming batches into row groups of exactly ROW_GROUP_ROWS rows."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema) -> None:
        self.writer, self.schema = writer, schema
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        for start in range(0, batch.num_rows, ROW_GROUP_ROWS):
            piece = batch.slice(start, ROW_GROUP_ROWS)
            self.pending.append(piece)
            self.rows += piece.num_rows
            if self.rows >= ROW_GROUP_ROWS:
                self._write(ROW_GROUP_ROWS)

    def close(self) -> None:
        if self.rows:
            self._write(self.rows)

    def _write(self, n: int) -> None:
        table = pa.Table.from_batches(self.pending, self.schema).combine_chunks()
        self.writer.write_table(table.slice(0, n), row_group_size=n)
        rest = table.slice(n)
        self.pending = rest.to_batches()
        self.rows = rest.num_rows
