"""The tracing store: the SQL for traces and spans (feedback and prices have their own).

A store works in one project (`in_project`). Traces are stamped with it when their first
span arrives, and every read, delete and feedback names only traces of that project: a
trace of another project is NotFound, exactly like one that does not exist. Spans have no
project of their own; they belong to their trace's. Prices and feedback configs are
server-wide, and so is `delete_traces_before(..., every_project=True)`, the retention sweep.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.store.engine import writing
from lmops.tracing.entities import (
    Feedback,
    SessionSummary,
    Span,
    SpanStatus,
    Trace,
    TraceDetail,
    TracePage,
    TraceQuery,
)
from lmops.tracing.feedback import FeedbackStore
from lmops.tracing.limits import cut, preview
from lmops.tracing.prices import PriceStore, price_row
from lmops.tracing.queries import (
    decode_cursor,
    encode_cursor,
    roots_query,
    totals_query,
    trace_filters,
)
from lmops.tracing.rows import SpanRow, span_row
from lmops.tracing.span_insert import SpanInsert
from lmops.tracing.tables import feedback, spans, trace_models, trace_tags, traces

_CONTEXT_FIELDS = (
    "user_id",
    "session_id",
    "environment",
    "run_id",
    "prompt_version",
    "model_version",
    "endpoint",
)
# Trace columns a batch may leave as they are (no root span in it, no context given).
_KEPT_FIELDS = ("name", "input_preview", "output_preview", "tags", "metadata", *_CONTEXT_FIELDS)
_UPDATED_FIELDS = (
    *_KEPT_FIELDS,
    "start_time",
    "end_time",
    "latency_ms",
    "status",
    "span_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
    "models",
    "updated_at",
)
# One statement for every trace of a batch (executemany), not one built per trace.
_UPDATE_TRACE = (
    traces.update()
    .where(traces.c.trace_id == bindparam("_id"))
    .values({f: bindparam(f"v_{f}") for f in _UPDATED_FIELDS})
)


@dataclass(frozen=True)
class Settled:
    """A finished trace, when it was last written, and whether its root span is stored."""

    trace: Trace
    updated_at: datetime
    rooted: bool


class TracingStore(InProject):
    """Writes spans (idempotently, by trace and span id) and keeps each trace's totals."""

    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project
        self.prices = PriceStore(engine)
        self.feedback = FeedbackStore(engine, project)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._span_insert = SpanInsert(engine)

    def in_project(self, project: str) -> Self:
        """This store, and its feedback, working in `project` (prices stay server-wide)."""
        scoped = super().in_project(project)
        if scoped is not self:
            scoped.feedback = self.feedback.in_project(project)
        return scoped

    def close(self) -> None:
        """Nothing to release: the engine is shared by every store on the same URI."""

    # -- writing -------------------------------------------------------------------------

    def write_spans(self, batch: Sequence[Span]) -> int:
        """Store validated spans (REST, OTLP); oversized values are cut with a marker."""
        return self.write_span_rows([span_row(s) for s in batch])

    def write_span_rows(self, rows: Sequence[SpanRow]) -> int:
        """Store span rows and update their traces' totals in one transaction.

        Rows come from `span_row` or from the SDK, which builds them clean. A span sent
        twice replaces the first (exporters retry). A child may arrive before its parent;
        the tree is built from parent ids when read, so it links up then.

        A trace id another project already holds is refused with Conflict, and nothing of
        the batch is written: spans are never merged into another project's trace. OTLP
        ingestion (`ingest.write_spans`) then writes the batch span by span and reports
        the refused ones in the response's partial_success, keeping the rest.
        """
        if not rows:
            return 0
        prices = self.prices.prices_for({r["model"] for r in rows if r["model"]})
        by_trace: dict[str, list[SpanRow]] = defaultdict(list)
        for row in rows:
            if row["model"] in prices or row["cost"] is not None:
                price_row(row, prices)
            by_trace[row["trace_id"]].append(row)
        try:
            with writing(self.engine) as conn:
                self._ensure_traces(conn, by_trace)
                self._refuse_foreign(conn, sorted(by_trace))
                self._span_insert(conn, rows)
                self._refresh_traces(conn, by_trace)
        except (DataError, IntegrityError) as exc:  # what a span holds, not the store failing
            raise InvalidInput(
                f"the store refused a span: {str(exc.orig)[:300]}", field="spans"
            ) from exc
        return len(rows)

    def _ensure_traces(self, conn: Connection, by_trace: dict[str, list[SpanRow]]) -> None:
        now = utcnow()
        rows = [
            {
                "trace_id": trace_id,
                "project": self.project,
                "start_time": min(r["start_time"] for r in group),
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
        # DO UPDATE (not DO NOTHING) locks each trace row until commit: two batches of one
        # trace then recount its spans one after the other instead of overwriting each other.
        # A row of another project is left alone (and `_refuse_foreign` refuses the batch).
        stmt = self._insert(traces)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[traces.c.trace_id],
                set_={"updated_at": stmt.excluded.updated_at},
                where=traces.c.project == stmt.excluded.project,
            ),
            rows,
        )

    def _refuse_foreign(self, conn: Connection, ids: list[str]) -> None:
        """Raise Conflict if another project holds any of these trace ids.

        Asked after the upsert, when every id has a row: a concurrent first batch of the
        same id in another project has committed by then (the upsert waited for it).
        """
        foreign = conn.execute(
            select(traces.c.trace_id)
            .where(traces.c.trace_id.in_(ids), traces.c.project != self.project)
            .limit(1)
        ).scalar()
        if foreign is not None:
            raise Conflict(
                f"trace id {foreign} is taken outside project {self.project!r}; "
                "send these spans with a new trace id"
            )

    def _refresh_traces(self, conn: Connection, by_trace: dict[str, list[SpanRow]]) -> None:
        """Recompute totals from the stored spans; merge the batch's trace-level context.

        Four reads and two writes per batch, whatever the number of traces in it.
        """
        ids = sorted(by_trace)
        totals = {r.trace_id: r for r in conn.execute(totals_query(ids))}
        roots: dict[str, Any] = {}
        for r in conn.execute(roots_query(ids)):
            roots.setdefault(r.trace_id, r)
        models: dict[str, set[str]] = defaultdict(set)
        for trace_id, model in conn.execute(
            select(spans.c.trace_id, spans.c.model)
            .where(spans.c.trace_id.in_(ids), spans.c.model.is_not(None))
            .distinct()
        ):
            models[trace_id].add(model)
        current = {
            r["trace_id"]: r
            for r in conn.execute(
                select(traces.c.trace_id, *(traces.c[f] for f in _KEPT_FIELDS)).where(
                    traces.c.trace_id.in_(ids)
                )
            ).mappings()
        }
        now = utcnow()
        updates, tag_rows = [], []
        for trace_id in ids:
            values = {f: current[trace_id][f] for f in _KEPT_FIELDS}
            values.update(
                _trace_values(totals[trace_id], roots.get(trace_id), sorted(models[trace_id]))
            )
            tags, meta = dict(values["tags"]), dict(values["metadata"])
            for row in by_trace[trace_id]:
                ctx = row["context"]
                if not ctx:
                    continue
                tags.update(
                    {cut(k, 250): cut(str(v), 1000) for k, v in (ctx.get("tags") or {}).items()}
                )
                meta.update(ctx.get("metadata") or {})
                for field in _CONTEXT_FIELDS:
                    if ctx.get(field) is not None:
                        values[field] = cut(str(ctx[field]), 255)
            values.update(tags=tags, metadata=meta, updated_at=now)
            updates.append({"_id": trace_id, **{f"v_{k}": v for k, v in values.items()}})
            tag_rows += [
                {"trace_id": trace_id, "key": k, "value": v} for k, v in sorted(tags.items())
            ]
        conn.execute(_UPDATE_TRACE, updates)
        model_rows = [{"trace_id": t, "model": m} for t in ids for m in sorted(models[t])]
        if model_rows:
            conn.execute(self._insert(trace_models).on_conflict_do_nothing(), model_rows)
        if tag_rows:
            stmt = self._insert(trace_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[trace_tags.c.trace_id, trace_tags.c.key],
                    set_={"value": stmt.excluded.value},
                ),
                tag_rows,
            )

    # -- reading -------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> TraceDetail:
        """A trace with all its spans (in start order) and its feedback."""
        with self.engine.connect() as conn:
            row = conn.execute(select(traces).where(self._trace(trace_id))).mappings().first()
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
        where = trace_filters(q, self.project)
        if q.cursor:
            after_time, after_id = decode_cursor(q.cursor)
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
        next_cursor = encode_cursor(rows[-1]) if more else None
        return TracePage(traces=rows, next_cursor=next_cursor)

    def settled(
        self,
        query: TraceQuery,
        *,
        after: tuple[datetime, str],
        before: datetime,
        limit: int = 200,
        skip_tag: str | None = None,
    ) -> list[Settled]:
        """Finished traces matching `query` (no span of theirs stored open), last written
        after `after` (updated_at, trace id) and before `before`, oldest write first: how
        online scoring reads traces as they settle. Each says whether its root span (one
        without a parent) is stored: until then, the spans so far may be children whose
        parent is still running. `skip_tag` leaves out traces carrying that tag key."""
        t = traces.c
        at, trace_id = after
        where = trace_filters(query, self.project)
        where += [
            t.end_time.is_not(None),
            t.updated_at < before,
            or_(t.updated_at > at, and_(t.updated_at == at, t.trace_id > trace_id)),
        ]
        if skip_tag is not None:
            where.append(
                ~exists().where(trace_tags.c.trace_id == t.trace_id, trace_tags.c.key == skip_tag)
            )
        rooted = (
            exists()
            .where(spans.c.trace_id == t.trace_id, spans.c.parent_span_id.is_(None))
            .label("rooted")
        )
        statement = (
            select(traces, rooted).where(*where).order_by(t.updated_at, t.trace_id).limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(statement).mappings().all()
        return [
            Settled(Trace.model_validate(dict(r)), r["updated_at"], bool(r["rooted"])) for r in rows
        ]

    def get_session(self, session_id: str) -> list[Trace]:
        """A session's traces in the order they happened."""
        query = (
            select(traces)
            .where(
                traces.c.project == self.project,
                traces.c.session_id == check_text(session_id, "session_id"),
            )
            .order_by(traces.c.start_time, traces.c.trace_id)
        )
        with self.engine.connect() as conn:
            found = [Trace.model_validate(dict(r)) for r in conn.execute(query).mappings()]
        if not found:
            raise NotFound(f"no session {session_id!r}")
        return found

    def list_sessions(self, limit: int = 50) -> list[SessionSummary]:
        """Sessions, most recently active first, from the traces table alone."""
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500", field="limit")
        t = traces.c
        mine = t.project == self.project
        last_start = func.max(t.start_time).label("last_start")
        grouped = (
            select(
                t.session_id,
                func.count().label("trace_count"),
                func.min(t.start_time).label("first_start"),
                last_start,
                func.sum(t.input_tokens + t.output_tokens).label("tokens"),
                func.sum(t.cost).label("cost"),
            )
            .where(mine, t.session_id.is_not(None))
            .group_by(t.session_id)
            .order_by(last_start.desc(), t.session_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(grouped).mappings()]
            ids = [r["session_id"] for r in rows]
            users: dict[str, set[str]] = defaultdict(set)
            for session_id, user_id in conn.execute(
                select(t.session_id, t.user_id)
                .distinct()
                .where(mine, t.session_id.in_(ids), t.user_id.is_not(None))
            ):
                users[session_id].add(user_id)
            newest = (
                select(t.session_id, func.max(t.start_time).label("at"))
                .where(mine, t.session_id.in_(ids))
                .group_by(t.session_id)
                .subquery()
            )
            previews: dict[str, tuple[Any, Any]] = {
                session_id: (given, answered)
                for session_id, given, answered in conn.execute(
                    select(t.session_id, t.input_preview, t.output_preview)
                    .join(
                        newest,
                        and_(t.session_id == newest.c.session_id, t.start_time == newest.c.at),
                    )
                    .where(mine)
                )
            }
        return [
            SessionSummary.model_validate(
                {
                    **r,
                    "users": sorted(users[r["session_id"]]),
                    "tokens": r["tokens"] or 0,
                    "last_input_preview": previews.get(r["session_id"], (None, None))[0],
                    "last_output_preview": previews.get(r["session_id"], (None, None))[1],
                }
            )
            for r in rows
        ]

    # -- deleting ------------------------------------------------------------------------

    def delete_trace(self, trace_id: str) -> None:
        with writing(self.engine) as conn:
            done = conn.execute(traces.delete().where(self._trace(trace_id)))
        if done.rowcount == 0:
            raise NotFound(f"no trace with id {trace_id!r}")

    def delete_traces_before(
        self, before: datetime, chunk: int = 1000, *, every_project: bool = False
    ) -> int:
        """Delete this project's traces that started before `before`, with their spans and
        feedback; with `every_project`, those of all projects (the server's retention sweep,
        a policy of the server, not of one project).

        In chunks of `chunk` traces, one transaction each, so that writers are held up
        for one chunk at a time, never for the whole sweep.
        """
        if before.tzinfo is None:
            raise InvalidInput("before needs a timezone", field="before")
        old = traces.c.start_time < before
        where = old if every_project else and_(traces.c.project == self.project, old)
        deleted = 0
        while True:
            with writing(self.engine) as conn:
                ids = list(
                    conn.execute(select(traces.c.trace_id).where(where).limit(chunk)).scalars()
                )
                if not ids:
                    return deleted
                conn.execute(traces.delete().where(traces.c.trace_id.in_(ids)))
            deleted += len(ids)

    def _trace(self, trace_id: str) -> ColumnElement[bool]:
        """The WHERE clause naming trace `trace_id` if it is in this project."""
        return and_(traces.c.trace_id == trace_id, traces.c.project == self.project)


# -- helpers -------------------------------------------------------------------------------


def _span_entity(row: dict[str, Any]) -> Span:
    return Span.model_validate(row)


def _trace_values(totals: Any, root: Any, models: list[str]) -> dict[str, Any]:
    end = totals.end_time if totals.open_spans == 0 else None
    latency = (end - totals.start_time).total_seconds() * 1000 if end is not None else None
    if totals.error_count:
        status = SpanStatus.ERROR.value
    elif root is not None and root.status != SpanStatus.UNSET.value:
        status = root.status
    else:  # OpenTelemetry leaves successful spans UNSET: a finished trace without errors is OK
        status = SpanStatus.OK.value if end is not None else SpanStatus.UNSET.value
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
