"""Write rows as deterministic Parquet: the same rows always give the same bytes.

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

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.data.entities import Column

ROW_GROUP_ROWS = 16_384
WRITER_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "store_schema": True,
}


def stable_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with one type per kind of column and no metadata."""
    return pa.schema([pa.field(f.name, stable_type(f.type), f.nullable) for f in schema])


def stable_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        item = t.value_field
        return pa.list_(pa.field("item", stable_type(item.type), item.nullable))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(stable_type(f.type)).remove_metadata() for f in t])
    return t


def check_names(names: list[str]) -> None:
    """A version needs at least one column, each with a distinct, non-empty name."""
    if not names:
        raise InvalidInput("the result has no columns: a version needs at least one")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInput(
            f"the result has more than one column named {', '.join(map(repr, repeated))}: "
            "rename them (e.g. with AS in SQL, or a suffix in a join)"
        )
    if any(not n for n in names):
        raise InvalidInput("the result has a column with an empty name")


def columns_of(schema: pa.Schema) -> list[Column]:
    return [Column(name=f.name, type=str(f.type)) for f in schema]


class ParquetOut:
    """A deterministic Parquet file fed batch by batch; `close()` returns the row count.

    Incoming batches are cast to the stable form of `schema` and regrouped into row
    groups of exactly ROW_GROUP_ROWS rows.
    """

    def __init__(self, dest: Path, schema: pa.Schema) -> None:
        check_names(schema.names)
        self.schema = stable_schema(schema)
        self.writer = pq.ParquetWriter(dest, self.schema, **WRITER_OPTIONS)
        self.pending: list[pa.RecordBatch] = []
        self.buffered = 0
        self.rows = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            for piece in batch.to_batches():
                self.add(piece)
            return
        if batch.schema != self.schema:
            batch = batch.select(self.schema.names).cast(self.schema)
        for start in range(0, batch.num_rows, ROW_GROUP_ROWS):
            piece = batch.slice(start, ROW_GROUP_ROWS)
            self.pending.append(piece)
            self.buffered += piece.num_rows
            if self.buffered >= ROW_GROUP_ROWS:
                self._write(ROW_GROUP_ROWS)

    def close(self) -> int:
        if self.buffered:
            self._write(self.buffered)
        self.writer.close()
        return self.rows

    def abort(self) -> None:
        self.writer.close()

    def _write(self, n: int) -> None:
        table = pa.Table.from_batches(self.pending, self.schema).combine_chunks()
        self.writer.write_table(table.slice(0, n), row_group_size=n)
        self.rows += n
        rest = table.slice(n)
        self.pending = rest.to_batches()
        self.buffered = rest.num_rows

    def __enter__(self) -> ParquetOut:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()
