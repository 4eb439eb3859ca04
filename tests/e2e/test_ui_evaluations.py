"""The evaluation pages in a real browser against a real `lmops server`: two evaluations of a
model through two prompt versions on a dataset version, made in-process in the server's
store first; the list, one evaluation (with a filter) and the comparison show the store's
numbers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from playwright.sync_api import Browser, Page, expect

from lmops.core.ids import new_id, utcnow
from lmops.core.settings import Settings
from lmops.data.importing import import_source
from lmops.evaluation.compare import Comparison, RowChange, compare
from lmops.evaluation.entities import Evaluation
from lmops.evaluation.evaluate import evaluate, load_data
from lmops.evaluation.scoring import Example, scorer
from lmops.evaluation.sdk import open_stores
from lmops.evaluation.targets import Outcome
from lmops.prompts.store import PromptStore
from lmops.registry.registering import register_source
from lmops.server.ui.payloads import format_ms
from lmops.server.ui.rendering import format_number
from lmops.tracing.entities import Span
from lmops.tracing.store import TracingStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab
from tests.registry.conftest import fake_model_dir

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
ROWS = [{"question": f"what is {i} plus {i}?", "expected": str(2 * i)} for i in range(40)]
WRONG = {5, 10, 15, 20, 25, 30, 35}  # the baseline answers n instead of 2n
FAILS = 7  # and fails on this row; the candidate is faster, and wordy on multiples of 4
SCORERS: list[Any] = ["exact_match", "token_f1", "latency"]


@scorer("concise")
def concise(example: Example) -> tuple[float, str]:
    """A judge-like score with a rationale."""
    words = len(str(example.output).split())
    return float(words <= 1), f"The answer has {words} word{'s' * (words != 1)}."


class Answering:
    """A model target that answers from a function and reports tokens, as a served one does."""

    def __init__(
        self, answer: Any, base_ms: float, model_version: str, prompt_version: str
    ) -> None:
        self.answer = answer
        self.base_ms = base_ms
        self.description = model_version
        self.model_version = model_version
        self.prompt_version = prompt_version

    async def __call__(self, inputs: dict[str, Any]) -> Outcome:
        question = inputs["question"]
        text = self.answer(int(question.split()[2]))
        return Outcome(
            text, latency_ms=self.base_ms + len(question), input_tokens=len(question.split()) + 9,
            output_tokens=1, cost=None,
        )  # fmt: skip

    async def aclose(self) -> None:
        return None


def baseline(n: int) -> str:
    if n == FAILS:
        raise ValueError("seven is unlucky")
    return str(n) if n % 5 == 0 and n else str(2 * n)


def candidate(n: int) -> str:
    return f"{2 * n}, since {n} + {n} = {2 * n}" if n % 4 == 0 else str(2 * n)


@dataclass
class World:
    server: LiveServer
    a: Evaluation
    b: Evaluation
    comparison: Comparison


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A dataset version, a model version, two prompt versions and two evaluations, each
    row with a trace, in the store of the server then started over it."""
    home = tmp_path_factory.mktemp("evaluations-home")
    settings = Settings(home=home, uri="")
    stores = open_stores(settings)
    version = import_source(stores.data, "qa", pa.Table.from_pylist(ROWS))
    model = register_source(stores.registry, "tiny", fake_model_dir(home / "tiny"))
    prompts = PromptStore(stores.evaluations.engine)
    first = prompts.create_version("qa", template="Q: {{ question }}\nA:")
    second = prompts.create_version("qa", template="Answer with a number. {{ question }}")
    spans: list[Span] = []

    @contextlib.contextmanager
    def row_span(index: int) -> Iterator[str]:
        trace_id, start = new_id(), utcnow()
        yield trace_id
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=new_id()[:16],
                name=f"eval row {index}",
                start_time=start,
                end_time=utcnow(),
            )
        )

    made = []
    for name, answer, base_ms, prompt in (
        ("qa baseline", baseline, 100.0, first),
        ("qa candidate", candidate, 80.0, second),
    ):
        made.append(
            evaluate(
                Answering(answer, base_ms, model.uri, prompt.uri),
                load_data(version.uri, stores.data),
                [*SCORERS, concise],
                stores,
                name=name,
                retries=0,
                row_span=row_span,
            ).evaluation
        )
    TracingStore(stores.evaluations.engine).write_spans(spans)
    a, b = made
    server = LiveServer(home)
    yield World(server, a, b, compare(stores.evaluations, a.id, b.id))
    server.stop()
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log


