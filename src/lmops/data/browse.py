"""Browse a version's rows: text search, typed filters, sort and pages, run in DuckDB.

Every value a user types travels as a bound parameter; column names are checked against
the version's schema and quoted, so nothing typed is ever pasted into the SQL.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text
from lmops.data.entities import Column, DatasetVersion
from lmops.data.files import local_parquet
from lmops.data.store import DataStore

if TYPE_CHECKING:
    import duckdb
    from duckdb.sqltypes import DuckDBPyType

MAX_LIMIT = 500
MAX_FILTERS = 20
MAX_VALUE_CHARS = 10_000
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
OPS = (*COMPARISONS, "contains", "is_null", "not_null")
_NULL_OPS = ("is_null", "not_null")
_ROW = "__lmops_row"
_TABLE = "version_rows"
_NESTED = ("list", "struct", "map", "union", "array")


class RowPage(BaseModel):
    """One page of rows; `total_matching` counts every row the search and filters keep."""

    columns: list[Column]
    rows: list[dict[str, Any]]
    total_matching: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Filter:
    """`column op value`; is_null and not_null take no value."""

    column: str
    op: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Read `column:op:value` (or `column:is_null`); the column may itself hold colons."""
        check_text(text, "filter", max_length=MAX_VALUE_CHARS)
        parts = text.split(":")
        for at in range(1, len(parts)):
            if parts[at] in OPS and any(parts[:at]):
                value = ":".join(parts[at + 1 :]) if at + 1 < len(parts) else None
                return cls(":".join(parts[:at]), parts[at], value)
        raise InvalidInput(
            f"cannot read filter {text!r}: write column:op:value with op one of "
            f"{', '.join(OPS)} (is_null and not_null take no value)",
            field="filter",
        )

    def __str__(self) -> str:
        return f"{self.column}:{self.op}" + (f":{self.value}" if self.value is not None else "")


