"""What an evaluation calls for each row: a Python function, a model loaded here, or any
OpenAI-compatible endpoint (a gateway endpoint, `lmops serve`, a provider), optionally
through a registered prompt that turns the row into messages."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lmops.core.errors import InvalidInput
from lmops.prompts.entities import Prompt
from lmops.serving.protocol import ChatRequest, OpenAIError
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

QUESTION_COLUMNS = ("prompt", "input", "question", "query", "text")
DEFAULT_PARAMS = {"temperature": 0.0, "max_tokens": 256}


@dataclass
class Outcome:
    """What the target did with one row."""

    output: Any = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None


class Target(Protocol):
    description: str
    model_version: str | None
    prompt_version: str | None

    async def __call__(self, inputs: dict[str, Any]) -> Outcome: ...

    async def aclose(self) -> None: ...


Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Close = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


class FunctionTarget:
    """A Python callable (sync or async): called with the row's columns as keyword arguments
    when its parameters are columns (`def answer(question)`), else with the row as one dict
    (`def answer(row)`)."""

    model_version: str | None = None
    prompt_version: str | None = None

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.description = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        params = list(inspect.signature(fn).parameters.values())
        self._names = [p.name for p in params if p.kind in _NAMED]
        self._required = [p.name for p in params if p.kind in _NAMED and p.default is p.empty]
        self._any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)

    def _arguments(self, inputs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self._any_keyword and not self._names:
            return (), inputs
        named = [n for n in self._names if n in inputs]
        if named and all(n in inputs for n in self._required):
            extra = {k: v for k, v in inputs.items() if k not in named} if self._any_keyword else {}
            return (), {**{n: inputs[n] for n in named}, **extra}
        if self._names:
            return (inputs,), {}
        return (), {}

    async def __call__(self, inputs: dict[str, Any]) -> Outcome:
        started = time.perf_counter()
        args, kwargs = self._arguments(inputs)
        if inspect.iscoroutinefunction(self._fn):
            output = await self._fn(*args, **kwargs)
        else:
            output = await asyncio.to_thread(self._fn, *args, **kwargs)
        return Outcome(output, latency_ms=(time.perf_counter() - started) * 1000)

    async def aclose(self) -> None:
        return None


_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def messages_for(inputs: dict[str, Any], prompt: Prompt | None) -> list[dict[str, Any]]:
    """The chat messages for a row: the prompt filled with its columns, the row's own
    `messages`, or its question column as one user message."""
    if prompt is not None:
        missing = [v for v in prompt.variables if v not in inputs]
        if missing:
            raise InvalidInput(
                f"the row has no column for {', '.join(missing)}, which {prompt.uri} uses",
                field="data",
            )
        rendered = prompt.format(**{v: inputs[v] for v in prompt.variables})
        return rendered if isinstance(rendered, list) else [{"role": "user", "content": rendered}]
    if isinstance(inputs.get("messages"), list):
        return list(inputs["messages"])
    for column in QUESTION_COLUMNS:
        if column in inputs:
            return [{"role": "user", "content": str(inputs[column])}]
    raise InvalidInput(
        f"the row has no messages or {'/'.join(QUESTION_COLUMNS)} column "
        f"(it has {', '.join(inputs) or 'none'}): name a prompt that uses its columns",
        field="data",
    )


class ChatTarget:
    """A chat model behind `send` (a loaded model or an HTTP endpoint), one row per call."""

    def __init__(
        self,
        send: Send,
        *,
        description: str,
        prompt: Prompt | None = None,
        params: dict[str, Any] | None = None,
        model_version: str | None = None,
        close: Close = _nothing,
    ) -> None:
        self._send = send
        self._prompt = prompt
        from_prompt = prompt.model_params if prompt else {}
        self._params = {**DEFAULT_PARAMS, **from_prompt, **(params or {})}
        self._close = close
        self.description = description
        self.model_version = model_version
        self.prompt_version = prompt.uri if prompt else None

    async def __call__(self, inputs: dict[str, Any]) -> Outcome:
        body = {**self._params, "messages": messages_for(inputs, self._prompt)}
        started = time.perf_counter()
        answer = await self._send(body)
        latency = (time.perf_counter() - started) * 1000
        usage = answer.get("usage") or {}
        text = answer["choices"][0]["message"]["content"]
        return Outcome(
            text,
            latency_ms=latency,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )

    async def aclose(self) -> None:
        await self._close()


def service_sender(service: OpenAIService, model: str) -> Send:
    """Send through an in-process OpenAIService (a model loaded by this evaluation)."""

    async def send(body: dict[str, Any]) -> dict[str, Any]:
        request = ChatRequest.model_validate({**body, "model": model})
        try:
            answer = await service.generate(request, Caller())
        except OpenAIError as exc:
            raise RuntimeError(f"{exc.status}: {exc.message}") from exc
        if not isinstance(answer, dict):
            raise RuntimeError("the model streamed an answer to a request that did not stream")
        return answer

    return send


def http_sender(
    base_url: str, model: str, api_key: str | None, *, timeout: float = 300.0
) -> tuple[Send, Close]:
    """Send to an OpenAI-compatible `/chat/completions` under `base_url` (".../v1"); the
    client is made on first use, in the loop the evaluation runs in, and closed there."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    made: list[httpx.AsyncClient] = []

    async def send(body: dict[str, Any]) -> dict[str, Any]:
        if not made:
            made.append(
                httpx.AsyncClient(
                    headers=headers,
                    timeout=timeout,
                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
                )
            )
        response = await made[0].post(
            base_url.rstrip("/") + "/chat/completions", json={**body, "model": model}
        )
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise RuntimeError(f"{response.status_code}: {message}")
        answer: dict[str, Any] = response.json()
        return answer

    async def close() -> None:
        if made:
            await made.pop().aclose()

    return send, close
