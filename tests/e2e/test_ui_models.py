"""The model registry pages in a real browser against a real `lmops server`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lmops.core.settings import Settings
from lmops.registry import registering
from lmops.registry.entities import ModelVersion
from lmops.registry.sdk import open_registry
from lmops.tracking.entities import Run
from lmops.tracking.store import TrackingStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import ARGS, CHROMIUM, Tab
from tests.registry.conftest import fake_model_dir

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
SECRET = "sk-e2e-never-shown-4242"


@dataclass
class Seeded:
    name: str
    v1: ModelVersion
    v2: ModelVersion
    lora: ModelVersion
    endpoint: ModelVersion
    run: Run


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield found
        found.close()


@pytest.fixture
def tab(browser: Browser, live_server: LiveServer) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Tab(context.new_page(), live_server.url)
    context.close()


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """chat-*: v1 imported (135M parameters), v2 from a run; an adapter; an endpoint."""
    store = open_registry(Settings(home=live_server.home, uri=live_server.uri))
    tmp = tmp_path_factory.mktemp("models")
    name = f"chat-{uuid4().hex[:6]}"
    v1 = registering.register_directory(
        store,
        name,
        fake_model_dir(tmp / "base", params=1_000_000),
        description="SmolLM-style base model, imported from disk.",
        tags={"team": "nlp", "dataset": "support-chats"},
        license="apache-2.0",
    )
    tracking = TrackingStore(store.engine, store.artifacts)
    run = tracking.create_run(tracking.create_experiment(f"sft-{name}").id, name="sft-lr3e-4")
    tracking.log_artifact(run.id, fake_model_dir(tmp / "out", params=64), "model")
    v2 = registering.register_run_artifact(store, name, f"runs:/{run.id}/model")
    lora = registering.register_directory(
        store, f"{name}-lora", fake_model_dir(tmp / "lora", adapter=True), base=v1.uri
    )
    endpoint = registering.register_endpoint(
        store, f"{name}-hosted", "https://llm.example.com/v1", "gpt-x", api_key=SECRET
    )
    store.set_alias(name, "production", 1)
    store.set_alias(name, "staging", 2)
    return Seeded(name, store.get_version_by_id(v1.id), v2, lora, endpoint, run)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"models-{name}.png"), full_page=True)


def test_from_the_list_to_a_model_and_its_versions(seeded: Seeded, tab: Tab) -> None:
    assert tab.open("/models") == 200
    page = tab.page
    row = page.locator(f"#models tr[data-model='{seeded.name}']")
    expect(row.locator(".alias-badge")).to_have_text(["@production", "@staging"])
    shot(page, "list")
    row.locator("td.name a").click()
    expect(page).to_have_url(re.compile(rf"/models/{seeded.name}$"))
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    first = page.locator("#versions tr[data-version='1']")
    expect(first.locator("td").nth(3)).to_have_text("1M")
    expect(first.locator(".alias-badge")).to_have_text("@production")
    expect(page.locator("#versions tr[data-version='2'] .source-badge")).to_have_text("run")
    expect(page.locator("#aliases-panel .alias-badge")).to_have_text(
        ["@production", "@staging", "@latest"]
    )
    shot(page, "model")
    page.locator("#aliases-panel a.alias-badge", has_text="@staging").click()
    expect(page).to_have_url(re.compile(rf"/models/{seeded.name}/2$"))
    expect(page.locator("main h1")).to_contain_text(f"{seeded.name} v2")
    assert tab.errors == []


def test_version_pages_show_format_files_source_and_lineage(seeded: Seeded, tab: Tab) -> None:
    assert tab.open(f"/models/{seeded.name}/1") == 200
    page = tab.page
    expect(page.locator("#parameters")).to_have_text("1M")
    expect(page.locator("#files tbody tr")).to_have_count(4)
    expect(page.locator("#tags tbody tr")).to_have_count(2)
    expect(page.locator("#downstream li")).to_contain_text(f"models:/{seeded.name}-lora/1")
    shot(page, "version-import")

    assert tab.open(f"/models/{seeded.name}/2") == 200
    expect(page.locator("#upstream li")).to_contain_text("sft-lr3e-4")
    shot(page, "version-run")
    page.locator("#source a", has_text="sft-lr3e-4").click()
    expect(page).to_have_url(re.compile(rf"/runs/{seeded.run.id}$"))

    assert tab.open(f"/models/{seeded.name}-lora/1") == 200
    expect(page.locator("#format")).to_contain_text(f"models:/{seeded.name}/1")
    shot(page, "version-adapter")
    page.locator("#upstream a").click()
    expect(page).to_have_url(re.compile(rf"/models/{seeded.name}/1$"))

    assert tab.open(f"/models/{seeded.name}-hosted/latest") == 200
    expect(page.locator("#api-key")).to_have_text("kept, never shown")
    expect(page.locator("#endpoint-url")).to_have_text("https://llm.example.com/v1")
    assert SECRET not in page.content()
    shot(page, "version-external")
    assert tab.errors == []
