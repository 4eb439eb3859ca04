"""Projects through the real app, on SQLite and PostgreSQL: a caller working in project b
(`X-Lmops-Project: b`) gets a 404 for project a's models, datasets and webhooks, exactly as
for ones that do not exist, reads only b's audit log, and a's names never show in b's pages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.data.importing import import_source
from lmops.data.profiling import profile_version
from lmops.registry import registering
from lmops.server.deps import Services
from lmops.tracking.entities import Run
from tests.registry.conftest import fake_model_dir

A = {"x-lmops-project": "a"}
B = {"x-lmops-project": "b"}
NOBODY = {"x-lmops-project": "nobody"}


@dataclass
class InA:
    """Project a: model `secret` (v1 from a run, @production, a card), dataset `private`
    (v1 profiled, v2 derived), and a webhook."""

    run: Run
    webhook_id: str


@pytest.fixture
def in_a(app: FastAPI, client: TestClient, tmp_path: Path) -> InA:
    services: Services = app.state.services
    registry, data = services.registry.in_project("a"), services.data.in_project("a")
    tracking = services.tracking.in_project("a")
    run = tracking.create_run(tracking.create_experiment("secret-exp").id, name="secret-run")
    tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out"), "model")
    version = registering.register_run_artifact(registry, "secret", f"runs:/{run.id}/model")
    registry.set_alias("secret", "production", 1)
    registry.save_card(version.id, "# secret\n", generated=False)
    first = import_source(data, "private", pa.table({"q": ["a", "b", "c"]}))
    data.save_profile(profile_version(data, first))
    import_source(data, "private", pa.table({"q": ["a"]}))
    made = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/a", "events": ["*"]}, headers=A
    )
    assert made.status_code == 201
    return InA(run, made.json()["id"])


def _paths(in_a: InA) -> list[tuple[str, str, object]]:
    """Every route that names one of a's objects: (method, path, body)."""
    m, d = "/api/v1/models/secret", "/api/v1/datasets/private"
    return [
        ("GET", m, None),
        ("GET", f"{m}/versions", None),
        ("GET", f"{m}/versions/1", None),
        ("GET", f"{m}/versions/latest", None),
        ("PATCH", f"{m}/versions/1", {"description": "mine now"}),
        ("GET", f"{m}/versions/1/lineage", None),
        ("GET", f"{m}/versions/1/card", None),
        ("PUT", f"{m}/versions/1/card", {"markdown": "# taken\n"}),
        ("POST", f"{m}/versions/1/card/generate", None),
        ("GET", f"{m}/versions/1/card/revisions", None),
        ("GET", f"{m}/aliases/production", None),
        ("PUT", f"{m}/aliases/production", {"version": 1}),
        ("DELETE", f"{m}/aliases/production", None),
        ("GET", d, None),
        ("GET", f"{d}/versions", None),
        ("GET", f"{d}/versions/1", None),
        ("GET", f"{d}/versions/latest/rows", None),
        ("GET", f"{d}/versions/1/profile", None),
        ("GET", f"{d}/diff?a=1&b=2", None),
        ("GET", f"{d}/lineage", None),
        ("GET", f"{d}/jobs", None),
        ("GET", f"/api/v1/webhooks/{in_a.webhook_id}", None),
        ("GET", f"/api/v1/webhooks/{in_a.webhook_id}/deliveries", None),
        ("DELETE", f"/api/v1/webhooks/{in_a.webhook_id}", None),
        ("GET", "/models/secret", None),
        ("GET", "/models/secret/1", None),
        ("GET", "/models/secret/1/card/edit", None),
        ("GET", "/datasets/private", None),
        ("GET", "/datasets/private/1", None),
        ("GET", "/datasets/private/diff?a=1&b=2", None),
    ]


def _without_caller(text: str) -> str:
    """A page without the header naming the caller's project and role."""
    return re.sub(r"<span>[^<]* · [^<]*</span>", "", text)


