"""Record the official `openai` client's chat, completion and embedding calls as GenAI spans.

`patch()` replaces `create` on the client's resource classes with a wrapper that records one
span per call, a child of the caller's current span; `unpatch()` puts the originals back.
A streamed answer stays the client's own `Stream` object (context manager, `close()` and
iteration unchanged): its iterator is swapped for one that records the chunks as they pass,
and the span ends when the stream is exhausted, closed or collected.
"""

from __future__ import annotations

import functools
import importlib
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from lmops.core.errors import MissingExtra
from lmops.fluent.tracing import end_span
from lmops.tracing.entities import SpanType
from lmops.tracing.live import LiveSpan, current_span

try:
    import openai
except ImportError as exc:  # pragma: no cover - the dev install has openai
    raise MissingExtra("lmops.instrument('openai')", "openai") from exc

# Request arguments that are transport settings (and may carry credentials), not the request.
_NOT_INPUTS = frozenset({"extra_headers", "extra_query", "timeout"})


class _StreamAccumulator(Protocol):
    """Builds the outputs of a streamed answer from its chunks."""

    def add(self, chunk: Any) -> None: ...
    def record(self, live: LiveSpan) -> None: ...


def _record_chat(live: LiveSpan, response: Any) -> None:
    choices = [
        {
            "index": choice.index,
            "finish_reason": choice.finish_reason,
            "message": choice.message.model_dump(exclude_none=True),
        }
        for choice in response.choices
    ]
    live.set_outputs({"choices": choices})
    _record_response(live, response, [c["finish_reason"] for c in choices])


def _record_text(live: LiveSpan, response: Any) -> None:
    choices = [
        {"index": choice.index, "finish_reason": choice.finish_reason, "text": choice.text}
        for choice in response.choices
    ]
    live.set_outputs({"choices": choices})
    _record_response(live, response, [c["finish_reason"] for c in choices])


def _record_embeddings(live: LiveSpan, response: Any) -> None:
    # The vectors themselves would dwarf every other span: keep their count and size.
    first = response.data[0].embedding if response.data else None
    dimensions = len(first) if isinstance(first, list) else None
    live.set_outputs({"count": len(response.data), "dimensions": dimensions})
    _record_response(live, response, [])


def _record_response(live: LiveSpan, response: Any, finish_reasons: list[Any]) -> None:
    model = getattr(response, "model", None)
    if model:
        live.set_model(model)
    attributes = {
        "gen_ai.response.model": model,
        "gen_ai.response.id": getattr(response, "id", None),
        "gen_ai.response.finish_reasons": [r for r in finish_reasons if r] or None,
    }
    live.set_attributes({k: v for k, v in attributes.items() if v is not None})
    _record_usage(live, getattr(response, "usage", None))


def _record_usage(live: LiveSpan, usage: Any) -> None:
    if usage is None:
        return
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    live.set_usage(
        input=getattr(usage, "prompt_tokens", None),
        output=getattr(usage, "completion_tokens", None),
        cached=getattr(prompt_details, "cached_tokens", None),
        reasoning=getattr(completion_details, "reasoning_tokens", None),
    )


class _ChatStream:
    """Joins chat deltas (content and tool-call fragments) back into messages."""

    def __init__(self) -> None:
        self.choices: dict[int, dict[str, Any]] = {}
        self.last: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        self.last = chunk
        self.usage = getattr(chunk, "usage", None) or self.usage
        for choice in chunk.choices or []:
            slot = self.choices.setdefault(
                choice.index,
                {"role": "assistant", "content": [], "tool_calls": {}, "finish_reason": None},
            )
            delta = choice.delta
            if delta is not None:
                slot["role"] = delta.role or slot["role"]
                if delta.content:
                    slot["content"].append(delta.content)
                for call in delta.tool_calls or []:
                    _add_tool_call(slot["tool_calls"], call)
            slot["finish_reason"] = choice.finish_reason or slot["finish_reason"]

    def record(self, live: LiveSpan) -> None:
        choices = []
        for index, slot in sorted(self.choices.items()):
            message: dict[str, Any] = {"role": slot["role"], "content": "".join(slot["content"])}
            if slot["tool_calls"]:
                message["tool_calls"] = [slot["tool_calls"][i] for i in sorted(slot["tool_calls"])]
            choices.append(
                {"index": index, "finish_reason": slot["finish_reason"], "message": message}
            )
        live.set_outputs({"choices": choices})
        _record_response(live, self.last, [c["finish_reason"] for c in choices])
        _record_usage(live, self.usage)


