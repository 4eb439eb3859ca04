"""The playground in a real browser against a real `lmops server` that serves a tiny model:
prompt versions run side by side on an endpoint with tokens, latency and cost, an edit runs as
a draft and is saved as the prompt's next version, and a broken edit is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from lmops.core.settings import Settings
from lmops.prompts.entities import Prompt
from lmops.prompts.sdk import open_prompts
from lmops.prompts.store import PromptStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab
from tests.e2e.test_ui_endpoints import TIMEOUT_MS, lmops, put_endpoint, stat, traces

pytestmark = [pytest.mark.e2e]

SCREENSHOT = Path("/tmp/playground.png")
TIMES = "\u00d7"  # the plan says "2 prompt versions x 1 endpoint" with a multiplication sign
PRICE = {"input_per_million": 1000.0, "output_per_million": 3000.0, "source": "e2e test"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server over a store with a tiny model and an endpoint `assistant` that serves it."""
    home = tmp_path_factory.mktemp("playground-home")
    lmops(home, "models", "build-tiny", "--name", "tiny", "--seed", "1")
    live = LiveServer(home)
    put_endpoint(live, "assistant", [{"model": "models:/tiny/1"}])
    yield live
    live.stop()
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def prompts(server: LiveServer) -> PromptStore:
    return open_prompts(Settings(home=server.home, uri=server.uri))


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Tab(context.new_page(), server.url)
    context.close()


def panel(page: Page, prompt: str, endpoint: str = "assistant") -> Locator:
    return page.locator(f'.pg-result[data-prompt="{prompt}"][data-endpoint="{endpoint}"]')


def card(page: Page, uri: str) -> Locator:
    return page.locator(f'.pg-version[data-uri="{uri}"]')


def fill_variable(page: Page, name: str, value: str) -> None:
    page.fill(f'#prompt-variables textarea[data-variable="{name}"]', value)


def tokens(column: Locator, name: str) -> int:
    text = stat(column, name).locator("dd").inner_text()
    return int(text.removesuffix(" tokens"))


