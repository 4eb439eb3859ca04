"""The REST API: happy paths and every kind of bad input, on both dialects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmops.core.errors import Unauthorized
from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.server.auth import authorize


@pytest.fixture
def client(store_uri: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(auth="off", home=tmp_path, uri=store_uri))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def run_id(client: TestClient) -> str:
    exp = client.post("/api/v1/experiments", json={"name": "e"}).json()
    run = client.post("/api/v1/runs", json={"experiment_id": exp["id"], "params": {"lr": 0.01}})
    assert run.status_code == 201
    return str(run.json()["id"])


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/runs/{run_id}/log-batch" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_log_batch_and_read_back(client: TestClient, run_id: str) -> None:
    body = {
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 1},
            {"key": "loss", "value": 0.25, "step": 2, "timestamp": 5},
        ],
        "params": {"epochs": 3},
        "tags": {"k": "v"},
    }
    assert client.post(f"/api/v1/runs/{run_id}/log-batch", json=body).status_code == 204
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["metrics"] == {"loss": 0.25}
    assert run["params"] == {"lr": "0.01", "epochs": "3"}
    history = client.get(f"/api/v1/runs/{run_id}/metrics/history", params={"key": "loss"}).json()
    assert [(p["step"], p["value"]) for p in history] == [(1, 0.5), (2, 0.25)]


def test_prometheus_metrics_count_requests(client: TestClient, run_id: str) -> None:
    client.get(f"/api/v1/runs/{run_id}")
    text = client.get("/metrics").text
    assert (
        'lmops_http_requests_total{method="GET",route="/api/v1/runs/{run_id}",status="200"}' in text
    )


def test_unknown_ids_are_404_with_a_message(client: TestClient) -> None:
    for path in (
        "/api/v1/runs/nope",
        "/api/v1/experiments/nope",
        "/api/v1/runs/nope/artifacts",
        "/api/v1/experiments/by-name?name=zzz",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "nope" in response.json()["message"] or "zzz" in response.json()["message"]
    response = client.post("/api/v1/runs/nope/log-batch", json={"metrics": []})
    assert response.status_code == 404
    assert client.get("/api/v1/no-such-route").status_code == 404


def test_relogging_a_param_is_409(client: TestClient, run_id: str) -> None:
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", json={"params": {"lr": 0.1}})
    assert response.status_code == 409
    assert "write-once" in response.json()["message"]


@pytest.mark.parametrize(
    ("metric", "field"),
    [
        ({"key": "bad$key", "value": 1}, "metrics.0.key"),
        ({"key": "loss", "value": "abc"}, "metrics.0.value"),
        ({"key": "loss", "value": True}, "metrics.0.value"),
        ({"key": "loss", "value": 1, "step": "x"}, "metrics.0.step"),
        ({"value": 1}, "metrics.0.key"),
    ],
)
def test_invalid_metrics_are_400_naming_the_field(
    client: TestClient, run_id: str, metric: dict[str, object], field: str
) -> None:
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", json={"metrics": [metric]})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["message"]
    assert client.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {}


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        (
            {"key": ["loss"], "value": ["x"], "step": [0], "timestamp": [0]},
            "metric_columns.value.0",
        ),
        (
            {"key": ["loss"], "value": [True], "step": [0], "timestamp": [0]},
            "metric_columns.value.0",
        ),
        (
            {"key": ["loss"], "value": [1.0], "step": [0.5], "timestamp": [0]},
            "metric_columns.step.0",
        ),
        ({"key": ["a$"], "value": [1.0], "step": [0], "timestamp": [0]}, "metric_columns"),
        ({"key": ["loss"], "value": [1.0, 2.0], "step": [0], "timestamp": [0]}, "metric_columns"),
    ],
)
def test_invalid_metric_columns_are_400(
    client: TestClient, run_id: str, columns: dict[str, object], field: str
) -> None:
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", json={"metric_columns": columns})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert client.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {}


def test_metric_columns_are_written(client: TestClient, run_id: str) -> None:
    columns = {
        "key": ["loss", "loss", "acc"],
        "value": [0.5, 0.25, 1],
        "step": [0, 1, 1],
        "timestamp": [10, 11, 11],
    }
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", json={"metric_columns": columns})
    assert response.status_code == 204
    assert client.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {"loss": 0.25, "acc": 1.0}


def test_malformed_filter_is_400_saying_where(client: TestClient, run_id: str) -> None:
    exp_id = client.get(f"/api/v1/runs/{run_id}").json()["experiment_id"]
    response = client.post(
        "/api/v1/runs/search",
        json={"experiment_ids": [exp_id], "filter": "metrics.loss < 0.5 and params.lr ="},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_filter"
    assert body["position"] == 34
    assert "position 34" in body["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b'{"metrics": "x"}'])
def test_malformed_bodies_are_400(client: TestClient, run_id: str, raw: bytes) -> None:
    response = client.post(
        f"/api/v1/runs/{run_id}/log-batch",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"]


def test_bad_inputs_never_answer_500(client: TestClient, run_id: str) -> None:
    attempts = [
        ("POST", "/api/v1/experiments", {"name": ""}),
        ("POST", "/api/v1/experiments", {"name": "x" * 300}),
        ("POST", "/api/v1/experiments", {"name": "ok", "tags": {"bad key!": "v"}}),
        ("POST", "/api/v1/runs", {"experiment_id": "missing"}),
        ("POST", "/api/v1/runs", {"experiment_id": 5}),
        ("POST", f"/api/v1/runs/{run_id}/end", {"status": "DONE"}),
        ("POST", "/api/v1/runs/search", {"experiment_ids": []}),
        ("POST", "/api/v1/runs/search", {"experiment_ids": ["x"], "max_results": 0}),
        ("POST", "/api/v1/runs/search", {"experiment_ids": ["x"], "page_token": "garbage"}),
        ("POST", f"/api/v1/runs/{run_id}/artifacts", {"path": "a", "digest": "0" * 64}),
        ("POST", f"/api/v1/runs/{run_id}/artifacts", {"path": "a", "digest": "zz"}),
        ("POST", f"/api/v1/runs/{run_id}/artifacts", {"path": "../a", "files": {}}),
        ("POST", f"/api/v1/runs/{run_id}/log-batch", {"params": {"k": "x" * 7000}}),
        ("GET", f"/api/v1/runs/{run_id}/metrics/history?key=bad$key", None),
        ("GET", f"/api/v1/runs/{run_id}/metrics/history?key=loss&max_points=1", None),
        ("GET", f"/api/v1/runs/{run_id}/artifacts/nothing", None),
        ("PUT", "/api/v1/experiments/by-name?name=", None),
        ("POST", f"/api/v1/traces/{'0' * 32}/feedback", {"name": "x", "span_id": "z" * 40}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body)
        assert 400 <= response.status_code < 500, (method, path, response.text)
        assert response.json()["message"], (method, path)


def test_blob_upload_and_artifact_download(client: TestClient, run_id: str) -> None:
    payload = b"weights" * 100_000
    blob = client.post("/api/v1/blobs", content=payload).json()
    assert blob["size"] == len(payload)
    art = client.post(
        f"/api/v1/runs/{run_id}/artifacts",
        json={"path": "model/weights.bin", "digest": blob["digest"]},
    )
    assert art.status_code == 201 and art.json()["size"] == len(payload)
    assert client.get(f"/api/v1/runs/{run_id}/artifacts/model/weights.bin").content == payload


def test_every_route_calls_the_auth_dependency(client: TestClient) -> None:
    """A caller that `authorize` refuses gets nothing from any route but /health and docs."""
    app = client.app
    open_paths = {
        "/health",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        # an end user's feedback: the token in the path is the credential
        "/api/v1/feedback/by-token/{token}",
    }

    def refuse() -> None:
        raise Unauthorized("no key")

    routes = [
        (path, method.upper())
        for path, ops in app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in ops
    ]
    routes.append(("/metrics", "GET"))  # left out of the schema on purpose
    assert ("/api/v1/runs/{run_id}/log-batch", "POST") in routes
    app.dependency_overrides[authorize] = refuse  # type: ignore[attr-defined]
    try:
        for path, method in routes:
            if path in open_paths:
                continue
            response = client.request(method, re.sub(r"\{\w+(:path)?\}", "x", path))
            assert response.status_code == 401, (method, path, response.status_code)
        assert client.get("/health").status_code == 200
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
