"""The gateway in a real `lmops server`: /v1 by endpoint name with the official `openai`
client, traffic splits, alias moves under load, per-key limits and budgets, the cache, and a
trace per request."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, lmops

pytestmark = pytest.mark.e2e

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with three versions of a tiny model (different seeds), v1 at @production."""
    home = tmp_path_factory.mktemp("gateway-home")
    for seed in ("1", "2", "3"):
        lmops(home, "models", "build-tiny", "--name", "tiny", "--seed", seed)
    lmops(home, "models", "alias", "tiny", "production", "1")
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[LiveServer]:
    live = LiveServer(home)
    yield live
    live.stop()


_clients: list[openai.OpenAI] = []


def client(server: LiveServer, key: str = "unused") -> openai.OpenAI:
    made = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    _clients.append(made)
    return made


@pytest.fixture(autouse=True, scope="module")
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def put_endpoint(server: LiveServer, name: str, routes: list[dict[str, Any]], **spec: Any) -> None:
    body = {"routes": routes, **spec}
    found = httpx.get(f"{server.url}/api/v1/endpoints/{name}")
    if found.status_code == 404:
        answer = httpx.post(f"{server.url}/api/v1/endpoints/{name}", json=body)
    else:
        answer = httpx.put(f"{server.url}/api/v1/endpoints/{name}", json=body)
    assert answer.status_code in (200, 201), answer.text


def spans(server: LiveServer, **filters: str) -> list[dict[str, Any]]:
    """Traces the server recorded, by the search's filters."""
    answer = httpx.post(f"{server.url}/api/v1/traces/search", json={"limit": 500, **filters})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["traces"])


