"""`lmops.instrument("openai")`: the real `openai` client against a fake OpenAI server we start,
recorded into the store in-process (SQLite, PostgreSQL) and through a live lmops server."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

import lmops
from lmops.core.errors import InvalidInput, MissingExtra
from lmops.core.ids import new_id
from lmops.fluent.instrument import instrument, instrumented, uninstrument
from lmops.tracing.entities import Span, SpanStatus, SpanType, TraceDetail
from lmops.tracing.live import LiveSpan
from tests.conftest import free_port

API_KEY = "sk-test-never-stored"
USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 3},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
TOOL_CALL_PARTS = ['{"ci', 'ty": "Paris"}']


# --- the fake OpenAI-compatible server ------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "test_error"}}, status_code=status)


def _refusal(model: str) -> JSONResponse | None:
    if model == "missing-model":
        return _error(404, "The model `missing-model` does not exist")
    if model == "crashing-model":
        return _error(500, "the fake server crashed")
    return None


def _reply(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    last = messages[-1]["content"] if messages else body.get("prompt", "")
    return f"echo: {last}"


def _sse(events: list[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        for event in events:
            yield f"data: {json.dumps(event)}\n\n"
            await asyncio.sleep(0.005)
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _chat_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
    head["model"] = f"{body['model']}-0613"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    if body.get("tools"):
        call = {"index": 0, "id": "call_1", "type": "function"}
        events.append(chunk({"tool_calls": [{**call, "function": {"name": "weather"}}]}))
        for part in TOOL_CALL_PARTS:
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
        events.append(chunk({}, "tool_calls"))
    else:
        first, *rest = _reply(body).split(" ")
        events += [chunk({"content": piece}) for piece in [first, *(" " + w for w in rest)]]
        events.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append({**head, "choices": [], "usage": USAGE})
    return events


def _fake_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        if (refused := _refusal(body["model"])) is not None:
            return refused
        if body.get("stream"):
            return _sse(_chat_chunks(body))
        message = {"role": "assistant", "content": _reply(body)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1}
        answer |= {"model": f"{body['model']}-0613", "choices": [choice], "usage": USAGE}
        return JSONResponse(answer)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        if (refused := _refusal(body["model"])) is not None:
            return refused
        head = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": body["model"]}
        if body.get("stream"):
            texts = ["echo:", " ", body["prompt"]]
            events = [
                {**head, "choices": [{"index": 0, "text": t, "finish_reason": None}]} for t in texts
            ]
            events[-1]["choices"][0]["finish_reason"] = "length"
            events.append({**head, "choices": [], "usage": USAGE})
            return _sse(events)
        choice = {"index": 0, "text": _reply(body), "finish_reason": "stop"}
        return JSONResponse({**head, "choices": [choice], "usage": USAGE})

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = [[float(len(text)), 0.5, 0.25, 0.125] for text in inputs]
        if body.get("encoding_format") == "base64":  # what the client asks for by default
            encoded: list[Any] = [
                base64.b64encode(struct.pack("<4f", *v)).decode() for v in vectors
            ]
        else:
            encoded = vectors
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(encoded)]
        usage = {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)}
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    return app


@pytest.fixture(scope="module")
def fake_openai_url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(_fake_app(), port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake OpenAI server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def instrumented_openai() -> Iterator[None]:
    instrument("openai")
    yield
    uninstrument("openai")


@pytest.fixture
def client(fake_openai_url: str, instrumented_openai: None) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai_url, api_key=API_KEY, max_retries=0) as c:
        yield c


def _async_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0)


# --- helpers --------------------------------------------------------------------------------


def _tagged_trace(tag: str) -> TraceDetail:
    page = lmops.search_traces(tags={"test": tag})
    assert len(page.traces) == 1, page.traces
    return lmops.get_trace(page.traces[0].trace_id)


def _children(trace: TraceDetail) -> list[Span]:
    root = next(s for s in trace.spans if s.parent_span_id is None)
    assert root.name == "app"
    children = [s for s in trace.spans if s is not root]
    assert all(s.parent_span_id == root.span_id for s in children)
    return sorted(children, key=lambda s: s.start_time)


@contextmanager
def _app_span(tag: str) -> Iterator[LiveSpan]:
    """An outer span tagged so that the test finds its trace on a shared server."""
    with lmops.span("app", type=SpanType.CHAIN) as live:
        lmops.update_current_trace(tags={"test": tag})
        yield live


def _assert_usage(span: Span) -> None:
    assert (span.input_tokens, span.output_tokens) == (11, 7)
    assert (span.cached_tokens, span.reasoning_tokens) == (3, 2)


# --- tests ----------------------------------------------------------------------------------


def test_chat_completion_becomes_a_chat_span_under_the_caller(
    sdk: str, client: openai.OpenAI
) -> None:
    tag = new_id()
    messages: Any = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    with _app_span(tag):
        answer = client.chat.completions.create(
            model="gpt-test", messages=messages, temperature=0.2
        )
    assert answer.choices[0].message.content == "echo: hi"

    trace = _tagged_trace(tag)
    (span,) = _children(trace)
    assert (span.name, span.span_type, span.status) == (
        "openai.chat.completions",
        SpanType.CHAT_MODEL,
        SpanStatus.OK,
    )
    assert span.inputs == {"model": "gpt-test", "messages": messages, "temperature": 0.2}
    assert span.outputs == {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "echo: hi"},
            }
        ]
    }
    assert (span.model, span.provider) == ("gpt-test-0613", "127.0.0.1")
    _assert_usage(span)
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.request.model"] == "gpt-test"
    assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert (trace.input_tokens, trace.output_tokens) == (11, 7)
    assert API_KEY not in trace.model_dump_json()


def test_a_call_outside_any_span_starts_its_own_trace(sdk: str, client: openai.OpenAI) -> None:
    model = f"gpt-{new_id()[:12]}"
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    page = lmops.search_traces(model=f"{model}-0613")
    assert len(page.traces) == 1
    (span,) = lmops.get_trace(page.traces[0].trace_id).spans
    assert span.parent_span_id is None
    assert span.name == "openai.chat.completions"


@pytest.mark.parametrize(
    ("model", "error"),
    [("missing-model", openai.NotFoundError), ("crashing-model", openai.InternalServerError)],
)
def test_an_error_answer_fails_the_span_and_reaches_the_caller(
    sdk: str, client: openai.OpenAI, model: str, error: type[Exception]
) -> None:
    tag = new_id()
    with _app_span(tag), pytest.raises(error):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    trace = _tagged_trace(tag)
    (span,) = _children(trace)
    assert span.status == SpanStatus.ERROR
    assert error.__name__ in (span.status_message or "")
    assert span.events[0].name == "exception"
    assert span.model == model
    assert trace.error_count >= 1


def test_a_stream_records_its_content_usage_and_first_token(
    sdk: str, client: openai.OpenAI
) -> None:
    tag = new_id()
    with _app_span(tag):
        stream = client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "tell me more"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.Stream)  # the client's own object, still
        with stream:
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "echo: tell me more"

    (span,) = _children(_tagged_trace(tag))
    assert span.status == SpanStatus.OK
    message = span.outputs["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "echo: tell me more"}
    assert span.outputs["choices"][0]["finish_reason"] == "stop"
    assert span.inputs["stream"] is True
    _assert_usage(span)
    assert span.model == "gpt-test-0613"
    assert span.attributes["gen_ai.response.time_to_first_token_ms"] > 0
    assert span.attributes["gen_ai.response.chunks"] == 7
    assert "lmops.stream.closed_early" not in span.attributes


def test_a_streamed_tool_call_is_joined_back(sdk: str, client: openai.OpenAI) -> None:
    tag = new_id()
    tool = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    with _app_span(tag):
        for _ in client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[tool],  # type: ignore[list-item]
            stream=True,
        ):
            pass
    (span,) = _children(_tagged_trace(tag))
    choice = span.outputs["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "weather", "arguments": "".join(TOOL_CALL_PARTS)},
        }
    ]
    assert span.input_tokens is None  # this stream carried no usage


def test_a_stream_closed_early_ends_its_span_with_what_came(
    sdk: str, client: openai.OpenAI
) -> None:
    tag = new_id()
    with _app_span(tag):
        stream = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        first = next(stream)
        second = next(stream)
        stream.close()
    assert first.choices[0].delta.role == "assistant"
    (span,) = _children(_tagged_trace(tag))
    assert span.status == SpanStatus.OK
    assert span.outputs["choices"][0]["message"]["content"] == second.choices[0].delta.content
    assert span.attributes["lmops.stream.closed_early"] is True


def test_async_calls_and_streams(sdk: str, fake_openai_url: str, instrumented_openai: None) -> None:
    tag = new_id()
    messages: Any = [{"role": "user", "content": "async"}]

    async def app() -> list[str]:
        async with _async_client(fake_openai_url) as aclient:
            with _app_span(tag):
                whole = await aclient.chat.completions.create(model="gpt-a", messages=messages)
                stream = await aclient.chat.completions.create(
                    model="gpt-a",
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                assert isinstance(stream, openai.AsyncStream)
                async with stream:
                    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                early = await aclient.chat.completions.create(
                    model="gpt-a", messages=messages, stream=True
                )
                await anext(early)
                await early.close()
                await aclient.embeddings.create(model="emb-a", input=["one", "three"])
        return [whole.choices[0].message.content or "", "".join(pieces)]

    assert asyncio.run(app()) == ["echo: async", "echo: async"]
    whole, streamed, early, embedded = _children(_tagged_trace(tag))
    assert whole.outputs["choices"][0]["message"]["content"] == "echo: async"
    assert streamed.outputs["choices"][0]["message"]["content"] == "echo: async"
    _assert_usage(whole)
    _assert_usage(streamed)
    assert early.attributes["lmops.stream.closed_early"] is True
    assert embedded.span_type == SpanType.EMBEDDING
    assert embedded.outputs == {"count": 2, "dimensions": 4}
    assert all(s.status == SpanStatus.OK for s in (whole, streamed, early, embedded))


def test_text_completions_and_embeddings(sdk: str, client: openai.OpenAI) -> None:
    tag = new_id()
    with _app_span(tag):
        text = client.completions.create(model="davinci-test", prompt="once", max_tokens=5)
        streamed = "".join(
            c.choices[0].text
            for c in client.completions.create(model="davinci-test", prompt="twice", stream=True)
            if c.choices
        )
        vectors = client.embeddings.create(model="emb-test", input=["a", "bb", "ccc"])
    assert text.choices[0].text == "echo: once"
    assert streamed == "echo: twice"
    assert len(vectors.data[0].embedding) == 4

    completion, stream, embedding = _children(_tagged_trace(tag))
    assert (completion.name, completion.span_type) == ("openai.completions", SpanType.LLM)
    assert completion.inputs == {"model": "davinci-test", "prompt": "once", "max_tokens": 5}
    assert completion.outputs == {
        "choices": [{"index": 0, "finish_reason": "stop", "text": "echo: once"}]
    }
    _assert_usage(completion)
    assert stream.outputs == {
        "choices": [{"index": 0, "finish_reason": "length", "text": "echo: twice"}]
    }
    _assert_usage(stream)
    assert (embedding.name, embedding.span_type) == ("openai.embeddings", SpanType.EMBEDDING)
    assert embedding.inputs == {"model": "emb-test", "input": ["a", "bb", "ccc"]}
    assert embedding.outputs == {"count": 3, "dimensions": 4}
    assert (embedding.input_tokens, embedding.output_tokens) == (15, None)
    assert embedding.model == "emb-test"


def test_instrumenting_is_idempotent_and_reversible(fake_openai_url: str, tmp_path: Path) -> None:
    from openai.resources.chat.completions import Completions

    lmops.configure(home=tmp_path / "home", uri="")
    original = Completions.create
    try:
        instrument("openai")
        wrapped = Completions.create
        instrument("OpenAI")
        assert Completions.create is wrapped
        assert wrapped is not original
        assert instrumented() == ["openai"]
        uninstrument("openai")
        uninstrument("openai")
        assert Completions.create is original
        assert instrumented() == []
        with openai.OpenAI(base_url=fake_openai_url, api_key=API_KEY) as plain:
            plain.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert lmops.search_traces().traces == []
    finally:
        uninstrument("openai")
        lmops.configure(home=tmp_path / "home", uri="")


def test_a_raw_response_stays_the_callers_to_read(sdk: str, client: openai.OpenAI) -> None:
    tag = new_id()
    with _app_span(tag):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-raw", messages=[{"role": "user", "content": "raw"}]
        )
    assert raw.parse().choices[0].message.content == "echo: raw"
    (span,) = _children(_tagged_trace(tag))
    assert span.inputs["model"] == "gpt-raw"
    assert span.attributes["lmops.openai.raw_response"] is True
    assert span.status == SpanStatus.OK


def test_without_openai_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "lmops.fluent.instrument.openai", raising=False)
    with pytest.raises(MissingExtra, match=r"lmops\[openai\]"):
        importlib.import_module("lmops.fluent.instrument.openai")


def test_an_unknown_library_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="known libraries are langchain, openai"):
        instrument("anthropic")
