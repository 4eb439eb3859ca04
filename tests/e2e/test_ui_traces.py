"""The trace pages in a real browser against a real `lmops server`, fed by the SDK."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, expect

import lmops
from tests.conftest import LiveServer
from tests.e2e.test_ui import Tab

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")
MODEL = "tiny-chat-e2e"
LONG_ANSWER = "\n".join(f"Step {i}: check the receipt and the order number." for i in range(60))


@pytest.fixture(scope="module")
def traced(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two turns of one session made with the SDK: a chain, a chat call, a tool that fails."""
    home = tmp_path_factory.mktemp("sdk-home")
    price = {"model": MODEL, "input_per_million": 1.0, "output_per_million": 2.0, "source": "e2e"}
    httpx.put(f"{live_server.url}/api/v1/prices/{MODEL}", json=price).raise_for_status()
    session = f"sess-{uuid4().hex[:8]}"
    lmops.configure(home=home, uri=live_server.url)
    try:

        @lmops.trace(span_type="TOOL")
        def lookup(order: str) -> str:
            raise KeyError(f"no order {order}")

        @lmops.trace(name="support-turn", span_type="CHAIN")
        def answer(question: str, long: bool) -> str:
            lmops.update_current_trace(
                user="alice", session=session, tags={"team": "support"}, metadata={"app": "e2e"}
            )
            messages = [
                {"role": "system", "content": "You are a helpful support agent."},
                {"role": "user", "content": question},
            ]
            with lmops.span("chat", type="CHAT_MODEL", inputs={"messages": messages}) as s:
                s.set_model(MODEL, "local")
                s.set_usage(input=42, output=17)
                reply = LONG_ANSWER if long else "Let me look that up."
                s.set_outputs({"choices": [{"message": {"role": "assistant", "content": reply}}]})
                with lmops.span("parse", type="PARSER", inputs=reply[:40]) as p:
                    p.set_outputs({"intent": "refund", "confidence": 0.9})
            with contextlib.suppress(KeyError):
                lookup("A-17")
            return reply

        answer("Where is my refund?", False)
        answer("And how long does it take?", True)
        lmops.flush_traces()
    finally:
        lmops.configure(home=home, uri="")
    found = httpx.post(
        f"{live_server.url}/api/v1/traces/search", json={"session_id": session}
    ).json()["traces"]
    assert len(found) == 2
    return {"session": session, "first": found[1]["trace_id"], "second": found[0]["trace_id"]}


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"traces-{name}.png"), full_page=True)


def test_waterfall_nests_every_span_and_opens_its_panel(traced: dict[str, str], tab: Tab) -> None:
    assert tab.open(f"/traces/{traced['second']}") == 200
    page = tab.page
    rows = page.locator("#waterfall .wf-row")
    expect(rows).to_have_count(4)
    names = [r.strip() for r in page.locator("#waterfall .wf-row .wf-label").all_inner_texts()]
    depths = [int(d or 0) for d in rows.evaluate_all("rs => rs.map(r => r.dataset.depth)")]
    assert list(zip(names, depths, strict=True)) == [
        ("support-turn", 0),
        ("chat", 1),
        ("parse", 2),
        ("lookup", 1),
    ]
    # every span has a visible bar inside the track, and children sit inside their parent
    boxes = [b.bounding_box() for b in page.locator("#waterfall .wf-bar").all()]
    assert all(b is not None and b["width"] >= 1 for b in boxes)
    root, chat, parse = boxes[0], boxes[1], boxes[2]
    assert root and chat and parse
    assert root["x"] <= chat["x"] <= parse["x"]
    assert parse["x"] + parse["width"] <= chat["x"] + chat["width"] + 1
    indents = page.locator("#waterfall .wf-row .wf-name").evaluate_all(
        "ns => ns.map(n => parseFloat(getComputedStyle(n).paddingLeft))"
    )
    assert indents[0] < indents[1] < indents[2] and indents[3] == indents[1]
    expect(page.locator("#waterfall .wf-row.is-error .wf-label")).to_have_text("lookup")

    expect(page.locator(".span-panel:visible h2")).to_have_text("support-turn")
    page.locator("#waterfall .wf-row", has_text="chat").click()
    panel = page.locator(".span-panel:visible")
    expect(panel.locator("h2")).to_have_text("chat")
    expect(panel.locator(".conversation .message")).to_have_count(3)  # system, user, assistant
    expect(panel.locator(".span-inputs .message.role-user .content")).to_have_text(
        "And how long does it take?"
    )
    expect(panel.locator(".span-outputs .message.role-assistant .role")).to_have_text("assistant")
    expect(panel.locator(".span-model")).to_contain_text(MODEL)
    expect(panel.locator(".span-tokens")).to_contain_text("42 / 17")
    expect(panel.locator(".cost-source")).to_contain_text("price table")
    # the long answer starts collapsed and expands
    content = panel.locator(".span-outputs .message.role-assistant .content")
    expect(content).to_have_class(re.compile("collapsible"))
    height = content.evaluate("el => el.clientHeight")
    toggle = panel.locator(".span-outputs .expand-toggle")
    expect(toggle).to_contain_text("Show all")
    shot(page, "trace-chat")
    toggle.click()
    assert content.evaluate("el => el.clientHeight") > height * 2
    expect(toggle).to_have_text("Show less")
    expect(page).to_have_url(re.compile(r"#span-[0-9a-f]{16}$"))

    page.locator("#waterfall .wf-row", has_text="lookup").click()
    error = page.locator(".span-panel:visible .span-error")
    expect(error).to_contain_text("KeyError")
    expect(error).to_contain_text("no order A-17")
    shot(page, "trace-error")
    page.locator("#waterfall .wf-row", has_text="parse").click()
    expect(page.locator(".span-panel:visible .span-outputs pre.json")).to_contain_text('"intent"')
    page.locator(".span-panel:visible a.span-link").click()  # its parent
    expect(page.locator(".span-panel:visible h2")).to_have_text("chat")
    assert tab.errors == []


