"""The web UI pages, rendered by the app in-process: content, errors, sorting and paging."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from markupsafe import escape

from lmops.core.errors import Unauthorized
from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.server.auth import authorize
from lmops.server.ui import pages
from lmops.server.ui.nav import STAGES
from lmops.server.ui.runs_table import PAGE_SIZE
from lmops.tracking.entities import Experiment, Metric, Run
from lmops.tracking.store import TrackingStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # raises on any unhandled error: no page may answer 500
        yield c


@pytest.fixture
def store(app: FastAPI) -> TrackingStore:
    found: TrackingStore = app.state.services.tracking
    return found


@pytest.fixture
def sweep(store: TrackingStore) -> tuple[Experiment, list[Run]]:
    """Four finished runs with distinct lr, loss and names, started a minute apart."""
    exp = store.create_experiment("sweep", "lr sweep")
    runs = []
    for i, (name, lr, loss) in enumerate(
        [("b-run", "0.1", 0.4), ("d-run", "0.3", 0.1), ("a-run", "0.2", 0.3), ("c-run", "0.4", 0.2)]
    ):
        run = store.create_run(
            exp.id, name, params={"lr": lr}, tags={"team": "nlp"}, start_time=T0 + timedelta(i)
        )
        points = [
            Metric(key="loss", value=loss + 1 - s / 10, step=s, timestamp=s) for s in range(11)
        ]
        store.log_batch(run.id, points)
        runs.append(store.end_run(run.id, end_time=T0 + timedelta(i, seconds=90)))
    return exp, runs


def names(page: str) -> list[str]:
    """Run names in the order the runs table shows them."""
    return re.findall(r'<td class="name"><a href="/runs/\w+">([^<]*)</a>', page)


def test_root_redirects_to_experiments(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/experiments"


def test_layout_has_every_stage_and_unbuilt_stages_say_so(client: TestClient) -> None:
    page = client.get("/experiments").text
    for stage in STAGES:
        assert f'href="{stage.path}"' in page
    for stage in (s for s in STAGES if not s.built):
        response = client.get(stage.path)
        assert response.status_code == 200
        assert f"{stage.name} are not built yet in this version" in response.text


def test_experiments_list(client: TestClient, sweep: tuple[Experiment, list[Run]]) -> None:
    exp, _ = sweep
    page = client.get("/experiments").text
    assert f'href="/experiments/{exp.id}">sweep</a>' in page
    assert '<td class="num">4</td>' in page
    assert exp.created_at.strftime("%Y-%m-%d %H:%M:%S") in page


def test_empty_store_says_how_to_start(client: TestClient) -> None:
    assert "No experiments yet" in client.get("/experiments").text


def test_runs_table_columns(client: TestClient, sweep: tuple[Experiment, list[Run]]) -> None:
    exp, runs = sweep
    response = client.get(f"/experiments/{exp.id}")
    assert response.status_code == 200
    page = response.text
    for header in ("Name", "Status", "Started", "Duration", "lr", "loss"):
        assert header in page
    assert "finished" in page
    assert "1.5 s" not in page and "1 min 30 s" in page
    # newest first by default
    assert names(page) == ["c-run", "a-run", "d-run", "b-run"]
    assert f'value="{runs[0].id}"' in page  # a checkbox per run for compare


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        ("name", "", ["a-run", "b-run", "c-run", "d-run"]),
        ("name", "desc", ["d-run", "c-run", "b-run", "a-run"]),
        ("metrics.loss", "asc", ["d-run", "c-run", "a-run", "b-run"]),
        ("metrics.loss", "desc", ["b-run", "a-run", "c-run", "d-run"]),
        ("params.lr", "desc", ["c-run", "d-run", "a-run", "b-run"]),
        ("start_time", "asc", ["b-run", "d-run", "a-run", "c-run"]),
        ("status", "asc", ["c-run", "a-run", "d-run", "b-run"]),
    ],
)
def test_sorting(
    client: TestClient,
    sweep: tuple[Experiment, list[Run]],
    sort: str,
    order: str,
    expected: list[str],
) -> None:
    exp, _ = sweep
    response = client.get(f"/experiments/{exp.id}", params={"sort": sort, "order": order})
    assert response.status_code == 200
    assert names(response.text) == expected


def test_header_links_toggle_the_order(
    client: TestClient, sweep: tuple[Experiment, list[Run]]
) -> None:
    exp, _ = sweep
    page = client.get(f"/experiments/{exp.id}", params={"sort": "metrics.loss"}).text
    assert 'href="?sort=metrics.loss&amp;order=desc"' in page
    assert 'href="?sort=name"' in page


def test_filter(client: TestClient, sweep: tuple[Experiment, list[Run]]) -> None:
    exp, _ = sweep
    response = client.get(
        f"/experiments/{exp.id}",
        params={"filter": "metrics.loss < 0.35 and params.lr != '0.3'", "sort": "name"},
    )
    assert response.status_code == 200
    assert names(response.text) == ["a-run", "c-run"]
    assert "Runs 1\u20132 of 2" in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"filter": "metrics.loss < 'a'"}, "metrics.loss compares with a number (at position 15)"),
        ({"filter": "metrics.loss <"}, "expected a number or a quoted string"),
        ({"filter": "nonsense = 1"}, "unknown field 'nonsense'"),
        ({"sort": "weird"}, "cannot sort by 'weird'"),
        ({"sort": "name", "order": "sideways"}, "order must be asc or desc"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
    ],
)
def test_bad_query_is_400_with_the_message(
    client: TestClient, sweep: tuple[Experiment, list[Run]], query: dict[str, str], message: str
) -> None:
    exp, _ = sweep
    response = client.get(f"/experiments/{exp.id}", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert escape(message) in response.text
    assert "<nav" in response.text  # the whole layout, not a bare message


def test_pagination_walks_every_run_once(client: TestClient, store: TrackingStore) -> None:
    exp = store.create_experiment("many")
    for i in range(2 * PAGE_SIZE + 7):
        store.create_run(exp.id, f"run-{i:03d}", start_time=T0 + timedelta(seconds=i))
    url = f"/experiments/{exp.id}?sort=name"
    seen: list[list[str]] = []
    links: list[str] = []
    while True:
        page = client.get(url).text
        seen.append(names(page))
        links.append(url)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        if not found:
            break
        url = f"/experiments/{exp.id}" + html.unescape(found.group(1))
    assert [len(s) for s in seen] == [PAGE_SIZE, PAGE_SIZE, 7]
    assert [n for s in seen for n in s] == [f"run-{i:03d}" for i in range(2 * PAGE_SIZE + 7)]
    assert "Runs 101\u2013107 of 107" in page
    prev = re.search(r'rel="prev" href="([^"]+)"', page)
    assert prev is not None
    back = client.get(f"/experiments/{exp.id}" + html.unescape(prev.group(1))).text
    assert names(back) == seen[1]
    assert 'rel="prev"' not in client.get(links[0]).text


def test_key_columns_are_capped(client: TestClient, store: TrackingStore) -> None:
    exp = store.create_experiment("wide")
    store.create_run(exp.id, "w", params={f"p{i:03d}": i for i in range(40)})
    page = client.get(f"/experiments/{exp.id}").text
    assert "p000" in page and "p039" not in page
    assert "28 more param and metric columns" in page
    assert "p039" in client.get(f"/experiments/{exp.id}", params={"sort": "params.p039"}).text


def test_run_page(client: TestClient, store: TrackingStore, tmp_path: Path) -> None:
    exp = store.create_experiment("e")
    parent = store.create_run(exp.id, "parent")
    run = store.create_run(
        exp.id, "child", params={"lr": 0.01}, tags={"team": "nlp"}, parent_run_id=parent.id
    )
    store.log_batch(
        run.id,
        [
            Metric(key="loss", value=0.5, step=1, timestamp=1),
            Metric(key="val/acc", value=math.nan, step=1, timestamp=1),
        ],
    )
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "weights.bin").write_bytes(b"\0" * 10)
    store.log_artifact(run.id, tmp_path / "notes.txt")
    store.log_artifact(run.id, tmp_path / "ckpt")

    page = client.get(f"/runs/{run.id}").text
    assert "child" in page and f'href="/runs/{parent.id}">parent</a>' in page
    assert "0.01" in page and "team" in page and "nlp" in page
    assert "NaN" in page
    assert 'data-key="loss"' in page and 'data-key="val/acc"' in page
    assert 'data-max-points="1500"' in page
    assert "/static/plotly.min.js" in page
    link = f"/api/v1/runs/{run.id}/artifacts/notes.txt"
    assert f'href="{link}"' in page
    assert client.get(link).content == b"hello"
    assert f'href="/api/v1/runs/{run.id}/artifacts/ckpt/weights.bin"' in page
    assert f'href="/runs/{run.id}">child</a>' in client.get(f"/runs/{parent.id}").text


def test_compare_page(client: TestClient, sweep: tuple[Experiment, list[Run]]) -> None:
    _, runs = sweep
    ids = [runs[0].id, runs[1].id]
    response = client.get("/compare", params={"runs": ",".join(ids)})
    assert response.status_code == 200
    page = response.text
    assert "Compare 2 runs" in page
    assert "params.lr" in page and "metrics.loss" in page
    assert "params.team" not in page  # equal params are left out ...
    every = client.get("/compare", params={"runs": ",".join(ids), "all": "true"}).text
    assert "tags.team" not in every
    series = re.search(r'data-key="loss"[^>]*data-series="([^"]+)"', page)
    assert series is not None
    assert [s["run"] for s in json.loads(html.unescape(series.group(1)))] == ids
    # a plain form posts ?run=a&run=b; that works too
    assert client.get("/compare", params=[("run", i) for i in ids]).status_code == 200


def test_compare_needs_two_runs(client: TestClient, sweep: tuple[Experiment, list[Run]]) -> None:
    _, runs = sweep
    response = client.get("/compare", params={"runs": runs[0].id})
    assert response.status_code == 400
    assert "select between 2 and" in response.text


@pytest.mark.parametrize("url", ["/experiments/nope", "/runs/nope", "/compare?runs=nope,other"])
def test_unknown_ids_are_html_404(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert escape("'nope'") in response.text


def test_names_are_escaped(client: TestClient, store: TrackingStore) -> None:
    exp = store.create_experiment("<b>exp</b>")
    a = store.create_run(exp.id, "<script>alert(1)</script>", params={"p": '"><img src=x>'})
    b = store.create_run(exp.id, 'it\'s "quoted"', params={"p": "2"})
    store.log_batch(a.id, [Metric(key="loss", value=1.0, step=0, timestamp=0)])
    store.log_batch(b.id, [Metric(key="loss", value=2.0, step=0, timestamp=0)])
    for url in (
        "/experiments",
        f"/experiments/{exp.id}",
        f"/runs/{a.id}",
        f"/compare?runs={a.id},{b.id}",
    ):
        page = client.get(url).text
        assert "<script>alert" not in page and "<b>exp" not in page and "<img src=x>" not in page
    page = client.get(f"/compare?runs={a.id},{b.id}").text
    series = re.search(r'data-series="([^"]+)"', page)
    assert series is not None
    assert [s["name"] for s in json.loads(html.unescape(series.group(1)))] == [
        "<script>alert(1)</script>",
        'it\'s "quoted"',
    ]


def test_static_files(client: TestClient) -> None:
    css = client.get("/static/lmops.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200
    assert "max-age=31536000" in js.headers["cache-control"]
    assert len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/..%2Fpages.py").status_code == 404
    page = client.get("/experiments").text
    assert re.search(r'href="/static/lmops\.css\?v=[0-9a-f]{12}"', page)
    assert "cdn" not in page.lower()


def test_every_ui_route_takes_authorize(app: FastAPI) -> None:
    """Every page and form but the login page and static files; the permissions matrix
    (test_permissions.py) checks what each role gets."""
    public = {"/login", "/logout", "/static/plotly.min.js", "/static/{name}"}
    routes = [r for router in pages.ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    paths = {r.path for r in routes}
    assert {
        "/",
        "/experiments",
        "/experiments/{experiment_id}",
        "/runs/{run_id}",
        "/compare",
    } <= paths
    assert {"/datasets", "/monitoring", "/audit", "/account", "/admin"} <= paths
    assert public <= paths
    for route in routes:
        calls = [d.call for d in route.dependant.dependencies]
        assert (authorize in calls) == (route.path not in public), route.path

    # and the app really calls it: a caller it refuses is sent to log in from any page,
    # and refused by any form
    def refuse() -> None:
        raise Unauthorized("no key")

    calls = {
        (method, r.path)
        for r in routes
        for method in r.methods
        if method != "HEAD" and r.path not in public
    }
    assert ("POST", "/models/{name}/{version}/card") in calls
    app.dependency_overrides[authorize] = refuse
    with TestClient(app) as c:
        for method, path in calls:
            url = re.sub(r"\{\w+\}", "x", path)
            response = c.request(method, url, data={"markdown": "x"}, follow_redirects=False)
            if method == "GET":
                assert response.status_code == 303, (method, url)
                assert response.headers["location"].startswith("/login?next=/"), url
            else:
                assert response.status_code == 401, (method, url)


def test_plotly_is_served_compressed_when_asked(client: TestClient) -> None:
    from lmops.server.ui.assets import plotly_js

    raw = plotly_js().read_bytes()
    zipped = client.get("/static/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == raw  # the client undid the encoding
    assert int(zipped.headers["content-length"]) < len(raw) / 2
    plain = client.get("/static/plotly.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == raw
