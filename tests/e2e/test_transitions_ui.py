"""A pending transition decided on the model page, in a real browser against `lmops server`."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from lmops.core.settings import Settings
from lmops.governance.transitions import request_transition
from lmops.registry import registering
from lmops.registry.policies import set_policy
from lmops.registry.results import attach_result
from lmops.registry.sdk import open_registry
from lmops.store.audit import acting_as
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab
from tests.registry.conftest import fake_model_dir

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"transitions-{name}.png"), full_page=True)


def test_an_approver_decides_a_pending_transition_on_the_model_page(
    live_server: LiveServer, tab: Tab, tmp_path: Path
) -> None:
    store = open_registry(Settings(home=live_server.home, uri=live_server.uri))
    name = f"assistant-{uuid4().hex[:6]}"
    for n in (1, 2):
        registering.register_directory(
            store, name, fake_model_dir(tmp_path / f"v{n}", params=1_000_000)
        )
    store.set_alias(name, "production", 1)
    set_policy(
        store,
        name,
        "production",
        required_tags=["reviewed"],
        min_results={"rougeL": 0.3},
        require_card=True,
    )
    with acting_as("alice"):
        asked = request_transition(
            store, f"models:/{name}/2", "production", "v2 answers billing questions better"
        )

    assert tab.open(f"/models/{name}") == 200
    page = tab.page
    expect(page.locator("#policies tr[data-alias='production'] .requirements li")).to_have_text(
        ["tag reviewed", "result rougeL >= 0.3", "a model card"]
    )
    pending = page.locator(f"#transition-{asked.id}")
    expect(pending.locator(".requester")).to_have_text("alice")
    expect(pending.locator(".transition-comment")).to_have_text(
        "v2 answers billing questions better"
    )
    expect(pending.locator("li.check.fail")).to_have_count(3)
    expect(pending.locator("button.approve")).to_be_disabled()
    pending.scroll_into_view_if_needed()
    shot(page, "failing")

    pending.locator("button.danger").click()  # a rejection without a reason is refused
    expect(page.locator("#transition-error")).to_contain_text("a comment is required")
    expect(page.locator(f"#transition-{asked.id}")).to_have_attribute("data-status", "pending")
    # the refusal answers 400, as the API would, and the browser says so in its console
    assert [e for e in tab.errors if "400 (Bad Request)" not in e] == []
    tab.errors.clear()

    version = store.get_version(f"models:/{name}/2")
    store.update_version(version.uri, tags={"reviewed": "carol"})
    attach_result(store, version, "rougeL", 0.37, source="runs:/offline-eval")
    store.save_card(version.id, f"# {name} v2\n\nReviewed by carol.\n", generated=False)
    assert tab.open(f"/models/{name}") == 200
    expect(pending.locator("li.check.pass")).to_have_count(3)
    expect(pending.locator("li.check", has_text="rougeL")).to_contain_text("rougeL is 0.37")
    pending.locator("textarea").fill("Checks pass and the eval is on held-out data.")
    pending.scroll_into_view_if_needed()
    shot(page, "ready")
    pending.locator("button.approve").click()

    expect(page).to_have_url(re.compile(rf"/models/{name}#transition-{asked.id}$"))
    decided = page.locator(f"#decided tr#transition-{asked.id}")
    expect(decided).to_have_attribute("data-status", "approved")
    expect(decided).to_contain_text("Checks pass and the eval is on held-out data.")
    expect(decided).to_contain_text("3 of 3 passed")
    expect(page.locator("#no-pending")).to_be_visible()
    expect(page.locator("#versions tr[data-version='2'] .alias-badge")).to_have_text("@production")
    shot(page, "approved")
    assert store.get_version(f"models:/{name}@production").version == 2
    assert tab.errors == []
