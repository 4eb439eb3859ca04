"""Steps that are SQL underneath: filter, select (and rename), aggregate, join.

They run in DuckDB over the input's Parquet file (see lmops.data.duck) and stream the
result out in Arrow batches. Row order is kept for filter and select (DuckDB preserves
insertion order); aggregate orders by every output column and join by the left then the
right row number, so each gives the same rows in the same order on every run.
"""

from __future__ import annotations

from typing import Any

from lmops.core.errors import InvalidInput
from lmops.data import duck
from lmops.data.parquet import ROW_GROUP_ROWS
from lmops.data.steps import Report, StepContext, step

JOINS = ("inner", "left", "right", "full", "semi", "anti")


def _stream(ctx: StepContext, tables: dict[str, Any], query: str) -> None:
    ctx.progress.start("querying", ctx.source.version.row_count)
    with duck.connect(tables) as con:
        result = duck.reader(con, query, ROW_GROUP_ROWS)
        ctx.write(result.schema, _counted(ctx, result))


def _counted(ctx: StepContext, batches: Any) -> Any:
    for batch in batches:
        ctx.progress.advance(batch.num_rows)
        yield batch


@step("filter")
def filter_rows(ctx: StepContext, where: str) -> Report:
    """Keep the rows where the SQL predicate `where` holds (DuckDB syntax)."""
    if not isinstance(where, str) or not where.strip():
        raise InvalidInput('filter needs a SQL predicate, e.g. where="length(text) > 20"')
    _stream(ctx, {"src": ctx.source.path}, f"SELECT * FROM src WHERE ({where})")
    return {"rows_in": ctx.source.version.row_count, "rows_out": ctx.rows_written}


@step("select")
def select_columns(
    ctx: StepContext, columns: list[str] | None = None, rename: dict[str, str] | None = None
) -> Report:
    """Keep `columns` (all when None), in that order, renaming by `rename` {old: new}."""
    columns = list(columns) if columns is not None else ctx.columns
    rename = dict(rename or {})
    ctx.require(*columns, *rename)
    unknown = [old for old in rename if old not in columns]
    if unknown:
        raise InvalidInput(f"cannot rename {unknown}: they are not among the selected columns")
    names = [rename.get(c, c) for c in columns]
    if len(set(names)) != len(names):
        raise InvalidInput(f"the selected and renamed columns repeat a name: {names}")
    if not columns:
        raise InvalidInput("select needs at least one column")
    fields = ", ".join(f"{duck.quote(c)} AS {duck.quote(rename.get(c, c))}" for c in columns)
    _stream(ctx, {"src": ctx.source.path}, f"SELECT {fields} FROM src")
    return {"columns": names}


@step("aggregate")
def aggregate(ctx: StepContext, group_by: list[str], aggregates: dict[str, str]) -> Report:
    """Group by `group_by` and compute `aggregates` {output column: SQL aggregate}.

    For example aggregates={"n": "count(*)", "mean_len": "avg(length(text))"}.
    """
    ctx.require(*group_by)
    if not aggregates:
        raise InvalidInput('aggregate needs at least one aggregate, e.g. {"n": "count(*)"}')
    keys = ", ".join(duck.quote(c) for c in group_by)
    values = ", ".join(f"{expr} AS {duck.quote(out)}" for out, expr in aggregates.items())
    select = f"{keys}, {values}" if group_by else values
    group = f"GROUP BY {keys}" if group_by else ""
    _stream(ctx, {"src": ctx.source.path}, f"SELECT {select} FROM src {group} ORDER BY ALL")
    return {"groups": ctx.rows_written}


@step("join", version_params=("other",))
def join(
    ctx: StepContext, other: str, on: list[str], how: str = "inner", suffix: str = "_right"
) -> Report:
    """Join with version `other` on the columns `on`, SQL style (`how`: inner, left, right,
    full, semi, anti). Right-hand columns whose names clash get `suffix`."""
    right = ctx.others["other"]
    if how not in JOINS:
        raise InvalidInput(f"unknown join {how!r}: use one of {', '.join(JOINS)}")
    if not on:
        raise InvalidInput('join needs the columns to join on, e.g. on=["id"]')
    ctx.require(*on)
    ctx.require(*on, of=right)
    left_cols = [duck.quote(c) for c in ctx.columns]
    extra = [c.name for c in right.version.columns if c.name not in on]
    right_cols = [
        f"r.{duck.quote(c)} AS {duck.quote(c + suffix if c in ctx.columns else c)}" for c in extra
    ]
    condition = " AND ".join(f"l.{duck.quote(c)} = r.{duck.quote(c)}" for c in on)
    if how in ("semi", "anti"):
        fields = ", ".join(f"l.{c}" for c in left_cols)
        order = "l.__lmops_left"
    else:
        keys = [f"coalesce(l.{duck.quote(c)}, r.{duck.quote(c)}) AS {duck.quote(c)}" for c in on]
        rest = [f"l.{c}" for c in left_cols if c not in {duck.quote(k) for k in on}]
        fields = ", ".join([*keys, *rest, *right_cols])
        order = "l.__lmops_left NULLS LAST, r.__lmops_right NULLS LAST"
    query = (
        f"SELECT {fields} FROM "
        "(SELECT *, row_number() OVER () AS __lmops_left FROM src) l "
        f"{how.upper()} JOIN "
        "(SELECT *, row_number() OVER () AS __lmops_right FROM other) r "
        f"ON {condition} ORDER BY {order}"
    )
    _stream(ctx, {"src": ctx.source.path, "other": right.path}, query)
    return {"rows_out": ctx.rows_written, "other": right.version.uri}
