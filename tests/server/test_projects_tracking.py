"""Projects through the real app: a caller in project b never reads or writes a's
experiments, runs and traces, by REST, OTLP or the UI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.core.ids import new_id, utcnow
from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.tracing.entities import Span, TraceContext
from lmops.tracing.store import TracingStore
from tests.tracing.test_otlp import TRACE, json_request, json_span

A = {"x-lmops-project": "a"}
B = {"x-lmops-project": "b"}


@dataclass
class Made:
    experiment: str
    run: str
    trace: str


def span_json(trace_id: str, name: str = "agent", **fields: object) -> dict[str, object]:
    now = utcnow()
    span = Span(
        trace_id=trace_id,
        span_id=new_id()[:16],
        name=name,
        start_time=now - timedelta(minutes=1),
        end_time=now,
        **fields,
    )
    return span.model_dump(mode="json")


@pytest.fixture
def made(client: TestClient) -> Made:
    """In project a: experiment "exp" with one run (metric, artifact), one trace."""
    experiment = client.post("/api/v1/experiments", json={"name": "exp"}, headers=A).json()
    run = client.post(
        "/api/v1/runs", json={"experiment_id": experiment["id"], "name": "a-run"}, headers=A
    ).json()
    logged = client.post(
        f"/api/v1/runs/{run['id']}/log-batch",
        json={"metrics": [{"key": "loss", "value": 0.5, "step": 0}], "params": {"lr": "0.1"}},
        headers=A,
    )
    assert logged.status_code == 204
    blob = client.post("/api/v1/blobs", content=b"a's weights", headers=A).json()
    attached = client.post(
        f"/api/v1/runs/{run['id']}/artifacts",
        json={"path": "weights.bin", "digest": blob["digest"]},
        headers=A,
    )
    assert attached.status_code == 201
    trace_id = new_id()
    context = TraceContext(session_id="chat-a", user_id="ann")
    spans = [span_json(trace_id, inputs="a's secret question", context=context)]
    assert client.post("/api/v1/spans", json={"spans": spans}, headers=A).status_code == 201
    return Made(experiment["id"], run["id"], trace_id)


def test_ids_of_another_project_answer_404(client: TestClient, made: Made) -> None:
    reads = [
        f"/api/v1/experiments/{made.experiment}",
        f"/api/v1/runs/{made.run}",
        f"/api/v1/runs/{made.run}/metrics/history?key=loss",
        f"/api/v1/runs/{made.run}/artifacts",
        f"/api/v1/runs/{made.run}/artifact-files?path=weights.bin",
        f"/api/v1/runs/{made.run}/artifacts/weights.bin",
        f"/api/v1/traces/{made.trace}",
        "/api/v1/sessions/chat-a",
        "/api/v1/experiments/by-name?name=exp",
    ]
    for path in reads:
        assert client.get(path, headers=A).status_code == 200, path
        assert client.get(path, headers=B).status_code == 404, path
    # the same answer as for an id that never existed
    hidden = client.get(f"/api/v1/runs/{made.run}", headers=B).json()["message"]
    assert hidden == f"no run with id {made.run!r}"


def test_writes_into_another_project_answer_404(client: TestClient, made: Made) -> None:
    writes = [
        ("POST", f"/api/v1/runs/{made.run}/end", {"status": "KILLED"}),
        ("POST", f"/api/v1/runs/{made.run}/log-batch", {"params": {"lr": "9"}}),
        ("POST", f"/api/v1/runs/{made.run}/log-batch", {"tags": {"owner": "b"}}),
        ("POST", f"/api/v1/runs/{made.run}/artifacts", {"path": "x", "files": {}}),
        ("POST", "/api/v1/runs", {"experiment_id": made.experiment}),
        ("POST", "/api/v1/runs/search", {"experiment_ids": [made.experiment]}),
        ("POST", f"/api/v1/traces/{made.trace}/feedback", {"name": "thumbs", "value": False}),
        ("POST", f"/api/v1/traces/{made.trace}/feedback-token", {}),
        ("DELETE", f"/api/v1/traces/{made.trace}", None),
    ]
    for method, path, body in writes:
        answer = client.request(method, path, json=body, headers=B)
        assert answer.status_code == 404, (method, path, answer.status_code, answer.text)

    run = client.get(f"/api/v1/runs/{made.run}", headers=A).json()
    assert (run["status"], run["params"], run["tags"]) == ("RUNNING", {"lr": "0.1"}, {})
    trace = client.get(f"/api/v1/traces/{made.trace}", headers=A).json()
    assert trace["feedback"] == [] and trace["feedback_count"] == 0
    assert client.get(f"/api/v1/traces/{made.trace}/feedback", headers=B).json() == []


def test_lists_are_disjoint(client: TestClient, made: Made) -> None:
    theirs = client.post("/api/v1/experiments", json={"name": "exp"}, headers=B)
    assert theirs.status_code == 201  # the same name, in another project
    b_run = client.post(
        "/api/v1/runs", json={"experiment_id": theirs.json()["id"]}, headers=B
    ).json()
    b_trace = new_id()
    client.post("/api/v1/spans", json={"spans": [span_json(b_trace)]}, headers=B)

    def ids(headers: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
        experiments = client.get("/api/v1/experiments", headers=headers).json()
        found = [e["id"] for e in experiments]
        runs = (
            client.post(
                "/api/v1/runs/search", json={"experiment_ids": found}, headers=headers
            ).json()["runs"]
            if found
            else []
        )
        traces = client.post("/api/v1/traces/search", json={}, headers=headers).json()["traces"]
        return found, [r["id"] for r in runs], [t["trace_id"] for t in traces]

    assert ids(A) == ([made.experiment], [made.run], [made.trace])
    assert ids(B) == ([theirs.json()["id"]], [b_run["id"]], [b_trace])
    assert ids({}) == ([], [], [])  # no header: the default project, empty here
    by_name = client.put("/api/v1/experiments/by-name?name=exp", headers=B).json()
    assert by_name["id"] == theirs.json()["id"]


def test_deleting_old_traces_deletes_only_the_callers(client: TestClient, made: Made) -> None:
    before = (utcnow() + timedelta(seconds=1)).isoformat()
    deleted = client.post("/api/v1/traces/delete", json={"before": before}, headers=B)
    assert deleted.json() == {"deleted": 0}
    assert client.get(f"/api/v1/traces/{made.trace}", headers=A).status_code == 200
    deleted = client.post("/api/v1/traces/delete", json={"before": before}, headers=A)
    assert deleted.json() == {"deleted": 1}


def test_spans_for_another_projects_trace_are_refused(client: TestClient, app: FastAPI) -> None:
    sent = client.post(
        "/v1/traces",
        content=json_request(json_span(name="a's call")),
        headers={**A, "content-type": "application/json"},
    )
    assert sent.status_code == 200 and sent.json() == {}
    store: TracingStore = app.state.services.tracing.in_project("a")
    before = store.get_trace(TRACE)

    # OTLP: b's span of a's trace id is rejected alone, b's other span is kept
    mine = "0af7651916cd43dd8448eb211c80319c"
    body = json_request(
        json_span(spanId="eee19b7ec3c1b100", name="intruder"),
        json_span(traceId=mine, name="b's call"),
    )
    answer = client.post(
        "/v1/traces", content=body, headers={**B, "content-type": "application/json"}
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and f"trace id {TRACE}" in partial["errorMessage"]
    assert store.get_trace(TRACE) == before
    assert client.get(f"/api/v1/traces/{mine}", headers=B).json()["span_count"] == 1
    assert client.get(f"/api/v1/traces/{TRACE}", headers=B).status_code == 404

    # REST: the whole batch is refused with 409
    spans = [span_json(TRACE, "intruder", outputs="b's answer")]
    refused = client.post("/api/v1/spans", json={"spans": spans}, headers=B)
    assert refused.status_code == 409 and "new trace id" in refused.json()["message"]
    assert store.get_trace(TRACE) == before


def test_ui_pages_show_only_the_projects_rows(client: TestClient, made: Made) -> None:
    for path in ("/experiments", "/traces", "/sessions"):
        mine, theirs = client.get(path, headers=A), client.get(path, headers=B)
        assert mine.status_code == theirs.status_code == 200, path
        assert made.experiment in mine.text or made.trace in mine.text or "chat-a" in mine.text
        for secret in (made.experiment, made.trace, "chat-a", "secret question"):
            assert secret not in theirs.text, (path, secret)
    for path in (
        f"/experiments/{made.experiment}",
        f"/runs/{made.run}",
        f"/compare?runs={made.run},{made.run[::-1]}",
        f"/traces/{made.trace}",
        "/sessions/chat-a",
    ):
        answer = client.get(path, headers=B)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "secret question" not in answer.text and "a-run" not in answer.text
    assert client.get(f"/runs/{made.run}", headers=A).status_code == 200


def test_a_feedback_token_needs_no_project_nor_key(store_uri: str, tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, uri=store_uri, auth="on"))
    store: TracingStore = app.state.services.tracing.in_project("a")
    trace_id = new_id()
    store.write_spans([Span.model_validate(span_json(trace_id))])
    token = store.feedback.create_token(trace_id)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(
            f"/api/v1/feedback/by-token/{token}", json={"name": "thumbs", "value": True}
        )
        assert answer.status_code == 201, answer.text
        assert client.get(f"/api/v1/traces/{trace_id}").status_code == 401
    assert [f.value for f in store.feedback.list_feedback(trace_id)] == [True]


def test_retention_sweeps_every_project(store_uri: str, tmp_path: Path) -> None:
    app = create_app(Settings(auth="off", home=tmp_path, uri=store_uri, trace_retention_days=30))
    tracing: TracingStore = app.state.services.tracing
    old = timedelta(days=31)
    kept: dict[str, str] = {}
    for project in ("a", "b"):
        store = tracing.in_project(project)
        for trace_id, age in ((new_id(), old), (new_id(), timedelta(0))):
            span = Span.model_validate(span_json(trace_id))
            store.write_spans([span.model_copy(update={"start_time": span.start_time - age})])
        kept[project] = trace_id
    with TestClient(app) as client:  # startup runs the first sweep
        for project, trace_id in kept.items():
            found = client.post(
                "/api/v1/traces/search", json={}, headers={"x-lmops-project": project}
            )
            assert [t["trace_id"] for t in found.json()["traces"]] == [trace_id]
