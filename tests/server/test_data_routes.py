"""The read-only datasets API: every route, its errors, and hostile input, on both dialects."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.data.entities import ColumnProfile, DatasetVersion
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from tests.factories import derive, profile_of, text_profile

TEXTS = ["Where is my refund?", "hello there", "refund please", "good morning", "bye"]
ROWS = [
    {"text": t, "label": "refund" if "refund" in t else "other", "n": i}
    for i, t in enumerate(TEXTS)
]


@dataclass
class Chat:
    """dataset `chat`: v1 imported, v2 filtered from v1 (profiled), v3 joined with labels/1."""

    v1: DatasetVersion
    v2: DatasetVersion
    v3: DatasetVersion
    labels: DatasetVersion
    job_id: str


@pytest.fixture
def chat(app: FastAPI) -> Chat:
    return make_chat(app.state.services.data)


def make_chat(store: DataStore) -> Chat:
    v1 = import_source(store, "chat", pa.Table.from_pylist(ROWS), description="support chats")
    v2 = derive(store, v1, ROWS[:3], "filter", where="n < 3", report={"rows_in": 5, "rows_out": 3})
    labels = import_source(store, "labels", pa.table({"label": ["refund", "other"], "id": [1, 2]}))
    joined = [{**r, "id": 1 if r["label"] == "refund" else 2} for r in ROWS[:3]]
    v3 = derive(store, v2, joined, "join", extra_parents=[labels], on=["label"])
    store.save_profile(
        profile_of(
            v2,
            [
                ColumnProfile(
                    name="text",
                    type="string",
                    kind="text",
                    nulls=0,
                    distinct=3,
                    text=text_profile(TEXTS[:3], near_duplicates=1),
                ),
                ColumnProfile(name="n", type="int64", kind="number", nulls=0, distinct=3),
            ],
        )
    )
    job = store.start_job("chat", "dedup", total=200, input_version_id=v2.id)
    store.update_job(job.id, done=50)
    return Chat(v1, v2, v3, labels, job.id)


def test_list_and_get_datasets(client: TestClient, chat: Chat) -> None:
    found = client.get("/api/v1/datasets").json()
    assert [(d["name"], d["version_count"], d["latest_version"]) for d in found] == [
        ("chat", 3, 3),
        ("labels", 1, 1),
    ]
    one = client.get("/api/v1/datasets/chat").json()
    assert one["description"] == "support chats" and one["version_count"] == 3


def test_versions(client: TestClient, chat: Chat) -> None:
    versions = client.get("/api/v1/datasets/chat/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[1]["parent_version_id"] == chat.v1.id
    assert versions[1]["recipe"] == {"op": "filter", "params": {"where": "n < 3"}}
    assert versions[1]["report"] == {"rows_in": 5, "rows_out": 3}
    two = client.get("/api/v1/datasets/chat/versions/2").json()
    assert two["id"] == chat.v2.id and two["row_count"] == 3
    assert two["columns"] == [
        {"name": "text", "type": "string"},
        {"name": "label", "type": "string"},
        {"name": "n", "type": "int64"},
    ]
    assert client.get("/api/v1/datasets/chat/versions/latest").json()["id"] == chat.v3.id


def test_rows(client: TestClient, chat: Chat) -> None:
    url = "/api/v1/datasets/chat/versions/1/rows"
    page = client.get(url).json()
    assert page["total_matching"] == 5 and page["offset"] == 0 and page["limit"] == 50
    assert [r["text"] for r in page["rows"]] == TEXTS
    assert [c["name"] for c in page["columns"]] == ["text", "label", "n"]
    found = client.get(url, params={"q": "REFUND"}).json()
    assert [r["n"] for r in found["rows"]] == [0, 2]
    params = {"filter": ["label:=:other", "n:>=:3"], "order_by": "n", "desc": "true"}
    assert [r["n"] for r in client.get(url, params=params).json()["rows"]] == [4, 3]
    paged = client.get(url, params={"offset": 4, "limit": 2}).json()
    assert [r["n"] for r in paged["rows"]] == [4] and paged["total_matching"] == 5
    latest = client.get("/api/v1/datasets/chat/versions/latest/rows").json()
    assert [c["name"] for c in latest["columns"]] == ["text", "label", "n", "id"]


def test_profile(client: TestClient, chat: Chat) -> None:
    profile = client.get("/api/v1/datasets/chat/versions/2/profile").json()
    assert profile["version_id"] == chat.v2.id
    assert [c["name"] for c in profile["columns"]] == ["text", "n"]
    assert profile["columns"][0]["text"]["pii"] == {"email": 2, "phone": 1}
    missing = client.get("/api/v1/datasets/chat/versions/1/profile")
    assert missing.status_code == 404
    assert "lmops data profile datasets:/chat/1" in missing.json()["message"]


def test_diff(client: TestClient, chat: Chat) -> None:
    diff = client.get("/api/v1/datasets/chat/diff", params={"a": 1, "b": 2}).json()
    assert (diff["rows_added"], diff["rows_removed"], diff["rows_unchanged"]) == (0, 2, 3)
    assert sorted(r["n"] for r in diff["removed_sample"]) == [3, 4]
    assert diff["profile_deltas"] is None  # v1 is not profiled
    joined = client.get("/api/v1/datasets/chat/diff?a=2&b=latest&sample=1").json()
    assert [c["name"] for c in joined["columns_added"]] == ["id"]
    assert joined["rows_unchanged"] == 3 and joined["note"].startswith("rows are compared")


def test_lineage(client: TestClient, chat: Chat) -> None:
    graph = client.get("/api/v1/datasets/chat/lineage").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {chat.v1.id, chat.v2.id, chat.v3.id, chat.labels.id}
    assert nodes[chat.labels.id]["external"] is True
    assert nodes[chat.labels.id]["dataset_name"] == "labels"
    assert (nodes[chat.v3.id]["op"], nodes[chat.v1.id]["op"]) == ("join", "import")
    edges = {(e["parent_id"], e["child_id"]) for e in graph["edges"]}
    assert edges == {
        (chat.v1.id, chat.v2.id),
        (chat.v2.id, chat.v3.id),
        (chat.labels.id, chat.v3.id),
    }


def test_jobs(client: TestClient, chat: Chat) -> None:
    jobs = client.get("/api/v1/datasets/chat/jobs").json()
    assert [(j["id"], j["op"], j["status"], j["done"], j["total"]) for j in jobs] == [
        (chat.job_id, "dedup", "running", 50, 200)
    ]
    assert client.get("/api/v1/datasets/labels/jobs").json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/nope",
        "/api/v1/datasets/nope/versions",
        "/api/v1/datasets/nope/versions/1",
        "/api/v1/datasets/nope/versions/latest/rows",
        "/api/v1/datasets/nope/versions/1/profile",
        "/api/v1/datasets/nope/diff?a=1&b=2",
        "/api/v1/datasets/nope/lineage",
        "/api/v1/datasets/nope/jobs",
    ],
)
def test_unknown_dataset_is_404(client: TestClient, chat: Chat, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no dataset named 'nope'"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/chat/versions/9",
        "/api/v1/datasets/chat/versions/9/rows",
        "/api/v1/datasets/chat/versions/9/profile",
        "/api/v1/datasets/chat/diff?a=1&b=9",
    ],
)
def test_unknown_version_is_404(client: TestClient, chat: Chat, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "datasets:/chat/9" in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("versions/two", {}, "version must be a version number or latest, not 'two'"),
        ("versions/-1/rows", {}, "version must be a version number"),
        ("versions/1/rows", {"filter": "n:>:abc"}, "'abc' is not a BIGINT value"),
        ("versions/1/rows", {"filter": "nope:=:1"}, "no column 'nope': the columns are text"),
        ("versions/1/rows", {"order_by": "nope"}, "no column 'nope'"),
        ("versions/1/rows", {"filter": "text"}, "write column:op:value"),
        ("versions/1/rows", {"filter": "text:=:a\x00"}, "NUL"),
        ("versions/1/rows", {"q": "\x00"}, "NUL"),
        ("versions/1/rows", {"limit": 501}, "limit"),
        ("versions/1/rows", {"limit": 0}, "limit"),
        ("versions/1/rows", {"offset": -1}, "offset"),
        ("versions/1/rows", {"desc": "maybe"}, "desc"),
        ("versions/1/rows", {"filter": ["n:=:1"] * 21}, "filter"),
        ("diff", {"a": 1}, "b: Field required"),
        ("diff", {"a": "x", "b": 1}, "version must be a version number"),
        ("diff", {"a": 1, "b": 2, "sample": 1000}, "sample"),
        ("jobs", {"limit": 0}, "limit"),
    ],
)
def test_bad_params_are_400_with_a_message(
    client: TestClient, chat: Chat, path: str, params: dict[str, object], message: str
) -> None:
    response = client.get(f"/api/v1/datasets/chat/{path}", params=params)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_hostile_input_never_answers_500(client: TestClient, chat: Chat) -> None:
    nasty = ["%ED%A0%80", "%00", "..", "x" * 5000, "☃", "-1", " ", "1e400", "latest", "0"]
    failures = []
    for value in nasty:
        for path in (
            f"/api/v1/datasets/{value}",
            f"/api/v1/datasets/chat/versions/{value}",
            f"/api/v1/datasets/chat/versions/1/rows?q={value}&order_by={value}",
            f"/api/v1/datasets/chat/versions/1/rows?filter=n:>:{value}",
            f"/api/v1/datasets/chat/versions/1/rows?filter=text:contains:{value}",
            f"/api/v1/datasets/chat/versions/1/rows?filter={value}:is_null",
            f"/api/v1/datasets/chat/versions/1/rows?offset={value}&limit={value}",
            f"/api/v1/datasets/chat/diff?a={value}&b=1&sample={value}",
            f"/api/v1/datasets/{value}/lineage",
        ):
            response = client.get(path)
            if response.status_code >= 500:
                failures.append((path[:100], response.status_code, response.text[:200]))
    assert failures == []


def test_importing_the_server_loads_no_dataframe_library() -> None:
    """The data routes load DuckDB and pyarrow on their first request, not at import."""
    code = (
        "import sys, lmops.server; print([m for m in ('pyarrow', 'duckdb', 'pandas', "
        "'datasets') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