def _add_tool_call(calls: dict[int, dict[str, Any]], delta: Any) -> None:
    call = calls.setdefault(
        delta.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
    )
    call["id"] = delta.id or call["id"]
    if delta.function is not None:
        call["function"]["name"] += delta.function.name or ""
        call["function"]["arguments"] += delta.function.arguments or ""


class _TextStream:
    """Joins streamed text completions."""

    def __init__(self) -> None:
        self.texts: dict[int, list[str]] = {}
        self.finish_reasons: dict[int, str | None] = {}
        self.last: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        self.last = chunk
        self.usage = getattr(chunk, "usage", None) or self.usage
        for choice in chunk.choices or []:
            self.texts.setdefault(choice.index, []).append(choice.text or "")
            self.finish_reasons[choice.index] = choice.finish_reason or self.finish_reasons.get(
                choice.index
            )

    def record(self, live: LiveSpan) -> None:
        choices = [
            {"index": i, "finish_reason": self.finish_reasons.get(i), "text": "".join(parts)}
            for i, parts in sorted(self.texts.items())
        ]
        live.set_outputs({"choices": choices})
        _record_response(live, self.last, [c["finish_reason"] for c in choices])
        _record_usage(live, self.usage)


@dataclass(frozen=True)
class _Endpoint:
    module: str
    classes: tuple[str, str]  # the sync and the async resource class
    name: str
    span_type: SpanType
    operation: str
    record: Callable[[LiveSpan, Any], None]
    stream: type[_StreamAccumulator] | None


_ENDPOINTS = (
    _Endpoint(
        "openai.resources.chat.completions",
        ("Completions", "AsyncCompletions"),
        "openai.chat.completions",
        SpanType.CHAT_MODEL,
        "chat",
        _record_chat,
        _ChatStream,
    ),
    _Endpoint(
        "openai.resources.completions",
        ("Completions", "AsyncCompletions"),
        "openai.completions",
        SpanType.LLM,
        "text_completion",
        _record_text,
        _TextStream,
    ),
    _Endpoint(
        "openai.resources.embeddings",
        ("Embeddings", "AsyncEmbeddings"),
        "openai.embeddings",
        SpanType.EMBEDDING,
        "embeddings",
        _record_embeddings,
        None,
    ),
)

_originals: dict[tuple[type[Any], str], Callable[..., Any]] = {}


def patch() -> None:
    """Wrap `create` of every endpoint below (idempotent)."""
    for endpoint in _ENDPOINTS:
        module = importlib.import_module(endpoint.module)
        sync_cls, async_cls = (getattr(module, name) for name in endpoint.classes)
        for cls, wrap in ((sync_cls, _wrap_sync), (async_cls, _wrap_async)):
            if (cls, "create") in _originals:
                continue
            original = cls.__dict__["create"]
            _originals[(cls, "create")] = original
            cls.create = wrap(endpoint, original)


def unpatch() -> None:
    """Put the client's own `create` methods back."""
    while _originals:
        (cls, attr), original = _originals.popitem()
        setattr(cls, attr, original)


