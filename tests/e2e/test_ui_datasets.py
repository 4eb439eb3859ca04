"""The dataset pages in a real browser against a real `lmops server`: charts, lineage, rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pytest
from playwright.sync_api import Page, expect

from lmops.core.settings import Settings
from lmops.data.entities import ChatProfile, ColumnProfile, DatasetVersion, ValueCount
from lmops.data.importing import import_source
from lmops.data.sdk import open_data_store
from lmops.data.store import DataStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab
from tests.factories import derive, distribution, profile_of, text_profile

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
QUESTIONS = [
    "Where is my refund?",
    "How do I reset my password?",
    "Refund for order A-17",
    "Can I change my address?",
    "Thanks, that helped!",
    "Où est mon colis ?",
]


@dataclass
class Seeded:
    name: str
    store: DataStore
    v1: DatasetVersion
    v2: DatasetVersion
    v3: DatasetVersion
    job_id: str


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "text": QUESTIONS[i % len(QUESTIONS)] + f" #{i}",
            "label": "refund" if "efund" in QUESTIONS[i % len(QUESTIONS)] else "other",
            "n": i,
            "messages": [
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
                {"role": "assistant", "content": f"Answer {i}"},
            ],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Seeded:
    """chat-*: v1 of 120 rows, v2 filtered (profiled), v3 joined with another dataset."""
    store = open_data_store(Settings(home=live_server.home, uri=live_server.uri))
    name = f"chat-{uuid4().hex[:6]}"
    v1 = import_source(store, name, pa.Table.from_pylist(rows(120)))
    kept = [r for r in rows(120) if r["n"] % 4]  # type: ignore[operator]
    v2 = derive(store, v1, kept, "filter", where="n % 4 <> 0", report={"rows_out": len(kept)})
    labels = import_source(store, f"{name}-labels", pa.table({"label": ["refund", "other"]}))
    v3 = derive(store, v2, kept[:40], "join", extra_parents=[labels], on=["label"])
    store.save_profile(profile_of(v2, profile_columns([str(r["text"]) for r in kept])))
    job = store.start_job(name, "dedup", total=400, input_version_id=v3.id)
    store.update_job(job.id, done=120)
    return Seeded(name, store, v1, v2, v3, job.id)


def profile_columns(texts: list[str]) -> list[ColumnProfile]:
    n = len(texts)
    return [
        ColumnProfile(
            name="text",
            type="string",
            kind="text",
            nulls=0,
            distinct=n,
            text=text_profile(
                texts, exact_duplicates=3, near_duplicates=7, empty=1, control_chars=2, overlong=1
            ),
        ),
        ColumnProfile(
            name="label",
            type="string",
            kind="text",
            nulls=0,
            distinct=2,
            top_values=[ValueCount(value="other", count=60), ValueCount(value="refund", count=30)],
        ),
        ColumnProfile(
            name="n",
            type="int64",
            kind="number",
            nulls=0,
            distinct=n,
            numbers=distribution([float(i) for i in range(n)], bins=10),
        ),
        ColumnProfile(
            name="messages",
            type="list<struct>",
            kind="chat",
            nulls=0,
            distinct=None,
            chat=ChatProfile(
                turns=distribution([2.0] * n + [4.0] * 5), roles={"user": n, "assistant": n}
            ),
            text=text_profile(texts),
        ),
    ]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"datasets-{name}.png"), full_page=True)


def test_version_page_draws_every_profile_chart(seeded: Seeded, tab: Tab) -> None:
    assert tab.open(f"/datasets/{seeded.name}/2") == 200
    page = tab.page
    figures = page.locator(".chart[data-figure]")
    count = figures.count()
    assert count >= 15  # histograms, languages, PII, n-grams, values, turns, roles...
    for i in range(count):  # drawn as each scrolls into view
        figures.nth(i).scroll_into_view_if_needed()
        expect(figures.nth(i)).to_have_class(re.compile("js-plotly-plot"))
    bars = page.locator(".chart[data-figure] g.trace.bars path")
    assert bars.count() > 50
    heights = bars.evaluate_all("ps => ps.map(p => p.getBBox().height * p.getBBox().width)")
    assert sum(1 for h in heights if h > 0) > 40  # bars with an area, not empty frames
    column = page.locator(".profile-column[data-column=text]")
    expect(column.locator(".facts")).to_contain_text("exact duplicates")
    expect(column.locator(".facts")).to_contain_text("7 (7.8%)")  # near duplicates of 90 rows
    expect(column.locator(".chart[aria-label='Top words'] .ytick")).not_to_have_count(0)
    expect(page.locator("#chain li")).to_have_count(2)
    expect(page.locator("#report")).to_contain_text("rows_out")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "version")
    assert tab.errors == []


def test_dataset_page_draws_the_lineage_and_refreshes_while_a_job_runs(
    seeded: Seeded, tab: Tab
) -> None:
    assert tab.open(f"/datasets/{seeded.name}") == 200
    page = tab.page
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    expect(page.locator("#lineage a.dag-node")).to_have_count(4)
    expect(page.locator("#lineage a.dag-node.external")).to_have_count(1)
    expect(page.locator("#lineage path.dag-edge")).to_have_count(3)
    # generations run left to right: v1, v2, v3; labels/1 sits just left of v3, its child
    xs = {
        node.get_attribute("href"): (node.locator("rect").bounding_box() or {"x": -1})["x"]
        for node in page.locator("#lineage a.dag-node").all()
    }
    v1, v2, v3 = (xs[f"/datasets/{seeded.name}/{n}"] for n in (1, 2, 3))
    assert v1 < v2 == xs[f"/datasets/{seeded.name}-labels/1"] < v3
    expect(page.locator("#jobs-table .progress-label")).to_have_text("120 / 400")
    assert page.locator("#jobs[data-refresh]").count() == 1
    shot(page, "dataset")
    seeded.store.update_job(seeded.job_id, done=400, status="succeeded")
    # the page reloads itself and, the job done, stops refreshing
    expect(page.locator("#jobs-table .progress-label")).to_have_text("400 / 400", timeout=10_000)
    expect(page.locator("#jobs[data-refresh]")).to_have_count(0)
    page.locator(f"#lineage a.dag-node[href='/datasets/{seeded.name}/3']").click()
    expect(page).to_have_url(re.compile(rf"/datasets/{seeded.name}/3$"))
    expect(page.locator("#no-profile")).to_contain_text(
        f"lmops data profile datasets:/{seeded.name}/3"
    )
    assert tab.errors == []


def test_row_browser_and_diff(seeded: Seeded, tab: Tab) -> None:
    assert tab.open(f"/datasets/{seeded.name}/1") == 200
    page = tab.page
    expect(page.locator("#rows-info")).to_have_text("Rows 1\u201350 of 120")
    page.click("#rows a[rel=next]")
    expect(page.locator("#rows-info")).to_have_text("Rows 51\u2013100 of 120")
    page.fill("#row-filters input[name=q]", "REFUND")
    page.select_option("#row-filters select[name=column]", "n")
    page.select_option("#row-filters select[name=op]", ">=")
    page.fill("#row-filters input[name=value]", "100")
    page.click("#row-filters button[type=submit]")
    expect(page.locator("#rows-info")).to_have_text("Rows 1\u20136 of 6 matching")
    expect(page.locator(".chips .chip")).to_have_text("n:>=:100 \u00d7")
    page.click("#rows-table thead a[title='sort by n']")
    expect(page).to_have_url(re.compile(r"order_by=n(&|#|$)"))
    page.click("#rows-table thead a[title='sort by n']")  # again: descending
    expect(page).to_have_url(re.compile(r"desc=true"))
    first = page.locator("#rows-table tbody tr").first
    expect(first).to_contain_text("#116")
    expect(first.locator(".chat-cell .msg")).to_have_count(2)
    shot(page, "rows")
    page.click(".chips .chip")
    expect(page.locator("#rows-info")).to_have_text("Rows 1\u201340 of 40 matching")

    assert tab.open(f"/datasets/{seeded.name}") == 200
    page.select_option("#diff-a", "1")
    page.select_option("#diff-b", "2")
    page.click("#diff-form button")
    expect(page).to_have_url(re.compile(r"/diff\?a=1&b=2$"))
    expect(page.locator("#rows-removed")).to_have_text("30")
    expect(page.locator("#rows-added")).to_have_text("0")
    expect(page.locator("#removed-rows tbody tr")).to_have_count(20)
    shot(page, "diff")
    assert tab.errors == []
