"""The web UI in a real browser (Debian's chromium) against a real `lmops server`."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from lmops.client import TrackingClient, Transport
from lmops.tracking import Metric
from lmops.tracking.entities import Experiment, Run
from tests.conftest import LiveServer

CHROMIUM = Path(os.environ.get("LMOPS_CHROMIUM") or "/usr/bin/chromium")

if not CHROMIUM.exists():
    # CI installs chromium and says so: there a missing browser fails instead of skipping.
    if os.environ.get("LMOPS_CHROMIUM"):
        raise RuntimeError(f"LMOPS_CHROMIUM={CHROMIUM} does not exist")
    pytest.skip(f"Debian chromium is not installed at {CHROMIUM}", allow_module_level=True)

pytestmark = [pytest.mark.e2e]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Tab:
    """A browser page on the live server that records console errors and page crashes."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def open(self, path: str) -> int:
        response = self.page.goto(self.base + path)
        assert response is not None
        return response.status


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[TrackingClient]:
    transport = Transport(live_server.url)
    yield TrackingClient(transport)
    transport.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def make_sweep(client: TrackingClient) -> tuple[Experiment, list[Run]]:
    """Three finished runs: lr 0.1/0.2/0.3, loss curves of 200 steps ending at 0.3/0.1/0.2."""
    exp = client.create_experiment(unique("ui-sweep"))
    runs = []
    for name, lr, end in (("run-a", "0.1", 0.3), ("run-b", "0.2", 0.1), ("run-c", "0.3", 0.2)):
        run = client.create_run(exp.id, name, params={"lr": lr, "epochs": 3})
        points = [
            Metric(key="loss", value=end + math.exp(-s / 40), step=s, timestamp=1_000 + s)
            for s in range(200)
        ]
        points += [
            Metric(key="accuracy", value=1 - end + s / 1000, step=s * 20, timestamp=1_000 + s)
            for s in range(10)
        ]
        client.log_batch(run.id, points)
        runs.append(client.end_run(run.id))
    return exp, runs


def table_names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.name a").all_inner_texts()


def drawn_lines(page: Page, chart: str) -> list[int]:
    """Points plotted per trace of the chart `chart` (a CSS selector), once its SVG shows each."""
    paths = page.locator(f"{chart} g.trace.scatter path.js-line")
    svg = [p.get_attribute("d") or "" for p in paths.all()]
    assert all(d.startswith("M") and "L" in d for d in svg), svg  # a line, not an empty frame
    points: list[int] = page.locator(chart).evaluate("el => el.data.map(t => t.x.length)")
    assert len(points) == len(svg)
    return points


def test_run_page_draws_a_chart_per_metric(client: TrackingClient, tab: Tab) -> None:
    _, runs = make_sweep(client)
    assert tab.open(f"/runs/{runs[0].id}") == 200
    page = tab.page
    expect(page.locator("h1")).to_contain_text("run-a")
    expect(page.locator("#params")).to_contain_text("0.1")
    page.wait_for_selector('.chart[data-key="loss"].js-plotly-plot')
    page.wait_for_selector('.chart[data-key="accuracy"].js-plotly-plot')
    assert drawn_lines(page, '.chart[data-key="loss"]') == [200]
    assert drawn_lines(page, '.chart[data-key="accuracy"]') == [10]
    assert tab.errors == []


def test_a_long_metric_is_downsampled_and_drawn(client: TrackingClient, tab: Tab) -> None:
    exp = client.create_experiment(unique("ui-long"))
    run = client.create_run(exp.id, "long")
    n = 100_000
    for start in range(0, n, 25_000):
        client.log_batch(
            run.id,
            [
                Metric(key="noisy", value=math.sin(s / 1000) + (s % 7) / 50, step=s, timestamp=s)
                for s in range(start, start + 25_000)
            ],
        )
    with tab.page.expect_response(re.compile(r"/metrics/history\?key=noisy")) as answer:
        assert tab.open(f"/runs/{run.id}") == 200
    served = len(answer.value.json())
    assert 1000 <= served <= 1500
    tab.page.wait_for_selector('.chart[data-key="noisy"].js-plotly-plot')
    assert drawn_lines(tab.page, '.chart[data-key="noisy"]') == [served]
    assert tab.errors == []