def versions_of(server: LiveServer, name: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/api/v1/prompts/{name}/versions")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def run_and_wait(page: Page, columns: list[Locator]) -> None:
    page.click("#run")
    for column in columns:
        expect(column.locator(".pg-state")).to_have_text("done", timeout=TIMEOUT_MS)


def test_versions_side_by_side_with_tokens_latency_and_cost(
    server: LiveServer, prompts: PromptStore, tab: Tab
) -> None:
    text = prompts.create_version(
        "qa", template="Answer briefly: {{ question }}", commit_message="first"
    )
    chat = prompts.create_version(
        "qa",
        messages=[
            {"role": "system", "content": "You answer in {{ language }}. <b>Be brief.</b>"},
            {"role": "user", "content": "Question: {{ question }}"},
        ],
        model_params={"temperature": 0.0, "max_tokens": 5},
        commit_message="a chat with a language",
    )
    assert tab.open("/playground?endpoint=assistant") == 200
    page = tab.page
    page.select_option("#prompt-select", text.uri)
    page.select_option("#prompt-select", chat.uri)
    expect(page.locator(".pg-version")).to_have_count(2)
    expect(page.locator(f'#prompt-select option[value="{text.uri}"]')).to_be_disabled()
    # one field per variable of either version; the free text fields give way to the prompts
    expect(page.locator("#prompt-variables textarea")).to_have_count(2)
    expect(page.locator("#prompt-variables")).to_contain_text("used by qa v1, qa v2")
    expect(page.locator("#user")).to_be_hidden()
    expect(page.locator("#plan")).to_have_text(f"2 prompt versions {TIMES} 1 endpoint: 2 panels.")
    fill_variable(page, "question", "<script>alert(1)</script>")
    fill_variable(page, "language", "French")
    page.fill("#temperature", "0")
    page.fill("#max-tokens", "8")

    columns = [panel(page, text.uri), panel(page, chat.uri)]
    run_and_wait(page, columns)
    for column in columns:
        for name in ("tokens-in", "tokens-out", "ttft", "latency"):
            expect(stat(column, name)).not_to_be_empty()
        expect(stat(column, "latency")).to_contain_text("total")
        expect(stat(column, "cost").locator("dd")).to_have_text("no price")
    # the chat version runs with its own parameters, the text version with the form's
    expect(columns[1].locator(".pg-params")).to_contain_text("max_tokens 5")
    expect(columns[0].locator(".pg-params")).to_contain_text("max_tokens 8")
    assert tokens(columns[1], "tokens-out") <= 5

    # each version's run is recorded with it, and got only the variables it uses
    recorded = {uri: traces(server, 1, prompt_version=uri) for uri in (text.uri, chat.uri)}
    assert all(len(found) == 1 for found in recorded.values())
    sent = {
        uri: httpx.get(f"{server.url}/api/v1/traces/{found[0]['trace_id']}").json()["spans"][0]
        for uri, found in recorded.items()
    }
    question = "<script>alert(1)</script>"
    assert sent[text.uri]["inputs"]["messages"] == [
        {"role": "user", "content": f"Answer briefly: {question}"}
    ]
    assert sent[chat.uri]["inputs"]["messages"] == [
        {"role": "system", "content": "You answer in French. <b>Be brief.</b>"},
        {"role": "user", "content": f"Question: {question}"},
    ]
    assert sent[chat.uri]["attributes"]["gen_ai.request.max_tokens"] == 5

    # with a price for the model, each panel shows what its answer cost
    answer = httpx.put(f"{server.url}/api/v1/prices/tiny", json={"model": "tiny", **PRICE})
    assert answer.status_code == 200, answer.text
    run_and_wait(page, columns)
    for column in columns:
        cost = (
            tokens(column, "tokens-in") * PRICE["input_per_million"]
            + tokens(column, "tokens-out") * PRICE["output_per_million"]
        ) / 1_000_000
        expect(stat(column, "cost").locator("dd")).to_have_text(f"${cost:.4f}")
        expect(stat(column, "cost")).to_have_attribute("title", "price table: tiny (e2e test)")
    # the figure is the one the trace records
    newest = traces(server, 2, prompt_version=chat.uri)
    assert len(newest) == 2
    figure = stat(columns[1], "cost").locator("dd").inner_text()
    assert newest[0]["cost"] is not None and figure == f"${newest[0]['cost']:.4f}"
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert tab.errors == []


def test_an_edit_runs_as_a_draft_and_is_saved_as_the_next_version(
    server: LiveServer, prompts: PromptStore, tab: Tab
) -> None:
    first = prompts.create_version(
        "support",
        messages=[
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "Question: {{ question }}"},
        ],
        model_params={"temperature": 0.0, "max_tokens": 4},
        commit_message="first",
    )
    assert tab.open(f"/playground?endpoint=assistant&prompt={first.uri}") == 200
    page = tab.page
    version = card(page, first.uri)
    expect(version).to_have_count(1)
    expect(page.locator("#prompt-variables textarea")).to_have_count(1)
    version.locator(".pg-edit").click()
    system = version.locator(".pg-message textarea").first
    expect(system).to_have_value("You are a support agent.")
    edited = "You are a support agent. Answer in a {{ tone }} tone."
    system.fill(edited)
    expect(version.locator(".badge.draft")).to_be_visible()
    expect(version.locator(".pg-check")).to_have_text(f"Draft of {first.uri}: uses question, tone.")
    expect(page.locator("#prompt-variables textarea")).to_have_count(2)
    fill_variable(page, "question", "where is my order?")
    fill_variable(page, "tone", "friendly")

    # the draft runs, marked as such, and is not recorded as the version it came from
    before = len(traces(server, 0, endpoint="assistant"))
    column = panel(page, first.uri)
    run_and_wait(page, [column])
    expect(column).to_have_attribute("data-draft", "true")
    expect(column.locator(".badge.draft")).to_have_text("draft")
    assert len(traces(server, before + 1, endpoint="assistant")) == before + 1
    page.screenshot(path=str(SCREENSHOT.with_name("playground-draft.png")), full_page=True)
    assert traces(server, 0, prompt_version=first.uri) == []

    version.locator(".pg-commit").fill("ask for a tone")
    version.locator(".pg-save").click()
    second = f"prompts:/support/{first.version + 1}"
    saved = card(page, second)
    expect(saved.locator(".pg-save-status")).to_have_text(
        f"Saved as version {first.version + 1} ({second}), from {first.uri}."
    )
    expect(saved.locator(".pg-version-head a")).to_have_text(f"support v{first.version + 1} (chat)")
    expect(saved.locator(".badge.draft")).to_be_hidden()
    expect(page.locator(f'#prompt-select option[value="{second}"]')).to_be_disabled()
    registered = Prompt.model_validate(
        httpx.get(f"{server.url}/api/v1/prompts/support/versions/{first.version + 1}").json()
    )
    assert registered.messages is not None
    assert [m.content for m in registered.messages] == [edited, "Question: {{ question }}"]
    assert registered.commit_message == "ask for a tone"
    assert registered.model_params == first.model_params
    assert registered.variables == ["question", "tone"]
    assert [v["version"] for v in versions_of(server, "support")] == [1, 2]

    # now it runs as the new version, and is recorded with it
    run_and_wait(page, [panel(page, second)])
    expect(panel(page, second)).to_have_attribute("data-draft", "false")
    assert len(traces(server, 1, prompt_version=second)) == 1
    assert tab.errors == []


