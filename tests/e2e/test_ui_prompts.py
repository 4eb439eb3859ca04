"""The prompt pages in a real browser against a real `lmops server`: list, version, diff."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from lmops.core.settings import Settings
from lmops.prompts.sdk import open_prompts
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")


@pytest.fixture(scope="module")
def name(live_server: LiveServer) -> str:
    """qa-*: v1 a text prompt, v2 a chat prompt with a schema, v3 a reworded chat prompt."""
    store = open_prompts(Settings(home=live_server.home, uri=live_server.uri))
    name = f"qa-{uuid4().hex[:6]}"
    store.create_version(
        name,
        template="Answer the question in {{ language }}.\nQuestion: {{ question }}\n",
        model_params={"temperature": 0.2, "max_tokens": 128},
        commit_message="first draft",
        tags={"team": "support"},
    )
    system = "You answer support questions in {{ language }}. Be brief."
    store.create_version(
        name,
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": "Question: {{ question }}"},
        ],
        model_params={"temperature": 0.2, "max_tokens": 256},
        response_format={"type": "object", "properties": {"answer": {"type": "string"}}},
        commit_message="chat format, JSON answers",
    )
    store.create_version(
        name,
        messages=[
            {"role": "system", "content": system.replace("Be brief.", "Cite the docs.")},
            {"role": "user", "content": "Question: {{ question }}\nContext: {{ context }}"},
        ],
        model_params={"temperature": 0.0, "max_tokens": 256},
        commit_message="grounded in retrieved docs",
    )
    store.set_alias(name, "production", 2)
    store.set_alias(name, "staging", 3)
    return name


def shot(page: Page, label: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"prompts-{label}.png"), full_page=True)


def test_list_version_and_diff(name: str, tab: Tab) -> None:
    page = tab.page
    assert tab.open("/prompts") == 200
    row = page.locator(f'tr[data-prompt="{name}"]')
    expect(row).to_contain_text("@production")
    expect(page.locator("nav").get_by_role("link", name="Prompts")).to_be_visible()
    shot(page, "list")
    row.get_by_role("link", name=name).click()
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    expect(page.locator("#aliases")).to_contain_text("@staging")
    shot(page, "prompt")
    page.locator('tr[data-version="3"]').get_by_role("link", name="v3").click()
    expect(page.locator("#messages .message")).to_have_count(2)
    expect(page.locator("#variables")).to_have_text("context, language, question")
    expect(page.locator("#diff-text .diff-add").first).to_contain_text("Cite the docs.")
    expect(page.locator("#diff-changes")).to_contain_text("model_params.temperature")
    shot(page, "version")
    page.select_option("#diff-select", "1")
    page.get_by_role("button", name="Show diff").click()
    expect(page).to_have_url(f"{tab.base}/prompts/{name}/3?diff=1#diff")
    expect(page.locator("#diff h2")).to_contain_text("from v1")
    expect(page.locator("#diff-text .diff-del").first).to_contain_text("Answer the question")
    shot(page, "diff")
    assert tab.errors == []
