"""The OpenAI API over a set of backends: routes a request by its `model`, counts it in the
metrics, and records it as a GenAI span (tokens, latency, time to first token, the model
version that answered, the caller's prompt version and user).

The server's routes parse bodies and hand them here; this module has no web framework in it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from lmops.serving.backends import Backend, ServedModel
from lmops.serving.metrics import ServingMetrics
from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIError,
    model_not_found,
)
from lmops.tracing.entities import SpanStatus, SpanType
from lmops.tracing.live import LiveSpan
from lmops.tracing.rows import SpanRow

SpanSink = Callable[[SpanRow], None]
_ROUTES = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}


@dataclass(frozen=True)
class Caller:
    """Who asked, as far as tracing is concerned."""

    user: str | None = None
    prompt_version: str | None = None
    endpoint: str | None = None


class OpenAIService:
    def __init__(
        self,
        backends: list[Backend],
        *,
        metrics: ServingMetrics | None = None,
        record: SpanSink | None = None,
        provider: str = "lmops",
    ) -> None:
        self._backends = backends
        self.metrics = metrics or ServingMetrics()
        self._record = record
        self._provider = provider

    def models(self) -> list[ServedModel]:
        return [m for b in self._backends for m in b.models()]

    def _find(self, model: str) -> tuple[Backend, ServedModel]:
        for backend in self._backends:
            for served in backend.models():
                if served.id == model:
                    return backend, served
        raise model_not_found(model)

    def close(self) -> None:
        for backend in self._backends:
            backend.close()

    async def generate(
        self, request: ChatRequest | CompletionRequest, caller: Caller
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat or text completion: the response body, or SSE bytes when it streams."""
        backend, served = self._find(request.model)
        call = _Call(self, request, served, caller)
        try:
            if isinstance(request, ChatRequest):
                answer = await backend.chat(request)
            else:
                answer = await backend.complete(request)
        except OpenAIError as exc:
            call.failed(exc)
            raise
        if isinstance(answer, dict):
            call.finished(answer.get("usage") or {}, _texts(answer))
            return answer
        return call.sse(answer)

    async def embed(self, request: EmbeddingRequest, caller: Caller) -> dict[str, Any]:
        backend, served = self._find(request.model)
        call = _Call(self, request, served, caller)
        try:
            answer = await backend.embed(request)
        except OpenAIError as exc:
            call.failed(exc)
            raise
        call.finished(answer.get("usage") or {}, None)
        return answer


class _Call:
    """One request being answered: its metrics and its span."""

    def __init__(
        self,
        service: OpenAIService,
        request: ChatRequest | CompletionRequest | EmbeddingRequest,
        served: ServedModel,
        caller: Caller,
    ) -> None:
        self.service = service
        self.request = request
        self.served = served
        self.started = time.perf_counter()
        self.route = _ROUTES.get(request.kind, "/v1/embeddings")
        self.ttft: float | None = None
        self.span = self._open_span(caller)

    def _open_span(self, caller: Caller) -> LiveSpan | None:
        if self.service._record is None:
            return None
        request = self.request
        kinds = {"chat": SpanType.CHAT_MODEL, "completion": SpanType.LLM}
        operation = {"chat": "chat", "completion": "text_completion"}.get(
            request.kind, "embeddings"
        )
        live = LiveSpan(f"{operation} {request.model}", kinds.get(request.kind, SpanType.EMBEDDING))
        live.set_model(request.model, self.service._provider)
        if isinstance(request, ChatRequest):
            live.set_inputs(
                {"messages": [m.model_dump(exclude_none=True) for m in request.messages]}
            )
        elif isinstance(request, CompletionRequest):
            live.set_inputs({"prompt": request.text()})
        else:
            live.set_inputs({"input": request.texts()})
        attributes: dict[str, Any] = {"gen_ai.operation.name": operation}
        if not isinstance(request, EmbeddingRequest):
            attributes.update(
                {
                    "gen_ai.request.temperature": request.temperature,
                    "gen_ai.request.top_p": request.top_p,
                    "gen_ai.request.max_tokens": request.output_limit(),
                    "lmops.stream": request.stream,
                }
            )
            if request.seed is not None:
                attributes["gen_ai.request.seed"] = request.seed
        live.set_attributes(attributes)
        live.trace.update(user=caller.user or request.user, prompt_version=caller.prompt_version)
        live.trace.context.model_version = self.served.version
        live.trace.context.endpoint = caller.endpoint
        return live

    def first_token(self) -> None:
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.started
            self.service.metrics.ttft.labels(self.request.model).observe(self.ttft)

    def finished(self, usage: dict[str, Any], texts: list[str] | None) -> None:
        m, model = self.service.metrics, self.request.model
        elapsed = time.perf_counter() - self.started
        m.requests.labels(model, self.route, "200").inc()
        m.latency.labels(model, self.route).observe(elapsed)
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        m.input_tokens.labels(model).inc(prompt)
        m.output_tokens.labels(model).inc(completion)
        if self.span is not None:
            self.span.set_usage(input=prompt, output=completion)
            if texts is not None:
                self.span.set_outputs(texts[0] if len(texts) == 1 else texts)
            if self.ttft is not None:
                self.span.set_attribute(
                    "gen_ai.response.time_to_first_token_ms", round(self.ttft * 1000, 3)
                )
            self._end()

    def failed(self, exc: OpenAIError) -> None:
        self.service.metrics.requests.labels(self.request.model, self.route, str(exc.status)).inc()
        if self.span is not None:
            self.span.set_status(SpanStatus.ERROR, exc.message)
            self._end()

    def _end(self) -> None:
        record = self.service._record
        if self.span is not None and record is not None:
            record(self.span.finish())

    async def sse(self, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        """Chunks as server-sent events; the trailing usage chunk only if the client asked."""
        wants_usage = isinstance(self.request, ChatRequest | CompletionRequest) and (
            self.request.include_usage()
        )
        usage: dict[str, Any] = {}
        texts: dict[int, str] = {}
        done = False
        try:
            async for chunk in chunks:
                if chunk.get("usage") and not chunk.get("choices"):
                    usage = chunk["usage"]
                    if not wants_usage:
                        continue
                for choice in chunk.get("choices", []):
                    piece = _piece(choice)
                    if piece:
                        self.first_token()
                        texts[choice.get("index", 0)] = (
                            texts.get(choice.get("index", 0), "") + piece
                        )
                yield _event(chunk)
            done = True
        except OpenAIError as exc:  # the status line is gone: the error travels as an event
            self.failed(exc)
            yield _event(exc.body())
            return
        finally:
            if not done and self.span is not None and self.span.status == SpanStatus.UNSET:
                self.span.set_status(SpanStatus.ERROR, "the client disconnected")
                self.span.set_usage(input=None, output=None)
                self._end()
        self.finished(usage, [texts[i] for i in sorted(texts)])
        yield b"data: [DONE]\n\n"


def _piece(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("content") or "")
    return str(choice.get("text") or "")


def _texts(answer: dict[str, Any]) -> list[str]:
    texts = []
    for choice in answer.get("choices", []):
        message = choice.get("message")
        texts.append(str(message.get("content") or "") if message else str(choice.get("text", "")))
    return texts


def _event(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
