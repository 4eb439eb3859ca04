"""The tracing store: the SQL for traces and spans (feedback and prices have their own)."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import InvalidInput, NotFound
from lmops.core.ids import utcnow
from lmops.core.text import check_text
from lmops.store.engine import writing
from lmops.tracing.entities import (
    Feedback,
    Span,
    SpanStatus,
    Trace,
    TraceDetail,
    TracePage,
    TraceQuery,
)
from lmops.tracing.feedback import FeedbackStore
from lmops.tracing.limits import preview, truncate_values
from lmops.tracing.prices import PriceStore, price_span
from lmops.tracing.tables import feedback, spans, trace_tags, traces

_SPAN_COLUMNS = [c.name for c in spans.columns]


class TracingStore:
    """Writes spans (idempotently, by trace and span id) and keeps each trace's totals."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prices = PriceStore(engine)
        self.feedback = FeedbackStore(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def close(self) -> None:
        """Nothing to release: the engine is shared by every store on the same URI."""

    # -- writing -------------------------------------------------------------------------

    def write_spans(self, batch: Sequence[Span]) -> int:
        """Store spans and update their traces' totals in one transaction; return the count.

        A span sent twice replaces the first (exporters retry). A child may arrive before
        its parent; the tree is built from parent ids when read, so it links up then.
        """
        if not batch:
            return 0
        prices = self.prices.prices_for({s.model for s in batch if s.model})
        priced = [price_span(_clean(s), prices) for s in batch]
        by_trace: dict[str, list[Span]] = defaultdict(list)
        for span in priced:
            by_trace[span.trace_id].append(span)
        with writing(self.engine) as conn:
            self._ensure_traces(conn, by_trace)
            stmt = self._insert(spans)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[spans.c.trace_id, spans.c.span_id],
                    set_={c: stmt.excluded[c] for c in _SPAN_COLUMNS[2:]},
                ),
                [_span_row(s) for s in priced],
            )
            self._refresh_traces(conn, by_trace)
        return len(priced)

    def _ensure_traces(self, conn: Connection, by_trace: dict[str, list[Span]]) -> None:
        now = utcnow()
        rows = [
            {
                "trace_id": trace_id,
                "start_time": min(s.start_time for s in group),
                "status": SpanStatus.UNSET.value,
                "span_count": 0,
                "error_count": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_tokens": 0,
                "reasoning_tokens": 0,
                "tags": {},
                "metadata": {},
                "models": [],
                "feedback_count": 0,
                "updated_at": now,
            }
            for trace_id, group in sorted(by_trace.items())
        ]
        conn.execute(self._insert(traces).on_conflict_do_nothing(), rows)

    def _refresh_traces(self, conn: Connection, by_trace: dict[str, list[Span]]) -> None:
        """Recompute totals from the stored spans; merge the batch's trace-level context."""
        ids = sorted(by_trace)
        totals = {r.trace_id: r for r in conn.execute(_totals_query(ids))}
        roots = {r.trace_id: r for r in conn.execute(_roots_query(ids))}
        models: dict[str, set[str]] = defaultdict(set)
        for trace_id, model in conn.execute(
            select(spans.c.trace_id, spans.c.model)
            .where(spans.c.trace_id.in_(ids), spans.c.model.is_not(None))
            .distinct()
        ):
            models[trace_id].add(model)
        current = {
            r.trace_id: r
            for r in conn.execute(
                select(traces.c.trace_id, traces.c.tags, traces.c.metadata).where(
                    traces.c.trace_id.in_(ids)
                )
            )
        }
        for trace_id in ids:
            t, root = totals[trace_id], roots.get(trace_id)
            values = _trace_values(t, root, sorted(models[trace_id]))
            tags, meta = dict(current[trace_id].tags), dict(current[trace_id].metadata)
            for span in by_trace[trace_id]:
                ctx = span.context
                tags.update(ctx.tags)
                meta.update(ctx.metadata)
                for field in (
                    "user_id",
                    "session_id",
                    "environment",
                    "run_id",
                    "prompt_version",
                    "model_version",
                    "endpoint",
                ):
                    if getattr(ctx, field) is not None:
                        values[field] = getattr(ctx, field)
            values.update(tags=tags, metadata=meta, updated_at=utcnow())
            conn.execute(traces.update().where(traces.c.trace_id == trace_id).values(**values))
            if tags:
                stmt = self._insert(trace_tags)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[trace_tags.c.trace_id, trace_tags.c.key],
                        set_={"value": stmt.excluded.value},
                    ),
                    [{"trace_id": trace_id, "key": k, "value": v} for k, v in sorted(tags.items())],
                )

    # -- reading -------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> TraceDetail:
        """A trace with all its spans (in start order) and its feedback."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(traces).where(traces.c.trace_id == trace_id)).mappings().first()
            )
            if row is None:
                raise NotFound(f"no trace with id {trace_id!r}")
            span_rows = conn.execute(
                select(spans).where(spans.c.trace_id == trace_id).order_by(spans.c.start_time)
            ).mappings()
            found = [_span_entity(dict(r)) for r in span_rows]
            notes = conn.execute(
                select(feedback)
                .where(feedback.c.trace_id == trace_id)
                .order_by(feedback.c.created_at)
            ).mappings()
            return TraceDetail.model_validate(
                {
                    **row,
                    "spans": found,
                    "feedback": [Feedback.model_validate(dict(f)) for f in notes],
                }
            )

    def search_traces(self, query: TraceQuery | None = None) -> TracePage:
        """Traces newest first, filtered; pass `next_cursor` back for the next page."""
        q = query or TraceQuery()
        where = _trace_filters(q)
        if q.cursor:
            after_time, after_id = _decode_cursor(q.cursor)
            where.append(
                or_(
                    traces.c.start_time < after_time,
                    and_(traces.c.start_time == after_time, traces.c.trace_id < after_id),
                )
            )
        limit = q.limit
        statement = (
            select(traces)
            .where(*where)
            .order_by(traces.c.start_time.desc(), traces.c.trace_id.desc())
            .limit(limit + 1)
        )
        with self.engine.connect() as conn:
            rows = [Trace.model_validate(dict(r)) for r in conn.execute(statement).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1]) if more else None
        return TracePage(traces=rows, next_cursor=next_cursor)

    def get_session(self, session_id: str) -> list[Trace]:
        """A session's traces in the order they happened."""
        query = (
            select(traces)
            .where(traces.c.session_id == check_text(session_id, "session_id"))
            .order_by(traces.c.start_time, traces.c.trace_id)
        )
        with self.engine.connect() as conn:
            found = [Trace.model_validate(dict(r)) for r in conn.execute(query).mappings()]
        if not found:
            raise NotFound(f"no session {session_id!r}")
        return found

    # -- deleting ------------------------------------------------------------------------

    def delete_trace(self, trace_id: str) -> None:
        with writing(self.engine) as conn:
            done = conn.execute(traces.delete().where(traces.c.trace_id == trace_id))
        if done.rowcount == 0:
            raise NotFound(f"no trace with id {trace_id!r}")

    def delete_traces_before(self, before: datetime) -> int:
        """Delete traces that started before `before`, with their spans and feedback."""
        if before.tzinfo is None:
            raise InvalidInput("before needs a timezone", field="before")
        with writing(self.engine) as conn:
            done = conn.execute(traces.delete().where(traces.c.start_time < before))
        return int(done.rowcount)


