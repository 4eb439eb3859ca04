"""An endpoint's ordered fallbacks: the gateway's parts over a real store and registry, with
external models served by an OpenAI-compatible provider we start (each model name says how it
answers), and the same through a real `lmops server` and the official `openai` client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lmops.artifacts import ArtifactStore
from lmops.core.errors import NotFound
from lmops.registry import registering
from lmops.registry.entities import ModelVersion
from lmops.registry.store import RegistryStore
from lmops.serving.backends import Backend
from lmops.serving.entities import EndpointSpec, Route
from lmops.serving.gateway import Deployments, GatewayRouter
from lmops.serving.protocol import ChatRequest, EmbeddingRequest, OpenAIError
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService
from lmops.serving.store import EndpointStore
from lmops.serving.upstream import RetryPolicy, UpstreamBackend
from lmops.store import open_engine
from lmops.tracing.rows import SpanRow
from tests.conftest import LiveServer, free_port
from tests.serving.conftest import serving

T = TypeVar("T")
FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002, max_retry_after=0.5)
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
TRIED = "lmops.fallbacks_tried"


# --- the provider -------------------------------------------------------------------------


class Provider:
    """An OpenAI-compatible server whose model names say how it answers: `ok-NAME` answers
    "from NAME", `status-N` fails with HTTP N, `cut` breaks its stream off after one chunk."""

    def __init__(self) -> None:
        self.seen: list[str] = []  # the model of each request, in order
        self.url = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        async def answer(request: Request) -> Response:
            body = await request.json()
            model = str(body["model"])
            self.seen.append(model)
            if model.startswith("status-"):
                status = int(model.removeprefix("status-"))
                error = {"message": f"the provider says {status}", "type": "invalid_request_error"}
                if status == 400:
                    error.update(param="messages", code="context_length_exceeded")
                return JSONResponse({"error": error}, status_code=status)
            if request.url.path.endswith("/embeddings"):
                data = [{"object": "embedding", "index": 0, "embedding": [float(len(model))]}]
                return JSONResponse(
                    {"object": "list", "data": data, "model": model, "usage": USAGE}
                )
            text = "from " + model.removeprefix("ok-")
            if body.get("stream"):
                return _stream(model, text)
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return JSONResponse(
                {"id": "x", "object": "chat.completion", "created": 1, "model": model}
                | {"choices": [choice], "usage": USAGE}
            )

        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            app.post(path)(answer)
        return app


def _stream(model: str, text: str) -> StreamingResponse:
    head = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**head, 'choices': [choice]})}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        if model == "cut":
            raise RuntimeError("the provider drops the connection")
        for word in text.split(" "):
            yield chunk({"content": word + " "})
        yield chunk({}, "stop")
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': USAGE})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


# The external models registered against the provider (or a port where nothing listens).
MODELS = {
    "good": "ok-good",
    "spare": "ok-spare",
    "broken": "status-500",
    "busy": "status-503",
    "locked": "status-401",
    "strict": "status-400",
    "cut": "cut",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = Provider()
    with serving(found.app()) as url:
        found.url = f"{url}/v1"
        yield found


@pytest.fixture
def seen(provider: Provider) -> list[str]:
    provider.seen.clear()
    return provider.seen


def register(registry: RegistryStore, provider: Provider) -> None:
    for name, served in MODELS.items():
        registering.register_endpoint(registry, name, provider.url, served)
    registering.register_endpoint(registry, "gone", f"http://127.0.0.1:{free_port()}/v1", "x")
    registry.set_alias("spare", "production", 1)


# --- the gateway's parts over a store ---------------------------------------------------


class Gateway:
    """Endpoints and the registry in a store, and what the gateway recorded."""

    def __init__(self, engine: Any, artifacts: ArtifactStore) -> None:
        self.endpoints = EndpointStore(engine)
        self.registry = RegistryStore(engine, artifacts)
        self.spans: list[SpanRow] = []

    def endpoint(self, route: str, *fallbacks: str, name: str = "chat") -> None:
        spec = EndpointSpec(routes=[Route(model=route)], fallbacks=list(fallbacks))
        try:
            self.endpoints.update(name, spec)
        except NotFound:
            self.endpoints.create(name, spec)

    def run(self, scenario: Callable[[OpenAIService], Awaitable[T]]) -> T:
        """`scenario` on a gateway service over the store, closed after it."""

        def load(store: RegistryStore, version: ModelVersion) -> Backend:
            return UpstreamBackend.from_versions(store, version, policy=FAST, timeout=5)

        async def main() -> T:
            router = GatewayRouter(self.endpoints, Deployments(self.registry, load))
            service = OpenAIService(router, record=lambda row, _: self.spans.append(row))
            try:
                return await scenario(service)
            finally:
                backends = [d.backend for d in router.deployments.loaded()]
                service.close()
                for backend in backends:
                    assert isinstance(backend, UpstreamBackend)
                    await backend.aclose()

        return asyncio.run(main())

    def span(self) -> SpanRow:
        (span,) = self.spans
        return span


@pytest.fixture
def gateway(tmp_path: Path, provider: Provider) -> Gateway:
    engine = open_engine(f"sqlite:///{tmp_path / 'lmops.db'}")
    made = Gateway(engine, ArtifactStore(str(tmp_path / "artifacts")))
    register(made.registry, provider)
    return made


def chat(model: str = "chat", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}], **fields)


async def answer(service: OpenAIService, request: ChatRequest) -> dict[str, Any]:
    found = await service.generate(request, Caller())
    assert isinstance(found, dict)
    return found


async def events(service: OpenAIService, request: ChatRequest) -> list[dict[str, Any]]:
    found = await service.generate(request, Caller())
    assert not isinstance(found, dict)
    body = b"".join([piece async for piece in found]).decode()
    data = [line[6:] for line in body.split("\n\n") if line.startswith("data: ")]
    return [json.loads(d) for d in data if d != "[DONE]"]


def failure(gateway: Gateway, request: ChatRequest) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        gateway.run(lambda s: s.generate(request, Caller()))
    return caught.value


def text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# --- falling back -------------------------------------------------------------------------


def test_a_failing_route_falls_back_in_order_and_the_trace_says_so(
    gateway: Gateway, seen: list[str]
) -> None:
    gateway.endpoint("models:/broken/1", "models:/busy/1", "models:/spare@production")
    found = gateway.run(lambda s: answer(s, chat()))

    assert found["model"] == "chat"
    assert found["choices"][0]["message"]["content"] == "from spare"
    # the upstream retried each as its policy allows; then the next model took over
    assert seen == ["status-500"] * 3 + ["status-503"] * 3 + ["ok-spare"]
    span = gateway.span()
    assert span["status"] == "OK"
    assert (span["context"]["model_version"], span["model"]) == ("models:/spare/1", "spare")
    broken, busy = span["attributes"][TRIED]
    assert broken.startswith("models:/broken/1: 502 No upstream of the model 'broken' answered")
    assert "HTTP 500: the provider says 500 (after 3 tries)" in broken
    assert busy.startswith("models:/busy/1: 503 ")
    assert span["input_tokens"] == USAGE["prompt_tokens"]


@pytest.mark.parametrize(
    ("route", "why", "tries"),
    [
        ("models:/locked/1", "502 No upstream", ["status-401"]),  # our key: skipped at once
        ("models:/gone/1", "could not connect", []),
        ("models:/nowhere/1", "503 this endpoint routes to models:/nowhere/1", []),
    ],
    ids=["refused-key", "connection-refused", "cannot-load"],
)
def test_a_refused_key_a_dead_upstream_and_an_unloadable_model_fall_back(
    gateway: Gateway, seen: list[str], route: str, why: str, tries: list[str]
) -> None:
    gateway.endpoint(route, "models:/good/1")
    found = gateway.run(lambda s: answer(s, chat()))
    assert found["choices"][0]["message"]["content"] == "from good"
    assert seen == [*tries, "ok-good"]
    span = gateway.span()
    assert span["context"]["model_version"] == "models:/good/1"
    (tried,) = span["attributes"][TRIED]
    assert tried.startswith(f"{route}: ") and why in tried


def test_the_callers_own_error_is_not_retried_elsewhere(gateway: Gateway, seen: list[str]) -> None:
    gateway.endpoint("models:/strict/1", "models:/good/1")
    error = failure(gateway, chat())
    assert (error.status, error.code, error.param) == (400, "context_length_exceeded", "messages")
    assert seen == ["status-400"]
    span = gateway.span()
    assert span["status"] == "ERROR" and TRIED not in span["attributes"]
    assert span["context"]["model_version"] == "models:/strict/1"


def test_a_stream_falls_back_before_its_first_chunk(gateway: Gateway, seen: list[str]) -> None:
    gateway.endpoint("models:/locked/1", "models:/good/1")
    chunks = gateway.run(lambda s: events(s, chat(stream=True)))
    assert text(chunks).strip() == "from good"
    assert all(c["model"] == "chat" for c in chunks)
    assert seen == ["status-401", "ok-good"]
    span = gateway.span()
    assert span["context"]["model_version"] == "models:/good/1"
    assert span["attributes"][TRIED][0].startswith("models:/locked/1: 502")


def test_a_stream_that_broke_after_its_first_chunk_is_not_retried(
    gateway: Gateway, seen: list[str]
) -> None:
    gateway.endpoint("models:/cut/1", "models:/good/1")
    chunks = gateway.run(lambda s: events(s, chat(stream=True)))
    first, error = chunks
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert "broke off the stream" in error["error"]["message"]
    assert seen == ["cut"]  # the client had output: no other model may answer now
    assert gateway.span()["status"] == "ERROR"


def test_embeddings_fall_back(gateway: Gateway, seen: list[str]) -> None:
    gateway.endpoint("models:/broken/1", "models:/good/1")
    request = EmbeddingRequest(model="chat", input="a")
    found = gateway.run(lambda s: s.embed(request, Caller()))
    assert found["model"] == "chat" and found["data"][0]["embedding"] == [7.0]
    assert seen == ["status-500"] * 3 + ["ok-good"]
    assert gateway.span()["context"]["model_version"] == "models:/good/1"


# --- when nothing answers -----------------------------------------------------------------


def test_when_every_model_fails_the_error_names_each_in_order(
    gateway: Gateway, seen: list[str]
) -> None:
    gateway.endpoint("models:/broken/1", "models:/locked/1", "models:/nowhere/2")
    error = failure(gateway, chat())
    assert (error.status, error.type, error.code) == (502, "server_error", "fallbacks_failed")
    message = error.message
    assert message.startswith("No model answered; tried in order: models:/broken/1: 502 ")
    assert message.index("models:/locked/1: 502") < message.index("models:/nowhere/2: 503")
    span = gateway.span()
    assert span["status"] == "ERROR"
    assert span["attributes"]["http.response.status_code"] == 502
    assert [t.split(":")[1] for t in span["attributes"][TRIED]] == [
        "/broken/1",
        "/locked/1",
        "/nowhere/2",
    ]

    # each only unavailable: a 503 the client may retry; a stream gets a status, not an event
    gateway.endpoint("models:/busy/1", "models:/nowhere/3")
    error = failure(gateway, chat(stream=True))
    assert (error.status, error.code) == (503, "fallbacks_failed")
    assert "models:/busy/1: 503" in error.message and "models:/nowhere/3: 503" in error.message


def test_nothing_that_loads_is_a_clear_503(gateway: Gateway, seen: list[str]) -> None:
    gateway.endpoint("models:/nowhere/1", "models:/nowhere/2")
    error = failure(gateway, chat())
    assert (error.status, error.code) == (503, "fallbacks_failed")
    assert "models:/nowhere/1: 503" in error.message and "models:/nowhere/2: 503" in error.message
    assert error.retry_after == 5
    assert seen == []


def test_without_fallbacks_the_routes_error_comes_as_it_was(
    gateway: Gateway, seen: list[str]
) -> None:
    gateway.endpoint("models:/broken/1")
    error = failure(gateway, chat())
    assert (error.status, error.code) == (502, "upstream_failed")
    assert TRIED not in gateway.span()["attributes"]


# --- what stays loaded --------------------------------------------------------------------


def test_a_fallback_stays_loaded_while_an_endpoint_falls_back_to_it(
    gateway: Gateway, seen: list[str]
) -> None:
    gateway.endpoint("models:/broken/1", "models:/spare/1", name="one")
    gateway.endpoint("models:/good/1", "models:/spare/1", name="two")

    async def scenario(service: OpenAIService) -> list[list[str]]:
        router = service.router
        assert isinstance(router, GatewayRouter)

        def loaded() -> list[str]:
            return sorted(d.version.uri for d in router.deployments.loaded())

        found = await answer(service, chat(model="one"))
        assert found["choices"][0]["message"]["content"] == "from spare"
        await answer(service, chat(model="two"))
        steps = [loaded()]
        gateway.endpoint("models:/broken/1", name="one")  # "two" still falls back to spare
        service.forget_endpoint("default", "one")
        steps.append(loaded())
        gateway.endpoint("models:/good/1", name="two")
        service.forget_endpoint("default", "two")
        steps.append(loaded())
        return steps

    assert gateway.run(scenario) == [
        ["models:/broken/1", "models:/good/1", "models:/spare/1"],
        ["models:/broken/1", "models:/good/1", "models:/spare/1"],
        ["models:/broken/1", "models:/good/1"],
    ]


# --- through a real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("fallbacks-home")
    registry = RegistryStore(
        open_engine(f"sqlite:///{home / 'lmops.db'}"), ArtifactStore(str(home / "artifacts"))
    )
    register(registry, provider)
    live = LiveServer(home)
    yield live
    live.stop()


@pytest.mark.e2e
def test_the_server_answers_from_the_fallback_and_traces_it(
    server: LiveServer, seen: list[str]
) -> None:
    body = {"routes": [{"model": "models:/locked/1"}], "fallbacks": ["models:/spare@production"]}
    made = httpx.post(f"{server.url}/api/v1/endpoints/assistant", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["fallbacks"] == ["models:/spare@production"]

    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client:
        messages: Any = [{"role": "user", "content": "hi"}]
        found = client.chat.completions.create(model="assistant", messages=messages, user="fb")
        assert (found.model, found.choices[0].message.content) == ("assistant", "from spare")
        stream = client.chat.completions.create(
            model="assistant", messages=messages, stream=True, user="fb"
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).strip() == (
            "from spare"
        )
        assert seen == ["status-401", "ok-spare"] * 2

        body["fallbacks"] = ["models:/nowhere/1"]
        assert httpx.put(f"{server.url}/api/v1/endpoints/assistant", json=body).status_code == 200
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="assistant", messages=messages, user="fb-fail")
        assert caught.value.status_code == 502
        message = caught.value.response.json()["error"]["message"]
        assert "models:/locked/1: 502" in message and "models:/nowhere/1: 503" in message

    traces = _traces(server, 3)
    answered = [t for t in traces if t["user_id"] == "fb"]
    assert {t["model_version"] for t in answered} == {"models:/spare/1"}
    detail = httpx.get(f"{server.url}/api/v1/traces/{answered[0]['trace_id']}").json()
    (tried,) = detail["spans"][0]["attributes"][TRIED]
    assert tried.startswith("models:/locked/1: 502 ")
    [failed] = [t for t in traces if t["user_id"] == "fb-fail"]
    detail = httpx.get(f"{server.url}/api/v1/traces/{failed['trace_id']}").json()
    assert len(detail["spans"][0]["attributes"][TRIED]) == 2


def _traces(server: LiveServer, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.post(
            f"{server.url}/api/v1/traces/search", json={"endpoint": "assistant", "limit": 50}
        )
        assert answer.status_code == 200, answer.text
        found = list(answer.json()["traces"])
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
