"""The OpenAI API over routed backends: finds who answers a request's `model`, applies the
caller's limits, the guard and the response cache, counts the request in the metrics and
records it as a GenAI span (tokens, latency, time to first token, the model version that
answered, the endpoint, the caller's prompt version and user).

When the model a request went to fails before any output left (see `fallbacks.fails_over`),
the target's fallback answers instead, and the span records which version answered and what
failed before it (`lmops.fallbacks_tried`).

The server's routes parse bodies and hand them here; this module has no web framework in it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from lmops.serving.backends import Answer, Backend, ServedModel
from lmops.serving.cache import ResponseCache
from lmops.serving.fallbacks import Failure, NoneAnswered, fails_over, none_answered, prime
from lmops.serving.limits import Limiter
from lmops.serving.metrics import ServingMetrics
from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIError,
)
from lmops.serving.routing import AnyRequest, Caller, Guard, NoGuard, Router, StaticRouter, Target
from lmops.tracing.entities import SpanStatus, SpanType
from lmops.tracing.live import LiveSpan, current_span
from lmops.tracing.rows import SpanRow

log = logging.getLogger(__name__)
SpanSink = Callable[[SpanRow, str], None]  # a finished span and its project
R = TypeVar("R", bound=ChatRequest | CompletionRequest | EmbeddingRequest)
T = TypeVar("T")
_ROUTES = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}


class OpenAIService:
    def __init__(
        self,
        router: Router | list[Backend],
        *,
        metrics: ServingMetrics | None = None,
        record: SpanSink | None = None,
        limiter: Limiter | None = None,
        cache: ResponseCache | None = None,
        guard: Guard | None = None,
        price: Callable[[str, int, int], float] | None = None,
        provider: str = "lmops",
    ) -> None:
        self.router = StaticRouter(router) if isinstance(router, list) else router
        self.metrics = metrics or ServingMetrics()
        self.record = record
        self.limiter = limiter
        self.cache = cache
        self.guard: Guard = guard or NoGuard()
        self.price = price
        self.provider = provider

    def models(self, caller: Caller | None = None) -> list[ServedModel]:
        return self.router.models(caller or Caller())

    def forget_endpoint(self, project: str, name: str) -> None:
        self.router.forget(project, name)

    def forget_key(self, key_id: str) -> None:
        if self.limiter is not None:
            self.limiter.forget(key_id)

    def close(self) -> None:
        self.router.close()
        if self.limiter is not None:
            self.limiter.close()

    async def generate(
        self, request: ChatRequest | CompletionRequest, caller: Caller
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat or text completion: the response body, or SSE bytes when it streams."""
        call = _Call(self, request, await self.router.route(request, caller), caller)
        streaming = False
        try:
            with call.reporting():
                self._admit(request, caller)
                cache_key = self._cache_key(request, caller, call.target)
                if cache_key is not None and self.cache is not None:
                    cached = self.cache.get(cache_key)
                    if cached is not None:
                        call.cache_hit = True
                        call.finished(cached.get("usage") or {}, _texts(cached))
                        return cached

                async def ask(target: Target) -> Answer:
                    forwarded = _addressed(request, target.served.id)
                    if isinstance(forwarded, ChatRequest):
                        answer = await target.backend.chat(forwarded)
                    else:
                        answer = await target.backend.complete(forwarded)
                    if isinstance(answer, dict) or not (target.fallback or target.tried):
                        return answer
                    # a fallback may answer until the first chunk: the headers wait for it
                    return await prime(answer)

                answer = await self._answered(call, ask)
                if isinstance(answer, dict):
                    answer["model"] = request.model
                    texts = _texts(answer)
                    for text in texts:
                        self.guard.check_output(text, caller)
                    call.finished(answer.get("usage") or {}, texts)
                    # under the version that answered: a fallback's answer is not the route's
                    cache_key = self._cache_key(request, caller, call.target)
                    if cache_key is not None and self.cache is not None:
                        self.cache.put(cache_key, answer)
                    return answer
                streaming = True
                return call.sse(answer)
        finally:
            if not streaming:
                call.target.release()

    async def embed(self, request: EmbeddingRequest, caller: Caller) -> dict[str, Any]:
        call = _Call(self, request, await self.router.route(request, caller), caller)
        try:
            with call.reporting():
                self._admit(request, caller)

                async def ask(target: Target) -> dict[str, Any]:
                    return await target.backend.embed(_addressed(request, target.served.id))

                answer = await self._answered(call, ask)
                answer["model"] = request.model
                call.finished(answer.get("usage") or {}, None)
                return answer
        finally:
            call.target.release()

    async def _answered(self, call: _Call, ask: Callable[[Target], Awaitable[T]]) -> T:
        """What the call's target answers or, when it failed as a model may (not as the request
        would anywhere), what its fallbacks answer, in order."""
        while True:
            target = call.target
            try:
                return await ask(target)
            except OpenAIError as exc:
                following = await _fallback(target, exc)
            except Exception as exc:
                following = await _fallback(target, _unexpected(exc))
            target.release()
            call.fall_back(following)

    def _cache_key(
        self, request: ChatRequest | CompletionRequest, caller: Caller, target: Target
    ) -> str | None:
        if not target.cache or self.cache is None or request.stream:
            return None
        # the version that would answer is part of the key: a moved alias or another side of
        # a split never answers from the other version's cache
        scope = f"{caller.project}/{target.name}/{target.served.version}"
        return ResponseCache.key(scope, request)

    def _admit(self, request: AnyRequest, caller: Caller) -> None:
        if self.limiter is not None and caller.key_id is not None:
            self.limiter.admit(caller.key_id)
        self.guard.check_input(request, caller)