@pytest.fixture
def tab(browser: Browser, world: World) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Tab(context.new_page(), world.server.url)
    context.close()


def got_worse(row: RowChange, metric: str = "") -> bool:
    """Whether B is worse than A on `metric` (or on any) in the row (all here are
    higher-better but latency)."""
    return any(
        va is not None and vb is not None and (vb > va if m == "latency" else vb < va)
        for m, (va, vb) in row.changes.items()
        if m == metric or not metric
    )


def shot(page: Page, label: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"eval-{label}.png"), full_page=True)


def test_list_then_compare(world: World, tab: Tab) -> None:
    page = tab.page
    assert tab.open("/evaluations") == 200
    expect(page.locator("nav").get_by_role("link", name="Evaluation")).to_have_attribute(
        "aria-current", "page"
    )
    rows = page.locator("#evaluations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-evaluation", world.b.id)  # newest first
    for e in (world.a, world.b):
        row = page.locator(f'tr[data-evaluation="{e.id}"]')
        expect(row.locator('[data-stat="rows"]')).to_have_text(str(e.row_count))
        expect(row.locator('[data-stat="failed"]')).to_have_text(str(e.failed_rows))
        for metric, value in e.aggregates.items():
            expect(row.locator(f'td[data-metric="{metric}"]')).to_have_text(format_number(value))
        expect(row.get_by_role("link", name=e.prompt_version or "")).to_have_attribute(
            "href", f"/prompts/qa/{(e.prompt_version or '').rpartition('/')[2]}"
        )
        expect(row.get_by_role("link", name="datasets:/qa/1")).to_have_attribute(
            "href", "/datasets/qa/1"
        )
    shot(page, "list")

    # the defaults compare the older (A) with the newer (B)
    page.get_by_role("button", name="Compare A → B").click()
    expect(page.locator("#side-a")).to_contain_text(world.a.name)
    url = urlsplit(page.url)
    assert url.path == "/evaluations/compare"
    assert parse_qs(url.query) == {"a": [world.a.id], "b": [world.b.id]}
    c = world.comparison
    for m in c.metrics:
        row = page.locator(f'#metrics tr[data-metric="{m.name}"]')
        expect(row.locator('[data-stat="a"]')).to_have_text(format_number(m.a))
        expect(row.locator('[data-stat="b"]')).to_have_text(format_number(m.b))
        assert m.delta is not None and m.low is not None and m.high is not None
        expect(row.locator('[data-stat="delta"]')).to_have_text(f"{m.delta:+.4g}")
        expect(row.locator('[data-stat="interval"]')).to_contain_text(
            f"[{m.low:+.4g}, {m.high:+.4g}]"
        )
        expect(row.locator('[data-stat="wlt"]')).to_have_text(f"{m.wins} / {m.losses} / {m.ties}")
        expect(row.locator('[data-stat="verdict"]')).to_have_text(m.verdict)
        expect(row.locator('[data-stat="verdict"]')).to_have_class(f"verdict verdict-{m.verdict}")
    verdicts = {m.name: m.verdict for m in c.metrics}
    assert verdicts == {
        "exact_match": "unclear",
        "token_f1": "unclear",
        "latency": "better",
        "concise": "worse",
    }
    changed = page.locator("#changed-table tbody tr")
    expect(changed).to_have_count(len(c.changed))
    five = page.locator('#changed-table tr[data-row="5"]')
    expect(five.locator(".out-a")).to_have_text("5")
    expect(five.locator(".out-b")).to_have_text("10")
    expect(five.locator('[data-metric="exact_match"]')).to_have_attribute("data-move", "better")
    expect(five.locator('[data-metric="latency"]')).to_have_attribute("data-move", "better")
    four = page.locator('#changed-table tr[data-row="4"]')
    expect(four.locator(".out-b")).to_have_text("8, since 4 + 4 = 8")
    expect(four.locator('[data-metric="concise"]')).to_have_attribute("data-move", "worse")
    shot(page, "compare")

    page.get_by_role("link", name="B worse").click()
    expect(page.locator("#changed-table tbody tr")).to_have_count(sum(map(got_worse, c.changed)))
    page.select_option("#metric-select", "exact_match")
    expect(page.locator("#metric-select")).to_have_value("exact_match")
    worse_em = [r.index for r in c.changed if got_worse(r, "exact_match")]
    assert len(worse_em) == 9  # right in A, wordy in B: multiples of 4 but 20 (wrong in both)
    expect(page.locator("#changed-table tbody tr")).to_have_count(len(worse_em))
    shown = page.locator("#changed-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.row)")
    assert [int(i) for i in shown] == worse_em
    shot(page, "compare-worse")
    assert tab.errors == []


