"""A model served by other OpenAI-compatible servers: a vLLM or Ollama server, a hosted API.

An `UpstreamBackend` answers one model id from an ordered list of targets. A try that may
pass when repeated (a connection refused or cut, a timeout, 408, 429, 5xx) is repeated up to
`RetryPolicy.attempts` times per target, after exponential backoff with jitter or the
provider's Retry-After; then the next target takes over. A target that refuses our key or
does not know the model (401, 403, 404) is the operator's fault, not the caller's: it is
skipped at once. Any other 4xx is the caller's, and comes back as the provider said it.
When every target failed, the answer is a 502 (503 when each one was only overloaded)
naming each target and why it failed last.

A stream is retried only until its first chunk: after that a failure ends it with an error.

Requests go out through one aiohttp session per backend, made in the event loop that first
sends (an answer costs about a quarter of a millisecond less there than through httpx,
which matters in front of a provider that answers fast).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from lmops._version import __version__
from lmops.core.errors import InvalidInput
from lmops.serving.backends import Answer, ServedModel
from lmops.serving.fallbacks import Primed
from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIError,
    model_not_found,
)

if TYPE_CHECKING:
    from lmops.registry.entities import ModelVersion
    from lmops.registry.store import RegistryStore

T = TypeVar("T")
log = logging.getLogger(__name__)

# As the openai client has it: a whole answer (no stream) may take minutes to come.
DEFAULT_TIMEOUT = 600.0  # seconds to wait for each read from the provider
CONNECT_TIMEOUT = 5.0
MAX_CONNECTIONS = 256
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)
_TARGET_FAULTS = frozenset({401, 403, 404})  # our key or model name is wrong there
_OVERLOADED = frozenset({429, 503})
_NO_USAGE = {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}


@dataclass(frozen=True)
class Target:
    """One provider: its OpenAI base URL (`http://host:8000/v1`), the name it knows the model
    by, and its key, sent as a Bearer token and never shown."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"a target URL is http(s)://..., not {self.base_url!r}")
        if not self.model:
            raise InvalidInput("name the model the target serves", field="model")

    @property
    def label(self) -> str:
        return self.name or f"{self.base_url} ({self.model})"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try each target: `attempts` tries, waiting `backoff` seconds after the
    first failure and twice as long after each next one (at most `max_backoff`, less a
    random part of up to half, so that callers failing together do not retry together).
    A provider's Retry-After is waited instead, up to `max_retry_after`."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidInput("a target is tried at least once", field="attempts")

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `failures`-th failed try of a target."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)


