"""The gateway pages in a real browser against a real `lmops server` that serves a tiny model:
the endpoints list and one endpoint's page show the traffic the `openai` client sent, and the
playground streams an answer and leaves a trace (its prompt versions: test_ui_playground)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import openai
import pytest
from playwright.sync_api import Browser, Locator, expect

from lmops.server.ui.payloads import format_ms
from lmops.serving.entities import Endpoint
from lmops.serving.gateway import choose
from lmops.tracing.activity import percentile
from tests.conftest import LiveServer, lmops
from tests.e2e.test_ui import Tab

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
HELLO = [{"role": "user", "content": "hello"}]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server over a store with two versions of a tiny model, v1 at @production."""
    home = tmp_path_factory.mktemp("endpoints-home")
    lmops(home, "models", "build-tiny", "--name", "tiny", "--seed", "1")
    lmops(home, "models", "build-tiny", "--name", "tiny", "--seed", "2")
    lmops(home, "models", "alias", "tiny", "production", "1")
    live = LiveServer(home)
    yield live
    live.stop()
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    made = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    yield made
    made.close()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Tab(context.new_page(), server.url)
    context.close()


def put_endpoint(
    server: LiveServer, name: str, routes: list[dict[str, Any]], **spec: Any
) -> Endpoint:
    answer = httpx.post(f"{server.url}/api/v1/endpoints/{name}", json={"routes": routes, **spec})
    assert answer.status_code == 201, answer.text
    return Endpoint.model_validate(answer.json())


def traces(server: LiveServer, count: int, **filters: str) -> list[dict[str, Any]]:
    """The traces matching `filters` once there are `count` of them (the gateway writes
    them in batches off the request path)."""
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.post(f"{server.url}/api/v1/traces/search", json={"limit": 500, **filters})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["traces"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def users_for(endpoint: Endpoint, route: str, count: int) -> list[str]:
    """Users the sticky split sends to `route`."""
    found = [u for u in (f"user-{i}" for i in range(500)) if choose(endpoint, u).model == route]
    return found[:count]


def latency_figures(found: list[dict[str, Any]]) -> tuple[str, str]:
    ordered = sorted(t["latency_ms"] for t in found if t["latency_ms"] is not None)
    return format_ms(percentile(ordered, 0.5)), format_ms(percentile(ordered, 0.95))


def shot(tab: Tab, label: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SHOTS / f"endpoints-{label}.png"), full_page=True)


def stat(row: Locator, name: str) -> Locator:
    return row.locator(f'[data-stat="{name}"]')


