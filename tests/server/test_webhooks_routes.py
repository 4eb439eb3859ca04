"""Webhooks over HTTP on SQLite and PostgreSQL: the REST routes, and the server's worker
delivering to a real receiver without ever holding up the request that caused the event."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.core.settings import Settings
from lmops.governance.webhooks import verify_signature
from lmops.registry import registering
from lmops.server import create_app
from tests.governance.receiver import Receiver
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def app(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path, uri=store_uri, webhook_interval_s=0.05))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """A deadline for work another thread does, not a timing claim."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _register_two_versions(app: FastAPI, tmp_path: Path) -> None:
    registry = app.state.services.registry
    for _ in range(2):
        registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))


def test_webhooks_crud_never_shows_the_secret_again(client: TestClient) -> None:
    made = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["model_alias.set"], "description": "ci"},
    )
    assert made.status_code == 201
    hook = made.json()
    secret = hook["secret"]
    assert secret.startswith("whsec_") and hook["events"] == ["model_alias.set"]
    assert hook["active"] is True and hook["description"] == "ci"

    listed = client.get("/api/v1/webhooks")
    one = client.get(f"/api/v1/webhooks/{hook['id']}")
    for response in (listed, one):
        assert response.status_code == 200
        assert "secret" not in response.text and secret not in response.text
    assert [w["id"] for w in listed.json()] == [hook["id"]]
    assert one.json()["url"] == "http://127.0.0.1:9/hook"
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json() == []

    audit = client.get("/api/v1/audit", params={"target_kind": "webhook"}).json()
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("webhook.create", "anonymous@testclient")
    ]
    assert secret not in str(audit)

    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    for method, path in [
        ("GET", f"/api/v1/webhooks/{hook['id']}"),
        ("DELETE", f"/api/v1/webhooks/{hook['id']}"),
        ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries"),
        ("GET", "/api/v1/webhooks/no-such-id"),
    ]:
        gone = client.request(method, path)
        assert gone.status_code == 404 and gone.json()["error"] == "not_found", path
    assert client.get("/api/v1/webhooks").json() == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "ftp://x.org/h", "events": ["*"]}, "url", "http:// or https://"),
        ({"url": "not a url", "events": ["*"]}, "url", "without spaces"),
        ({"url": "http://x.org/h", "events": ["model.explode"]}, "events", "unknown event"),
        ({"url": "http://x.org/h", "events": []}, "events", "at least 1 item"),
        ({"url": "http://x.org/h"}, "events", "Field required"),
        ({"url": "http://x.org/h", "events": ["*"], "secret": "short"}, "secret", "16 to 256"),
        ({"url": "http://x.org/h", "events": ["*"], "colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_bad_webhooks_are_400_with_a_message(
    client: TestClient, body: dict[str, object], field: str, message: str
) -> None:
    response = client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field and message in response.json()["message"]
    assert client.get("/api/v1/webhooks").json() == []


def test_deliveries_query_is_checked(client: TestClient) -> None:
    hook = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["*"]}
    ).json()
    path = f"/api/v1/webhooks/{hook['id']}/deliveries"
    assert client.get(path, params={"status": "lost"}).status_code == 400
    assert client.get(path, params={"limit": 0}).status_code == 400
    assert client.get(path, params={"status": "failed", "limit": 5}).json() == []


def test_the_server_delivers_signed_events(
    app: FastAPI, client: TestClient, tmp_path: Path
) -> None:
    _register_two_versions(app, tmp_path)
    with Receiver() as receiver:
        hook = client.post(
            "/api/v1/webhooks", json={"url": receiver.url, "events": ["model_alias.set"]}
        ).json()
        moved = client.put("/api/v1/models/chat/aliases/production", json={"version": 2})
        assert moved.status_code == 200
        _wait_for(receiver.arrived.is_set, "the delivery")
        [request] = receiver.requests
        assert request.json["event"] == "model_alias.set"
        assert request.json["after"] == {"version": 2}
        assert request.json["actor"] == "anonymous@testclient"
        headers = request.headers
        assert verify_signature(
            hook["secret"], headers["x-lmops-timestamp"], request.body, headers["x-lmops-signature"]
        )
        path = f"/api/v1/webhooks/{hook['id']}/deliveries"
        _wait_for(lambda: client.get(path).json()[0]["status"] == "delivered", "its record")
    [delivery] = client.get(path).json()
    assert delivery["id"] == headers["x-lmops-delivery"]
    assert (delivery["attempts"], delivery["last_status_code"]) == (1, 200)
    assert delivery["target"] == "models:/chat@production"


def test_a_hanging_receiver_does_not_hold_up_requests(
    app: FastAPI, client: TestClient, tmp_path: Path
) -> None:
    _register_two_versions(app, tmp_path)
    with Receiver(hold_s=10) as receiver:
        client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["model_alias.set"]})
        assert client.put("/api/v1/models/chat/aliases/prod", json={"version": 1}).is_success
        _wait_for(receiver.arrived.is_set, "the worker's POST")
        assert receiver.holding == 1

        moved = client.put("/api/v1/models/chat/aliases/prod", json={"version": 2})

        # the API answered while the receiver still holds the worker's connection open
        assert moved.status_code == 200 and moved.json()["version"] == 2
        assert receiver.holding == 1 and len(receiver.requests) == 1
        assert client.get("/api/v1/models/chat").json()["aliases"] == {"prod": 2}