def _wrap_sync(endpoint: _Endpoint, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        live = _open(endpoint, self, kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            live.record_exception(exc)
            end_span(live)
            raise
        if endpoint.stream is not None and isinstance(result, openai.Stream):
            _trace_stream(result, _Recorder(live, endpoint.stream()))
        else:
            _close(endpoint, live, result)
        return result

    return create


def _wrap_async(endpoint: _Endpoint, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        live = _open(endpoint, self, kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            live.record_exception(exc)
            end_span(live)
            raise
        if endpoint.stream is not None and isinstance(result, openai.AsyncStream):
            _trace_async_stream(result, _Recorder(live, endpoint.stream()))
        else:
            _close(endpoint, live, result)
        return result

    return create


def _open(endpoint: _Endpoint, resource: Any, kwargs: dict[str, Any]) -> LiveSpan:
    live = LiveSpan(endpoint.name, endpoint.span_type, parent=current_span())
    inputs = {
        key: value
        for key, value in kwargs.items()
        if key not in _NOT_INPUTS and not isinstance(value, openai.Omit | openai.NotGiven)
    }
    live.set_inputs(inputs)
    host = _host(resource)
    live.set_model(kwargs.get("model"), "openai" if host == "api.openai.com" else host)
    live.set_attributes(
        {
            "gen_ai.operation.name": endpoint.operation,
            "gen_ai.request.model": kwargs.get("model"),
            "server.address": host,
        }
    )
    return live


def _host(resource: Any) -> str:
    try:
        return str(resource._client.base_url.host) or "openai"
    except AttributeError:
        return "openai"


def _close(endpoint: _Endpoint, live: LiveSpan, result: Any) -> None:
    # `with_raw_response` and `with_streaming_response` hand back an unread HTTP response:
    # reading it here would take it from the caller, so such a span keeps only its request.
    if isinstance(result, openai.BaseModel):
        _guarded(live, lambda: endpoint.record(live, result))
    else:
        live.set_attribute("lmops.openai.raw_response", True)
    end_span(live)


def _guarded(live: LiveSpan, record: Callable[[], None]) -> None:
    """Record, but never let an answer shape we did not foresee fail the caller's call."""
    try:
        record()
    except Exception as exc:
        live.set_attribute("lmops.instrument.error", f"{type(exc).__name__}: {exc}")


class _Recorder:
    """Collects one streamed answer and ends its span exactly once."""

    def __init__(self, live: LiveSpan, accumulator: _StreamAccumulator) -> None:
        self.live = live
        self.accumulator = accumulator
        self.started = time.perf_counter()
        self.chunks = 0
        self.ended = False

    def add(self, chunk: Any) -> None:
        if self.chunks == 0:
            ttft_ms = (time.perf_counter() - self.started) * 1000
            self.live.set_attribute("gen_ai.response.time_to_first_token_ms", round(ttft_ms, 3))
        self.chunks += 1
        _guarded(self.live, lambda: self.accumulator.add(chunk))

    def end(self, error: BaseException | None = None, *, complete: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        _guarded(self.live, lambda: self.accumulator.record(self.live))
        self.live.set_attribute("gen_ai.response.chunks", self.chunks)
        if not complete and error is None:
            self.live.set_attribute("lmops.stream.closed_early", True)
        if error is not None:
            self.live.record_exception(error)
        end_span(self.live)


def _untraceable(stream: Any, recorder: _Recorder) -> bool:
    """A client whose streams lack the iterator we swap: keep the span, skip its chunks."""
    if hasattr(stream, "_iterator"):
        return False
    recorder.live.set_attribute("lmops.stream.untraced", True)
    recorder.end(complete=True)
    return True


def _trace_stream(stream: Any, recorder: _Recorder) -> None:
    if _untraceable(stream, recorder):
        return
    chunks: Iterator[Any] = stream._iterator

    def recorded() -> Iterator[Any]:
        try:
            for chunk in chunks:
                recorder.add(chunk)
                yield chunk
        except GeneratorExit:
            recorder.end()
            raise
        except BaseException as exc:
            recorder.end(exc)
            raise
        recorder.end(complete=True)

    close = stream.close

    def traced_close() -> None:
        try:
            close()
        finally:
            recorder.end()

    stream._iterator = recorded()
    stream.close = traced_close
    weakref.finalize(stream, recorder.end).atexit = False


def _trace_async_stream(stream: Any, recorder: _Recorder) -> None:
    if _untraceable(stream, recorder):
        return
    chunks: AsyncIterator[Any] = stream._iterator

    async def recorded() -> AsyncIterator[Any]:
        try:
            async for chunk in chunks:
                recorder.add(chunk)
                yield chunk
        except GeneratorExit:
            recorder.end()
            raise
        except BaseException as exc:
            recorder.end(exc)
            raise
        recorder.end(complete=True)

    close = stream.close

    async def traced_close() -> None:
        try:
            await close()
        finally:
            recorder.end()

    stream._iterator = recorded()
    stream.close = traced_close
    weakref.finalize(stream, recorder.end).atexit = False
