"""Projects in the tracing store: traces, sessions and feedback stay in their project."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from lmops.core.errors import Conflict, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.tracing import ingest
from lmops.tracing.entities import FeedbackConfig, FeedbackKind, TraceContext, TraceQuery
from lmops.tracing.store import TracingStore
from tests.tracing.test_store import make_span


@pytest.fixture
def a(engine: Engine) -> TracingStore:
    return TracingStore(engine).in_project("a")


@pytest.fixture
def b(a: TracingStore) -> TracingStore:
    return a.in_project("b")


def a_trace(store: TracingStore, session: str = "chat-1") -> str:
    trace_id, now = new_id(), utcnow() - timedelta(minutes=1)
    store.write_spans(
        [
            make_span(
                trace_id,
                "agent",
                start=now,
                inputs="a's question",
                model="m1",
                context=TraceContext(user_id="ann", session_id=session, tags={"team": "a"}),
            )
        ]
    )
    return trace_id


def test_reads_name_only_the_projects_traces(a: TracingStore, b: TracingStore) -> None:
    trace_id = a_trace(a)
    assert a.get_trace(trace_id).span_count == 1
    with pytest.raises(NotFound) as hidden:
        b.get_trace(trace_id)
    assert str(hidden.value) == f"no trace with id {trace_id!r}"
    for query in (
        TraceQuery(),
        TraceQuery(session_id="chat-1"),
        TraceQuery(user_id="ann"),
        TraceQuery(tags={"team": "a"}),
        TraceQuery(model="m1"),
        TraceQuery(text="question"),
    ):
        assert [t.trace_id for t in a.search_traces(query).traces] == [trace_id], query
        assert b.search_traces(query).traces == [], query
    assert [s.session_id for s in a.list_sessions()] == ["chat-1"]
    assert b.list_sessions() == []
    with pytest.raises(NotFound):
        b.get_session("chat-1")


def test_one_session_id_in_two_projects(a: TracingStore, b: TracingStore) -> None:
    mine, theirs = a_trace(a), a_trace(b)
    assert [t.trace_id for t in a.get_session("chat-1")] == [mine]
    assert [t.trace_id for t in b.get_session("chat-1")] == [theirs]
    (session,) = b.list_sessions()
    assert session.trace_count == 1 and session.users == ["ann"]


def test_deletes_stay_in_the_project(a: TracingStore, b: TracingStore) -> None:
    old_a, old_b = a_trace(a), a_trace(b)
    with pytest.raises(NotFound):
        b.delete_trace(old_a)
    assert b.delete_traces_before(utcnow()) == 1
    assert a.get_trace(old_a).trace_id == old_a
    with pytest.raises(NotFound):
        b.get_trace(old_b)
    a_trace(b)
    # retention, the server's policy, sweeps every project
    assert b.delete_traces_before(utcnow(), every_project=True) == 2
    assert a.search_traces().traces == [] and b.search_traces().traces == []


def test_a_trace_id_of_another_project_is_refused(a: TracingStore, b: TracingStore) -> None:
    trace_id = a_trace(a)
    before = a.get_trace(trace_id)
    mine, now = new_id(), utcnow()
    intruder = make_span(trace_id, "intruder", start=now, outputs="b's answer")
    with pytest.raises(Conflict, match=f"trace id {trace_id} is taken outside project 'b'"):
        b.write_spans([make_span(mine, "fine", start=now), intruder])
    # nothing of the batch was written, and a's trace is as it was
    assert a.get_trace(trace_id) == before
    with pytest.raises(NotFound):
        b.get_trace(mine)
    # OTLP keeps the rest of the batch and reports the refused span (partial success)
    refused = ingest.write_spans(b, [make_span(mine, "fine", start=now), intruder])
    assert len(refused) == 1 and intruder.span_id in refused[0] and "taken" in refused[0]
    assert b.get_trace(mine).span_count == 1
    assert a.get_trace(trace_id) == before


def test_feedback_needs_a_trace_of_the_project(a: TracingStore, b: TracingStore) -> None:
    trace_id = a_trace(a)
    a.feedback.log_feedback(trace_id, "thumbs", True)
    with pytest.raises(NotFound):
        b.feedback.log_feedback(trace_id, "thumbs", False)
    with pytest.raises(NotFound):
        b.feedback.create_token(trace_id)
    assert b.feedback.list_feedback(trace_id) == []
    assert [f.value for f in a.feedback.list_feedback(trace_id)] == [True]
    assert a.get_trace(trace_id).feedback_count == 1

    # the token is the credential: redeeming it works whatever project the store is in
    token = a.feedback.create_token(trace_id)
    note = b.feedback.log_with_token(token, "thumbs", False)
    assert note.trace_id == trace_id
    assert [f.value for f in a.feedback.list_feedback(trace_id)] == [True, False]
    assert b.feedback.list_feedback(trace_id) == []


def test_feedback_configs_and_prices_are_server_wide(a: TracingStore, b: TracingStore) -> None:
    a.feedback.set_config(FeedbackConfig(name="stars", kind=FeedbackKind.NUMERIC, max_value=5))
    assert [c.name for c in b.feedback.list_configs()] == ["stars"]
    assert b.prices is a.prices
    assert (a.feedback.project, b.feedback.project) == ("a", "b")


def race(stores: tuple[TracingStore, ...], trace_id: str) -> tuple[list[str], list[str]]:
    """Each store writes a first batch of `trace_id` at once: (projects that won, lost)."""
    now, start = utcnow(), threading.Barrier(len(stores))
    won: list[str] = []
    lost: list[str] = []

    def write(store: TracingStore) -> None:
        spans = [make_span(trace_id, store.project, start=now) for _ in range(3)]
        start.wait()
        try:
            store.write_spans(spans)
            won.append(store.project)
        except Conflict:
            lost.append(store.project)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, lost


def test_two_projects_racing_for_one_new_trace_id(a: TracingStore, b: TracingStore) -> None:
    """Whichever first batch commits first owns the id; the other is refused, never merged."""
    for _ in range(10):
        trace_id = new_id()
        won, lost = race((a, b), trace_id)
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        owner = a.in_project(won[0])
        assert {s.name for s in owner.get_trace(trace_id).spans} == {won[0]}
        assert owner.get_trace(trace_id).span_count == 3