def test_another_projects_objects_are_404_like_unknown_ones(client: TestClient, in_a: InA) -> None:
    for method, path, body in _paths(in_a):
        from_b = client.request(method, path, json=body, headers=B)
        never = client.request(method, path, json=body, headers=NOBODY)
        assert from_b.status_code == 404, (method, path, from_b.text)
        assert _without_caller(from_b.text) == _without_caller(never.text), (method, path)
        assert "secret-run" not in from_b.text
    # and a still has all of it, unchanged
    for method, path, _ in _paths(in_a):
        if method == "GET":
            assert client.get(path, headers=A).status_code == 200, path
    card = client.get("/api/v1/models/secret/versions/1/card", headers=A).json()
    assert card["markdown"] == "# secret\n" and card["revision"] == 1
    assert client.get("/api/v1/models/secret", headers=A).json()["aliases"] == {"production": 1}


def test_lists_show_only_the_callers_project(client: TestClient, in_a: InA) -> None:
    for path in ("/api/v1/models", "/api/v1/datasets", "/api/v1/webhooks"):
        assert client.get(path, headers=B).json() == [], path
        assert len(client.get(path, headers=A).json()) == 1, path
    for page in ("/models", "/datasets"):
        shown = client.get(page, headers=B)
        assert shown.status_code == 200 and "secret" not in shown.text
        assert "private" not in shown.text


def test_the_same_names_in_two_projects_are_apart(
    app: FastAPI, client: TestClient, in_a: InA, tmp_path: Path
) -> None:
    services: Services = app.state.services
    registering.register_endpoint(
        services.registry.in_project("b"), "secret", "http://127.0.0.1:9/v1", "m"
    )
    import_source(services.data.in_project("b"), "private", pa.table({"q": ["only b"]}))

    in_b = client.get("/api/v1/models/secret/versions/1", headers=B).json()
    assert in_b["format"]["kind"] == "external" and in_b["source"]["type"] == "external"
    assert client.get("/api/v1/models/secret/versions/1", headers=A).json()["source"]["type"] == (
        "run"
    )
    assert client.get("/api/v1/models/secret/aliases/production", headers=B).status_code == 404
    rows = client.get("/api/v1/datasets/private/versions/1/rows", headers=B).json()
    assert [r["q"] for r in rows["rows"]] == ["only b"]
    assert client.get("/api/v1/datasets/private", headers=B).json()["latest_version"] == 1
    lineage = client.get("/api/v1/models/secret/versions/1/lineage", headers=B).json()
    assert lineage["upstream"] == []
    from_a = client.get("/api/v1/models/secret/versions/1/lineage", headers=A).json()
    assert [(u["kind"], u["resolved"], u["name"]) for u in from_a["upstream"]] == [
        ("run", True, "secret-run")
    ]


def test_each_caller_reads_its_own_projects_audit_log(client: TestClient, in_a: InA) -> None:
    made = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/b", "events": ["*"]}, headers=B
    )
    assert made.status_code == 201

    log_a = client.get("/api/v1/audit", params={"limit": 1000}, headers=A).json()
    # (naming another project is for server admins: test_permissions.py checks the refusal;
    # with auth off, as here, every caller is one)
    log_b = client.get("/api/v1/audit", headers=B).json()
    assert {e["project"] for e in log_a} == {"a"} and len(log_a) >= 6
    assert [(e["project"], e["action"]) for e in log_b] == [("b", "webhook.create")]
    assert client.get("/api/v1/audit", headers=NOBODY).json() == []
    exported = client.get("/api/v1/audit/export", headers=B)
    assert [json.loads(line)["project"] for line in exported.text.splitlines()] == ["b"]
    exported_a = client.get("/api/v1/audit/export", headers=A)
    assert [json.loads(line)["id"] for line in exported_a.text.splitlines()] == [
        e["id"] for e in log_a
    ]