# -- helpers -------------------------------------------------------------------------------


def _clean(span: Span) -> Span:
    """Truncate oversized values with a marker instead of refusing the span."""
    return span.model_copy(
        update={
            "attributes": truncate_values(span.attributes),
            "inputs": truncate_values(span.inputs),
            "outputs": truncate_values(span.outputs),
            "name": check_text(span.name, "name"),
        }
    )


def _span_row(span: Span) -> dict[str, Any]:
    row = span.model_dump(mode="json", exclude={"start_time", "end_time"})
    row["start_time"], row["end_time"] = span.start_time, span.end_time
    return row


def _span_entity(row: dict[str, Any]) -> Span:
    return Span.model_validate(row)


def _totals_query(ids: list[str]) -> Any:
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


def _roots_query(ids: list[str]) -> Any:
    s = spans.c
    return select(s.trace_id, s.name, s.status, s.inputs, s.outputs).where(
        s.trace_id.in_(ids), s.parent_span_id.is_(None)
    )


def _trace_values(totals: Any, root: Any, models: list[str]) -> dict[str, Any]:
    end = totals.end_time if totals.open_spans == 0 else None
    latency = (end - totals.start_time).total_seconds() * 1000 if end is not None else None
    if totals.error_count:
        status = SpanStatus.ERROR.value
    else:
        status = root.status if root is not None else SpanStatus.UNSET.value
    values: dict[str, Any] = {
        "start_time": totals.start_time,
        "end_time": end,
        "latency_ms": latency,
        "status": status,
        "span_count": totals.span_count,
        "error_count": totals.error_count,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cached_tokens": totals.cached_tokens,
        "reasoning_tokens": totals.reasoning_tokens,
        "cost": totals.cost,
        "models": models,
    }
    if root is not None:
        values.update(
            name=root.name, input_preview=preview(root.inputs), output_preview=preview(root.outputs)
        )
    return values


def _trace_filters(q: TraceQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if q.start_after is not None:
        where.append(traces.c.start_time >= _aware(q.start_after, "start_after"))
    if q.start_before is not None:
        where.append(traces.c.start_time < _aware(q.start_before, "start_before"))
    for column, value in (
        (traces.c.name, q.name),
        (traces.c.user_id, q.user_id),
        (traces.c.session_id, q.session_id),
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
                spans.c.trace_id == traces.c.trace_id, spans.c.model == check_text(q.model, "model")
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
        needle = f"%{_escape_like(check_text(q.text, 'text'))}%"
        where.append(
            exists().where(
                spans.c.trace_id == traces.c.trace_id,
                or_(
                    cast(spans.c.inputs, Text).like(needle, escape="\\"),
                    cast(spans.c.outputs, Text).like(needle, escape="\\"),
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


def _encode_cursor(trace: Trace) -> str:
    payload = {"t": trace.start_time.isoformat(), "id": trace.trace_id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
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
