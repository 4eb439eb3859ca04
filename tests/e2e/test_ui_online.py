"""The online scoring pages in a real browser against a real `lmops server`: a rule made
over REST, traces written to the server's store, "Run now" scores them and the page shows
the pass, the counts, the means and each scored trace (a failure with its reason); "Switch
off" turns the rule off."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from lmops.core.ids import new_id, utcnow
from lmops.store import open_engine
from lmops.tracing.entities import Span, TraceContext
from lmops.tracing.store import TracingStore
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
ANSWERS = ['{"city": "Paris"}', '{"city": "Lima"}', "not json at all"]


def write_traces(server: LiveServer, endpoint: str) -> list[str]:
    tracing = TracingStore(open_engine(f"sqlite:///{server.home / 'lmops.db'}"))
    ids = []
    for answer in ANSWERS:
        trace_id, begun = new_id(), utcnow()
        span = Span.model_validate(
            {
                "trace_id": trace_id,
                "span_id": new_id()[:16],
                "name": f"chat {endpoint}",
                "span_type": "CHAT_MODEL",
                "start_time": begun,
                "end_time": begun + timedelta(milliseconds=80),
                "inputs": {"messages": [{"role": "user", "content": "a city, as JSON"}]},
                "outputs": answer,
                "context": TraceContext(endpoint=endpoint),
            }
        )
        tracing.write_spans([span])
        ids.append(trace_id)
    return ids


def test_run_a_rule_from_its_page_and_switch_it_off(tab: Tab, live_server: LiveServer) -> None:
    endpoint = f"cities-{new_id()[:6]}"
    rule = f"shape-{new_id()[:6]}"
    made = httpx.post(
        f"{live_server.url}/api/v1/online-rules/{rule}",
        json={
            "scorers": [
                {"name": "json_valid"},
                {"name": "regex", "options": {"pattern": "Paris"}, "feedback_name": "paris"},
            ],
            "filter": {"endpoint": endpoint},
            "description": "Answers are JSON naming a city",
        },
    )
    assert made.status_code == 201, made.text
    ids = write_traces(live_server, endpoint)
    time.sleep(2.2)  # the traces settle: a pass leaves the last 2 s alone

    page = tab.page
    assert tab.open("/online-rules") == 200
    row = page.locator(f'#rules tr[data-rule="{rule}"]')
    expect(row.locator('[data-stat="scored"]')).to_have_text("0")
    row.get_by_role("link", name=rule).click()

    page.locator("#run-rule").click()
    expect(page.locator("#ran")).to_have_text("Pass: read 3, scored 3, 0 failed")
    expect(page.locator('[data-stat="scored"]')).to_have_text("3")
    expect(page.locator("#means")).to_contain_text("paris 0.333333")
    expect(page.locator("#means")).to_contain_text("json_valid 0.666667")
    for trace_id in ids:
        expect(page.locator(f'#scored tr[data-trace="{trace_id}"]')).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "online-rule.png"), full_page=True)

    page.locator(f'#scored tr[data-trace="{ids[0]}"] a').click()
    expect(page.locator("body")).to_contain_text(f"rule:{rule}")

    tab.open(f"/online-rules/{rule}")
    page.locator("#toggle-rule").click()
    expect(page.locator("#toggle-rule")).to_have_text("Switch on")
    assert httpx.get(f"{live_server.url}/api/v1/online-rules/{rule}").json()["enabled"] is False
    assert tab.errors == []