def test_feedback_widget_posts_and_lists(
    traced: dict[str, str], tab: Tab, live_server: LiveServer
) -> None:
    trace_id = traced["first"]
    assert tab.open(f"/traces/{trace_id}") == 200
    page = tab.page
    expect(page.locator("#feedback-empty")).to_be_visible()
    page.click("#feedback-form button[type=submit]")
    expect(page.locator("#feedback-status")).to_contain_text("choose good or bad")

    page.click(".thumb[data-value=true]")
    expect(page.locator(".thumb[data-value=true]")).to_have_attribute("aria-pressed", "true")
    page.fill("#feedback-form input[name=score]", "4")
    page.fill("#feedback-form textarea[name=comment]", "helpful, but slow")
    page.fill("#feedback-form textarea[name=correction]", "Refunds take 3 to 5 days.")
    page.click("#feedback-form button[type=submit]")
    expect(page.locator("#feedback-status")).to_have_text("Saved 3 feedback items.")
    rows = page.locator("#feedback-list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#feedback-count")).to_have_text("3")
    shot(page, "feedback")

    stored = httpx.get(f"{live_server.url}/api/v1/traces/{trace_id}/feedback").json()
    by_name = {f["name"]: f for f in stored}
    assert by_name["thumbs"]["value"] is True and by_name["thumbs"]["kind"] == "boolean"
    assert by_name["score"]["value"] == 4 and by_name["score"]["kind"] == "numeric"
    assert by_name["correction"]["kind"] == "correction"
    assert by_name["correction"]["correction"] == "Refunds take 3 to 5 days."
    assert {f["comment"] for f in stored} == {"helpful, but slow"}
    assert {f["source"] for f in stored} == {"human"}

    page.reload()  # and the page lists them from the server
    expect(page.locator("#feedback-list tbody tr")).to_have_count(3)
    expect(page.locator("#feedback-list")).to_contain_text("Refunds take 3 to 5 days.")
    page.click(".thumb[data-value=false]")
    page.click("#feedback-form button[type=submit]")
    expect(page.locator("#feedback-list tbody tr")).to_have_count(4)
    assert tab.errors == []


def test_list_filters_and_session(traced: dict[str, str], tab: Tab) -> None:
    assert tab.open("/traces") == 200
    page = tab.page
    expect(page.locator("nav.sidebar a.active")).to_have_text("Traces")
    page.fill("#trace-filters input[name=session]", traced["session"])
    page.click("#trace-filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"session={traced['session']}"))
    rows = page.locator("#traces tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("support-turn")
    expect(rows.first).to_contain_text(MODEL)
    expect(rows.first).to_contain_text("alice")
    shot(page, "list")
    assert tab.errors == []

    page.fill("#trace-filters input[name=min_latency]", "soon")
    page.click("#trace-filters button[type=submit]")
    expect(page.locator("#filter-error")).to_contain_text("min latency must be a number")
    expect(page.locator("#trace-filters input[name=min_latency]")).to_have_value("soon")
    tab.errors.clear()  # the browser logs the 400 itself

    assert tab.open(f"/traces/{traced['first']}") == 200
    page.click("#session-link")
    turns = page.locator("#session .turn")
    expect(turns).to_have_count(2)
    expect(turns.first.locator(".message.role-user")).to_contain_text("Where is my refund?")
    expect(turns.nth(1).locator(".message.role-user")).to_contain_text("how long")
    shot(page, "session")
    assert tab.open("/sessions") == 200
    expect(page.locator("#sessions")).to_contain_text(traced["session"])
    assert tab.errors == []
    assert tab.open("/sessions/no-such-session") == 404
    expect(page.locator(".error-message")).to_contain_text("no session 'no-such-session'")