def test_one_evaluation_with_a_filter(world: World, tab: Tab) -> None:
    page = tab.page
    a = world.a
    assert tab.open("/evaluations") == 200
    page.get_by_role("link", name=a.name).click()
    expect(page.locator("h1")).to_contain_text(a.name)
    expect(page.locator("#fact-data a")).to_have_attribute("href", "/datasets/qa/1")
    expect(page.locator("#fact-model a")).to_have_attribute("href", "/models/tiny/1")
    expect(page.locator("#fact-target a")).to_have_attribute("href", "/models/tiny/1")
    expect(page.locator("#fact-prompt a")).to_have_attribute("href", "/prompts/qa/1")
    expect(page.locator("#fact-run a")).to_have_attribute("href", f"/runs/{a.run_id}")
    expect(page.locator('#facts [data-stat="failed"]')).to_have_text("1")
    for metric, value in a.aggregates.items():
        expect(page.locator(f'#aggregates tr[data-metric="{metric}"] td')).to_have_text(
            format_number(value)
        )
    # the chart holds the 0-1 metrics, one bar each; latency (ms) is in the table only
    expect(page.locator("#aggregates-chart .main-svg").first).to_be_visible()
    expect(page.locator("#aggregates-chart g.point")).to_have_count(3)
    expect(page.locator("#failures")).to_contain_text("target: ValueError: seven is unlucky")
    expect(page.locator("#rows-table tbody tr")).to_have_count(40)
    row = page.locator('#rows-table tr[data-row="12"]')
    expect(row.locator("td.output")).to_have_text("24")
    expect(row.locator('td[data-scorer="latency"]')).to_have_text(
        format_number(100.0 + len(ROWS[12]["question"]))
    )
    expect(row.locator("td").nth(-3)).to_have_text(format_ms(100.0 + len(ROWS[12]["question"])))
    rationale = row.locator('td[data-scorer="concise"] details')
    rationale.locator("summary").click()
    expect(rationale.locator("p")).to_have_text("The answer has 1 word.")
    expect(page.locator('#rows-table tr[data-row="7"]')).to_have_class("row-failed")
    shot(page, "detail")

    page.select_option("select[name=scorer]", "exact_match")
    page.fill("input[name=below]", "0.5")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{tab.base}/evaluations/{a.id}?scorer=exact_match&below=0.5#rows")
    shown = page.locator("#rows-table tbody tr")
    expect(shown).to_have_count(len(WRONG))
    assert {int(i) for i in shown.evaluate_all("rs => rs.map(r => r.dataset.row)")} == WRONG
    expect(page.locator("#rows-info")).to_have_text(
        f"Rows 1\u2013{len(WRONG)} of {len(WRONG)} matching"
    )
    shot(page, "detail-filtered")

    page.get_by_role("link", name="Clear").click()
    page.check("input[name=failed]")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#rows-table tbody tr")).to_have_count(1)
    failed = page.locator(f'#rows-table tr[data-row="{FAILS}"]')
    expect(failed.locator("[data-error]")).to_have_text("ValueError: seven is unlucky")
    failed.get_by_role("link", name="trace").click()
    expect(page.locator("h1")).to_contain_text("eval row 7")
    assert tab.errors == []
