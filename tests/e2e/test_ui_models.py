"""The model registry pages in a real browser against a real `lmops server`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pytest
from playwright.sync_api import Page, expect

from lmops.core.settings import Settings
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.registry import registering
from lmops.registry.entities import ModelVersion
from lmops.registry.sdk import open_registry
from lmops.store.lineage import add_edge
from lmops.tracking import Metric
from lmops.tracking.entities import Run
from lmops.tracking.store import TrackingStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab
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


def test_a_model_card_is_generated_edited_and_its_revisions_kept(
    live_server: LiveServer, tab: Tab, tmp_path: Path
) -> None:
    """A fine-tuned version with data, params, metrics and results: its card from lineage."""
    store = open_registry(Settings(home=live_server.home, uri=live_server.uri))
    tracking = TrackingStore(store.engine, store.artifacts)
    name = f"support-{uuid4().hex[:6]}"
    chats = pa.table({"prompt": ["hi"] * 1200, "reply": ["hello"] * 1200})
    train = import_source(DataStore(store.engine, store.artifacts), f"{name}-chats", chats)
    run = tracking.create_run(tracking.create_experiment(f"sft-{name}").id, name="sft-lr3e-4")
    tracking.log_params(run.id, {"lr": "0.0003", "epochs": "3", "lora_r": "16"})
    tracking.log_metrics(
        run.id,
        [
            Metric(key="train_loss", value=1.9 - s / 10, step=s, timestamp=1_000 + s)
            for s in range(9)
        ]
        + [Metric(key="eval_loss", value=1.214, step=8, timestamp=1_010)],
    )
    add_edge(store.engine, "dataset_version", train.id, "run", run.id, "trained_on")
    tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out", params=1_000_000), "model")
    version = registering.register_run_artifact(
        store,
        name,
        f"runs:/{run.id}/model",
        description="A support assistant fine-tuned on past chats.",
        license="apache-2.0",
    )
    store.update_version(version.uri, tags={"eval.rougeL": "0.41", "eval.exact_match": "0.63"})
    store.set_alias(name, "staging", 1)

    assert tab.open(f"/models/{name}/1") == 200
    page = tab.page
    expect(page.locator("#no-card")).to_contain_text(f"lmops models card models:/{name}/1")
    page.locator("#card").scroll_into_view_if_needed()
    shot(page, "version-no-card")
    page.locator("#card-generate").click()
    expect(page).to_have_url(re.compile(rf"/models/{name}/1#card$"))
    body = page.locator("#card-body")
    expect(body.locator("h1")).to_have_text(f"{name} v1")
    expect(body.locator("table")).to_have_count(5)  # summary, params, metrics, data, results
    expect(body.locator("tr", has_text="rougeL")).to_contain_text("0.41")
    expect(page.locator("#card-meta .card-badge")).to_have_text("generated")
    expect(page.locator("#card h2 .count")).to_have_text("revision 1")
    page.locator("#card").scroll_into_view_if_needed()
    shot(page, "version-card")

    page.locator("#card-edit").click()
    expect(page).to_have_url(re.compile(rf"/models/{name}/1/card/edit$"))
    text = page.locator("#card-markdown").input_value()
    assert text.startswith(f"# {name} v1\n")
    todo = "_To be written: who should use this model, and for what._"
    written = (
        "Support agents drafting replies; a person reviews each one. <script>alert(1)</script>"
    )
    page.locator("#card-markdown").fill(text.replace(todo, written))
    shot(page, "card-edit")
    page.locator("#card-save").click()
    expect(page).to_have_url(re.compile(rf"/models/{name}/1#card$"))
    expect(page.locator("#card-meta .card-badge")).to_have_text("edited")
    expect(page.locator("#card h2 .count")).to_have_text("revision 2")
    expect(body).to_contain_text("a person reviews each one. <script>alert(1)</script>")
    expect(body.locator("script")).to_have_count(0)

    page.locator("#card-revisions summary").click()
    page.locator("#card-revisions a", has_text="revision 1").click()
    expect(page.locator("#card h2 .count")).to_have_text("revision 1 of 2")
    expect(body).to_contain_text(todo.strip("_"))
    shot(page, "version-card-old-revision")
    assert tab.errors == []