class UpstreamBackend:
    """Serve `model` by forwarding each request to the first of `targets` that answers."""

    def __init__(
        self,
        model: str,
        targets: Sequence[Target],
        *,
        version: str | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not targets:
            raise InvalidInput(f"the model '{model}' needs at least one target")
        if not timeout > 0:
            raise InvalidInput("the timeout is a number of seconds above 0", field="timeout")
        self.model = model
        self.version = version
        self.targets = list(targets)
        self.policy = policy or RetryPolicy()
        self._created = int(time.time())
        # `connect` bounds the wait for a free connection too; `sock_read` each read
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeout,
            sock_connect=min(CONNECT_TIMEOUT, timeout),
            sock_read=timeout,
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Future[None] | None = None

    @classmethod
    def from_versions(
        cls,
        store: RegistryStore,
        version: ModelVersion,
        fallbacks: Sequence[ModelVersion] = (),
        *,
        policy: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> UpstreamBackend:
        """Serve registered external endpoint `version` under its model's name, falling back
        to the `fallbacks` endpoints in order."""
        targets = [_target_of(store, v) for v in (version, *fallbacks)]
        return cls(version.model_name, targets, version=version.uri, policy=policy, timeout=timeout)

    # -- the Backend face ---------------------------------------------------------------

    def models(self) -> list[ServedModel]:
        return [ServedModel(self.model, version=self.version, created=self._created)]

    async def chat(self, request: ChatRequest) -> Answer:
        return await self._generate("/chat/completions", request)

    async def complete(self, request: CompletionRequest) -> Answer:
        return await self._generate("/completions", request)

    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]:
        self._check(request.model)
        body = request.model_dump(mode="json", exclude_unset=True)
        return await self._first_answer(lambda target: self._post(target, "/embeddings", body))

    def close(self) -> None:
        """Close the session, on the event loop it was made in: soon when that loop is
        running (`aclose` waits for it), at once when it is not."""
        session, loop = self._session, self._loop
        self._session = None
        if session is None or session.closed or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._closing = loop.create_task(session.close())
        elif loop.is_running():  # another thread's loop: close there, and wait for it
            with contextlib.suppress(TimeoutError):
                asyncio.run_coroutine_threadsafe(session.close(), loop).result(CONNECT_TIMEOUT)
        elif running is None and not loop.is_closed():
            loop.run_until_complete(session.close())
        else:  # its loop is gone (or cannot run from here): its connections go with it
            session.detach()

    async def aclose(self) -> None:
        """Close the session and every connection it holds."""
        self.close()
        if self._closing is not None:
            await self._closing

    # -- forwarding -----------------------------------------------------------------------

    def _check(self, model: str) -> None:
        if model != self.model:
            raise model_not_found(model)

    async def _generate(self, path: str, request: ChatRequest | CompletionRequest) -> Answer:
        self._check(request.model)
        # Only what the caller set: the provider applies its own defaults to the rest.
        body = request.model_dump(mode="json", exclude_unset=True)
        if not request.stream:
            return await self._first_answer(lambda target: self._post(target, path, body))
        body["stream_options"] = {**(request.stream_options or {}), "include_usage": True}
        chunks = self._relay(path, body)
        first = await anext(chunks)  # every retry and fallback happens before this returns
        return Primed(first, chunks)

    async def _first_answer(self, attempt: Callable[[Target], Awaitable[T]]) -> T:
        """What the first target to answer says, each tried as the policy allows, in order."""
        failures: list[tuple[Target, _Failed, int]] = []
        for target in self.targets:
            tries = 0
            while True:
                tries += 1
                try:
                    return await attempt(target)
                except _Failed as failed:
                    if not failed.retry or tries >= self.policy.attempts:
                        failures.append((target, failed, tries))
                        log.warning("upstream %s failed: %s", target.label, failed.reason)
                        break
                    await asyncio.sleep(self.policy.delay(tries, failed.retry_after))
        raise self._exhausted(failures)

    def _exhausted(self, failures: list[tuple[Target, _Failed, int]]) -> OpenAIError:
        told = "; ".join(
            f"{target.label}: {failed.reason}" + (f" (after {tries} tries)" if tries > 1 else "")
            for target, failed, tries in failures
        )
        message = f"No upstream of the model '{self.model}' answered. {told}"
        if all(failed.status in _OVERLOADED for _, failed, _ in failures):
            waits = [f.retry_after for _, f, _ in failures if f.retry_after is not None]
            return OpenAIError(
                503,
                message,
                type="server_overloaded",
                code="upstream_overloaded",
                retry_after=min(waits) if waits else None,
            )
        return OpenAIError(502, message, type="server_error", code="upstream_failed")

    def _client(self) -> aiohttp.ClientSession:
        """The session, made in the loop that sends first: aiohttp binds it there, so a
        backend answers from that one loop until it is closed."""
        running = asyncio.get_running_loop()
        if self._session is not None and self._loop is not running:
            raise RuntimeError(
                "this upstream backend answers from the event loop it first sent from; "
                "close it there (await aclose()) before using it from another"
            )
        if self._session is None:
            self._loop = running
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0),
                timeout=self._timeout,
                headers={"User-Agent": f"lmops/{__version__}"},
                trust_env=True,  # HTTPS_PROXY, NO_PROXY and the like, as httpx had them
            )
        return self._session

    async def _send(
        self, target: Target, path: str, body: dict[str, Any], *, stream: bool
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        url = target.base_url.rstrip("/") + path
        try:
            response = await self._client().post(
                url, json={**body, "model": target.model}, headers=headers
            )
        except _TRANSPORT_ERRORS as exc:
            raise _transport_failure(exc) from exc
        if 200 <= response.status < 300:
            return response
        try:
            raw = await response.read()
        except _TRANSPORT_ERRORS as exc:
            raise _transport_failure(exc) from exc
        finally:
            response.release()
        raise _refusal(response.status, _error_fields(raw, response.reason), response.headers)

    async def _post(self, target: Target, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._send(target, path, body, stream=False)
        try:
            raw = await response.read()
        except _TRANSPORT_ERRORS as exc:
            raise _transport_failure(exc) from exc
        finally:
            response.release()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise _Failed("answered with a body that is not a JSON object", retry=False)
        if "error" in answer:  # some providers answer 200 with an error body
            raise _payload_error(answer["error"])
        answer["model"] = self.model
        return answer

    async def _open(self, target: Target, path: str, body: dict[str, Any]) -> _Opened:
        response = await self._send(target, path, body, stream=True)
        events = _events(response)
        try:
            first = await anext(events, None)
        except BaseException:
            await events.aclose()
            response.release()
            raise
        if first is None:
            response.release()
            raise _Failed("ended the stream without a chunk", retry=False)
        return _Opened(target, response, events, first)

    async def _relay(self, path: str, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The provider's chunks as they come, with our model id, ending with a usage chunk."""
        opened = await self._first_answer(lambda target: self._open(target, path, body))
        first = opened.first
        head: dict[str, Any] = {k: first[k] for k in ("id", "object", "created") if k in first}
        head["model"] = self.model
        usage: Any = None
        ended_with_usage = False
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                chunk["model"] = self.model
                if chunk.get("usage"):
                    usage = chunk["usage"]
                ended_with_usage = bool(chunk.get("usage")) and not chunk.get("choices")
                yield chunk
                chunk = await anext(opened.events, None)
        except _Failed as failed:
            raise OpenAIError(
                502,
                f"The upstream {opened.target.label} broke off the stream: {failed.reason}",
                type="server_error",
                code="upstream_failed",
            ) from failed
        finally:
            await opened.events.aclose()
            opened.response.release()  # a stream left unread closes its connection
        if not ended_with_usage:  # counts the provider did not give are unknown, not zero
            yield {**head, "choices": [], "usage": usage or dict(_NO_USAGE)}


@dataclass
class _Opened:
    target: Target
    response: aiohttp.ClientResponse
    events: AsyncGenerator[dict[str, Any], None]
    first: dict[str, Any]


class _Failed(Exception):
    """One try of one target that got no answer; `retry` says trying again may help."""

    def __init__(
        self,
        reason: str,
        *,
        retry: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.status = status
        self.retry_after = retry_after


async def _events(response: aiohttp.ClientResponse) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON payloads of an SSE body's `data:` lines until `[DONE]`."""
    pending = b""
    try:
        async for piece in response.content.iter_any():
            *lines, pending = (pending + piece).split(b"\n")
            for line in lines:
                payload = _event(line)
                if payload is _DONE:
                    return
                if payload is not None:
                    yield payload
    except _TRANSPORT_ERRORS as exc:
        raise _transport_failure(exc) from exc
    if _event(pending) is _DONE:  # the last line, without its line break
        return
    raise _Failed("closed the stream before [DONE]", retry=True)


_DONE: dict[str, Any] = {}


def _event(raw: bytes) -> dict[str, Any] | None:
    """One SSE line's JSON payload, `_DONE` for `[DONE]`, None for lines that hold none."""
    line = raw.decode("utf-8", "replace").rstrip("\r")
    if not line.startswith("data:"):
        return None  # blank separators, comments, `event:` and `id:` fields
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _Failed(f"sent a chunk that is not a JSON object: {data[:200]}", retry=False)
    if "error" in payload:
        raise _payload_error(payload["error"])
    return payload


def _transport_failure(exc: BaseException) -> _Failed:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return _Failed(f"timed out ({type(exc).__name__})", retry=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _Failed(f"could not connect: {detail}", retry=True)
    return _Failed(f"connection failed: {detail}", retry=True)


def _refusal(
    status: int, error: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Exception:
    """What a provider's error status means here: a failure of the target, or the caller's
    error (an `OpenAIError` to pass on as it is)."""
    message = str(error.get("message") or "no message")
    if status in (408, 429) or status >= 500:
        retry_after = _retry_after(headers) if headers is not None else None
        return _Failed(
            f"HTTP {status}: {message}", retry=True, status=status, retry_after=retry_after
        )
    if status < 400 or status in _TARGET_FAULTS:
        return _Failed(f"HTTP {status}: {message}", retry=False, status=status)
    code, param = error.get("code"), error.get("param")
    return OpenAIError(
        status,
        message,
        type=str(error.get("type") or "invalid_request_error"),
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) else None,
    )


def _payload_error(error: Any) -> Exception:
    """An error sent in a body the status said was fine (vLLM does so mid-stream)."""
    fields = error if isinstance(error, dict) else {"message": str(error)}
    code = fields.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 502
    return _refusal(status, fields)


def _error_fields(raw: bytes, reason: str | None) -> dict[str, Any]:
    """OpenAI's `{"error": {...}}`, vLLM's flat error object, or whatever text there was."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and error.get("message"):
            return error
        if isinstance(error, str):
            return {"message": error}
        if "detail" in data:
            return {"message": str(data["detail"])}
    text = raw[:2000].decode("utf-8", "replace")[:500].strip()
    return {"message": text or reason or "no message"}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait: `retry-after-ms`, or Retry-After in seconds or
    as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until(value) if scale == 1.0 else math.nan
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _seconds_until(date: str) -> float:
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - time.time()


def _target_of(store: RegistryStore, version: ModelVersion) -> Target:
    url, model = version.source.endpoint_url, version.source.endpoint_model
    if version.format.kind != "external" or not url or not model:
        raise InvalidInput(
            f"{version.uri} is a {version.format.kind}, not an external endpoint", field="uri"
        )
    return Target(url, model, store.api_key(version.id), name=version.uri)


def open_upstream(
    store: RegistryStore,
    uri: str,
    *,
    fallbacks: Sequence[str] = (),
    policy: RetryPolicy | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> UpstreamBackend:
    """Serve the external endpoint `uri` (`models:/gpt@production`), falling back to the
    endpoints `fallbacks` names, in order."""
    version = store.get_version(uri)
    backups = [store.get_version(f) for f in fallbacks]
    return UpstreamBackend.from_versions(store, version, backups, policy=policy, timeout=timeout)
