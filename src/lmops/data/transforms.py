"""Steps that are SQL-shaped: filter, select (and rename), aggregate, join.

They run in DuckDB over the input's Parquet file (see lmops.data.duck) and stream the
result out in Arrow batches. DuckDB runs on one thread here (see lmops.data.duck), so
results are repeatable; aggregate orders by every output column and join by the left
then the right row number. Filter uses DuckDB for the predicate only and select none at
all, so both keep the input's exact column types.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa

from lmops.core.errors import InvalidInput
from lmops.data import duck
from lmops.data.parquet import ROW_GROUP_ROWS
from lmops.data.steps import Report, StepContext, ordered_pairs, step


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
    """Keep the rows where the SQL predicate `where` holds (DuckDB syntax; null is false).

    DuckDB only evaluates the predicate; the kept rows are copied from the input as they
    are, so every column keeps its exact Arrow type."""
    if not where.strip():
        raise InvalidInput('filter needs a SQL predicate, e.g. where="length(text) > 20"')
    ctx.progress.start("evaluating", ctx.source.version.row_count)
    query = f"SELECT coalesce(CAST(({where}) AS BOOLEAN), false) FROM src"
    with duck.connect({"src": ctx.source.path}) as con:
        parts = [
            batch.column(0).to_numpy(zero_copy_only=False)
            for batch in duck.reader(con, query, ROW_GROUP_ROWS)
        ]
    keep = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    ctx.write_kept(keep)
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
    schema = ctx.schema()
    out = pa.schema([schema.field(c).with_name(n) for c, n in zip(columns, names, strict=True)])
    ctx.write(
        out,
        (pa.RecordBatch.from_arrays(b.columns, schema=out) for b in ctx.batches(columns)),
    )
    return {"columns": names}


def _ordered_aggregates(params: dict[str, Any]) -> dict[str, Any]:
    params["aggregates"] = ordered_pairs(params["aggregates"])
    return params


@step("aggregate", pin=_ordered_aggregates)
def aggregate(
    ctx: StepContext,
    group_by: list[str],
    aggregates: dict[str, str] | list[tuple[str, str]],
) -> Report:
    """Group by `group_by` and compute `aggregates` {output column: SQL aggregate}.

    For example aggregates={"n": "count(*)", "mean_len": "avg(length(text))"}; the recipe
    keeps them as [column, expression] pairs, in the order given.
    """
    aggregates = dict(aggregates)
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
    ctx: StepContext,
    other: str,
    on: list[str],
    how: Literal["inner", "left", "right", "full", "semi", "anti"] = "inner",
    suffix: str = "_right",
) -> Report:
    """Join with version `other` on the columns `on`, SQL style (`how`: inner, left, right,
    full, semi, anti). Right-hand columns whose names clash get `suffix`."""
    right = ctx.others["other"]
    if not on:
        raise InvalidInput('join needs the columns to join on, e.g. on=["id"]')
    ctx.require(*on)
    ctx.require(*on, of=right)
    right_names = [c.name for c in right.version.columns]
    reserved = [c for c in [*ctx.columns, *right_names] if c.startswith("__lmops_")]
    if reserved:
        raise InvalidInput(f"join cannot take columns named __lmops_*: {reserved}")
    left_cols = [duck.quote(c) for c in ctx.columns]
    extra = [c for c in right_names if c not in on]
    renamed = {c: c + suffix if c in ctx.columns else c for c in extra}
    clash = sorted(set(renamed.values()) & set(ctx.columns))
    if how not in ("semi", "anti") and (clash or len(set(renamed.values())) < len(renamed)):
        raise InvalidInput(
            f"joined columns would repeat a name ({clash or sorted(renamed.values())}): "
            "pick another suffix or select the columns first"
        )
    right_cols = [f"r.{duck.quote(c)} AS {duck.quote(renamed[c])}" for c in extra]
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
