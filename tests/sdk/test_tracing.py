"""The tracing SDK, run in-process on SQLite and PostgreSQL and against a real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

import lmops
from lmops.core.errors import InvalidInput
from lmops.core.ids import new_id
from lmops.fluent.exporter import SpanExporter
from lmops.tracing.entities import Span, SpanStatus, SpanType, TraceDetail
from lmops.tracing.rows import span_row


def _only_trace(tag: str) -> TraceDetail:
    page = lmops.search_traces(tags={"test": tag})
    assert len(page.traces) == 1, page.traces
    return lmops.get_trace(page.traces[0].trace_id)


def test_nested_calls_make_one_trace(sdk: str) -> None:
    tag = new_id()

    @lmops.trace(span_type="LLM", name="generate")
    def generate(prompt: str, temperature: float = 0.0) -> str:
        return prompt.upper()

    @lmops.trace(span_type=SpanType.CHAIN)
    def answer(question: str) -> str:
        lmops.update_current_trace(
            user="alice", session="s-1", tags={"test": tag}, metadata={"app": "qa"}
        )
        with lmops.span("retrieve", type="RETRIEVER", inputs={"q": question}) as s:
            s.set_outputs(["doc-1", "doc-2"])
            s.set_usage(input=3)
        return generate(f"context + {question}", temperature=0.2)

    assert answer("why?") == "CONTEXT + WHY?"
    trace = _only_trace(tag)
    assert [s.name for s in trace.spans] == ["answer", "retrieve", "generate"]
    root, retrieve, gen = trace.spans
    assert root.parent_span_id is None
    assert retrieve.parent_span_id == root.span_id
    assert gen.parent_span_id == root.span_id
    assert gen.inputs == {"prompt": "context + why?", "temperature": 0.2}
    assert gen.outputs == "CONTEXT + WHY?"
    assert (gen.span_type, retrieve.span_type) == (SpanType.LLM, SpanType.RETRIEVER)
    assert retrieve.outputs == ["doc-1", "doc-2"]
    assert (trace.user_id, trace.session_id, trace.metadata) == ("alice", "s-1", {"app": "qa"})
    assert trace.input_tokens == 3
    assert trace.status == SpanStatus.OK


def test_exceptions_mark_the_span_and_propagate(sdk: str) -> None:
    tag = new_id()

    @lmops.trace
    def fail() -> None:
        lmops.update_current_trace(tags={"test": tag})
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        fail()
    trace = _only_trace(tag)
    span = trace.spans[0]
    assert span.status == SpanStatus.ERROR
    assert span.status_message == "ValueError: bad input"
    assert span.events[0].name == "exception"
    assert "ValueError" in span.events[0].attributes["exception.stacktrace"]
    assert trace.error_count == 1


def test_async_generators_and_tasks(sdk: str) -> None:
    tag = new_id()

    @lmops.trace
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    @lmops.trace
    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            yield f"tok{i}"

    @lmops.trace
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.01)
        return i * 2

    @lmops.trace
    async def root() -> list[int]:
        lmops.update_current_trace(tags={"test": tag})
        assert list(numbers(3)) == [0, 1, 2]
        assert [t async for t in stream(2)] == ["tok0", "tok1"]
        return await asyncio.gather(*(asyncio.create_task(leaf(i)) for i in range(3)))

    assert asyncio.run(root()) == [0, 2, 4]
    trace = _only_trace(tag)
    by_name: dict[str, list[Span]] = {}
    for s in trace.spans:
        by_name.setdefault(s.name.rsplit(".", 1)[-1], []).append(s)
    root_span = by_name["root"][0]
    assert by_name["numbers"][0].outputs == [0, 1, 2]
    assert by_name["stream"][0].outputs == ["tok0", "tok1"]
    assert len(by_name["leaf"]) == 3
    assert all(s.parent_span_id == root_span.span_id for s in trace.spans if s is not root_span)


def test_threads_join_the_trace_when_asked(sdk: str) -> None:
    tag = new_id()

    @lmops.trace
    def work(i: int) -> int:
        return i + 1

    with lmops.span("fan-out", type="CHAIN"):
        lmops.update_current_trace(tags={"test": tag})
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lmops.with_current_context(work), range(4)))
    assert results == [1, 2, 3, 4]
    trace = _only_trace(tag)
    assert len(trace.spans) == 5
    assert {s.parent_span_id for s in trace.spans[1:]} == {trace.spans[0].span_id}


def test_feedback_through_the_sdk(sdk: str) -> None:
    tag = new_id()
    with lmops.span("chat") as s:
        lmops.update_current_trace(tags={"test": tag})
        trace_id = s.trace_id
    lmops.log_feedback(trace_id, "thumbs", True, comment="nice")
    lmops.log_feedback(trace_id, "correction", correction={"output": "better answer"})
    trace = _only_trace(tag)
    assert [(f.name, f.kind.value) for f in trace.feedback] == [
        ("thumbs", "boolean"),
        ("correction", "correction"),
    ]
    assert trace.feedback_count == 2
    with pytest.raises(InvalidInput):
        lmops.log_feedback(trace_id, "score", "high", kind="numeric")


def test_update_outside_a_trace_is_a_clear_error(sdk: str) -> None:
    with pytest.raises(InvalidInput, match="no current trace"):
        lmops.update_current_trace(user="x")


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    release = threading.Event()
    written: list[int] = []

    def stuck_write(batch: object) -> None:
        release.wait()  # the store hangs until the test lets it go
        written.append(len(batch))  # type: ignore[arg-type]

    exporter = SpanExporter(stuck_write, max_queue=50, batch_size=10, interval=0.01)
    now = datetime.now(UTC)

    def app() -> None:
        for i in range(1000):
            exporter.put(
                span_row(Span(trace_id=new_id(), span_id=f"{i:016x}", name="s", start_time=now))
            )

    caller = threading.Thread(target=app)
    caller.start()
    caller.join(timeout=60)  # liveness, not timing: a blocking put would never get here
    assert not caller.is_alive()
    assert exporter.stats.dropped >= 900
    release.set()
    exporter.flush()
    assert exporter.stats.exported == sum(written) == exporter.stats.queued
    exporter.close()


def test_a_paused_generator_is_not_the_current_span(sdk: str) -> None:
    from lmops.tracing.live import current_span

    @lmops.trace
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    @lmops.trace
    def unrelated() -> str | None:
        return lmops.get_current_trace_id()

    gen = numbers()
    assert next(gen) == 1
    assert current_span() is None  # the generator is paused: its span is not current
    other = unrelated()
    assert list(gen) == [2]
    lmops.flush()
    assert other is not None
    assert lmops.get_trace(other).span_count == 1


def test_one_bad_span_does_not_sink_its_batch(sdk: str) -> None:
    tag = new_id()
    for i in range(5):
        with lmops.span("ok") as s:
            lmops.update_current_trace(tags={"test": tag})
            if i == 2:
                s.set_usage(input=2**70)  # no database column holds this
    lmops.flush()
    assert len(lmops.search_traces(tags={"test": tag}).traces) == 4
