"""Read any source into one deterministic Parquet file, then register it as a version."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lmops.core.errors import InvalidInput
from lmops.data.entities import Column, DatasetVersion
from lmops.data.parquet import ParquetOut, columns_of
from lmops.data.sources import Part, Source, find_bad_json_line, resolve
from lmops.data.store import DataStore, check_dataset_name


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
    with ParquetOut(dest, target) as out:
        for part in source.parts:
            rows = 0
            for batch in _batches(part, source.format):
                rows += batch.num_rows
                out.add(_conform(batch, out.schema, part.label))
            if rows == 0:
                raise InvalidInput(f"{part.label} has no rows", field="source")
        total = out.close()
    return Written(columns_of(out.schema), total)


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
    return unified


def _conform(batch: pa.RecordBatch, target: pa.Schema, label: str) -> pa.RecordBatch:
    try:
        return batch.select(target.names).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"{label}: cannot convert its columns to the shared schema: {exc}", field="source"
        ) from None
