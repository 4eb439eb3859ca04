"""Trace pages: the traces list, one trace as a waterfall with its spans, and sessions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.core.errors import InvalidInput, NotFound
from lmops.core.text import check_text
from lmops.server.auth import authorize
from lmops.server.deps import TracingDep
from lmops.server.ui.payloads import describe, format_cost, format_ms, format_precise, pretty
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.server.ui.trace_filters import RANGE_LABELS, TraceFilters
from lmops.server.ui.waterfall import build_waterfall
from lmops.tracing.entities import FeedbackConfig, Span, SpanStatus, TracePage
from lmops.tracing.store import TracingStore

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

Text = Annotated[str, Query(max_length=4000)]
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
SESSIONS_SHOWN = 100
FEEDBACK_NAMES = ("thumbs", "score", "comment", "correction")

# Formatting helpers every trace template may call.
HELPERS: dict[str, Any] = {
    "ms": format_ms,
    "usd": format_cost,
    "precise": format_precise,
    "describe": describe,
    "pretty": pretty,
    "range_labels": RANGE_LABELS,
    "statuses": [s.value.lower() for s in SpanStatus],
}


@router.get("/traces", include_in_schema=False)
def traces_page(
    request: Request,
    store: TracingDep,
    range_: Annotated[str, Query(alias="range", max_length=100)] = "",
    start: Annotated[str, Query(alias="from", max_length=100)] = "",
    end: Annotated[str, Query(alias="to", max_length=100)] = "",
    name: Text = "",
    status: Text = "",
    user: Text = "",
    session: Text = "",
    model: Text = "",
    min_latency: Text = "",
    feedback: Text = "",
    q: Text = "",
    tag: Annotated[list[str] | None, Query()] = None,
    endpoint: Text = "",
    model_version: Text = "",
    prompt_version: Text = "",
    cursor: Text = "",
) -> Response:
    """Traces newest first, filtered by the URL; pages by keyset cursor."""
    filters = TraceFilters(
        range=range_.strip(),
        start=start.strip(),
        end=end.strip(),
        name=name,
        status=status.strip(),
        user=user,
        session=session,
        model=model,
        min_latency=min_latency.strip(),
        feedback=feedback.strip(),
        q=q,
        tags=tuple(t for t in (tag or []) if t.strip()),
        endpoint=endpoint,
        model_version=model_version,
        prompt_version=prompt_version,
        cursor=cursor.strip(),
    )
    error = None
    try:
        page = store.search_traces(filters.to_query())
    except InvalidInput as exc:
        page, error = TracePage(traces=[]), exc.message
    context = {"section": "/traces", "filters": filters, "page": page, "error": error}
    return _render(request, "traces.html", context, 400 if error else 200)


@router.get("/traces/{trace_id}", include_in_schema=False)
def trace_page(request: Request, trace_id: str, store: TracingDep) -> Response:
    """One trace: header with totals, a waterfall of spans, a span panel, feedback."""
    if not _TRACE_ID.match(trace_id):
        raise NotFound(f"no trace with id {trace_id!r}: a trace id is 32 lowercase hex characters")
    trace = store.get_trace(trace_id)
    waterfall = build_waterfall(trace)
    names = {s.span_id: s.name for s in trace.spans}
    context = {
        "section": "/traces",
        "trace": trace,
        "waterfall": waterfall,
        "span_names": names,
        "configs": _feedback_configs(store),
        "exception": _exception,
    }
    return _render(request, "trace.html", context)


@router.get("/sessions", include_in_schema=False)
def sessions_page(request: Request, store: TracingDep) -> Response:
    """Sessions, most recently active first."""
    context = {"section": "/traces", "sessions": store.list_sessions(limit=SESSIONS_SHOWN)}
    return _render(request, "sessions.html", context)


@router.get("/sessions/{session_id:path}", include_in_schema=False)
def session_page(request: Request, session_id: str, store: TracingDep) -> Response:
    """A session's traces in order, shown as the conversation they made."""
    traces = store.get_session(check_text(session_id, "session_id"))
    totals = {
        "input_tokens": sum(t.input_tokens for t in traces),
        "output_tokens": sum(t.output_tokens for t in traces),
        "cost": sum(t.cost for t in traces if t.cost is not None) if traces else None,
        "errors": sum(1 for t in traces if t.status == SpanStatus.ERROR),
        "feedback": sum(t.feedback_count for t in traces),
    }
    users = sorted({t.user_id for t in traces if t.user_id})
    context = {
        "section": "/traces",
        "session_id": session_id,
        "traces": traces,
        "totals": totals,
        "users": users,
    }
    return _render(request, "session.html", context)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, name, {**HELPERS, **context}, status_code=status)


def _feedback_configs(store: TracingStore) -> dict[str, FeedbackConfig]:
    return {c.name: c for c in store.feedback.list_configs() if c.name in FEEDBACK_NAMES}


def _exception(span: Span) -> dict[str, Any] | None:
    """The attributes of the span's last `exception` event (OpenTelemetry's convention)."""
    found = [e for e in span.events if e.name == "exception"]
    return found[-1].attributes if found else None