def browse(
    store: DataStore,
    version: DatasetVersion,
    *,
    search: str | None = None,
    filters: Sequence[Filter] = (),
    offset: int = 0,
    limit: int = 50,
    order_by: str | None = None,
    descending: bool = False,
) -> RowPage:
    """The rows of `version` that contain `search` and pass every filter, one page of them."""
    if offset < 0:
        raise InvalidInput("offset must be zero or more", field="offset")
    if limit < 1:
        raise InvalidInput("limit must be one or more", field="limit")
    if len(filters) > MAX_FILTERS:
        raise InvalidInput(f"use at most {MAX_FILTERS} filters", field="filter")
    limit = min(limit, MAX_LIMIT)
    known = [c.name for c in version.columns]
    for f in filters:
        check_filter(f, known)
    if order_by:
        check_column(order_by, known)
    if search:
        check_text(search, "q", max_length=MAX_VALUE_CHARS)
    from lmops.data import duck

    with local_parquet(store, version) as path, duck.connect({_TABLE: path}) as con:
        types = _types(con)
        _check_values(con, filters, types)
        where, params = _where(types, search, filters)
        total = _fetch(con, f"SELECT count(*) FROM {_TABLE}{where}", params)[0][0]
        if order_by:  # ties keep file order, so pages neither skip nor repeat rows
            numbered = f"(SELECT *, row_number() OVER () AS {_ROW} FROM {_TABLE})"
            direction = "DESC" if descending else "ASC"
            order = f"ORDER BY {duck.quote(order_by)} {direction} NULLS LAST, {_ROW}"
            query = f"SELECT * EXCLUDE ({_ROW}) FROM {numbered}{where} {order} LIMIT ? OFFSET ?"
        else:
            query = f"SELECT * FROM {_TABLE}{where} LIMIT ? OFFSET ?"
        cursor = _execute(con, query, [*params, limit, offset])
        names = [d[0] for d in cursor.description]
        rows = [
            {n: jsonable(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()
        ]
    return RowPage(
        columns=version.columns, rows=rows, total_matching=total, offset=offset, limit=limit
    )


def check_filter(f: Filter, known: Sequence[str]) -> Filter:
    """`f` if its column exists, its op is known and its value (where it takes one) is text."""
    check_column(f.column, known)
    if f.op not in OPS:
        raise InvalidInput(
            f"unknown filter op {f.op!r}: use one of {', '.join(OPS)}", field="filter"
        )
    if f.op not in _NULL_OPS:
        if f.value is None:
            raise InvalidInput(f"filter {f} needs a value: {f.column}:{f.op}:value", field="filter")
        check_text(f.value, "filter", max_length=MAX_VALUE_CHARS)
    return f


def check_column(name: str, known: Sequence[str]) -> str:
    """`name` if the version has that column, else InvalidInput listing the columns it has."""
    if name not in known:
        raise InvalidInput(
            f"no column {name!r}: the columns are {', '.join(known) or '(none)'}",
            field="column",
        )
    return name


# -- SQL ---------------------------------------------------------------------------------


def _types(con: duckdb.DuckDBPyConnection) -> dict[str, DuckDBPyType]:
    rel = con.table(_TABLE)
    return dict(zip(rel.columns, rel.types, strict=True))


def _where(
    types: dict[str, DuckDBPyType], search: str | None, filters: Sequence[Filter]
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if search:
        clause, count = _search_clause(types)
        if clause:
            clauses.append(clause)
            params.extend([search] * count)
        else:
            clauses.append("FALSE")  # no text to search in: nothing matches
    for f in filters:
        clause, values = _filter_clause(f, types[f.column])
        clauses.append(clause)
        params.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _search_clause(types: dict[str, DuckDBPyType]) -> tuple[str, int]:
    """An OR over every text column and the message contents of every chat column."""
    from lmops.data.duck import quote

    parts = []
    for name, type_ in types.items():
        if type_.id == "varchar":
            parts.append(f"contains(lower({quote(name)}), lower(?))")
        elif is_chat(type_):
            parts.append(
                f"EXISTS (SELECT 1 FROM unnest({quote(name)}) AS m(msg) "
                "WHERE contains(lower(msg.content), lower(?)))"
            )
    return "(" + " OR ".join(parts) + ")" if parts else "", len(parts)


def _filter_clause(f: Filter, type_: DuckDBPyType) -> tuple[str, list[Any]]:
    from lmops.data.duck import quote

    column = quote(f.column)
    if f.op in _NULL_OPS:
        return f"{column} IS {'NOT ' if f.op == 'not_null' else ''}NULL", []
    if f.op == "contains":
        text = column if type_.id == "varchar" else f"CAST({column} AS VARCHAR)"
        return f"contains(lower({text}), lower(?))", [f.value]
    if type_.id in _NESTED:
        raise InvalidInput(
            f"column {f.column!r} holds {type_}: filter it with contains, is_null or not_null",
            field="filter",
        )
    # The type comes from the file's schema, never from the request.
    return f"{column} {f.op} CAST(? AS {type_})", [f.value]


def is_chat(type_: DuckDBPyType) -> bool:
    """A list of structs with a text `content` field (and usually a `role`)."""
    if type_.id != "list" or type_.child.id != "struct":
        return False
    content = dict(type_.child.children).get("content")
    return getattr(content, "id", None) == "varchar"


def _check_values(
    con: duckdb.DuckDBPyConnection, filters: Sequence[Filter], types: dict[str, DuckDBPyType]
) -> None:
    """Refuse a comparison value its column's type cannot hold, naming the filter."""
    import duckdb

    for f in filters:
        if f.op in COMPARISONS and f.value is not None and types[f.column].id not in _NESTED:
            try:
                con.execute(f"SELECT CAST(? AS {types[f.column]})", [f.value])
            except duckdb.Error:
                raise InvalidInput(
                    f"filter {f}: {f.value!r} is not a {types[f.column]} value, "
                    f"the type of column {f.column!r}",
                    field="filter",
                ) from None


def _execute(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any]
) -> duckdb.DuckDBPyConnection:
    import duckdb

    try:
        return con.execute(query, params)
    except (duckdb.DataError, duckdb.BinderException, duckdb.InvalidInputException) as exc:
        # a filter value that is not of its column's type, e.g. n > "abc"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot apply the filters: {message}", field="filter") from None


def _fetch(con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> list[Any]:
    return _execute(con, query, params).fetchall()


# -- values ------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A value JSON can carry: times as ISO text, bytes as base64, NaN and infinities as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    return str(value)
