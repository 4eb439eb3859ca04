"""The audit log over HTTP: changes made through the API are attributed and readable, and
no route can change or delete an entry."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.registry import registering
from tests.registry.conftest import fake_model_dir


def test_api_changes_are_audited_and_the_log_is_read_only(
    app: FastAPI, client: TestClient, tmp_path: Path
) -> None:
    registry = app.state.services.registry
    for _ in range(2):
        registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))
    assert client.put("/api/v1/models/chat/aliases/production", json={"version": 1}).is_success
    assert client.put("/api/v1/models/chat/aliases/production", json={"version": 2}).is_success

    moves = client.get("/api/v1/audit", params={"action": "model_alias.set"}).json()
    assert [(m["actor"], m["before"], m["after"]) for m in moves] == [
        ("anonymous@testclient", None, {"version": 1}),
        ("anonymous@testclient", {"version": 1}, {"version": 2}),
    ]
    first = client.get("/api/v1/audit", params={"limit": 2}).json()
    rest = client.get("/api/v1/audit", params={"after_id": first[-1]["id"]}).json()
    assert len(first) == 2 and len(rest) == 3 and first[0]["actor"].startswith("local:")

    export = client.get("/api/v1/audit/export", params={"target_kind": "model"})
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [line["action"] for line in lines] == [
        "model.create",
        "model_alias.set",
        "model_alias.set",
    ]
    entry = f"/api/v1/audit/{first[0]['id']}"
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/api/v1/audit").status_code == 405, method
        assert getattr(client, method)(entry).status_code in (404, 405), method
    assert len(client.get("/api/v1/audit").json()) == 5
    bad = client.get("/api/v1/audit", params={"limit": 0})
    assert bad.status_code in (400, 422) and "limit" in bad.text
