"""Turn what a user hands us (files, a directory, a table object) into streams of Arrow batches.

Text formats are read in blocks by pyarrow's streaming readers, never as Python objects; a
failure is diagnosed afterwards by rescanning the file line by line, to name the line.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lmops.core.errors import InvalidInput

FORMATS = ("jsonl", "csv", "parquet", "hf")
BATCH_ROWS = 16_384
BLOCK_BYTES = 8 << 20
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
_SUFFIXES |= {".parquet": "parquet", ".pq": "parquet"}
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


@dataclass(frozen=True)
class Part:
    """One input: a label for messages and recipes, and a way to open it as a batch reader."""

    label: str
    open: Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]


@dataclass(frozen=True)
class Source:
    parts: list[Part]
    format: str
    description: str | list[str]


def resolve(source: Any, format: str | None = None) -> Source:
    """Name the parts of `source`: paths of one format, a pandas/Arrow table or an HF dataset."""
    if format is not None and format not in FORMATS:
        raise InvalidInput(
            f"unknown format {format!r}: use one of {', '.join(FORMATS)}", field="format"
        )
    if isinstance(source, str | os.PathLike):
        source = [source]
    if (
        isinstance(source, Sequence)
        and source
        and all(isinstance(s, str | os.PathLike) for s in source)
    ):
        return _files([Path(s).expanduser().resolve() for s in source], format)
    return _in_memory(source)


def _files(paths: list[Path], format: str | None) -> Source:
    formats = {p: format or _guess_format(p) for p in paths}
    if len(set(formats.values())) > 1:
        listed = ", ".join(f"{p.name} ({f})" for p, f in formats.items())
        raise InvalidInput(f"the files are of different formats: {listed}", field="format")
    fmt = formats[paths[0]]
    openers = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet, "hf": _hf_directory}
    parts = []
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"no such file or directory: {path}", field="source")
        if fmt != "hf":
            _check_not_empty(path)
        if fmt in ("jsonl", "csv"):
            check_utf8(path)
        parts.append(Part(str(path), openers[fmt](path)))
    return Source(parts, fmt, [str(p) for p in paths])


def _guess_format(path: Path) -> str:
    if path.is_dir():
        if any((path / marker).exists() for marker in _HF_MARKERS):
            return "hf"
        raise InvalidInput(
            f"{path} is a directory but not a Hugging Face dataset saved with save_to_disk",
            field="source",
        )
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"cannot tell the format of {path.name} from its extension: "
            f"pass format= one of {', '.join(FORMATS)}",
            field="format",
        )
    return fmt


def _check_not_empty(path: Path) -> None:
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory, not a file", field="source")
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            if chunk.strip():
                return
    raise InvalidInput(f"{path} is empty", field="source")


def check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8, naming the first bad line and byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                raise InvalidInput(
                    f"{path}, line {line}: not UTF-8 text (byte 0x{chunk[exc.start]:02x}); "
                    "re-encode the file as UTF-8",
                    field="source",
                ) from None
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{path}, line {line}: not UTF-8 text (truncated character at the end)",
                field="source",
            ) from None


def _jsonl(path: Path) -> Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    def open_() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.json as pj

        reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=BLOCK_BYTES))
        return reader.schema, iter(reader)

    return open_


def _csv(path: Path) -> Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    def open_() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.csv as pc

        reader = pc.open_csv(path, read_options=pc.ReadOptions(block_size=BLOCK_BYTES))
        return reader.schema, iter(reader)

    return open_


def _parquet(path: Path) -> Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    def open_() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        return file.schema_arrow, file.iter_batches(batch_size=BATCH_ROWS)

    return open_


def _hf_directory(path: Path) -> Callable[[], tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    def open_() -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise InvalidInput(f"{path}: not a saved Hugging Face dataset: {exc}") from None
        return _hf_batches(loaded, str(path))

    return open_


def _hf_batches(ds: Any, label: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        raise InvalidInput(
            f"{label} holds several splits ({', '.join(ds)}): import one split at a time",
            field="source",
        )
    if not isinstance(ds, datasets.Dataset):
        raise InvalidInput(f"{label}: a streaming dataset cannot be imported", field="source")
    schema = ds.features.arrow_schema
    tables = ds.with_format("arrow").iter(batch_size=BATCH_ROWS)
    return schema, (batch for table in tables for batch in table.to_batches())


def _in_memory(obj: Any) -> Source:
    module = type(obj).__module__.split(".", 1)[0]
    if isinstance(obj, pa.Table | pa.RecordBatch):
        table = obj if isinstance(obj, pa.Table) else pa.Table.from_batches([obj])
        return Source(
            [Part("<pyarrow.Table>", lambda: _table_batches(table))], "arrow", "<pyarrow.Table>"
        )
    if module == "pandas" and type(obj).__name__ == "DataFrame":
        table = pa.Table.from_pandas(obj, preserve_index=False)
        return Source(
            [Part("<pandas.DataFrame>", lambda: _table_batches(table))],
            "pandas",
            "<pandas.DataFrame>",
        )
    if module == "datasets":
        label = f"<datasets.{type(obj).__name__}>"
        return Source([Part(label, lambda: _hf_batches(obj, label))], "hf", label)
    raise InvalidInput(
        f"cannot import a {type(obj).__name__}: pass file paths, a Hugging Face dataset "
        "directory or object, a pandas DataFrame or a pyarrow Table",
        field="source",
    )


def _table_batches(table: pa.Table) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    return table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS))


def find_bad_json_line(path: Path) -> str | None:
    """The first line of a JSONL file that is not one JSON object, or whose field changes
    kind from the first value seen (a number, then a string), described; else None."""
    kinds: dict[str, tuple[str, int]] = {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8").rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                where = f"line {number}, column {exc.pos + 1}"
                return f"{path}, {where}: not valid JSON: {exc.msg}"
            if not isinstance(value, dict):
                kind = type(value).__name__
                return f"{path}, line {number}: expected one JSON object per line, got {kind}"
            if changed := _kind_change(value, kinds, number):
                return f"{path}, line {number}: {changed}"
    return None


def _kind_change(row: dict[str, Any], kinds: dict[str, tuple[str, int]], line: int) -> str | None:
    for key, value in row.items():
        if value is None:
            continue
        kind = _JSON_KINDS.get(type(value), "value")
        first = kinds.setdefault(key, (kind, line))
        if first[0] != kind and {first[0], kind} != {"integer", "number"}:
            return f"field {key!r} changes type: {kind} here, {first[0]} on line {first[1]}"
    return None


_JSON_KINDS = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
}