async def _fallback(target: Target, error: OpenAIError) -> Target:
    """The target to try after `target` failed with `error`; raises what the caller gets when
    there is none."""
    if not fails_over(error):
        raise error
    failure = Failure(target.model, error)
    if target.fallback is None:
        raise none_answered((*target.tried, failure))
    log.warning("%s failed, trying the next model: %s", target.model, error.message)
    return await target.fallback(failure)


def _addressed(request: R, model: str) -> R:
    if request.model == model:
        return request
    return cast(R, request.model_copy(update={"model": model}))


class _Call:
    """One request being answered: its metrics, its charge against the key, its span."""

    def __init__(
        self, service: OpenAIService, request: AnyRequest, target: Target, caller: Caller
    ) -> None:
        self.service = service
        self.request = request
        self.target = target
        self.caller = caller
        self.started = time.perf_counter()
        self.route = _ROUTES.get(request.kind, "/v1/embeddings")
        self.ttft: float | None = None
        self.cache_hit = False
        self.ended = False
        self.span = self._open_span()

    def _open_span(self) -> LiveSpan | None:
        if self.service.record is None:
            return None
        request, target = self.request, self.target
        kinds = {"chat": SpanType.CHAT_MODEL, "completion": SpanType.LLM}
        operation = {"chat": "chat", "completion": "text_completion"}.get(
            request.kind, "embeddings"
        )
        # In-process callers (an evaluation) get the span under theirs; the server has none.
        live = LiveSpan(
            f"{operation} {request.model}",
            kinds.get(request.kind, SpanType.EMBEDDING),
            parent=current_span(),
        )
        if isinstance(request, ChatRequest):
            messages = [m.model_dump(exclude_none=True) for m in request.messages]
            live.set_inputs({"messages": messages})
        elif isinstance(request, CompletionRequest):
            live.set_inputs({"prompt": request.text()})
        else:
            live.set_inputs({"input": request.texts()})
        attributes: dict[str, Any] = {"gen_ai.operation.name": operation}
        if not isinstance(request, EmbeddingRequest):
            attributes.update(
                {
                    "gen_ai.request.model": request.model,
                    "gen_ai.request.temperature": request.temperature,
                    "gen_ai.request.top_p": request.top_p,
                    "gen_ai.request.max_tokens": request.output_limit(),
                    "lmops.stream": request.stream,
                }
            )
            if request.seed is not None:
                attributes["gen_ai.request.seed"] = request.seed
        live.set_attributes(attributes)
        live.trace.update(
            user=self.caller.user or request.user,
            prompt_version=self.caller.prompt_version,
            tags=dict(self.caller.tags),
        )
        live.trace.context.endpoint = target.endpoint
        self._answering(live)
        return live

    def fall_back(self, target: Target) -> None:
        """Go on with `target`: the one before it failed."""
        self.target = target
        if self.span is not None:
            self._answering(self.span)

    def _answering(self, live: LiveSpan) -> None:
        """Name the model that answers the request now, and the ones that failed before."""
        target = self.target
        live.set_model(target.served.id, self.service.provider)
        live.trace.context.model_version = target.served.version
        if target.tried:
            live.set_attribute("lmops.fallbacks_tried", [str(f) for f in target.tried])

    def first_token(self) -> None:
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.started
            self.service.metrics.ttft.labels(self.request.model).observe(self.ttft)

    def finished(self, usage: dict[str, Any], texts: list[str] | None) -> None:
        if self.ended:
            return
        self.ended = True
        service, model = self.service, self.request.model
        m = service.metrics
        elapsed = time.perf_counter() - self.started
        m.requests.labels(model, self.route, "200").inc()
        m.latency.labels(model, self.route).observe(elapsed)
        known = usage.get("prompt_tokens") is not None
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        if self.cache_hit:
            prompt = completion = 0  # nothing ran
        m.input_tokens.labels(model).inc(prompt)
        m.output_tokens.labels(model).inc(completion)
        if service.limiter is not None and self.caller.key_id is not None:
            cost = service.price(self.target.served.id, prompt, completion) if service.price else 0
            service.limiter.charge(self.caller.key_id, prompt, completion, cost)
        if self.span is not None:
            if known or self.cache_hit:  # an upstream that reports none: unknown, not 0
                self.span.set_usage(input=prompt, output=completion)
            if texts is not None:
                self.span.set_outputs(texts[0] if len(texts) == 1 else texts)
            if self.ttft is not None:
                self.span.set_attribute(
                    "gen_ai.response.time_to_first_token_ms", round(self.ttft * 1000, 3)
                )
            if self.cache_hit:
                self.span.set_attribute("lmops.cache_hit", True)
            self._end()

    @contextmanager
    def reporting(self) -> Iterator[None]:
        """Count and trace a failure as this request's, as an OpenAIError (never a 500)."""
        try:
            yield
        except OpenAIError as exc:
            self.failed(exc)
            raise
        except Exception as exc:
            error = _unexpected(exc)
            self.failed(error)
            raise error from exc

    def _charge_partial(self, usage: dict[str, Any], chunks: int) -> None:
        """A stream the client left still cost what was generated: its usage if it came,
        else a token per content chunk delivered (the prompt's are not known then)."""
        limiter, key = self.service.limiter, self.caller.key_id
        if limiter is None or key is None:
            return
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or chunks)
        price = self.service.price
        cost = price(self.target.served.id, prompt, completion) if price else 0.0
        limiter.charge(key, prompt, completion, cost)

    def failed(self, exc: OpenAIError) -> None:
        if self.ended:
            return
        self.ended = True
        self.service.metrics.requests.labels(self.request.model, self.route, str(exc.status)).inc()
        if self.span is not None:
            self.span.set_status(SpanStatus.ERROR, exc.message)
            self.span.set_attribute("http.response.status_code", exc.status)
            if isinstance(exc, NoneAnswered):
                self.span.set_attribute("lmops.fallbacks_tried", [str(f) for f in exc.tried])
            self._end()

    def _end(self) -> None:
        record = self.service.record
        if self.span is not None and record is not None:
            record(self.span.finish(), self.caller.project)

    async def sse(self, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        """Chunks as server-sent events; the trailing usage chunk only if the client asked."""
        request = self.request
        wants_usage = not isinstance(request, EmbeddingRequest) and request.include_usage()
        usage: dict[str, Any] = {}
        texts: dict[int, str] = {}
        pieces: dict[int, int] = {}  # content chunks per choice: at least a token each
        try:
            async for chunk in chunks:
                chunk["model"] = request.model
                if chunk.get("usage") and not chunk.get("choices"):
                    usage = chunk["usage"]
                    if not wants_usage:
                        continue
                for choice in chunk.get("choices", []):
                    piece = _piece(choice)
                    if piece:
                        self.first_token()
                        index = choice.get("index", 0)
                        texts[index] = texts.get(index, "") + piece
                        pieces[index] = pieces.get(index, 0) + 1
                yield _event(chunk)
            for text in texts.values():
                self.service.guard.check_output(text, self.caller)
            self.finished(usage, [texts[i] for i in sorted(texts)])
            yield b"data: [DONE]\n\n"
        except OpenAIError as exc:  # the status line is gone: the error travels as an event
            self.failed(exc)
            yield _event(exc.body())
            return
        except Exception as exc:
            error = _unexpected(exc)
            self.failed(error)
            yield _event(error.body())
            return
        finally:
            if not self.ended:  # the client left before the end
                self.service.metrics.requests.labels(request.model, self.route, "499").inc()
                self.ended = True
                self._charge_partial(usage, sum(pieces.values()))
                if self.span is not None:
                    self.span.set_status(SpanStatus.ERROR, "the client disconnected")
                    self._end()
            self.target.release()
            close = getattr(chunks, "aclose", None)
            if close is not None:  # the backend's own stream (an upstream response) ends too
                await close()


def _unexpected(exc: Exception) -> OpenAIError:
    """A failure no backend meant: logged with its traceback, answered as a 503."""
    log.error("request failed", exc_info=exc)
    return OpenAIError(503, f"the model failed: {type(exc).__name__}: {exc}", type="server_error")


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
