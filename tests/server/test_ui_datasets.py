"""The dataset pages, rendered by the app in-process: numbers, lineage, rows, diffs, errors."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from lmops.core.settings import Settings
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.server import create_app
from lmops.server.ui.row_browser import PAGE_SIZE
from tests.server.test_data_routes import TEXTS, Chat, make_chat


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # raises on any unhandled error: no page may answer 500
        yield c


@pytest.fixture
def store(app: FastAPI) -> DataStore:
    found: DataStore = app.state.services.data
    return found


@pytest.fixture
def chat(store: DataStore) -> Chat:
    return make_chat(store)


def cells(page: str, table_id: str) -> list[list[str]]:
    """The text of each body cell of table `table_id`, row by row."""
    body = re.search(rf'id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, table_id
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [[_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def _text(cell: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())


def test_datasets_list(client: TestClient, chat: Chat) -> None:
    assert "No datasets yet" not in (page := client.get("/datasets").text)
    assert cells(page, "datasets") == [
        ["chat", "3", "v3", "3", chat.v3.created_at.strftime("%Y-%m-%d %H:%M:%S"), "support chats"],
        ["labels", "1", "v1", "2", chat.labels.created_at.strftime("%Y-%m-%d %H:%M:%S"), ""],
    ]
    assert 'href="/datasets/chat/3"' in page


def test_empty_list_says_how_to_import(client: TestClient) -> None:
    page = client.get("/datasets").text
    assert "No datasets yet" in page and "lmops data import" in page
    assert 'class="active" aria-current="page">Datasets' in page


def test_dataset_page(client: TestClient, chat: Chat) -> None:
    page = client.get("/datasets/chat").text
    versions = cells(page, "versions")
    assert [r[0] for r in versions] == ["v3", "v2", "v1"]
    assert [r[1] for r in versions] == ["3", "3", "5"]
    assert [r[3] for r in versions] == [v.digest[:12] for v in (chat.v3, chat.v2, chat.v1)]
    assert [r[4] for r in versions] == ["join", "filter", "import"]
    assert [r[5] for r in versions] == ["chat/2", "chat/1", "—"]
    # the lineage: four boxes (labels/1 from another dataset) and three edges
    assert page.count('class="dag-node"') == 3 and page.count('class="dag-node external"') == 1
    assert page.count('class="dag-edge"') == 3
    assert 'href="/datasets/labels/1"' in page
    # the running job: a progress bar at 25% and a page that refreshes itself
    assert cells(page, "jobs-table")[0][:3] == ["dedup", "running", "50 / 200"]
    assert "width: 25.0%" in page and 'data-refresh="3"' in page
    assert '<option value="2" selected>' in page and '<option value="3" selected>' in page


def test_a_finished_job_stops_the_refresh(client: TestClient, chat: Chat, store: DataStore) -> None:
    store.update_job(chat.job_id, status="succeeded", done=200, output_version_id=chat.v3.id)
    page = client.get("/datasets/chat").text
    assert "data-refresh" not in page and "width: 100.0%" in page
    assert cells(page, "jobs-table")[0][:4] == ["dedup", "succeeded", "200 / 200", "chat/3"]


def test_version_page_with_a_profile(client: TestClient, chat: Chat) -> None:
    page = client.get("/datasets/chat/2").text
    assert "<h1>chat v2" in page and 'id="row-count">3<' in page
    assert [r[0] for r in cells(page, "schema")] == ["text", "label", "n"]
    assert cells(page, "schema")[0][2:] == ["text", "0", "3"]
    assert cells(page, "report") == [["5"], ["3"]]  # rows_in, rows_out
    assert "&#34;where&#34;: &#34;n &lt; 3&#34;" in page  # the recipe, pretty
    steps = page.split('id="chain"')[1].split("</ol>")[0]
    chain = re.findall(r'<li(?: class="current")?>\s*<a href="([^"]+)"', steps)
    assert chain == ["/datasets/chat/1", "/datasets/chat/2"]
    figures = [json.loads(html.unescape(f)) for f in re.findall(r'data-figure="([^"]+)"', page)]
    titles = [f["title"] for f in figures]
    assert titles == [
        "Length in characters",
        "Length in tokens (whitespace)",
        "Quality issues",
        "Languages",
        "PII by kind",
        # no "Top words": no word repeats in these three texts, so that chart says nothing
        "Top 2-grams",
        "Top 3-grams",
    ]
    languages = figures[3]
    assert (languages["x"], languages["y"]) == (["en", "fr"], [2, 1])
    chars = figures[0]
    assert sum(chars["y"]) == 3 and len(chars["x"]) == len(chars["width"]) == 4
    assert "plotly.min.js" in page and "lmops data profile" not in page


def test_version_page_without_a_profile_says_how_to_make_one(
    client: TestClient, chat: Chat
) -> None:
    page = client.get("/datasets/chat/latest").text
    assert "lmops data profile datasets:/chat/3" in page
    assert "data-figure" not in page and "plotly.min.js" not in page
    assert [r[0] for r in cells(page, "schema")] == ["text", "label", "n", "id"]
    assert 'href="/datasets/chat/diff?a=2&amp;b=3"' in page  # compare with the parent


def test_row_browser(client: TestClient, chat: Chat) -> None:
    page = client.get("/datasets/chat/1").text
    assert [r[1] for r in cells(page, "rows-table")] == TEXTS
    assert "Rows 1\u20135 of 5" in page
    page = client.get("/datasets/chat/1", params={"q": "refund", "order_by": "n", "desc": "true"})
    assert [r[3] for r in cells(page.text, "rows-table")] == ["2", "0"]
    assert "Rows 1\u20132 of 2 matching" in page.text
    # the add-filter form: column, op and value become one more filter
    params = {"filter": "label:=:other", "column": "n", "op": ">", "value": "1"}
    page = client.get("/datasets/chat/1", params=params).text
    assert [r[3] for r in cells(page, "rows-table")] == ["3", "4"]
    assert page.count('class="chip"') == 2
    assert 'href="?filter=n%3A%3E%3A1#rows"' in page  # removes label:=:other


def test_row_pages(client: TestClient, store: DataStore) -> None:
    import_source(store, "big", pa.table({"n": list(range(PAGE_SIZE + 7))}))
    page = client.get("/datasets/big/1").text
    assert f"Rows 1\u2013{PAGE_SIZE} of {PAGE_SIZE + 7}" in page
    assert f'href="?offset={PAGE_SIZE}#rows"' in page and 'rel="prev"' not in page
    page = client.get("/datasets/big/1", params={"offset": PAGE_SIZE}).text
    assert [r[1] for r in cells(page, "rows-table")] == [str(n) for n in range(50, 57)]
    assert 'rel="next"' not in page and 'href="?#rows"' in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "n:>:abc"}, "&#39;abc&#39; is not a BIGINT value"),
        ({"order_by": "nope"}, "no column &#39;nope&#39;: the columns are text, label, n"),
        ({"filter": "oops"}, "write column:op:value"),
        ({"column": "n", "op": "<"}, "&#39;&#39; is not a BIGINT value"),
    ],
)
def test_a_bad_row_query_is_400_with_the_message(
    client: TestClient, chat: Chat, params: dict[str, str], message: str
) -> None:
    response = client.get("/datasets/chat/1", params=params)
    assert response.status_code == 400
    assert 'id="rows-error"' in response.text and message in response.text


def test_diff_page(client: TestClient, chat: Chat) -> None:
    page = client.get("/datasets/chat/diff", params={"a": 1, "b": 2}).text
    assert 'id="rows-added">0<' in page and 'id="rows-removed">2<' in page
    assert 'id="rows-unchanged">3<' in page
    assert sorted(r[1] for r in cells(page, "removed-rows")) == ["bye", "good morning"]
    assert "Profile both versions" in page
    page = client.get("/datasets/chat/diff", params={"a": 2, "b": 3}).text
    assert cells(page, "schema-changes") == [["id", "added", "int64"]]
    assert "rows are compared on the 3 columns both versions have" in page


def test_diff_page_shows_profile_deltas(client: TestClient, chat: Chat, store: DataStore) -> None:
    profile = store.get_profile(chat.v2.id)
    assert profile is not None
    store.save_profile(profile.model_copy(update={"version_id": chat.v3.id}))
    page = client.get("/datasets/chat/diff", params={"a": 2, "b": 3}).text
    deltas = cells(page, "profile-deltas")
    assert [r[0] for r in deltas] == ["text", "n"]
    assert deltas[0][2] == "3 → 3"  # distinct, unchanged: no delta shown


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/datasets/nope", 404, "no dataset named &#39;nope&#39;"),
        ("/datasets/nope/1", 404, "no dataset named &#39;nope&#39;"),
        ("/datasets/chat/9", 404, "no dataset version datasets:/chat/9"),
        ("/datasets/chat/v2", 400, "version must be a version number or latest"),
        ("/datasets/chat/diff?a=1", 400, "b: Field required"),
        ("/datasets/chat/diff?a=1&b=9", 404, "datasets:/chat/9"),
        ("/datasets/chat/1?offset=-1", 400, "offset"),
    ],
)
def test_errors_are_html_pages(
    client: TestClient, chat: Chat, url: str, status: int, message: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text


def test_data_is_escaped(client: TestClient, store: DataStore) -> None:
    evil = "<script>alert(1)</script>"
    import_source(store, "evil", pa.table({evil: [evil], "n": [1]}), description=evil)
    for url in ("/datasets", "/datasets/evil", "/datasets/evil/1", "/datasets/evil/1?q=%3C"):
        page = client.get(url).text
        assert evil not in page, url
    assert str(escape(evil)) in client.get("/datasets/evil/1").text