def wait_for_traces(server: LiveServer, count: int, **filters: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        found = spans(server, **filters)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_an_endpoint_answers_the_openai_client(server: LiveServer) -> None:
    put_endpoint(server, "assistant", [{"model": "models:/tiny@production"}])
    c = client(server)
    assert "assistant" in [m.id for m in c.models.list().data]

    answer = c.chat.completions.create(
        model="assistant", messages=HELLO, max_tokens=5, temperature=0, user="ada"
    )
    assert answer.model == "assistant"
    assert answer.usage is not None and answer.usage.completion_tokens == 5

    chunks = list(
        c.chat.completions.create(
            model="assistant",
            messages=HELLO,
            max_tokens=5,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == answer.choices[0].message.content
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.total_tokens == answer.usage.total_tokens
    )

    done = c.completions.create(model="assistant", prompt="the cat", max_tokens=3)
    assert done.usage is not None and done.usage.completion_tokens == 3
    vectors = c.embeddings.create(model="assistant", input=["a", "b"], encoding_format="float")
    assert len(vectors.data) == 2

    traces = wait_for_traces(server, 1, user_id="ada")
    assert len(traces) == 1
    trace = httpx.get(f"{server.url}/api/v1/traces/{traces[0]['trace_id']}").json()
    assert trace["model_version"] == "models:/tiny/1"
    assert trace["endpoint"] == "assistant"
    assert (trace["input_tokens"], trace["output_tokens"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )


def test_unknown_model_and_bad_bodies_get_openai_errors(server: LiveServer) -> None:
    c = client(server)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        c.chat.completions.create(model="nobody", messages=HELLO)
    answer = httpx.post(f"{server.url}/v1/chat/completions", content=b"{nope")
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["error"]["message"]
    answer = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "x", "messages": "hi"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "messages"


def test_an_endpoint_to_a_missing_version_answers_503_not_500(server: LiveServer) -> None:
    put_endpoint(server, "ghost", [{"model": "models:/tiny/99"}])
    with pytest.raises(openai.InternalServerError) as caught:
        client(server).chat.completions.create(model="ghost", messages=HELLO, max_tokens=2)
    assert caught.value.status_code == 503
    assert "models:/tiny/99" in str(caught.value)


def test_a_sticky_split_keeps_each_user_on_one_version(server: LiveServer) -> None:
    put_endpoint(
        server,
        "split",
        [{"model": "models:/tiny/1", "weight": 50}, {"model": "models:/tiny/2", "weight": 50}],
    )
    c = client(server)
    users = [f"user-{i}" for i in range(12)]
    for user in users:
        for _ in range(2):
            c.chat.completions.create(
                model="split", messages=HELLO, max_tokens=1, temperature=0, user=user
            )
    versions: dict[str, set[str]] = {}
    for trace in wait_for_traces(server, 24, endpoint="split"):
        detail = httpx.get(f"{server.url}/api/v1/traces/{trace['trace_id']}").json()
        versions.setdefault(detail["user_id"], set()).add(detail["model_version"])
    assert set(versions) == set(users)
    assert all(len(v) == 1 for v in versions.values()), versions
    chosen = Counter(next(iter(v)) for v in versions.values())
    assert set(chosen) == {"models:/tiny/1", "models:/tiny/2"}, chosen


def test_moving_the_alias_switches_versions_without_dropping_requests(
    server: LiveServer, home: Path
) -> None:
    lmops(home, "models", "alias", "tiny", "staging", "1")
    put_endpoint(server, "follow", [{"model": "models:/tiny@staging"}], sticky=False)
    c = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    async def one(i: int) -> str:
        stream = await c.chat.completions.create(
            model="follow",
            messages=HELLO,
            max_tokens=20,
            stream=True,
            user=f"load-{i}",
        )
        reasons = [ch.choices[0].finish_reason async for ch in stream if ch.choices]
        return str(reasons[-1])

    async def load() -> list[str]:
        """Waves of 4 streams; the alias moves after the third, and the waves go on until
        well past the gateway's next look at the alias (every 2 s)."""
        results: list[str] = []
        moved_at: float | None = None
        wave = 0
        while moved_at is None or time.monotonic() - moved_at < 6 or wave < 6:
            results += await asyncio.gather(*(one(wave * 4 + i) for i in range(4)))
            wave += 1
            if wave == 3:
                # version 3 is loaded by no other endpoint: it loads while v1 answers
                lmops(home, "models", "alias", "tiny", "staging", "3")
                moved_at = time.monotonic()
        await c.close()
        return results

    results = asyncio.run(load())
    # Every stream ran to its end (a finish reason, no error): none was dropped.
    assert set(results) <= {"stop", "length"}, results

    traces = wait_for_traces(server, len(results), endpoint="follow")
    assert len(traces) == len(results)
    by_time = sorted(traces, key=lambda t: t["start_time"])
    versions = [
        httpx.get(f"{server.url}/api/v1/traces/{t['trace_id']}").json()["model_version"]
        for t in by_time
    ]
    assert versions[0] == "models:/tiny/1"
    assert versions[-1] == "models:/tiny/3"
    switch = versions.index("models:/tiny/3")
    assert set(versions[:switch]) == {"models:/tiny/1"}, versions
    assert set(versions[switch:]) == {"models:/tiny/3"}, versions  # no flapping back


def test_the_cache_answers_a_repeated_request(server: LiveServer) -> None:
    put_endpoint(server, "cached", [{"model": "models:/tiny/1"}], cache=True)
    c = client(server)
    first = c.chat.completions.create(
        model="cached", messages=HELLO, max_tokens=4, temperature=0, user="cache-user"
    )
    again = c.chat.completions.create(
        model="cached", messages=HELLO, max_tokens=4, temperature=0, user="cache-user"
    )
    other = c.chat.completions.create(
        model="cached", messages=HELLO, max_tokens=3, temperature=0, user="cache-user"
    )
    assert again.id == first.id  # the very answer, not a new generation
    assert other.id != first.id  # a different parameter is a different request
    traces = wait_for_traces(server, 3, endpoint="cached")
    hits = [
        httpx.get(f"{server.url}/api/v1/traces/{t['trace_id']}")
        .json()["spans"][0]["attributes"]
        .get("lmops.cache_hit")
        for t in traces
    ]
    assert sorted(bool(h) for h in hits) == [False, False, True]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, str]]:
    """A server with auth on, an endpoint, and a user's key (and its id)."""
    home = tmp_path_factory.mktemp("gateway-auth")
    lmops(home, "models", "build-tiny", "--name", "tiny")
    lmops(home, "users", "create", "ana")
    lmops(home, "projects", "add-member", "default", "ana", "editor")
    made = json.loads(lmops(home, "keys", "create", "--user", "ana", "--json"))
    lmops(home, "prices", "set", "tiny", "--input", "1e6", "--output", "1e6", "--source", "test")
    live = LiveServer(home, auth=True)
    from lmops.serving.entities import EndpointSpec, Route
    from lmops.serving.store import EndpointStore
    from lmops.store import open_engine

    store = EndpointStore(open_engine(f"sqlite:///{home / 'lmops.db'}"))
    store.create("chat", EndpointSpec(routes=[Route(model="models:/tiny/1")]))
    yield live, made["key"], made["id"]
    live.stop()


def test_models_lists_only_the_callers_projects_endpoints(
    secured: tuple[LiveServer, str, str],
) -> None:
    server, key, _ = secured
    assert [m.id for m in client(server, key).models.list().data] == ["chat"]
    home = server.home
    lmops(home, "projects", "create", "other")
    lmops(home, "users", "create", "olga")
    lmops(home, "projects", "add-member", "other", "olga", "editor")
    made = json.loads(
        lmops(home, "keys", "create", "--user", "olga", "--project", "other", "--json")
    )
    olga = client(server, made["key"])
    assert olga.models.list().data == []
    with pytest.raises(openai.NotFoundError):
        olga.models.retrieve("chat")
    with pytest.raises(openai.NotFoundError):
        olga.chat.completions.create(model="chat", messages=HELLO, max_tokens=1)


def test_keys_are_held_to_their_rate_limits(
    secured: tuple[LiveServer, str, str], tmp_path: Path
) -> None:
    server, key, key_id = secured
    c = client(server, key)
    with pytest.raises(openai.AuthenticationError):
        client(server, "lmk_wrong").chat.completions.create(model="chat", messages=HELLO)
    lmops(server.home, "keys", "limits", key_id, "--rpm", "2")
    time.sleep(5.5)  # the server re-reads a key's limits every 5 s
    for _ in range(2):
        c.chat.completions.create(model="chat", messages=HELLO, max_tokens=1)
    with pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="chat", messages=HELLO, max_tokens=1)
    assert "2 requests per minute" in str(caught.value)
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_a_spent_budget_refuses_until_next_month(secured: tuple[LiveServer, str, str]) -> None:
    server, key, key_id = secured
    limits = {"requests_per_minute": None, "tokens_per_minute": None, "monthly_budget": 5.0}
    answer = httpx.put(
        f"{server.url}/api/v1/keys/{key_id}/limits",
        json=limits,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 403  # an editor may not lift their own key's limits
    budget_key = json.loads(lmops(server.home, "keys", "create", "--user", "ana", "--json"))
    lmops(server.home, "keys", "limits", budget_key["id"], "--budget", "5")
    c = client(server, budget_key["key"])
    # $1 per token: the first answer (over 5 tokens) spends more than the $5 budget.
    c.chat.completions.create(model="chat", messages=HELLO, max_tokens=2)
    with pytest.raises(openai.RateLimitError, match="Budget exhausted"):
        c.chat.completions.create(model="chat", messages=HELLO, max_tokens=2)
    time.sleep(1.5)  # usage is written about once a second
    seen = httpx.get(
        f"{server.url}/api/v1/keys/{budget_key['id']}/limits",
        headers={"Authorization": f"Bearer {budget_key['key']}"},
    ).json()
    assert seen["limits"]["monthly_budget"] == 5.0
    assert seen["usage"]["requests"] == 1
    assert seen["usage"]["cost"] > 5
