"""`UpstreamBackend` against OpenAI-compatible providers we start on free ports, whose next
answers each test scripts: errors, Retry-After, cut and stalled streams."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.server.model_app import create_model_app
from lmops.serving.protocol import ChatRequest, CompletionRequest, EmbeddingRequest, OpenAIError
from lmops.serving.service import OpenAIService
from lmops.serving.upstream import RetryPolicy, Target, UpstreamBackend, open_upstream
from tests.conftest import free_port
from tests.serving.conftest import serving

T = TypeVar("T")
SERVED = "served-model"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002, max_retry_after=0.5)


# --- the fake providers ---------------------------------------------------------------------


@dataclass
class Fault:
    """How a provider answers one request instead of answering it well."""

    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # stream this many chunks, then drop the connection
    stall_after: int | None = None  # stream this many chunks, then wait for the client to go
    delay: float = 0.0
    no_usage: bool = False
    error_event: dict[str, Any] | None = None  # sent as the stream's first event
    raw: str | None = None  # a 200 that is not JSON
    no_done: bool = False  # end the stream cleanly but without [DONE]


@dataclass
class Seen:
    provider: str
    path: str
    body: dict[str, Any]
    authorization: str | None
    at: float


class Provider:
    """An OpenAI-compatible server; `script` sets how it answers its next requests."""

    def __init__(self, name: str, log: list[Seen]) -> None:
        self.name = name
        self.log = log
        self.faults: deque[Fault] = deque()
        self.client_left = threading.Event()
        self.url = ""

    def script(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @property
    def seen(self) -> list[Seen]:
        return [s for s in self.log if s.provider == self.name]

    def app(self) -> FastAPI:
        app = FastAPI()

        async def answer(request: Request) -> Response:
            body = await request.json()
            path = request.url.path.removeprefix("/v1")
            self.log.append(
                Seen(self.name, path, body, request.headers.get("authorization"), time.monotonic())
            )
            fault = self.faults.popleft() if self.faults else Fault()
            await asyncio.sleep(fault.delay)
            if fault.raw is not None:
                return Response(fault.raw, media_type="text/html")
            if fault.status is not None:
                error = fault.body or {"error": {"message": f"{self.name} says {fault.status}"}}
                return JSONResponse(error, status_code=fault.status, headers=fault.headers)
            if path == "/embeddings":
                return JSONResponse(_embeddings(body))
            if body.get("stream"):
                return self._stream(_chunks(path, body, fault), fault)
            return JSONResponse(_whole(path, body))

        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            app.post(path)(answer)
        return app

    def _stream(self, chunks: list[dict[str, Any]], fault: Fault) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            if fault.error_event is not None:
                yield f"data: {json.dumps({'error': fault.error_event})}\n\n"
            for i, chunk in enumerate(chunks):
                if i == fault.cut_after:
                    raise RuntimeError("the fake provider drops the connection")
                if i == fault.stall_after:
                    try:
                        while True:  # a comment now and then finds out when the client left
                            yield ": still here\n\n"
                            await asyncio.sleep(0.02)
                    finally:
                        self.client_left.set()
                yield f"data: {json.dumps(chunk)}\n\n"
            if not fault.no_done:
                yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


def _reply(path: str, body: dict[str, Any]) -> str:
    if path == "/chat/completions":
        return f"echo: {body['messages'][-1]['content']}"
    return f"echo: {body['prompt']}"


def _whole(path: str, body: dict[str, Any]) -> dict[str, Any]:
    head = {"id": "x-1", "created": 1, "model": body["model"], "usage": USAGE}
    if path == "/chat/completions":
        message = {"role": "assistant", "content": _reply(path, body)}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {**head, "object": "chat.completion", "choices": [choice]}
    choice = {"index": 0, "text": _reply(path, body), "finish_reason": "stop"}
    return {**head, "object": "text_completion", "choices": [choice]}


def _chunks(path: str, body: dict[str, Any], fault: Fault) -> list[dict[str, Any]]:
    chat = path == "/chat/completions"
    kind = "chat.completion.chunk" if chat else "text_completion"
    head = {"id": "x-1", "object": kind, "created": 1, "model": body["model"]}
    usage = (body.get("stream_options") or {}).get("include_usage") and not fault.no_usage
    if usage:
        head["usage"] = None  # as OpenAI sends it on every chunk but the last

    def chunk(piece: str | None, finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            choice["delta"] = {} if piece is None else {"content": piece}
        else:
            choice["text"] = piece or ""
        return {**head, "choices": [choice]}

    first, *rest = _reply(path, body).split(" ")
    chunks = [chunk(first), *(chunk(" " + word) for word in rest), chunk(None, "stop")]
    if usage:
        chunks.append({**head, "choices": [], "usage": USAGE})
    return chunks


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(text)), 0.5]}
        for i, text in enumerate(inputs)
    ]
    usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
    return {"object": "list", "data": data, "model": body["model"], "usage": usage}


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[Provider, Provider]]:
    log: list[Seen] = []
    alpha, beta = Provider("alpha", log), Provider("beta", log)
    with serving(alpha.app()) as a_url, serving(beta.app()) as b_url:
        alpha.url, beta.url = f"{a_url}/v1", f"{b_url}/v1"
        yield alpha, beta


@pytest.fixture
def alpha(providers: tuple[Provider, Provider]) -> Iterator[Provider]:
    yield from _fresh(providers[0])


@pytest.fixture
def beta(providers: tuple[Provider, Provider]) -> Iterator[Provider]:
    yield from _fresh(providers[1])


def _fresh(provider: Provider) -> Iterator[Provider]:
    provider.log.clear()
    provider.client_left.clear()
    yield provider
    assert not provider.faults, "a scripted fault was never used"
    provider.faults.clear()


@pytest.fixture
def dead() -> Target:
    """A target where nothing listens: every connection is refused."""
    return Target(f"http://127.0.0.1:{free_port()}/v1", "ghost", name="dead")


def target(provider: Provider, key: str | None = None) -> Target:
    return Target(provider.url, f"{provider.name}-model", key, name=provider.name)


# --- helpers --------------------------------------------------------------------------------


def run(
    targets: list[Target],
    call: Callable[[UpstreamBackend], Awaitable[T]],
    policy: RetryPolicy = FAST,
    timeout: float = 5.0,
) -> T:
    """`call` on a backend over `targets`, closed afterwards, in a loop of its own."""

    async def main() -> T:
        backend = UpstreamBackend(SERVED, targets, policy=policy, timeout=timeout)
        try:
            return await call(backend)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def chat(text: str = "hi", **fields: Any) -> ChatRequest:
    return ChatRequest(model=SERVED, messages=[{"role": "user", "content": text}], **fields)


async def answer(backend: UpstreamBackend, request: ChatRequest) -> dict[str, Any]:
    found = await backend.chat(request)
    assert isinstance(found, dict)
    return found


async def stream(
    backend: UpstreamBackend, request: ChatRequest | CompletionRequest
) -> list[dict[str, Any]]:
    if isinstance(request, ChatRequest):
        found = await backend.chat(request)
    else:
        found = await backend.complete(request)
    assert not isinstance(found, dict)
    return [chunk async for chunk in found]


def content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def failure(targets: list[Target], request: ChatRequest, **kw: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        run(targets, lambda b: b.chat(request), **kw)
    return caught.value


# --- forwarding -----------------------------------------------------------------------------


def test_a_request_goes_out_under_the_provider_model_name_and_comes_back_under_ours(
    alpha: Provider,
) -> None:
    found = run([target(alpha, "sk-alpha")], lambda b: answer(b, chat(temperature=0.2)))

    assert found["model"] == SERVED
    assert found["choices"][0]["message"]["content"] == "echo: hi"
    assert found["usage"] == USAGE
    (seen,) = alpha.seen
    assert seen.path == "/chat/completions"
    assert seen.authorization == "Bearer sk-alpha"
    # only what the caller set travels: the provider applies its own defaults to the rest
    assert seen.body == {
        "model": "alpha-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
    }


def test_a_target_without_a_key_sends_no_authorization(alpha: Provider) -> None:
    request = CompletionRequest(model=SERVED, prompt="a b")
    found = run([target(alpha)], lambda b: b.complete(request))
    assert isinstance(found, dict)
    assert (found["model"], found["choices"][0]["text"]) == (SERVED, "echo: a b")
    (seen,) = alpha.seen
    assert (seen.path, seen.authorization) == ("/completions", None)


def test_another_model_id_is_not_found(alpha: Provider) -> None:
    request = ChatRequest(model="other", messages=[{"role": "user", "content": "x"}])
    error = failure([target(alpha)], request)
    assert (error.status, error.code) == (404, "model_not_found")
    assert alpha.seen == []


def test_embeddings_are_forwarded_and_fall_back(alpha: Provider, beta: Provider) -> None:
    alpha.script(Fault(status=503))
    request = EmbeddingRequest(model=SERVED, input=["ab", "abc"])
    policy = RetryPolicy(attempts=1)

    found = run([target(alpha), target(beta, "sk-beta")], lambda b: b.embed(request), policy)

    assert found["model"] == SERVED
    assert [d["embedding"][0] for d in found["data"]] == [2.0, 3.0]
    assert [(s.provider, s.path) for s in alpha.log] == [
        ("alpha", "/embeddings"),
        ("beta", "/embeddings"),
    ]
    assert beta.seen[0].body == {"model": "beta-model", "input": ["ab", "abc"]}
    assert beta.seen[0].authorization == "Bearer sk-beta"


# --- retries and fallback -------------------------------------------------------------------


def test_server_errors_are_retried_on_the_same_target(alpha: Provider, beta: Provider) -> None:
    alpha.script(Fault(status=500), Fault(status=502))
    found = run([target(alpha), target(beta)], lambda b: answer(b, chat()))
    assert found["choices"][0]["message"]["content"] == "echo: hi"
    assert len(alpha.seen) == 3
    assert beta.seen == []


def test_a_timeout_is_retried(alpha: Provider) -> None:
    alpha.script(Fault(delay=2.0))
    found = run([target(alpha)], lambda b: answer(b, chat()), timeout=0.3)
    assert found["model"] == SERVED
    assert len(alpha.seen) == 2


def test_targets_are_tried_in_order_after_each_fails(
    dead: Target, alpha: Provider, beta: Provider
) -> None:
    alpha.script(*[Fault(status=500)] * 3)
    found = run([dead, target(alpha), target(beta)], lambda b: answer(b, chat()))
    assert found["model"] == SERVED
    assert [s.provider for s in alpha.log] == ["alpha", "alpha", "alpha", "beta"]


def test_a_target_that_refuses_our_key_is_skipped_without_retries(
    alpha: Provider, beta: Provider
) -> None:
    alpha.script(Fault(status=401, body={"error": {"message": "Incorrect API key"}}))
    found = run([target(alpha, "sk-old"), target(beta)], lambda b: answer(b, chat()))
    assert found["model"] == SERVED
    assert [s.provider for s in alpha.log] == ["alpha", "beta"]


def test_when_every_target_fails_the_502_names_each_and_why(dead: Target, alpha: Provider) -> None:
    alpha.script(*[Fault(status=500)] * 3)
    error = failure([dead, target(alpha)], chat())
    assert (error.status, error.type, error.code) == (502, "server_error", "upstream_failed")
    assert "dead: could not connect" in error.message
    assert "alpha: HTTP 500: alpha says 500 (after 3 tries)" in error.message
    assert error.retry_after is None


def test_a_retry_after_is_waited_before_the_next_try(alpha: Provider) -> None:
    alpha.script(Fault(status=429, headers={"Retry-After": "1"}))
    policy = RetryPolicy(attempts=2, backoff=0.001, max_retry_after=0.3)
    run([target(alpha)], lambda b: answer(b, chat()), policy)
    first, second = alpha.seen
    assert second.at - first.at >= 0.3  # the backoff alone would wait a millisecond


def test_when_every_target_is_overloaded_the_answer_is_503_with_their_retry_after(
    alpha: Provider, beta: Provider
) -> None:
    alpha.script(*[Fault(status=429, headers={"Retry-After": "7"})] * 2)
    beta.script(*[Fault(status=503, headers={"retry-after-ms": "4000"})] * 2)
    policy = RetryPolicy(attempts=2, max_retry_after=0.01)
    error = failure([target(alpha), target(beta)], chat(), policy=policy)
    assert (error.status, error.type) == (503, "server_overloaded")
    assert error.retry_after == 4.0
    assert len(alpha.log) == 4


def test_a_client_error_comes_back_as_the_provider_said_without_retry_or_fallback(
    alpha: Provider, beta: Provider
) -> None:
    said = {
        "message": "temperature is too hot",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "invalid_value",
    }
    alpha.script(Fault(status=400, body={"error": said}))
    error = failure([target(alpha), target(beta)], chat())
    assert error.status == 400
    assert error.body() == {"error": said}
    assert [s.provider for s in alpha.log] == ["alpha"]


def test_vllm_flat_error_bodies_are_read(alpha: Provider) -> None:
    flat = {"object": "error", "message": "too long", "type": "BadRequestError", "code": 400}
    alpha.script(Fault(status=400, body=flat))
    error = failure([target(alpha)], chat())
    assert (error.status, error.message, error.type, error.code) == (
        400,
        "too long",
        "BadRequestError",
        None,
    )


def test_the_retry_policy_backs_off_exponentially_with_jitter_and_caps_retry_after() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=3.0, max_retry_after=5.0)
    for _ in range(50):
        assert 0.5 <= policy.delay(1) <= 1.0
        assert 1.0 <= policy.delay(2) <= 2.0
        assert 1.5 <= policy.delay(5) <= 3.0
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=3600.0) == 5.0
    with pytest.raises(InvalidInput):
        RetryPolicy(attempts=0)


# --- streaming ------------------------------------------------------------------------------


def test_a_stream_passes_chunks_through_and_ends_with_the_provider_usage(
    alpha: Provider,
) -> None:
    chunks = run([target(alpha)], lambda b: stream(b, chat("a b c", stream=True)))

    assert content(chunks) == "echo: a b c"
    assert {c["model"] for c in chunks} == {SERVED}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == USAGE
    (seen,) = alpha.seen
    assert seen.body["stream"] is True
    assert seen.body["stream_options"] == {"include_usage": True}
    assert seen.body["model"] == "alpha-model"


def test_a_stream_without_provider_usage_ends_with_unknown_counts(alpha: Provider) -> None:
    alpha.script(Fault(no_usage=True))
    request = CompletionRequest(model=SERVED, prompt="x y", stream=True)
    chunks = run([target(alpha)], lambda b: stream(b, request))
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "echo: x y"
    assert chunks[-1] == {
        "id": "x-1",
        "object": "text_completion",
        "created": 1,
        "model": SERVED,
        "choices": [],
        "usage": {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None},
    }


def test_a_stream_is_retried_and_falls_back_until_its_first_chunk(
    dead: Target, alpha: Provider, beta: Provider
) -> None:
    alpha.script(Fault(status=500), Fault(cut_after=0), Fault(status=503))
    chunks = run([dead, target(alpha), target(beta)], lambda b: stream(b, chat(stream=True)))
    assert content(chunks) == "echo: hi"
    assert [s.provider for s in alpha.log] == ["alpha", "alpha", "alpha", "beta"]


def test_a_stream_cut_after_its_first_chunk_ends_in_an_error_without_fallback(
    alpha: Provider, beta: Provider
) -> None:
    alpha.script(Fault(cut_after=2))
    got: list[dict[str, Any]] = []

    async def read(backend: UpstreamBackend) -> None:
        found = await backend.chat(chat("a b c", stream=True))
        assert not isinstance(found, dict)
        async for chunk in found:
            got.append(chunk)

    with pytest.raises(OpenAIError) as caught:
        run([target(alpha), target(beta)], read)
    assert content(got) == "echo: a"
    assert caught.value.status == 502
    assert "alpha broke off the stream" in caught.value.message
    assert beta.seen == []


def test_an_error_event_before_the_first_chunk_is_judged_like_a_status(alpha: Provider) -> None:
    alpha.script(Fault(error_event={"message": "prompt too long", "code": 400}))
    error = failure([target(alpha)], chat(stream=True))
    assert (error.status, error.message) == (400, "prompt too long")
    assert len(alpha.seen) == 1


def test_closing_a_stream_closes_the_upstream_response(alpha: Provider) -> None:
    alpha.script(Fault(stall_after=1))

    async def first_then_leave(backend: UpstreamBackend) -> dict[str, Any]:
        found = await backend.chat(chat(stream=True))
        assert not isinstance(found, dict)
        first = await anext(found)
        await found.aclose()  # type: ignore[attr-defined]
        # asked while the backend (and its connection pool) is still open
        assert await asyncio.to_thread(alpha.client_left.wait, 5), "still streaming to nobody"
        return first

    first = run([target(alpha)], first_then_leave)
    assert first["choices"][0]["delta"]["content"] == "echo:"


def test_a_stream_that_ends_without_done_ends_in_an_error(alpha: Provider) -> None:
    alpha.script(Fault(no_done=True))
    got: list[dict[str, Any]] = []

    async def read(backend: UpstreamBackend) -> None:
        found = await backend.chat(chat("a b", stream=True))
        assert not isinstance(found, dict)
        async for chunk in found:
            got.append(chunk)

    with pytest.raises(OpenAIError, match=r"closed the stream before \[DONE\]"):
        run([target(alpha)], read)
    assert content(got) == "echo: a b"


# --- from the registry ----------------------------------------------------------------------


def test_registered_endpoints_become_targets_with_their_keys(
    engine: Any, artifacts: ArtifactStore, alpha: Provider, beta: Provider
) -> None:
    registry = RegistryStore(engine, artifacts)
    registering.register_endpoint(registry, "gpt", alpha.url, "alpha-llm", api_key="sk-a")
    registering.register_endpoint(registry, "gpt-backup", beta.url, "beta-llm", api_key="sk-b")
    registering.register_endpoint(registry, "gpt-backup", beta.url, "beta-llm")
    alpha.script(Fault(status=403))

    backend = open_upstream(registry, "models:/gpt/1", fallbacks=["models:/gpt-backup/1"])

    async def ask() -> dict[str, Any]:
        try:
            return await answer(backend, ChatRequest(model="gpt", messages=[chat().messages[0]]))
        finally:
            await backend.aclose()

    found = asyncio.run(ask())
    assert found["model"] == "gpt"
    (served,) = backend.models()
    assert (served.id, served.version) == ("gpt", "models:/gpt/1")
    assert [(s.provider, s.body["model"], s.authorization) for s in alpha.log] == [
        ("alpha", "alpha-llm", "Bearer sk-a"),
        ("beta", "beta-llm", "Bearer sk-b"),
    ]
    assert "sk-a" not in repr(backend.targets)
    keyless = UpstreamBackend.from_versions(registry, registry.get_version("models:/gpt-backup/2"))
    assert keyless.targets[0].api_key is None
    keyless.close()


# --- through lmops' own OpenAI server, with the openai client --------------------------------


@pytest.fixture
def lmops_url(alpha: Provider, beta: Provider) -> Iterator[str]:
    backend = UpstreamBackend(SERVED, [target(alpha), target(beta)], policy=FAST)
    with serving(create_model_app(OpenAIService([backend])), lifespan="on") as url:
        yield f"{url}/v1"


def test_the_openai_client_gets_streams_errors_and_cut_streams_through_lmops(
    lmops_url: str, alpha: Provider, beta: Provider
) -> None:
    client = openai.OpenAI(base_url=lmops_url, api_key="unused", max_retries=0)
    messages: Any = [{"role": "user", "content": "a b"}]
    alpha.script(Fault(status=500), *[Fault(status=429)] * 2)
    with client:
        chunks = list(
            client.chat.completions.create(
                model=SERVED, messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
        assert {c.model for c in chunks} == {SERVED}
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens == 18
        assert [s.provider for s in alpha.log] == ["alpha"] * 3 + ["beta"]

        alpha.script(Fault(status=400, body={"error": {"message": "bad messages"}}))
        with pytest.raises(openai.BadRequestError, match="bad messages"):
            client.chat.completions.create(model=SERVED, messages=messages)

        alpha.script(Fault(cut_after=1))
        cut = client.chat.completions.create(model=SERVED, messages=messages, stream=True)
        with pytest.raises(openai.APIError, match="broke off the stream"):
            list(cut)


def test_a_target_needs_an_http_url_and_a_backend_a_target() -> None:
    with pytest.raises(InvalidInput):
        Target("ftp://example.com/v1", "m")
    with pytest.raises(InvalidInput):
        UpstreamBackend(SERVED, [])


def test_a_provider_answering_garbage_is_a_failed_target(alpha: Provider, beta: Provider) -> None:
    alpha.script(Fault(raw="<html>gateway</html>"))
    found = run([target(alpha), target(beta)], lambda b: answer(b, chat()))
    assert found["model"] == SERVED
    assert [s.provider for s in alpha.log] == ["alpha", "beta"]
