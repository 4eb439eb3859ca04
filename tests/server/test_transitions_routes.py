"""Controlled transitions over REST with the real app, on SQLite and PostgreSQL: policies,
results, requests, approval against the checks, rejection, roles and projects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from lmops.governance.roles import Role
from lmops.registry import registering
from lmops.server.auth import required_role
from lmops.server.routers import transitions
from tests.registry.conftest import fake_model_dir

API = "/api/v1"
POLICY = f"{API}/models/chat/aliases/production/policy"
RULES = {
    "required_tags": ["reviewed", "license=apache-2.0"],
    "min_results": {"rougeL": 0.3},
    "require_card": True,
}


@pytest.fixture
def chat(app: FastAPI, tmp_path: Path) -> None:
    """chat v1 at @production, and v2, the candidate."""
    store = app.state.services.registry
    for n in (1, 2):
        registering.register_directory(store, "chat", fake_model_dir(tmp_path / f"v{n}"))
    store.set_alias("chat", "production", 1)


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _request(client: TestClient, version: int = 2, comment: str = "better") -> dict[str, Any]:
    body = {"version": version, "alias": "production", "comment": comment}
    return _ok(client.post(f"{API}/models/chat/transitions", json=body), 201)  # type: ignore[no-any-return]


def test_production_moves_only_when_an_approval_finds_its_policy_holds(
    client: TestClient, chat: None
) -> None:
    policy = _ok(client.put(POLICY, json=RULES))
    assert policy["model_name"] == "chat" and policy["min_results"] == {"rougeL": 0.3}
    refused = client.put(f"{API}/models/chat/aliases/production", json={"version": 2})
    assert refused.status_code == 403
    assert "protected by a policy: request a transition" in refused.json()["message"]
    assert client.delete(f"{API}/models/chat/aliases/production").status_code == 403

    asked = _request(client)
    assert (asked["status"], asked["version"], asked["from_version"]) == ("pending", 2, 1)
    assert [c["passed"] for c in asked["checks"]] == [False] * 4

    refused = client.post(f"{API}/transitions/{asked['id']}/approve", json={"comment": "go"})
    assert refused.status_code == 409
    message = refused.json()["message"]
    assert "4 of 4 policy checks fail" in message
    for check in ("tag reviewed", "tag license=apache-2.0", "result rougeL >= 0.3", "model card"):
        assert check in message

    v2 = f"{API}/models/chat/versions/2"
    _ok(client.patch(v2, json={"tags": {"reviewed": "carol", "license": "apache-2.0"}}))
    result = _ok(client.post(f"{v2}/results", json={"name": "rougeL", "value": 0.29}), 201)
    assert (result["name"], result["value"]) == ("rougeL", 0.29)
    _ok(client.post(f"{v2}/card/generate"), 201)
    checks = _ok(client.get(f"{v2}/checks", params={"alias": "production"}))
    assert [(c["check"], c["passed"]) for c in checks if not c["passed"]] == [
        ("result rougeL >= 0.3", False)
    ]
    refused = client.post(f"{API}/transitions/{asked['id']}/approve")
    assert refused.status_code == 409
    assert (
        "1 of 4 policy checks fail: result rougeL >= 0.3: rougeL is 0.29, below 0.3"
        in (refused.json()["message"])
    )

    _ok(client.post(f"{v2}/results", json={"name": "rougeL", "value": 0.35, "source": "eval"}), 201)
    assert [r["value"] for r in _ok(client.get(f"{v2}/results"))] == [0.35]
    approved = _ok(client.post(f"{API}/transitions/{asked['id']}/approve", json={"comment": "go"}))
    assert (approved["status"], approved["decision_comment"]) == ("approved", "go")
    assert all(c["passed"] for c in approved["decision_checks"])
    assert _ok(client.get(f"{API}/models/chat/aliases/production"))["version"] == 2
    assert _ok(client.get(f"{API}/transitions/{asked['id']}")) == approved
    again = client.post(f"{API}/transitions/{asked['id']}/approve")
    assert again.status_code == 409 and "was approved" in again.json()["message"]

    audit = _ok(client.get(f"{API}/audit", params={"target_id": asked["id"]}))
    assert [e["action"] for e in audit] == ["transition.requested", "transition.approved"]


def test_a_rejection_needs_a_comment(client: TestClient, chat: None) -> None:
    _ok(client.put(POLICY, json={}))
    asked = _request(client)
    url = f"{API}/transitions/{asked['id']}/reject"
    assert client.post(url).status_code == 400
    blank = client.post(url, json={"comment": " "})
    assert blank.status_code == 400 and "comment is required" in blank.json()["message"]
    rejected = _ok(client.post(url, json={"comment": "evaluated on the wrong split"}))
    assert (rejected["status"], rejected["decision_comment"]) == (
        "rejected",
        "evaluated on the wrong split",
    )
    assert rejected["decided_by"].startswith("anonymous@")
    assert _ok(client.get(f"{API}/models/chat/aliases/production"))["version"] == 1


def test_requests_list_and_cancel(client: TestClient, chat: None) -> None:
    unprotected = client.post(
        f"{API}/models/chat/transitions", json={"version": 2, "alias": "production"}
    )
    assert unprotected.status_code == 400
    assert "not protected" in unprotected.json()["message"]
    _ok(client.put(POLICY, json={"require_card": True}))
    first = _request(client)
    second = client.post(
        f"{API}/models/chat/transitions", json={"version": 2, "alias": "production"}
    )
    assert second.status_code == 409 and first["id"] in second.json()["message"]
    cancelled = _ok(client.post(f"{API}/transitions/{first['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    pending = _request(client, comment="second try")

    listed = _ok(client.get(f"{API}/models/chat/transitions"))
    assert [t["id"] for t in listed] == [pending["id"], first["id"]]
    only = _ok(client.get(f"{API}/models/chat/transitions", params={"status": "pending"}))
    assert [t["comment"] for t in only] == ["second try"]
    assert [t["id"] for t in _ok(client.get(f"{API}/transitions", params={"limit": 1}))] == [
        pending["id"]
    ]
    assert client.get(f"{API}/transitions", params={"status": "maybe"}).status_code == 400
    assert client.get(f"{API}/transitions", params={"limit": 0}).status_code == 400


def test_policies_read_replace_and_remove(client: TestClient, chat: None) -> None:
    missing = client.get(POLICY)
    assert missing.status_code == 404 and "not protected" in missing.json()["message"]
    _ok(client.put(POLICY, json=RULES))
    _ok(client.put(POLICY, json={"required_tags": ["reviewed"]}))
    assert _ok(client.get(POLICY))["min_results"] == {}
    assert [p["alias"] for p in _ok(client.get(f"{API}/models/chat/policies"))] == ["production"]
    _ok(client.delete(POLICY), 204)
    assert client.delete(POLICY).status_code == 404
    _ok(client.put(f"{API}/models/chat/aliases/production", json={"version": 2}))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", POLICY, {"required_tags": "reviewed"}),
        ("PUT", POLICY, {"required_tags": ["=x"]}),
        ("PUT", POLICY, {"min_results": {"rougeL": "high"}}),
        ("PUT", POLICY, {"min_results": {"bad key!": 1}}),
        ("PUT", POLICY, {"unknown": True}),
        ("PUT", f"{API}/models/chat/aliases/latest/policy", {}),
        ("POST", f"{API}/models/chat/versions/2/results", {"name": "x", "value": "NaN"}),
        ("POST", f"{API}/models/chat/versions/2/results", {"name": "", "value": 1}),
        ("POST", f"{API}/models/chat/versions/2/results", {"value": 1}),
        ("POST", f"{API}/models/chat/transitions", {"version": 0, "alias": "production"}),
        ("POST", f"{API}/models/chat/transitions", {"version": 2, "alias": "a b"}),
        ("POST", f"{API}/models/chat/transitions", {"version": 2, "alias": "latest"}),
    ],
)
def test_bad_input_is_400_with_a_message(
    client: TestClient, chat: None, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/models/nope/policies"),
        ("GET", f"{API}/models/nope/transitions"),
        ("GET", f"{API}/models/chat/versions/9/results"),
        ("GET", f"{API}/transitions/{'0' * 32}"),
        ("GET", f"{API}/transitions/not-an-id"),
        ("POST", f"{API}/transitions/{'0' * 32}/approve"),
        ("POST", f"{API}/transitions/{'0' * 32}/cancel"),
    ],
)
def test_unknown_things_are_404(client: TestClient, chat: None, method: str, path: str) -> None:
    assert client.request(method, path).status_code == 404


def test_another_projects_transitions_do_not_exist_here(client: TestClient, chat: None) -> None:
    _ok(client.put(POLICY, json={}))
    asked = _request(client)
    elsewhere = {"X-Lmops-Project": "other"}
    assert client.get(f"{API}/transitions/{asked['id']}", headers=elsewhere).status_code == 404
    approve = client.post(f"{API}/transitions/{asked['id']}/approve", headers=elsewhere)
    assert approve.status_code == 404
    assert _ok(client.get(f"{API}/transitions", headers=elsewhere)) == []
    assert client.get(POLICY, headers=elsewhere).status_code == 404
    assert _ok(client.get(f"{API}/transitions/{asked['id']}"))["status"] == "pending"


def test_deciding_needs_an_approver_and_policies_an_admin() -> None:
    roles = {
        (route.path, method): required_role(route.endpoint, method)
        for route in transitions.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert roles[(f"{API}/transitions/{{transition_id}}/approve", "POST")] == Role.APPROVER
    assert roles[(f"{API}/transitions/{{transition_id}}/reject", "POST")] == Role.APPROVER
    assert roles[(f"{API}/transitions/{{transition_id}}/cancel", "POST")] == Role.EDITOR
    assert roles[(f"{API}/models/{{name}}/transitions", "POST")] == Role.EDITOR
    assert roles[(f"{API}/models/{{name}}/versions/{{version}}/results", "POST")] == Role.EDITOR
    policy = f"{API}/models/{{name}}/aliases/{{alias}}/policy"
    assert roles[(policy, "PUT")] == roles[(policy, "DELETE")] == Role.ADMIN
    assert roles[(policy, "GET")] == roles[(f"{API}/transitions", "GET")] == Role.VIEWER


def test_the_model_page_shows_pending_transitions_and_decides_them(
    client: TestClient, chat: None
) -> None:
    _ok(client.put(POLICY, json={"require_card": True}))
    asked = _request(client)
    page = client.get("/models/chat")
    assert page.status_code == 200
    assert f'id="transition-{asked["id"]}"' in page.text
    assert "no model card (generate one)" in page.text and "a model card" in page.text
    url = f"/transitions/{asked['id']}/approve"
    refused = client.post(url, data={"comment": "go"})
    assert refused.status_code == 409
    assert 'id="transition-error"' in refused.text and "1 of 1 policy checks fail" in refused.text
    elsewhere = client.post(url, data={"comment": "go"}, headers={"sec-fetch-site": "cross-site"})
    assert elsewhere.status_code == 403

    _ok(client.post(f"{API}/models/chat/versions/2/card/generate"), 201)
    done = client.post(url, data={"comment": "go"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/models/chat#transition-{asked['id']}"
    assert _ok(client.get(f"{API}/transitions/{asked['id']}"))["decision_comment"] == "go"
    page = client.get("/models/chat")
    assert 'data-status="approved"' in page.text and 'id="no-pending"' in page.text
    assert client.post(f"/transitions/{'0' * 32}/reject", data={"comment": "x"}).status_code == 404
    assert client.post(url).status_code == 409  # decided already


def test_the_page_forms_need_the_same_roles_as_the_api() -> None:
    from lmops.server.ui import transitions as ui

    roles = {
        route.path: required_role(route.endpoint, "POST")
        for route in ui.router.routes
        if isinstance(route, APIRoute)
    }
    assert roles == {
        "/transitions/{transition_id}/approve": Role.APPROVER,
        "/transitions/{transition_id}/reject": Role.APPROVER,
        "/transitions/{transition_id}/cancel": Role.EDITOR,
    }
