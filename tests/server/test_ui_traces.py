"""The trace pages rendered in-process: list filters and pages, the waterfall, sessions."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.server.ui.payloads import describe, format_cost, format_ms
from lmops.server.ui.trace_filters import PAGE_SIZE
from lmops.server.ui.waterfall import build_waterfall
from lmops.tracing.entities import Span, SpanEvent, TraceContext, TraceDetail
from lmops.tracing.store import TracingStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CHAT_IN = {
    "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Where is my refund?"},
    ],
    "temperature": 0.2,
}
CHAT_OUT = {"choices": [{"message": {"role": "assistant", "content": "It is on its way."}}]}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # raises on any unhandled error: no page may answer 500
        yield c


@pytest.fixture
def store(app: FastAPI, client: TestClient) -> TracingStore:
    found: TracingStore = app.state.services.tracing
    return found


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def root(n: int, start: datetime, ms: float = 100, **fields: Any) -> Span:
    """A one-span trace number `n`; `fields` fill the span (context goes in `context`)."""
    values: dict[str, Any] = {"name": f"t{n:03d}", "status": "OK", **fields}
    return Span(
        trace_id=tid(n),
        span_id=sid(n),
        start_time=start,
        end_time=start + timedelta(milliseconds=ms),
        **values,
    )


@pytest.fixture
def chat(store: TracingStore) -> str:
    """A chain with a chat call (priced), a failing tool under it, and a span whose parent
    has not arrived."""
    trace_id = tid(1)
    ctx = TraceContext(
        user_id="alice", session_id="s-1", environment="prod", tags={"team": "search"},
        metadata={"app": "demo"},
    )  # fmt: skip
    at = T0
    spans = [
        Span(trace_id=trace_id, span_id=sid(1), name="answer", span_type="CHAIN", start_time=at,
             end_time=at + timedelta(seconds=2), status="OK", inputs={"question": "refund?"},
             outputs="It is on its way.", context=ctx),
        Span(trace_id=trace_id, span_id=sid(2), parent_span_id=sid(1), name="llm-call",
             span_type="CHAT_MODEL", start_time=at + timedelta(milliseconds=500),
             end_time=at + timedelta(milliseconds=1500), status="OK", inputs=CHAT_IN,
             outputs=CHAT_OUT, model="tiny-chat", provider="local", input_tokens=30,
             output_tokens=8, cost=0.00042, cost_source="reported by the app",
             attributes={"long": "x" * 2000}),
        Span(trace_id=trace_id, span_id=sid(3), parent_span_id=sid(2), name="lookup",
             span_type="TOOL", start_time=at + timedelta(milliseconds=600),
             end_time=at + timedelta(milliseconds=700), status="ERROR",
             status_message="KeyError: 'A-17'",
             events=[SpanEvent(name="exception", time=at + timedelta(milliseconds=700),
                               attributes={"exception.type": "KeyError",
                                           "exception.stacktrace": "Traceback: line 3"})]),
        Span(trace_id=trace_id, span_id=sid(4), parent_span_id=sid(99), name="late-child",
             start_time=at + timedelta(milliseconds=1800), status="UNSET"),
    ]  # fmt: skip
    store.write_spans(spans)
    return trace_id


@pytest.fixture
def many(store: TracingStore) -> list[str]:
    """Six traces a minute apart with distinct users, sessions, models, latencies, tags."""
    spans = [
        root(10, T0, 50, context=TraceContext(user_id="ann", session_id="a", tags={"env": "dev"})),
        root(11, T0 + timedelta(minutes=1), 900, model="m-big", inputs="find invoices",
             context=TraceContext(user_id="bob", session_id="b", tags={"env": "prod"})),
        root(12, T0 + timedelta(minutes=2), 2500, status="ERROR", outputs="timeout",
             context=TraceContext(user_id="ann", session_id="a", tags={"env": "prod"})),
        root(13, T0 + timedelta(minutes=3), 10, model="m-small",
             context=TraceContext(user_id="cy", tags={"env": "prod", "team": "x"})),
        root(14, T0 + timedelta(minutes=4), 300, name="special",
             context=TraceContext(user_id="bob", session_id="b")),
        root(15, T0 + timedelta(minutes=5), 40, inputs={"q": "refund please"}),
    ]  # fmt: skip
    store.write_spans(spans)
    store.feedback.log_feedback(tid(11), "thumbs", True)
    return [s.name for s in spans]


def listed(page: str) -> list[str]:
    """Trace names in the order the traces table shows them."""
    return re.findall(r'<td class="name"><a href="/traces/[0-9a-f]{32}">([^<]*)</a>', page)


def test_list_shows_totals_newest_first(client: TestClient, chat: str, many: list[str]) -> None:
    response = client.get("/traces")
    assert response.status_code == 200
    page = response.text
    assert listed(page) == [*reversed(many), "answer"]
    for header in ("Latency", "Status", "Spans", "Tokens in/out", "Cost", "User", "Session"):
        assert header in page
    row = page[page.index(f'data-trace-id="{chat}"') :]
    assert "open" in row[:3000]  # one span has not ended
    assert "30 / 8" in row and "$0.00042" in row and "tiny-chat" in row
    assert 'href="/sessions/s-1"' in row and "(1✕)" in row
    assert "refund?" in row and "It is on its way." in row  # input and output previews
    assert 'href="/sessions"' in page  # the sessions entry point


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "special"}, ["special"]),
        ({"status": "error"}, ["t012"]),
        ({"user": "ann"}, ["t012", "t010"]),
        ({"session": "b"}, ["special", "t011"]),
        ({"model": "m-big"}, ["t011"]),
        ({"min_latency": "800"}, ["t012", "t011"]),
        ({"feedback": "yes"}, ["t011"]),
        ({"q": "refund"}, ["t015"]),
        ({"tag": "env=prod"}, ["t013", "t012", "t011"]),
        ({"tag": ["env=prod", "team=x"]}, ["t013"]),
        ({"from": "2024-05-01T12:03", "to": "2024-05-01T12:05:00+00:00"}, ["special", "t013"]),
    ],
)
def test_filters(
    client: TestClient, many: list[str], query: dict[str, Any], expected: list[str]
) -> None:
    response = client.get("/traces", params=query)
    assert response.status_code == 200
    assert listed(response.text) == expected


def test_time_range_and_empty_result(client: TestClient, store: TracingStore) -> None:
    now = datetime.now(UTC)
    store.write_spans([root(1, now - timedelta(minutes=5)), root(2, now - timedelta(hours=3))])
    assert listed(client.get("/traces?range=1h").text) == ["t001"]
    assert listed(client.get("/traces?range=24h").text) == ["t001", "t002"]
    page = client.get("/traces?name=nothing").text
    assert "No traces match these filters" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "done"}, "status must be one of unset, ok, error, not 'done'"),
        ({"min_latency": "fast"}, "min latency must be a number of milliseconds"),
        ({"min_latency": "-1"}, "min latency must be a number"),
        ({"from": "yesterday"}, "from: 'yesterday' is not a date and time"),
        ({"range": "1y"}, "range must be one of 15m, 1h, 24h, 7d, 30d"),
        ({"feedback": "maybe"}, "feedback must be yes or no"),
        ({"tag": "novalue"}, "tag must be key=value"),
        ({"cursor": "garbage"}, "invalid cursor"),
        ({"q": "x" * 1001}, "longer than 1000 characters"),
        ({"name": "a\x00b"}, "name contains a NUL character"),
    ],
)
def test_bad_filters_are_400_with_the_message(
    client: TestClient, query: dict[str, str], message: str
) -> None:
    response = client.get("/traces", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert escape(message) in response.text
    assert 'id="trace-filters"' in response.text  # the form stays, to fix the filter


def test_keyset_pages_walk_every_trace_once(client: TestClient, store: TracingStore) -> None:
    n = 2 * PAGE_SIZE + 7
    store.write_spans([root(i, T0 + timedelta(seconds=i // 2)) for i in range(n)])  # ties
    url, seen, pages = "/traces?user=", [], 0
    while True:
        page = client.get(url).text
        seen += listed(page)
        pages += 1
        found = re.search(r'rel="next" href="([^"]+)"', page)
        if not found:
            break
        url = "/traces" + html.unescape(found.group(1))
        assert "cursor=" in url
    assert pages == 3
    assert sorted(seen) == sorted(f"t{i:03d}" for i in range(n)) and len(set(seen)) == n
    newest = re.search(r'rel="first" href="([^"]+)"', page)
    assert newest is not None and "cursor" not in newest.group(1)
    assert 'rel="first"' not in client.get("/traces").text


def test_filters_survive_paging(client: TestClient, store: TracingStore) -> None:
    ctx = TraceContext(user_id="u")
    store.write_spans([root(i, T0 + timedelta(seconds=i), context=ctx) for i in range(60)])
    store.write_spans([root(100 + i, T0 + timedelta(seconds=i)) for i in range(5)])
    page = client.get("/traces?user=u").text
    link = re.search(r'rel="next" href="([^"]+)"', page)
    assert link is not None and "user=u" in html.unescape(link.group(1))
    rest = listed(client.get("/traces" + html.unescape(link.group(1))).text)
    assert rest == [f"t{i:03d}" for i in reversed(range(10))]


def test_trace_page_waterfall_and_panels(client: TestClient, chat: str) -> None:
    response = client.get(f"/traces/{chat}")
    assert response.status_code == 200
    page = response.text
    rows = re.findall(r'data-span-id="([0-9a-f]{16})" data-parent-id="[0-9a-f]*" '
                      r'data-depth="(\d+)"', page)  # fmt: skip
    # tree order; the span whose parent has not arrived sits at the top level
    assert rows == [(sid(1), "0"), (sid(2), "1"), (sid(3), "2"), (sid(4), "0")]
    assert "(parent missing)" in page
    bars = re.findall(r'data-left="([\d.]+)" data-width="([\d.]+)"', page)
    assert [(float(a), float(b)) for a, b in bars] == [(0, 100), (25, 50), (30, 5), (90, 10)]
    assert "bar-running" in page and "bar-error" in page
    # header: totals, user, session link, tags, environment, metadata
    assert "30 / 8" in page and "$0.00042" in page and "prod" in page
    assert 'href="/sessions/s-1"' in page and 'href="/traces?user=alice"' in page
    assert "team=search" in page and "demo" in page
    # the chat span's panel: a conversation, the model, the cost with its source
    panel = page[page.index(f'id="span-{sid(2)}"') : page.index(f'id="span-{sid(3)}"')]
    assert 'class="message role-system"' in panel and 'class="message role-user"' in panel
    assert "Where is my refund?" in panel and 'class="message role-assistant"' in panel
    assert "temperature" in panel  # the keys beside the messages
    assert "tiny-chat" in panel and "via local" in panel and "30 / 8" in panel
    assert "$0.00042" in panel and "reported by the app" in panel
    assert 'class="value  collapsible"' in panel  # the long attribute starts collapsed
    error = page[page.index(f'id="span-{sid(3)}"') : page.index(f'id="span-{sid(4)}"')]
    assert "Error: KeyError" in error and escape("KeyError: 'A-17'") in error
    assert "Traceback: line 3" in error
    assert f'id="span-{sid(1)}" data-span-id="{sid(1)}">' in page  # the first panel shows
    assert f'id="span-{sid(2)}" data-span-id="{sid(2)}" hidden>' in page
    assert 'id="feedback-form"' in page and "No feedback yet." in page


def test_trace_page_lists_feedback(client: TestClient, store: TracingStore, chat: str) -> None:
    store.feedback.log_feedback(chat, "thumbs", False, comment="wrong <b>answer</b>")
    store.feedback.log_feedback(chat, "correction", correction="It shipped today.")
    page = client.get(f"/traces/{chat}").text
    assert "No feedback yet." in page  # kept (hidden) for the script
    assert 'id="feedback-empty" hidden' in page
    assert '<td class="fb-value">false</td>' in page
    assert "wrong &lt;b&gt;answer&lt;/b&gt;" in page and "It shipped today." in page
    assert '<dd id="feedback-count">2</dd>' in page


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"/traces/{'e' * 32}", f"no trace with id '{'e' * 32}'"),
        ("/traces/not-a-trace", "a trace id is 32 lowercase hex characters"),
        ("/sessions/nope", "no session 'nope'"),
    ],
)
def test_unknown_ids_are_html_404(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert escape(message) in response.text


def test_sessions(client: TestClient, chat: str, many: list[str]) -> None:
    page = client.get("/sessions/b").text
    turns = re.findall(r'<li class="turn" data-trace-id="([0-9a-f]{32})">', page)
    assert turns == [tid(11), tid(14)]  # in the order they happened
    assert "find invoices" in page and 'href="/traces?session=b"' in page
    listing = client.get("/sessions").text
    assert re.findall(r'href="/sessions/([\w-]+)"', listing) == ["b", "a", "s-1"]
    slashed = root(50, T0, context=TraceContext(session_id="team/42"))
    client.app.state.services.tracing.write_spans([slashed])  # type: ignore[attr-defined]
    assert client.get("/sessions/team/42").status_code == 200


def test_names_and_payloads_are_escaped(client: TestClient, store: TracingStore) -> None:
    evil = "<script>alert(1)</script>"
    store.write_spans(
        [
            root(
                7,
                T0,
                name=evil,
                inputs=[{"role": "user", "content": evil}],
                outputs={"html": evil},
                attributes={evil: evil},
                context=TraceContext(session_id=evil, user_id=evil, tags={"k": evil}),
            )
        ]
    )
    for url in ("/traces", f"/traces/{tid(7)}", "/sessions"):
        page = client.get(url).text
        assert "<script>alert" not in page, url


def test_traces_is_built_in_the_navigation(client: TestClient) -> None:
    page = client.get("/traces").text
    nav = page[page.index('href="/traces"') :].split("</li>")[0]
    assert "soon" not in nav and 'aria-current="page"' in nav
    assert "No traces yet" in page


# -- the pieces: payloads, waterfall, formats ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "roles"),
    [
        ([{"role": "user", "content": "hi"}], "chat", ["user"]),
        (CHAT_IN, "chat", ["system", "user"]),
        (CHAT_OUT, "chat", ["assistant"]),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}, "chat",
         ["assistant"]),
        ([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]}],
         "chat", ["user"]),
        ([{"role": "user"}], "json", []),
        ({"answer": 42}, "json", []),
        ("plain words", "text", []),
        (None, "empty", []),
        ([], "empty", []),
    ],
)  # fmt: skip
def test_describe(value: Any, kind: str, roles: list[str]) -> None:
    found = describe(value)
    assert found.kind == kind
    assert [m.role for m in found.messages] == roles


def test_describe_details() -> None:
    parts = describe([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "x"}]}])
    assert parts.messages[0].content == "a\n[x]"
    tools = describe({"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]})
    assert '"c1"' in tools.messages[0].extra
    assert describe(CHAT_IN).rest == '{\n  "temperature": 0.2\n}'
    assert describe({"k": "é"}).text == '{\n  "k": "é"\n}'
    assert describe("x" * 801).long and not describe("x" * 800).long


def _trace(spans: list[Span]) -> TraceDetail:
    return TraceDetail(
        trace_id=tid(1), name="t", start_time=T0, end_time=None, latency_ms=None,
        status="OK", span_count=len(spans), error_count=0, input_tokens=0, output_tokens=0,
        cached_tokens=0, reasoning_tokens=0, cost=None, spans=spans,
    )  # fmt: skip


def test_waterfall_survives_deep_chains_cycles_and_huge_traces() -> None:
    chain = [
        Span(trace_id=tid(1), span_id=sid(i + 1), parent_span_id=sid(i) if i else None,
             name=f"s{i}", start_time=T0 + timedelta(microseconds=i),
             end_time=T0 + timedelta(seconds=1))
        for i in range(3000)
    ]  # fmt: skip
    deep = build_waterfall(_trace(chain), max_rows=5000)
    assert [r.depth for r in deep.rows] == list(range(3000))
    assert deep.rows[-1].indent == 24
    capped = build_waterfall(_trace(chain), max_rows=100)
    assert len(capped.rows) == 100 and capped.hidden == 2900
    loop = [
        Span(trace_id=tid(1), span_id=sid(1), parent_span_id=sid(2), name="a", start_time=T0),
        Span(trace_id=tid(1), span_id=sid(2), parent_span_id=sid(1), name="b", start_time=T0),
    ]
    assert sorted(r.span.name for r in build_waterfall(_trace(loop)).rows) == ["a", "b"]
    assert build_waterfall(_trace([])).rows == []


def test_formats() -> None:
    assert [format_ms(v) for v in (None, 0.5, 12.4, 1234, 61_000)] == [
        "", "0.50 ms", "12 ms", "1.23 s", "1 min 1 s",
    ]  # fmt: skip
    assert [format_cost(v) for v in (None, 0, 0.00042, 3.5)] == ["", "$0", "$0.00042", "$3.50"]