def test_runs_table_sorts_and_filters(client: TrackingClient, tab: Tab) -> None:
    exp, _ = make_sweep(client)
    assert tab.open(f"/experiments/{exp.id}") == 200
    page = tab.page
    assert table_names(page) == ["run-c", "run-b", "run-a"]  # newest first

    page.locator("#runs thead th[data-sort='metrics.loss'] a").click()
    expect(page).to_have_url(re.compile(r"sort=metrics\.loss"))
    assert table_names(page) == ["run-b", "run-c", "run-a"]
    page.locator("#runs thead th[data-sort='metrics.loss'] a").click()
    expect(page).to_have_url(re.compile(r"order=desc"))
    assert table_names(page) == ["run-a", "run-c", "run-b"]
    page.locator("#runs thead th[data-sort='name'] a").click()
    assert table_names(page) == ["run-a", "run-b", "run-c"]

    page.fill("#filter", "metrics.loss < 0.35 and params.lr != '0.2'")
    page.press("#filter", "Enter")
    expect(page.locator(".page-info")).to_have_text(re.compile("of 2"))
    assert table_names(page) == ["run-a", "run-c"]  # still sorted by name
    assert tab.errors == []

    with page.expect_response(re.compile(r"/experiments/")) as answer:
        page.fill("#filter", "metrics.loss < 'low'")
        page.press("#filter", "Enter")
    assert answer.value.status == 400
    expect(page.locator("#filter-error")).to_contain_text("metrics.loss compares with a number")
    expect(page.locator("#filter")).to_have_value("metrics.loss < 'low'")


def test_pages_of_runs(client: TrackingClient, tab: Tab) -> None:
    exp = client.create_experiment(unique("ui-pages"))
    for i in range(55):
        client.create_run(exp.id, f"r{i:02d}")
    tab.open(f"/experiments/{exp.id}?sort=name")
    page = tab.page
    expect(page.locator(".page-info")).to_have_text("Runs 1\u201350 of 55")
    first = table_names(page)
    page.click("a[rel=next]")
    expect(page.locator(".page-info")).to_have_text("Runs 51\u201355 of 55")
    assert table_names(page) == [f"r{i}" for i in range(50, 55)]
    page.click("a[rel=prev]")
    assert table_names(page) == first == [f"r{i:02d}" for i in range(50)]
    assert tab.errors == []


def test_compare_selected_runs(client: TrackingClient, tab: Tab) -> None:
    exp, runs = make_sweep(client)
    tab.open(f"/experiments/{exp.id}?sort=name")
    page = tab.page
    button = page.locator("#compare-button")
    expect(button).to_be_disabled()
    page.check(f"input[name=run][value='{runs[0].id}']")
    expect(button).to_be_disabled()
    page.check(f"input[name=run][value='{runs[2].id}']")
    expect(button).to_be_enabled()
    button.click()
    expect(page).to_have_url(re.compile(rf"/compare\?runs={runs[0].id},{runs[2].id}$"))
    expect(page.locator("#diff")).to_contain_text("params.lr")
    expect(page.locator("#diff")).not_to_contain_text("params.epochs")  # equal: left out
    for key in ("loss", "accuracy"):
        chart = f'.chart[data-key="{key}"]'
        page.wait_for_selector(f"{chart}.js-plotly-plot")
        assert drawn_lines(page, chart) == ([200, 200] if key == "loss" else [10, 10])
        expect(page.locator(f"{chart} .legend")).to_contain_text("run-a")
        expect(page.locator(f"{chart} .legend")).to_contain_text("run-c")
    assert tab.errors == []


def test_navigation_and_not_found(tab: Tab) -> None:
    assert tab.open("/") == 200
    page = tab.page
    expect(page).to_have_url(re.compile(r"/experiments$"))
    page.click("nav.sidebar >> text=Datasets")
    expect(page.locator("main h1")).to_have_text("Datasets")
    page.click("nav.sidebar >> text=Prompts")
    expect(page.locator("main h1")).to_have_text("Prompts")
    page.click("nav.sidebar >> text=Evaluation")
    expect(page.locator("main h1")).to_have_text("Evaluations")
    page.click("nav.sidebar >> text=Fine-tuning")
    expect(page.locator("main")).to_contain_text("Fine-tuning are not built yet in this version")
    page.click("nav.sidebar >> text=Monitoring")
    expect(page.locator("main")).to_contain_text("Monitoring are not built yet")
    assert tab.errors == []
    assert tab.open("/runs/does-not-exist") == 404
    expect(page.locator(".error-message")).to_contain_text("no run with id 'does-not-exist'")
