"""The spans upsert, bound by hand: the hottest write of tracing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from lmops.tracing.rows import SpanRow
from lmops.tracing.tables import spans

SPAN_COLUMNS = [c.name for c in spans.columns]
_JSON_COLUMNS = {"attributes", "events", "inputs", "outputs", "context"}


class SpanInsert:
    """The spans upsert as one DB-API executemany over tuples: the hottest write of tracing.

    SQLAlchemy's per-row parameter processing cost more than SQLite's own work here, so
    the rows are bound by hand: JSON columns dumped once each, times through the column
    type's own bind processor (the storage format stays SQLAlchemy's).
    """

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        pg = dialect.name == "postgresql"
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        marks = [
            f"CAST({mark} AS JSONB)" if pg and c in _JSON_COLUMNS else mark for c in SPAN_COLUMNS
        ]
        updates = ", ".join(f"{c} = excluded.{c}" for c in SPAN_COLUMNS[2:])
        self.sql = (
            f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({', '.join(marks)}) "
            f"ON CONFLICT (trace_id, span_id) DO UPDATE SET {updates}"
        )
        bind: Callable[[Any], Any] | None = spans.c.start_time.type.bind_processor(dialect)
        self.time: Callable[[Any], Any] = bind if bind is not None else _same

    def __call__(self, conn: Connection, rows: Sequence[SpanRow]) -> None:
        time, dump = self.time, _dump_json
        params = []
        for r in rows:
            end = r["end_time"]
            params.append(
                (
                    r["trace_id"],
                    r["span_id"],
                    r["parent_span_id"],
                    r["name"],
                    r["span_type"],
                    time(r["start_time"]),
                    time(end) if end is not None else None,
                    r["status"],
                    r["status_message"],
                    dump(r["attributes"]),
                    dump(r["events"]),
                    dump(r["inputs"]),
                    dump(r["outputs"]),
                    r["input_tokens"],
                    r["output_tokens"],
                    r["cached_tokens"],
                    r["reasoning_tokens"],
                    r["cost"],
                    r["cost_source"],
                    r["model"],
                    r["provider"],
                    dump(r["context"]),
                )
            )
        conn.exec_driver_sql(self.sql, params)


def _same(value: Any) -> Any:
    return value


# One encoder: json.dumps with options builds a new one on every call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dump_json(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return _ENCODE(value)
