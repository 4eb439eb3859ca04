"""The SQL the tracing store runs to total, find and page traces (the store executes it)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Text, case, cast, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text
from lmops.tracing.entities import SpanStatus, Trace, TraceQuery
from lmops.tracing.tables import feedback, spans, trace_models, trace_tags, traces


def totals_query(ids: list[str]) -> Any:
    s = spans.c
    return (
        select(
            s.trace_id,
            func.count().label("span_count"),
            func.min(s.start_time).label("start_time"),
            func.max(s.end_time).label("end_time"),
            func.sum(case((s.status == SpanStatus.ERROR.value, 1), else_=0)).label("error_count"),
            func.coalesce(func.sum(s.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(s.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(s.cached_tokens), 0).label("cached_tokens"),
            func.coalesce(func.sum(s.reasoning_tokens), 0).label("reasoning_tokens"),
            func.sum(s.cost).label("cost"),
            func.sum(case((s.end_time.is_(None), 1), else_=0)).label("open_spans"),
        )
        .where(s.trace_id.in_(ids))
        .group_by(s.trace_id)
    )


def roots_query(ids: list[str]) -> Any:
    """Top spans: no parent, or a parent outside the trace (a caller in another service,
    as W3C traceparent makes). The earliest comes first."""
    s, parent = spans.c, spans.alias("parent")
    has_parent = exists().where(
        parent.c.trace_id == s.trace_id, parent.c.span_id == s.parent_span_id
    )
    return (
        select(s.trace_id, s.name, s.status, s.inputs, s.outputs)
        .where(s.trace_id.in_(ids), or_(s.parent_span_id.is_(None), ~has_parent))
        .order_by(s.trace_id, s.parent_span_id.is_not(None), s.start_time)
    )


def trace_filters(q: TraceQuery, project: str) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a search: `project`'s traces (its index leads with project,
    then start_time, the order pages come in), narrowed by what `q` asks."""
    where: list[ColumnElement[bool]] = [traces.c.project == project]
    if q.start_after is not None:
        where.append(traces.c.start_time >= _aware(q.start_after, "start_after"))
    if q.start_before is not None:
        where.append(traces.c.start_time < _aware(q.start_before, "start_before"))
    for column, value in (
        (traces.c.name, q.name),
        (traces.c.user_id, q.user_id),
        (traces.c.session_id, q.session_id),
        (traces.c.prompt_version, q.prompt_version),
        (traces.c.model_version, q.model_version),
        (traces.c.endpoint, q.endpoint),
    ):
        if value is not None:
            where.append(column == check_text(value, column.name))
    if q.status is not None:
        where.append(traces.c.status == q.status.value)
    for key, value in q.tags.items():
        where.append(
            exists().where(
                trace_tags.c.trace_id == traces.c.trace_id,
                trace_tags.c.key == key,
                trace_tags.c.value == check_text(value, f"tags.{key}"),
            )
        )
    if q.model is not None:
        where.append(
            exists().where(
                trace_models.c.trace_id == traces.c.trace_id,
                trace_models.c.model == check_text(q.model, "model"),
            )
        )
    if q.min_latency_ms is not None:
        where.append(traces.c.latency_ms >= q.min_latency_ms)
    if q.has_feedback is not None:
        where.append(
            traces.c.feedback_count > 0 if q.has_feedback else traces.c.feedback_count == 0
        )
    if q.feedback_name is not None or q.feedback_min is not None or q.feedback_max is not None:
        where.append(_feedback_filter(q.feedback_name, q.feedback_min, q.feedback_max))
    if q.text:
        # Case-insensitive, over the plain-text previews and over the stored payloads
        # (JSON text: quotes and newlines inside values are escaped there).
        needle = f"%{_escape_like(check_text(q.text, 'text'))}%"
        where.append(
            or_(
                traces.c.input_preview.ilike(needle, escape="\\"),
                traces.c.output_preview.ilike(needle, escape="\\"),
                exists().where(
                    spans.c.trace_id == traces.c.trace_id,
                    or_(
                        cast(spans.c.inputs, Text).ilike(needle, escape="\\"),
                        cast(spans.c.outputs, Text).ilike(needle, escape="\\"),
                    ),
                ),
            )
        )
    return where


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(f"{field} needs a timezone", field=field)
    return moment


def _feedback_filter(name: str | None, low: float | None, high: float | None) -> Any:
    f = feedback.c
    conditions = [f.trace_id == traces.c.trace_id]
    if name is not None:
        conditions.append(f.name == check_text(name, "feedback_name"))
    if low is not None:
        conditions.append(f.numeric_value >= low)
    if high is not None:
        conditions.append(f.numeric_value <= high)
    return exists().where(*conditions)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(trace: Trace) -> str:
    payload = {"t": trace.start_time.isoformat(), "id": trace.trace_id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.fromisoformat(payload["t"])
        trace_id = str(payload["id"])
    except Exception as exc:
        raise InvalidInput(
            "invalid cursor: pass the next_cursor of a previous page", field="cursor"
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput("invalid cursor", field="cursor")
    return moment, trace_id
