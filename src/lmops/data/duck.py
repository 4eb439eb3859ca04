"""DuckDB over versions, sandboxed: only the registered versions can be read.

Each connection registers the versions' Parquet files as Arrow datasets, then switches off
external access and locks its configuration, so a query (a user's filter predicate
included) cannot read or write any other file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lmops.core.errors import InvalidInput

URI_LITERAL = re.compile(r"'(datasets:/[^']*)'")
MEMORY_LIMIT = "2GB"


def connect(tables: Mapping[str, Path], *, repeatable: bool = True) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection where each name in `tables` is a view over that Parquet file.

    `repeatable` runs on one thread: with several, floating-point sums and the items of
    string_agg or list come out in whichever order the threads finish, so a recipe would
    not give the same bytes twice. Read-only browsing may trade that for speed.
    """
    import pyarrow.dataset as ds

    config: dict[str, Any] = {"memory_limit": MEMORY_LIMIT}
    if repeatable:
        config["threads"] = 1
    con = duckdb.connect(config=config)
    try:
        for name, path in tables.items():
            con.register(name, ds.dataset(path, format="parquet"))
    except (duckdb.Error, pa.ArrowException) as exc:
        con.close()
        raise InvalidInput(f"cannot read a version with DuckDB: {_first_line(exc)}") from None
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def quote(name: str) -> str:
    """A SQL identifier for a column name, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def run(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    """A DuckDB relation result for `query`, with DuckDB's errors turned into InvalidInput."""
    try:
        return con.execute(query, params or [])
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {_first_line(exc)}", field="query") from None


def reader(con: duckdb.DuckDBPyConnection, query: str, batch_rows: int) -> Any:
    """A pyarrow RecordBatchReader streaming the result of `query`."""
    try:
        return con.sql(query).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {_first_line(exc)}", field="query") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
