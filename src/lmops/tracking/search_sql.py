"""Parsed search filters, orderings and page tokens, compiled onto the tracking tables.

The parser (search.py) knows no SQL; this module builds the expressions; the store runs them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import InvalidInput
from lmops.tracking import search
from lmops.tracking.tables import latest_metrics, params, run_tags, runs

MAX_OFFSET = 2**31
_OPS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
_KEYED = {"metrics": latest_metrics, "params": params, "tags": run_tags}
_MS = timedelta(milliseconds=1)


def compile_filter(node: search.Node) -> ColumnElement[bool]:
    """The WHERE clause for a parsed filter, over `runs`."""
    if isinstance(node, search.BoolOp):
        parts = [compile_filter(item) for item in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if node.kind == "attributes":
        column = runs.c[_attr_column(node.key)]
        if search.ATTRIBUTES[node.key] == "time":
            return _compare_time(column, node.op, float(node.value))  # type: ignore[arg-type]
        return _compare(column, node.op, node.value)
    table = _KEYED[node.kind]
    return (
        select(table.c.run_id)
        .where(
            table.c.run_id == runs.c.id,
            table.c.key == node.key,
            _compare(table.c.value, node.op, node.value),
        )
        .exists()
    )


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    clause: ColumnElement[bool]
    if op in _OPS:
        clause = getattr(column, _OPS[op])(value)
    elif op == "like":
        clause = column.like(value)
    elif op == "ilike":
        clause = column.ilike(value)
    elif op == "in":
        clause = column.in_(list(value))
    else:
        clause = not_(column.in_(list(value)))
    return clause


def _compare_time(column: Any, op: str, ms: float) -> ColumnElement[bool]:
    """Times are given in ms and stored in µs: `=` means within that millisecond."""
    start = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    end = start + _MS
    clause: ColumnElement[bool]
    if op == "=":
        clause = and_(column >= start, column < end)
    elif op == "!=":
        clause = or_(column < start, column >= end)
    elif op == "<":
        clause = column < start
    elif op == "<=":
        clause = column < end
    elif op == ">":
        clause = column >= end
    else:
        clause = column >= start
    return clause


def _attr_column(key: str) -> str:
    return {"run_id": "id", "run_name": "name"}.get(key, key)


def apply_order(query: Select[Any], key: search.OrderKey) -> Select[Any]:
    """Add one ORDER BY key; runs missing the key come last either way, as in MLflow."""
    if key.kind == "attributes":
        column: Any = runs.c[_attr_column(key.key)]
    else:
        joined = _KEYED[key.kind].alias()
        query = query.outerjoin(joined, and_(joined.c.run_id == runs.c.id, joined.c.key == key.key))
        column = joined.c.value
    return query.order_by(column.is_(None), column.desc() if key.descending else column.asc())


def page_token_at(offset: int) -> str:
    """The page token of the page that starts `offset` runs in (to jump to page N)."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except Exception as exc:
        raise InvalidInput(
            "invalid page_token: pass the next_page_token of a previous page", field="page_token"
        ) from exc
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("invalid page_token: offset out of range", field="page_token")
    return offset
