"""`lmops data sql`: SQL over any versions, named in the query as 'datasets:/name/2' literals.

    select label, count(*) from 'datasets:/reviews/2' group by label

Each literal becomes a view over that version's Parquet file in a sandboxed DuckDB (see
lmops.data.duck). Saving the result makes a version whose recipe is the query with every
URI pinned to a version number; its parents are the versions the query read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyarrow as pa

from lmops.core.errors import InvalidInput
from lmops.data import duck
from lmops.data.entities import Column, DatasetVersion
from lmops.data.files import local_parquet
from lmops.data.parquet import ROW_GROUP_ROWS, ParquetOut, columns_of
from lmops.data.progress import Echo, job
from lmops.data.store import DataStore

PREVIEW_ROWS = 1000


def resolve(store: DataStore, query: str) -> tuple[str, list[DatasetVersion]]:
    """The query with each dataset URI pinned to its version, and those versions in order."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("give a SQL query, e.g. select * from 'datasets:/name/1'", field="query")
    versions: dict[str, DatasetVersion] = {}
    for uri in duck.URI_LITERAL.findall(query):
        versions.setdefault(uri, store.get_version(uri))
    if not versions:
        raise InvalidInput(
            "the query reads no dataset: name versions as 'datasets:/name/1' (quoted)",
            field="query",
        )
    pinned = duck.URI_LITERAL.sub(lambda m: f"'{versions[m[1]].uri}'", query)
    return pinned, list(versions.values())


def _views(query: str, paths: Mapping[str, Path]) -> tuple[str, dict[str, Path]]:
    """Replace each pinned URI literal by a view name; the views read `paths` (URI -> file)."""
    names = {uri: f"lmops_v{i}" for i, uri in enumerate(paths)}
    return (
        duck.URI_LITERAL.sub(lambda m: names[m[1]], query),
        {names[uri]: path for uri, path in paths.items()},
    )


@contextmanager
def _local_files(store: DataStore, versions: list[DatasetVersion]) -> Iterator[dict[str, Path]]:
    with ExitStack() as stack:
        yield {v.uri: stack.enter_context(local_parquet(store, v)) for v in versions}


def query(store: DataStore, sql: str, limit: int = PREVIEW_ROWS) -> pa.Table:
    """The first `limit` rows of the query's result."""
    pinned, versions = resolve(store, sql)
    with _local_files(store, versions) as paths:
        text, tables = _views(pinned, paths)
        with duck.connect(tables) as con:
            batches: list[pa.RecordBatch] = []
            rows = 0
            reader = duck.reader(con, text, ROW_GROUP_ROWS)
            for batch in reader:
                batches.append(batch.slice(0, limit - rows))
                rows += batches[-1].num_rows
                if rows >= limit:
                    break
            return pa.Table.from_batches(batches, reader.schema)


def write_result(pinned: str, paths: Mapping[str, Path], dest: Path) -> tuple[int, list[Column]]:
    """Run a pinned query over `paths` (URI -> file) into deterministic Parquet at `dest`."""
    text, tables = _views(pinned, paths)
    with duck.connect(tables) as con:
        reader = duck.reader(con, text, ROW_GROUP_ROWS)
        with ParquetOut(dest, reader.schema) as out:
            for batch in reader:
                out.add(batch)
            return out.close(), columns_of(out.schema)


def save(
    store: DataStore, sql: str, name: str, description: str = "", echo: Echo | None = None
) -> DatasetVersion:
    """Run the query and register its whole result as the next version of `name`."""
    pinned, versions = resolve(store, sql)
    with (
        job(store, name, "sql", input_version_id=versions[0].id, echo=echo) as progress,
        tempfile.TemporaryDirectory(prefix="lmops-sql-") as tmp,
        _local_files(store, versions) as paths,
    ):
        progress.start("querying", 0)
        dest = Path(tmp) / "data.parquet"
        rows, columns = write_result(pinned, paths, dest)
        progress(rows, rows)
        version = store.add_version(
            name,
            dest,
            columns=columns,
            row_count=rows,
            recipe={"op": "sql", "params": {"query": pinned}},
            parent_version_id=versions[0].id,
            description=description,
            extra_parents=[v.id for v in versions[1:]],
        )
        progress.output_version_id = version.id
    return version
