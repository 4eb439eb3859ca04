"""/api/v1/evaluations and the evaluation pages over a real app on SQLite and PostgreSQL:
list, read, rows filtered and paged, compare; unknown ids and another project's evaluations
answer 404, bad query parameters 400."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.evaluation.compare import compare
from lmops.evaluation.entities import Evaluation
from lmops.evaluation.evaluate import Data, Stores, evaluate
from lmops.evaluation.scoring import Example, scorer
from lmops.evaluation.targets import FunctionTarget
from lmops.server.deps import Services

API = "/api/v1/evaluations"
ROWS = [{"question": f"what is {i} plus {i}?", "expected": str(2 * i)} for i in range(40)]
WRONG = {5, 10, 15, 20, 25, 30, 35}  # where mostly_right answers wrongly
FAILS = 7  # where mostly_right raises


def number(question: str) -> int:
    return int(question.split()[2])


def right(question: str) -> str:
    return str(2 * number(question))


def mostly_right(question: str) -> str:
    n = number(question)
    if n == FAILS:
        raise ValueError("seven is unlucky")
    return str(2 * n) if n % 5 else str(n)


@scorer("short")
def short(example: Example) -> tuple[float, str]:
    """A score with a rationale, as a judge gives."""
    text = str(example.output)
    return float(len(text) <= 1), f"{len(text)} characters <b>long</b>"


@dataclass(frozen=True)
class Pair:
    base: Evaluation
    better: Evaluation


def stores_of(services: Services, project: str = "default") -> Stores:
    return Stores(
        evaluations=services.evaluations.in_project(project),
        tracking=services.tracking.in_project(project),
        data=services.data.in_project(project),
        registry=services.registry.in_project(project),
    )


@pytest.fixture
def pair(app: FastAPI) -> Pair:
    stores = stores_of(app.state.services)
    scorers = ["exact_match", "token_f1", short]
    base = evaluate(FunctionTarget(mostly_right), Data(ROWS, "40 rows"), scorers, stores, name="b")
    better = evaluate(FunctionTarget(right), Data(ROWS, "40 rows"), scorers, stores, name="g")
    return Pair(base.evaluation, better.evaluation)


def test_list_and_read(client: TestClient, pair: Pair) -> None:
    listed = client.get(API).json()
    assert [e["id"] for e in listed] == [pair.better.id, pair.base.id]  # newest first
    assert [e["id"] for e in client.get(API, params={"name": "b"}).json()] == [pair.base.id]
    assert client.get(API, params={"name": "nobody"}).json() == []
    assert len(client.get(API, params={"limit": 1}).json()) == 1
    found = client.get(f"{API}/{pair.base.id}").json()
    assert Evaluation.model_validate(found) == pair.base
    assert (found["row_count"], found["failed_rows"]) == (40, 1)
    assert found["failures"] == {"target: ValueError: seven is unlucky": 1}


def test_rows_page_and_filter(client: TestClient, pair: Pair) -> None:
    rows = f"{API}/{pair.base.id}/rows"
    page = client.get(rows, params={"offset": 10, "limit": 5}).json()
    assert [r["index"] for r in page["rows"]] == [10, 11, 12, 13, 14]
    assert (page["offset"], page["limit"], page["total_matching"]) == (10, 5, 40)
    assert page["rows"][0]["scores"]["exact_match"]["value"] == 0.0
    assert page["rows"][0]["scores"]["short"]["rationale"] == "2 characters <b>long</b>"

    failed = client.get(rows, params={"failed": "true"}).json()
    assert [r["index"] for r in failed["rows"]] == [FAILS]
    assert failed["rows"][0]["error"] == "ValueError: seven is unlucky"
    assert client.get(rows, params={"failed": "false"}).json()["total_matching"] == 39

    below = client.get(rows, params={"scorer": "exact_match", "below": 0.5}).json()
    assert {r["index"] for r in below["rows"]} == WRONG  # the failed row has no score
    assert below["total_matching"] == len(WRONG)
    paged = client.get(rows, params={"scorer": "exact_match", "below": 0.5, "limit": 3})
    assert [r["index"] for r in paged.json()["rows"]] == [5, 10, 15]
    assert paged.json()["total_matching"] == len(WRONG)
    both = client.get(rows, params={"scorer": "exact_match", "below": 1, "failed": "true"})
    assert both.json()["total_matching"] == 0
    ones = client.get(rows, params={"scorer": "short", "below": 1}).json()["rows"]
    # 0 to 4 answer one digit, and 5 ("5", wrong); 7 failed and has no score
    assert all(len(r["output"]) > 1 for r in ones) and len(ones) == 40 - 6 - 1


BAD_ROW_QUERIES = [
    ({"below": "0.5"}, "below"),
    ({"scorer": "exact_match"}, "below"),
    ({"scorer": "bleu", "below": "1"}, "scorer"),
    ({"scorer": "exact_match", "below": "nan"}, "below"),
    ({"scorer": "exact_match", "below": "x"}, "below"),
    ({"failed": "maybe"}, "failed"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"offset": "-1"}, "offset"),
]


def test_bad_row_queries_are_400(client: TestClient, pair: Pair) -> None:
    for params, field in BAD_ROW_QUERIES:
        answer = client.get(f"{API}/{pair.base.id}/rows", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"] == "invalid_input"
        assert answer.json()["field"] == field, params


def test_compare(client: TestClient, pair: Pair, app: FastAPI) -> None:
    answer = client.get(f"{API}/compare", params={"a": pair.base.id, "b": pair.better.id})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["a"]["id"], found["b"]["id"], found["same_data"]) == (
        pair.base.id,
        pair.better.id,
        True,
    )
    metrics = {m["name"]: m for m in found["metrics"]}
    assert list(metrics) == ["exact_match", "token_f1", "short"]
    em = metrics["exact_match"]
    assert (em["paired"], em["wins"], em["losses"], em["ties"]) == (39, 7, 0, 32)
    assert em["delta"] == pytest.approx(7 / 39)
    assert em["verdict"] == "better"
    assert em["low"] <= em["delta"] <= em["high"]
    expected = compare(app.state.services.evaluations, pair.base.id, pair.better.id)
    assert em["low"] == expected.metrics[0].low  # the same seed: the same interval
    assert found["changed_count"] == len(WRONG) + 1  # and row 7, failed in A
    assert [c["index"] for c in found["changed"]] == sorted([*WRONG, FAILS])
    assert found["changed"][0]["changes"]["exact_match"] == [0.0, 1.0]
    assert found["changed"][0]["a"]["output"] == "5"

    paged = client.get(
        f"{API}/compare",
        params={"a": pair.base.id, "b": pair.better.id, "offset": 2, "limit": 2},
    ).json()
    assert [c["index"] for c in paged["changed"]] == [10, 15]
    narrow = client.get(
        f"{API}/compare", params={"a": pair.base.id, "b": pair.better.id, "confidence": 0.5}
    ).json()["metrics"][0]
    assert narrow["high"] - narrow["low"] < em["high"] - em["low"]


def test_bad_compare_queries_are_400(client: TestClient, pair: Pair) -> None:
    a, b = pair.base.id, pair.better.id
    for params, field in [
        ({"a": a}, "b"),
        ({"a": a, "b": b, "confidence": "0.3"}, "confidence"),
        ({"a": a, "b": b, "confidence": "1"}, "confidence"),
        ({"a": a, "b": b, "confidence": "nan"}, "confidence"),
        ({"a": a, "b": b, "limit": "0"}, "limit"),
    ]:
        answer = client.get(f"{API}/compare", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["field"] == field, params


def test_comparing_evaluations_without_a_shared_scorer_is_400(
    client: TestClient, app: FastAPI, pair: Pair
) -> None:
    stores = stores_of(app.state.services)
    lone = evaluate(FunctionTarget(right), Data(ROWS[:3], "3 rows"), ["word_count"], stores)
    answer = client.get(f"{API}/compare", params={"a": pair.base.id, "b": lone.evaluation.id})
    assert answer.status_code == 400
    assert "share no scorer" in answer.json()["message"]


def test_unknown_and_other_projects_evaluations_are_404(
    client: TestClient, app: FastAPI, pair: Pair
) -> None:
    theirs = evaluate(
        FunctionTarget(right),
        Data(ROWS[:3], "3 rows"),
        ["exact_match"],
        stores_of(app.state.services, "other"),
    ).evaluation
    unknown = "0" * 32
    for bad in (theirs.id, unknown, "not-an-id", "x" * 200):
        for path in (f"{API}/{bad}", f"{API}/{bad}/rows"):
            answer = client.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"] == "not_found"
        for a, b in ((pair.base.id, bad), (bad, pair.base.id)):
            answer = client.get(f"{API}/compare", params={"a": a, "b": b})
            assert answer.status_code in (400, 404), answer.text  # 400: over max_length
    assert theirs.id not in client.get(API).text
    page = client.get(f"/evaluations/{theirs.id}")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no evaluation" in page.text


def test_a_nul_in_the_name_is_400(client: TestClient) -> None:
    answer = client.get(API, params={"name": "a\x00b"})
    assert answer.status_code == 400 and answer.json()["field"] == "name"


# -- the pages ----------------------------------------------------------------------------


def test_list_page(client: TestClient, pair: Pair) -> None:
    page = client.get("/evaluations").text
    assert 'href="/evaluations" class="active"' in page
    assert page.index(f'data-evaluation="{pair.better.id}"') < page.index(pair.base.id)
    for metric in ("exact_match", "token_f1", "short"):
        assert f'<th class="num" data-metric="{metric}">{metric}</th>' in page
    em = f"{pair.base.aggregates['exact_match']:.6g}"
    assert f'<td class="num" data-metric="exact_match">{em}</td>' in page
    assert 'action="/evaluations/compare"' in page


def test_empty_list_says_how_to_start(client: TestClient) -> None:
    assert "No evaluations yet" in client.get("/evaluations").text


def test_evaluation_page(client: TestClient, pair: Pair) -> None:
    page = client.get(f"/evaluations/{pair.base.id}").text
    assert f'href="/runs/{pair.base.run_id}"' in page
    assert "target: ValueError: seven is unlucky" in page
    assert 'id="aggregates-chart"' in page and "plotly.min.js" in page
    assert len(re.findall(r'<tr data-row="\d+"', page)) == 40
    assert "Rows 1\u201340 of 40" in page
    assert html.escape("2 characters <b>long</b>") in page  # a rationale, escaped
    assert "<b>long</b>" not in page

    wrong = client.get(
        f"/evaluations/{pair.base.id}", params={"scorer": "exact_match", "below": "0.5"}
    ).text
    shown = {int(i) for i in re.findall(r'<tr data-row="(\d+)"', wrong)}
    assert shown == WRONG
    assert "of 7 matching" in wrong
    failed = client.get(f"/evaluations/{pair.base.id}", params={"failed": "true"}).text
    assert re.findall(r'<tr data-row="(\d+)" class="row-failed"', failed) == [str(FAILS)]


def test_evaluation_page_bad_filter_says_why(client: TestClient, pair: Pair) -> None:
    answer = client.get(f"/evaluations/{pair.base.id}", params={"scorer": "bleu", "below": "1"})
    assert answer.status_code == 400
    assert "has no scorer &#39;bleu&#39;" in answer.text and 'id="row-filters"' in answer.text
    answer = client.get(f"/evaluations/{pair.base.id}", params={"below": "abc"})
    assert answer.status_code == 400 and "below must be a number" in answer.text


def test_evaluation_page_links_uris() -> None:
    from lmops.server.ui.evaluations import uri_path

    assert uri_path("datasets:/qa/3") == "/datasets/qa/3"
    assert uri_path("models:/chat@production") == "/models/chat"
    assert uri_path("models:/chat@latest") == "/models/chat/latest"
    assert uri_path("prompts:/qa/2") == "/prompts/qa/2"
    assert uri_path("40 rows") == uri_path(None) == ""


def test_compare_page(client: TestClient, pair: Pair) -> None:
    params = {"a": pair.base.id, "b": pair.better.id}
    page = client.get("/evaluations/compare", params=params).text
    assert re.search(r'data-stat="verdict">better<', page)
    assert len(re.findall(r'<tr data-row="\d+"', page)) == len(WRONG) + 1
    worse = client.get("/evaluations/compare", params={**params, "show": "worse"}).text
    # only row 5 got worse: "10" is right but no longer short
    assert re.findall(r'<tr data-row="(\d+)"', worse) == ["5"]
    assert re.findall(r'data-metric="short" data-move="worse"', worse)
    assert "No row moved this way" not in worse
    on_f1 = client.get("/evaluations/compare", params={**params, "metric": "token_f1"}).text
    assert len(re.findall(r'<tr data-row="\d+"', on_f1)) == len(WRONG) + 1
    on_short = client.get(
        "/evaluations/compare", params={**params, "metric": "short", "show": "better"}
    ).text
    assert "No row moved this way on short" in on_short
    unknown = client.get("/evaluations/compare", params={**params, "metric": "bleu"})
    assert unknown.status_code == 400 and "no metric &#39;bleu&#39; in both" in unknown.text
    back = client.get("/evaluations/compare", params={"a": pair.better.id, "b": pair.base.id})
    assert re.search(r'data-stat="verdict">worse<', back.text)
    bad = client.get("/evaluations/compare", params={**params, "show": "some"})
    assert bad.status_code == 400 and "show must be one of" in bad.text
    missing = client.get("/evaluations/compare", params={"a": pair.base.id})
    assert missing.status_code == 400 and "text/html" in missing.headers["content-type"]


def test_compare_page_warns_when_the_data_differ(
    client: TestClient, app: FastAPI, pair: Pair
) -> None:
    stores = stores_of(app.state.services)
    fewer = evaluate(FunctionTarget(right), Data(ROWS[:10], "10 rows"), ["exact_match"], stores)
    params = {"a": pair.base.id, "b": fewer.evaluation.id}
    page = client.get("/evaluations/compare", params=params).text
    assert 'id="not-same-data"' in page
    assert 'data-metric="exact_match"' in page and 'data-metric="token_f1"' not in page
    same = client.get("/evaluations/compare", params={"a": pair.base.id, "b": pair.better.id})
    assert 'id="not-same-data"' not in same.text


def test_a_failed_evaluation(client: TestClient, app: FastAPI) -> None:
    store = app.state.services.evaluations
    broken = store.start("broken", target="models:/m@prod", data="3 rows", scorers=["bleu"])
    store.fail(broken.id, "RuntimeError: the model would not load")
    rows = client.get(f"{API}/{broken.id}/rows").json()
    assert (rows["rows"], rows["total_matching"]) == ([], 0)
    page = client.get(f"/evaluations/{broken.id}").text
    assert "status-failed" in page and "RuntimeError: the model would not load" in page
    assert "No aggregates: the evaluation failed" in page and "No rows" in page
    assert '<a href="/models/m">models:/m@prod</a>' in page  # an alias: the model's page
    assert "broken" in client.get("/evaluations").text