def test_a_broken_edit_is_refused_with_its_position_and_saves_nothing(
    server: LiveServer, prompts: PromptStore, tab: Tab
) -> None:
    first = prompts.create_version("greeting", template="Hello {{ name }}", commit_message="v1")
    assert tab.open(f"/playground?endpoint=assistant&prompt={first.uri}") == 200
    page = tab.page
    version = card(page, first.uri)
    version.locator(".pg-edit").click()
    version.locator(".pg-template").fill("Hello }} {{ name }}")
    problem = "template has an unbalanced '}}' at line 1, column 7"
    expect(version.locator(".pg-check")).to_have_text(problem)
    version.locator(".pg-commit").fill("oops")
    version.locator(".pg-save").click()
    expect(version.locator(".pg-save-status")).to_have_text(f"Not saved: {problem}")
    expect(version).to_have_attribute("data-uri", first.uri)
    assert [v["version"] for v in versions_of(server, "greeting")] == [1]
    # the browser logs each refusal (the check as typed, the save) itself
    assert tab.errors and all("status of 400" in e for e in tab.errors), tab.errors
    tab.errors.clear()

    # a run of the broken draft fails in its panel with the same message, and calls nothing
    fill_variable(page, "name", "Ada")
    page.click("#run")
    column = panel(page, first.uri)
    expect(column.locator(".pg-state")).to_have_text("failed", timeout=TIMEOUT_MS)
    expect(column.locator(".pg-error")).to_have_text(problem)
    assert all("status of 400" in e for e in tab.errors), tab.errors
    tab.errors.clear()

    # discarding the edit brings back the registered text, and saving it is refused
    version.locator(".pg-discard").click()
    expect(version.locator(".pg-template")).to_have_value("Hello {{ name }}")
    expect(version.locator(".badge.draft")).to_be_hidden()
    version.locator(".pg-save").click()
    expect(version.locator(".pg-save-status")).to_contain_text("Nothing to save")
    assert [v["version"] for v in versions_of(server, "greeting")] == [1]
    assert tab.errors == []


def test_the_grid_stops_at_eight_panels(server: LiveServer, prompts: PromptStore, tab: Tab) -> None:
    for name in ("second", "third"):
        put_endpoint(server, name, [{"model": "models:/tiny/1"}])
    uris = [
        prompts.create_version("many", template=f"Variant {i}: {{{{ x }}}}").uri for i in range(3)
    ]
    query = "&".join(f"prompt={u}" for u in uris)
    assert tab.open(f"/playground?endpoint=assistant&endpoint=second&{query}") == 200
    page = tab.page
    expect(page.locator(".pg-version")).to_have_count(3)
    expect(page.locator("#plan")).to_have_text(f"3 prompt versions {TIMES} 2 endpoints: 6 panels.")
    expect(page.locator("#run")).to_be_enabled()
    page.check('#endpoint-choice input[value="third"]')
    expect(page.locator("#plan")).to_have_text(
        f"3 prompt versions {TIMES} 3 endpoints make 9 panels: at most 8 run side by side. "
        "Remove a version or an endpoint."
    )
    expect(page.locator("#run")).to_be_disabled()
    card(page, uris[0]).locator(".pg-remove").click()
    expect(page.locator("#plan")).to_have_text(f"2 prompt versions {TIMES} 3 endpoints: 6 panels.")
    expect(page.locator("#run")).to_be_enabled()
    assert tab.errors == []
