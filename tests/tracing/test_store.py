"""TracingStore, FeedbackStore and PriceStore on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from lmops.core.errors import Forbidden, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.tracing.entities import (
    FeedbackConfig,
    FeedbackKind,
    ModelPrice,
    Span,
    SpanStatus,
    TraceContext,
    TraceQuery,
)
from lmops.tracing.limits import MAX_STRING
from lmops.tracing.store import TracingStore


@pytest.fixture
def store(engine: Engine) -> TracingStore:
    return TracingStore(engine)


def make_span(
    trace_id: str,
    name: str,
    *,
    parent: str | None = None,
    start: datetime,
    ms: int = 100,
    **fields: object,
) -> Span:
    return Span.model_validate(
        {
            "trace_id": trace_id,
            "span_id": new_id()[:16],
            "parent_span_id": parent,
            "name": name,
            "start_time": start,
            "end_time": start + timedelta(milliseconds=ms),
            **fields,
        }
    )


def test_totals_follow_the_spans(store: TracingStore) -> None:
    store.prices.set_price(
        ModelPrice(
            model="m1", input_per_million=2.0, output_per_million=8.0, source="vendor page, 2026-11"
        )
    )
    t, now = new_id(), utcnow()
    root = make_span(
        t,
        "agent",
        start=now,
        ms=1000,
        span_type="AGENT",
        status="OK",
        inputs={"question": "hi"},
        outputs="hello",
        context=TraceContext(user_id="u", session_id="s", tags={"env": "dev"}),
    )
    llm = make_span(
        t,
        "llm",
        parent=root.span_id,
        start=now + timedelta(milliseconds=10),
        ms=300,
        span_type="LLM",
        model="m1",
        input_tokens=1000,
        output_tokens=100,
        cached_tokens=200,
    )
    tool = make_span(
        t,
        "tool",
        parent=root.span_id,
        start=now + timedelta(milliseconds=400),
        status="ERROR",
        status_message="boom",
    )
    store.write_spans([llm, tool])  # children first: kept, linked when the root arrives
    early = store.get_trace(t)
    assert early.span_count == 2
    assert early.name == "llm"  # the earliest span without its parent stands in for now
    store.write_spans([root])
    trace = store.get_trace(t)
    assert [s.name for s in trace.spans] == ["agent", "llm", "tool"]
    assert trace.spans[1].parent_span_id == root.span_id
    assert trace.name == "agent"
    assert trace.span_count == 3
    assert trace.error_count == 1
    assert trace.status == SpanStatus.ERROR
    assert (trace.input_tokens, trace.output_tokens, trace.cached_tokens) == (1000, 100, 200)
    assert trace.cost == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    assert trace.spans[1].cost_source == "price table: m1 (vendor page, 2026-11)"
    assert trace.latency_ms == pytest.approx(1000)
    assert (trace.user_id, trace.session_id, trace.tags) == ("u", "s", {"env": "dev"})
    assert trace.input_preview == "hi"
    assert trace.output_preview == "hello"
    assert trace.models == ["m1"]


def test_a_span_sent_twice_is_stored_once(store: TracingStore) -> None:
    t, now = new_id(), utcnow()
    span = make_span(t, "once", start=now)
    store.write_spans([span])
    store.write_spans([span])
    assert store.get_trace(t).span_count == 1


def test_reported_costs_are_kept_and_marked(store: TracingStore) -> None:
    t = new_id()
    store.write_spans([make_span(t, "x", start=utcnow(), model="m", cost=0.5, input_tokens=10)])
    span = store.get_trace(t).spans[0]
    assert (span.cost, span.cost_source) == (0.5, "reported")


def test_oversized_values_are_truncated_not_refused(store: TracingStore) -> None:
    t = new_id()
    big = "x" * (MAX_STRING + 10)
    store.write_spans(
        [
            make_span(
                t,
                "big",
                start=utcnow(),
                attributes={"k": big},
                inputs={"doc": big, "nul": "a\x00b"},
            )
        ]
    )
    span = store.get_trace(t).spans[0]
    assert span.attributes["k"].endswith("…[truncated 10 characters]")
    assert span.inputs["nul"] == "ab"


def test_search_filters_and_cursor(store: TracingStore) -> None:
    now = utcnow()
    ids = []
    for i in range(7):
        t = new_id()
        ids.append(t)
        store.write_spans(
            [
                make_span(
                    t,
                    f"call-{i % 2}",
                    start=now + timedelta(seconds=i),
                    ms=100 * i,
                    model="m-a" if i < 3 else "m-b",
                    inputs={"q": f"question {i}"},
                    context=TraceContext(
                        user_id=f"user-{i % 3}",
                        session_id="s1" if i < 4 else None,
                        tags={"team": "red" if i % 2 else "blue"},
                    ),
                )
            ]
        )

    def names(**filters: object) -> list[str]:
        page = store.search_traces(TraceQuery.model_validate(filters))
        return [ids.index(t.trace_id) for t in page.traces]  # type: ignore[misc]

    assert names() == [6, 5, 4, 3, 2, 1, 0]
    assert names(user_id="user-1") == [4, 1]
    assert names(session_id="s1") == [3, 2, 1, 0]
    assert names(tags={"team": "red"}) == [5, 3, 1]
    assert names(model="m-a") == [2, 1, 0]
    assert names(min_latency_ms=400) == [6, 5, 4]
    assert names(name="call-0") == [6, 4, 2, 0]
    assert names(text="question 5") == [5]
    assert names(text="100%") == []
    assert names(start_after=now + timedelta(seconds=5)) == [6, 5]
    first = store.search_traces(TraceQuery(limit=3))
    second = store.search_traces(TraceQuery(limit=3, cursor=first.next_cursor))
    third = store.search_traces(TraceQuery(limit=3, cursor=second.next_cursor))
    walked = [t.trace_id for p in (first, second, third) for t in p.traces]
    assert walked == ids[::-1]
    assert third.next_cursor is None
    with pytest.raises(InvalidInput, match="cursor"):
        store.search_traces(TraceQuery(cursor="garbage"))
    assert [t.trace_id for t in store.get_session("s1")] == ids[:4]


def test_feedback_kinds_configs_and_filters(store: TracingStore) -> None:
    t = new_id()
    store.write_spans([make_span(t, "x", start=utcnow())])
    fb = store.feedback
    assert fb.log_feedback(t, "thumbs", True).kind == FeedbackKind.BOOLEAN
    assert fb.log_feedback(t, "score", 4, source="llm", comment="good").kind == "numeric"
    correction = fb.log_feedback(t, "fix", correction={"output": "better"})
    assert correction.kind == FeedbackKind.CORRECTION
    fb.set_config(FeedbackConfig(name="label", kind="categorical", allowed_values=["good", "bad"]))
    with pytest.raises(InvalidInput, match="takes one of"):
        fb.log_feedback(t, "label", "meh")
    fb.log_feedback(t, "label", "good")
    with pytest.raises(InvalidInput, match="cannot take value"):
        fb.log_feedback(t, "score", "high", kind="numeric")
    with pytest.raises(NotFound):
        fb.log_feedback(new_id(), "thumbs", True)
    assert store.get_trace(t).feedback_count == 4
    assert len(store.get_trace(t).feedback) == 4
    hits = store.search_traces(TraceQuery(feedback_name="score", feedback_min=3))
    assert [x.trace_id for x in hits.traces] == [t]
    assert store.search_traces(TraceQuery(feedback_name="score", feedback_min=5)).traces == []
    assert [x.trace_id for x in store.search_traces(TraceQuery(has_feedback=True)).traces] == [t]


def test_feedback_tokens(store: TracingStore) -> None:
    t = new_id()
    store.write_spans([make_span(t, "x", start=utcnow())])
    token = store.feedback.create_token(t)
    note = store.feedback.log_with_token(token, "thumbs", False, comment="wrong answer")
    assert (note.trace_id, note.author, note.source) == (t, "end-user", "human")
    with pytest.raises(Forbidden):
        store.feedback.log_with_token("not-a-token", "thumbs", True)
    with pytest.raises(InvalidInput, match="ttl"):
        store.feedback.create_token(t, timedelta(days=365))


def test_deleting_old_traces_takes_everything_with_them(store: TracingStore) -> None:
    old, new = new_id(), new_id()
    store.write_spans(
        [
            make_span(old, "old", start=utcnow() - timedelta(days=40)),
            make_span(new, "new", start=utcnow()),
        ]
    )
    store.feedback.log_feedback(old, "thumbs", True)
    assert store.delete_traces_before(utcnow() - timedelta(days=30)) == 1
    with pytest.raises(NotFound):
        store.get_trace(old)
    assert store.get_trace(new).span_count == 1
    with pytest.raises(NotFound):
        store.delete_trace(old)


def test_long_names_fit_their_columns(store: TracingStore) -> None:
    t = new_id()
    store.write_spans(
        [
            make_span(
                t,
                "n" * 1000,
                start=utcnow(),
                model="m" * 300,
                provider="p" * 300,
                context=TraceContext(user_id="u" * 300, tags={"k" * 300: "v" * 3000}),
            )
        ]
    )
    trace = store.get_trace(t)
    assert len(trace.spans[0].name) == 1000
    assert len(trace.spans[0].model or "") == 255
    assert len(trace.user_id or "") == 255
    assert trace.tags == {"k" * 250: "v" * 1000}


def test_sessions_are_listed_from_trace_totals(store: TracingStore) -> None:
    now = utcnow()
    for i, (session, user) in enumerate([("a", "u1"), ("b", "u2"), ("a", "u3"), (None, "u4")]):
        store.write_spans(
            [
                make_span(
                    new_id(),
                    f"turn-{i}",
                    start=now + timedelta(seconds=i),
                    inputs=f"q{i}",
                    outputs=f"r{i}",
                    input_tokens=2,
                    context=TraceContext(session_id=session, user_id=user),
                )
            ]
        )
    sessions = store.list_sessions()
    assert [s.session_id for s in sessions] == ["a", "b"]
    a = sessions[0]
    assert (a.trace_count, a.users, a.tokens) == (2, ["u1", "u3"], 4)
    assert (a.last_input_preview, a.last_output_preview) == ("q2", "r2")


def test_concurrent_batches_of_one_trace_keep_correct_totals(store: TracingStore) -> None:
    import threading

    t, now = new_id(), utcnow()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(5):
                store.write_spans([make_span(t, "s", start=now, input_tokens=10)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    trace = store.get_trace(t)
    assert trace.span_count == len(trace.spans) == 30
    assert trace.input_tokens == 300


def test_concurrent_feedback_counts_every_note(store: TracingStore) -> None:
    import threading

    t = new_id()
    store.write_spans([make_span(t, "x", start=utcnow())])
    threads = [
        threading.Thread(
            target=lambda: [store.feedback.log_feedback(t, "thumbs", True) for _ in range(5)]
        )
        for _ in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert store.get_trace(t).feedback_count == 20


def test_text_search_ignores_case_and_reads_non_ascii(store: TracingStore) -> None:
    t = new_id()
    store.write_spans(
        [
            make_span(
                t,
                "chat",
                start=utcnow(),
                inputs={"q": "Bonjour, où est le café?"},
                outputs='He said "hi"',
            )
        ]
    )
    for text in ("bonjour", "où est", 'said "hi"'):
        assert [x.trace_id for x in store.search_traces(TraceQuery(text=text)).traces] == [t], text


def test_a_remote_parent_does_not_hide_the_top_span(store: TracingStore) -> None:
    t, now = new_id(), utcnow()
    top = make_span(
        t,
        "POST /chat",
        parent=new_id()[:16],
        start=now,
        inputs="hello",
        outputs="hi",
        status="UNSET",
    )
    child = make_span(t, "llm", parent=top.span_id, start=now)
    store.write_spans([child, top])
    trace = store.get_trace(t)
    assert (trace.name, trace.input_preview, trace.output_preview) == ("POST /chat", "hello", "hi")
    assert trace.status == SpanStatus.OK  # finished, no error: OTel leaves UNSET


def test_costs_with_cached_and_reasoning_rates_and_snapshots(store: TracingStore) -> None:
    store.prices.set_price(
        ModelPrice(
            model="gpt-x",
            input_per_million=2.0,
            output_per_million=8.0,
            cached_input_per_million=0.5,
            reasoning_per_million=10.0,
            source="vendor",
        )
    )
    t = new_id()
    store.write_spans(
        [
            make_span(
                t,
                "llm",
                start=utcnow(),
                model="gpt-x-2025-01-31",
                input_tokens=1000,
                cached_tokens=400,
                output_tokens=300,
                reasoning_tokens=100,
            )
        ]
    )
    span = store.get_trace(t).spans[0]
    expected = (600 * 2.0 + 400 * 0.5 + 200 * 8.0 + 100 * 10.0) / 1e6
    assert span.cost == pytest.approx(expected)
    assert span.cost_source == "price table: gpt-x (vendor)"


def test_end_before_start_is_clamped(store: TracingStore) -> None:
    t, now = new_id(), utcnow()
    store.write_spans([make_span(t, "skewed", start=now, ms=-50)])
    assert store.get_trace(t).latency_ms == 0