@pytest.fixture(scope="module")
def traffic(server: LiveServer, client: openai.OpenAI) -> dict[str, Any]:
    """A canary (v1 75%, v2 25%, sticky) and a plain endpoint, with requests of known users:
    five answered by v1 (two streamed), two by v2, one refused (too many tokens asked)."""
    canary = put_endpoint(
        server,
        "canary",
        [
            {"model": "models:/tiny@production", "weight": 75},
            {"model": "models:/tiny/2", "weight": 25},
        ],
        description="v2 takes a quarter of the traffic",
    )
    put_endpoint(server, "assistant", [{"model": "models:/tiny@production"}], cache=True)
    on_v1 = users_for(canary, "models:/tiny@production", 5)
    on_v2 = users_for(canary, "models:/tiny/2", 2)
    tokens = {"models:/tiny/1": [0, 0], "models:/tiny/2": [0, 0]}
    for i, user in enumerate(on_v1 + on_v2):
        version = "models:/tiny/1" if user in on_v1 else "models:/tiny/2"
        if i in (1, 3):
            chunks = list(
                client.chat.completions.create(
                    model="canary",
                    messages=HELLO,
                    max_tokens=6,
                    user=user,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            usage = chunks[-1].usage
        else:
            usage = client.chat.completions.create(
                model="canary", messages=HELLO, max_tokens=4 + i, user=user
            ).usage
        assert usage is not None
        tokens[version][0] += usage.prompt_tokens
        tokens[version][1] += usage.completion_tokens
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.chat.completions.create(
            model="canary", messages=HELLO, max_tokens=100_000, user=on_v1[0]
        )
    client.chat.completions.create(model="assistant", messages=HELLO, max_tokens=3)
    found = traces(server, 8, endpoint="canary")
    assert len(found) == 8
    return {"tokens": tokens, "traces": found}


def test_endpoints_list_shows_routes_and_recent_traffic(
    server: LiveServer, traffic: dict[str, Any], tab: Tab
) -> None:
    put_endpoint(server, "staging", [{"model": "models:/tiny@staging"}], sticky=False)
    assert tab.open("/endpoints") == 200
    page = tab.page
    expect(page.locator("nav").get_by_role("link", name="Endpoints")).to_have_attribute(
        "aria-current", "page"
    )
    row = page.locator('tr[data-endpoint="canary"]')
    expect(row.locator(".route")).to_have_count(2)
    production = row.locator('.route[data-route="models:/tiny@production"]')
    expect(production.locator(".share")).to_have_text("75%")
    expect(production.locator(".resolved")).to_have_text("v1")
    expect(production.locator(".resolved")).to_have_attribute("href", "/models/tiny/1")
    expect(production.locator(".badge.loaded")).to_have_text("loaded")
    expect(row.locator('.route[data-route="models:/tiny/2"] .share')).to_have_text("25%")
    expect(row).to_contain_text("sticky")

    tokens = traffic["tokens"]
    expect(stat(row, "requests")).to_have_text("8")
    expect(stat(row, "errors")).to_have_text("1")
    expect(stat(row, "rpm")).to_have_text(f"{8 / 15:.2f}")
    expect(stat(row, "tokens-in")).to_have_text(str(sum(t[0] for t in tokens.values())))
    expect(stat(row, "tokens-out")).to_have_text(str(sum(t[1] for t in tokens.values())))
    p50, p95 = latency_figures(traffic["traces"])
    expect(stat(row, "p50")).to_have_text(p50)
    expect(stat(row, "p95")).to_have_text(p95)

    assistant = page.locator('tr[data-endpoint="assistant"]')
    expect(stat(assistant, "requests")).to_have_text("1")
    expect(assistant).to_contain_text("cached")
    staging = page.locator('tr[data-endpoint="staging"]')
    expect(staging.locator(".badge.failing")).to_have_text("does not resolve")
    expect(staging.locator(".badge.failing")).to_have_attribute("title", re.compile("staging"))
    expect(staging.locator(".badge.loaded")).to_have_count(0)
    expect(stat(staging, "requests")).to_have_text("0")
    expect(stat(staging, "p50")).to_have_text("")
    shot(tab, "list")
    assert tab.errors == []


def test_endpoint_page_compares_its_versions(
    server: LiveServer, traffic: dict[str, Any], tab: Tab
) -> None:
    assert tab.open("/endpoints") == 200
    tab.page.locator('tr[data-endpoint="canary"]').get_by_role("link", name="canary").click()
    page = tab.page
    expect(page.locator("h1")).to_contain_text("canary")
    expect(page.locator("#summary h2")).to_have_text("Traffic · last 15 min")
    expect(stat(page.locator("#summary"), "requests")).to_have_text("8")
    expect(page.locator("#routes tbody tr")).to_have_count(2)

    by_version: dict[str, list[dict[str, Any]]] = {}
    for t in traffic["traces"]:
        by_version.setdefault(t["model_version"], []).append(t)
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    for uri, (tokens_in, tokens_out) in traffic["tokens"].items():
        row = page.locator(f'#versions tr[data-version="{uri}"]')
        answered = by_version[uri]
        errors = sum(t["status"] == "ERROR" for t in answered)
        expect(stat(row, "requests")).to_have_text(str(len(answered)))
        expect(stat(row, "errors")).to_have_text(str(errors))
        expect(stat(row, "tokens-in")).to_have_text(str(tokens_in))
        expect(stat(row, "tokens-out")).to_have_text(str(tokens_out))
        p50, p95 = latency_figures(answered)
        expect(stat(row, "p50")).to_have_text(p50)
        expect(stat(row, "p95")).to_have_text(p95)
        link = row.get_by_role("link", name="traces")
        query = urlencode({"range": "15m", "model": "tiny", "endpoint": "canary"})
        expect(link).to_have_attribute(
            "href", f"/traces?{query}&{urlencode({'model_version': uri})}"
        )
    assert [len(by_version[u]) for u in ("models:/tiny/1", "models:/tiny/2")] == [6, 2]
    # v1 streamed twice: its time to first token shows; v2 never streamed
    expect(
        stat(page.locator('#versions tr[data-version="models:/tiny/1"]'), "ttft")
    ).not_to_be_empty()
    expect(stat(page.locator('#versions tr[data-version="models:/tiny/2"]'), "ttft")).to_be_empty()

    page.wait_for_selector("#rate-chart.js-plotly-plot")
    page.wait_for_selector("#latency-chart.js-plotly-plot")
    plotted = page.locator("#rate-chart").evaluate(
        "el => el.data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0) / 2])"
    )  # requests per minute in 30 s steps: half of it is the requests of a step
    assert dict(plotted) == {"models:/tiny/1": 6, "models:/tiny/2": 2}
    latency_lines = page.locator("#latency-chart").evaluate("el => el.data.length")
    assert latency_lines == 4  # p50 and p95 per version
    shot(tab, "canary")

    page.locator('.ranges a[href="?range=24h"]').click()
    expect(page.locator("#summary h2")).to_have_text("Traffic · last 24 h")
    expect(stat(page.locator("#summary"), "requests")).to_have_text("8")
    assert tab.errors == []


def test_playground_streams_side_by_side_and_records_traces(
    server: LiveServer, client: openai.OpenAI, traffic: dict[str, Any], tab: Tab
) -> None:
    question = [{"role": "user", "content": "what is a canary?"}]
    expected = client.chat.completions.create(
        model="assistant", messages=question, max_tokens=8, temperature=0
    )
    before = len(traces(server, 2, endpoint="assistant"))
    assert tab.open("/playground?endpoint=assistant&endpoint=canary") == 200
    page = tab.page
    expect(page.locator("#endpoint-choice input:checked")).to_have_count(2)
    page.fill("#user", "what is a canary?")
    page.fill("#temperature", "0")
    page.fill("#max-tokens", "8")
    page.click("#run")
    for name in ("assistant", "canary"):
        column = page.locator(f'.pg-result[data-endpoint="{name}"]')
        expect(column.locator(".pg-state")).to_have_text("done", timeout=TIMEOUT_MS)
        streamed = column.locator(".pg-text").evaluate("el => el.textContent")
        assert len(streamed) > 0  # a random tiny model: maybe only whitespace
        expect(stat(column, "latency")).to_contain_text("total")
    assistant = page.locator('.pg-result[data-endpoint="assistant"]')
    answer = expected.choices[0].message.content
    assert expected.usage is not None and answer
    assert assistant.locator(".pg-text").evaluate("el => el.textContent") == answer
    tokens_out = stat(assistant, "tokens-out").locator("dd")
    expect(tokens_out).to_have_text(f"{expected.usage.completion_tokens} tokens")
    expect(stat(assistant, "ttft")).to_contain_text("ms")
    shot(tab, "playground")

    after = traces(server, before + 1, endpoint="assistant")
    assert len(after) == before + 1
    newest = httpx.get(f"{server.url}/api/v1/traces/{after[0]['trace_id']}").json()
    assert newest["spans"][0]["inputs"] == {"messages": question}
    assert newest["spans"][0]["attributes"]["lmops.stream"] is True
    assert newest["output_tokens"] == expected.usage.completion_tokens
    assert tab.errors == []
