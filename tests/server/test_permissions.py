"""The permissions matrix, with auth on: every route against every role, bad and missing
keys, and another project's caller, on SQLite and PostgreSQL.

What each route needs is written out here, apart from the code that enforces it: reads need
a viewer and writes an editor, except the routes listed below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

from lmops.core.ids import new_id, utcnow
from lmops.core.settings import Settings
from lmops.data.importing import import_source
from lmops.governance.access import AccessStore
from lmops.governance.roles import Role
from lmops.governance.tables import api_keys
from lmops.server import create_app
from lmops.server.ui.rendering import HtmlRoute
from lmops.tracing.entities import Span

PROJECT = "default"
ROLES = {role.value for role in Role}
OTHER = "other"

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/static/plotly.min.js"),
    ("GET", "/static/{name}"),
    # an end user's feedback: the token in the path is the credential
    ("POST", "/api/v1/feedback/by-token/{token}"),
}

# Writes any member may do, and reads that are POSTs.
VIEWER_WRITES = {
    ("POST", "/api/v1/runs/search"),
    ("POST", "/api/v1/traces/search"),
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/{key_id}"),
    ("POST", "/account/keys"),
    ("POST", "/account/keys/{key_id}/revoke"),
    ("POST", "/account/project"),
}

# Server-wide settings and accounts: server admins only.
SUPERUSER = {
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{name}"),
    ("POST", "/api/v1/projects"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/{name}/active"),
    ("POST", "/admin/projects"),
    ("PUT", "/api/v1/prices/{model}"),
    ("DELETE", "/api/v1/prices/{model}"),
    ("PUT", "/api/v1/feedback-configs/{name}"),
}


def needed(method: str, path: str) -> Role:
    """The role the route needs, as specified (not as read from the code)."""
    if (method, path) in VIEWER_WRITES:
        return Role.VIEWER
    if (method, path) in SUPERUSER:
        return Role.ADMIN
    if path.startswith(("/admin", "/api/v1/projects/{project}/members", "/api/v1/webhooks")):
        return Role.ADMIN
    if path.endswith("/policy") and method != "GET":
        return Role.ADMIN
    if path == "/api/v1/keys/{key_id}/limits" and method == "PUT":
        return Role.ADMIN  # a key's own user may not lift its limits
    if method == "POST" and path.endswith(("/approve", "/reject")):
        return Role.APPROVER
    return Role.VIEWER if method == "GET" else Role.EDITOR


@dataclass
class Callers:
    keys: dict[str, str]
    """name -> API key"""

    def headers(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture
def secured(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(home=tmp_path, uri=store_uri, auth="on"))


@pytest.fixture
def client(secured: FastAPI) -> Iterator[TestClient]:
    with TestClient(secured, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def callers(secured: FastAPI) -> Callers:
    access: AccessStore = secured.state.services.access
    access.create_project(OTHER)
    keys: dict[str, str] = {}
    for role in Role:
        access.create_user(role.value)
        access.set_role(role.value, PROJECT, role)
        keys[role.value] = access.create_key(role.value, PROJECT).key
    access.create_user("root", superuser=True)
    keys["root"] = access.create_key("root", PROJECT).key
    access.create_user("outsider")
    access.set_role("outsider", OTHER, Role.ADMIN)
    keys["outsider"] = access.create_key("outsider", OTHER).key

    revoked = access.create_key("admin", PROJECT)
    access.revoke_key(revoked.id)
    keys["revoked"] = revoked.key
    expired = access.create_key("admin", PROJECT, expires_at=utcnow() + timedelta(days=1))
    with access.engine.begin() as conn:
        past = utcnow() - timedelta(minutes=1)
        conn.execute(update(api_keys).where(api_keys.c.id == expired.id).values(expires_at=past))
    keys["expired"] = expired.key
    access.create_user("gone")
    access.set_role("gone", PROJECT, Role.ADMIN)
    keys["deactivated"] = access.create_key("gone", PROJECT).key
    access.update_user("gone", active=False)
    keys["unknown"] = "lmk_" + "x" * 43
    return Callers(keys)


def routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path, is_ui) of every route the app serves."""
    found = []
    for included in app.routes:  # each router the app includes, with its routes' full paths
        router = getattr(included, "original_router", None)
        for route in router.routes if router is not None else [included]:
            if not isinstance(route, APIRoute):
                continue
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, isinstance(route, HtmlRoute)))
    return sorted(set(found))


def url(path: str) -> str:
    path = path.replace("{project}", PROJECT)
    return re.sub(r"\{\w+(:path)?\}", "x", path)


def test_every_route_against_every_caller(
    client: TestClient, callers: Callers, secured: FastAPI
) -> None:
    all_routes = routes(secured)
    assert len(all_routes) > 90
    refused: list[str] = []

    def check(who: str, method: str, path: str, ok: bool, status: int, ui: bool) -> None:
        if who in ("revoked", "expired", "deactivated", "unknown", "none"):
            want = 303 if ui and method == "GET" else 401
            if status != want:
                refused.append(f"{who} {method} {path}: {status}, want {want}")
        elif ok and status in (401, 403):
            refused.append(f"{who} {method} {path}: {status}, want access")
        elif not ok and status != 403:
            refused.append(f"{who} {method} {path}: {status}, want 403")

    for method, path, ui in all_routes:
        if (method, path) in PUBLIC:
            continue
        role = needed(method, path)
        superuser_only = (method, path) in SUPERUSER
        for who in [*callers.keys, "none"]:
            headers = {} if who == "none" else callers.headers(who)
            response = client.request(method, url(path), headers=headers, follow_redirects=False)
            if who in ROLES:
                ok = Role(who).allows(role) and not superuser_only
            else:  # a server admin may do all; an admin of another project what is not
                # server-wide or named as this project
                crossing = superuser_only or "{project}" in path
                ok = who == "root" or (who == "outsider" and not crossing)
            check(who, method, path, ok, response.status_code, ui)
    assert not refused, f"{len(refused)} wrong answers:\n" + "\n".join(refused[:40])


def test_public_routes_need_no_key(client: TestClient) -> None:
    for method, path in PUBLIC:
        if "{" in path:
            continue
        response = client.request(method, path, follow_redirects=False)
        if (method, path) == ("POST", "/login"):  # reached: it judged the (missing) password
            assert response.status_code == 401 and "wrong user name or password" in response.text
        else:
            assert response.status_code not in (401, 403), (method, path, response.status_code)


def test_refusals_say_what_to_do(client: TestClient, callers: Callers) -> None:
    missing = client.get("/api/v1/experiments").json()["message"]
    assert "Authorization: Bearer" in missing and "lmops keys create" in missing
    revoked = client.get("/api/v1/experiments", headers=callers.headers("revoked"))
    assert "was revoked" in revoked.json()["message"]
    expired = client.get("/api/v1/experiments", headers=callers.headers("expired"))
    assert "expired" in expired.json()["message"]
    basic = client.get("/api/v1/experiments", headers={"authorization": "Basic abc"})
    assert basic.status_code == 401 and "Bearer" in basic.json()["message"]
    viewer = client.post(
        "/api/v1/experiments", json={"name": "x"}, headers=callers.headers("viewer")
    )
    assert viewer.status_code == 403
    assert viewer.json()["message"] == (
        "viewer is viewer in project 'default'; POST /api/v1/experiments needs editor or above"
    )
    page = client.get("/models?x=1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/models%3Fx%3D1"


def test_a_caller_never_reaches_another_project(
    client: TestClient, callers: Callers, secured: FastAPI
) -> None:
    services = secured.state.services
    insider, outsider = callers.headers("editor"), callers.headers("outsider")

    experiment = client.post("/api/v1/experiments", json={"name": "secret"}, headers=insider)
    assert experiment.status_code == 201, experiment.text
    run = client.post(
        "/api/v1/runs", json={"experiment_id": experiment.json()["id"]}, headers=insider
    ).json()
    trace_id = new_id()
    now = utcnow()
    span = Span(
        trace_id=trace_id,
        span_id=new_id()[:16],
        name="secret-call",
        start_time=now,
        end_time=now + timedelta(milliseconds=5),
    )
    posted = client.post(
        "/api/v1/spans", json={"spans": [span.model_dump(mode="json")]}, headers=insider
    )
    assert posted.status_code == 201, posted.text
    import_source(services.data.in_project(PROJECT), "secret-data", pa.table({"text": ["a", "b"]}))
    services.registry.in_project(PROJECT).create_model("secret-model")

    mine = {
        "experiment": f"/api/v1/experiments/{experiment.json()['id']}",
        "run": f"/api/v1/runs/{run['id']}",
        "trace": f"/api/v1/traces/{trace_id}",
        "dataset": "/api/v1/datasets/secret-data",
        "model": "/api/v1/models/secret-model",
    }
    for what, path in mine.items():
        assert client.get(path, headers=insider).status_code == 200, what
        answer = client.get(path, headers=outsider)
        assert answer.status_code == 404, (what, answer.status_code, answer.text)

    lists = ["/api/v1/experiments", "/api/v1/datasets", "/api/v1/models", "/api/v1/audit"]
    for path in lists:
        seen = client.get(path, headers=outsider)
        assert seen.status_code == 200, path
        assert "secret" not in seen.text, path
    searched = client.post("/api/v1/traces/search", json={}, headers=outsider)
    assert searched.status_code == 200 and trace_id not in searched.text

    # writing into the other project's objects is refused the same way
    logged = client.post(f"/api/v1/runs/{run['id']}/end", json={}, headers=outsider)
    assert logged.status_code == 404
    # and naming the other project does not switch to it
    crossing = client.get("/api/v1/models", headers={**outsider, "x-lmops-project": PROJECT})
    assert crossing.status_code == 403
    assert "work in project 'other'" in crossing.json()["message"]


def test_only_server_admins_make_keys_for_others(
    client: TestClient, callers: Callers, secured: FastAPI
) -> None:
    """A key for someone acts as them: a project admin minting one for a server admin (or
    for an approver, to approve their own request) would be an escalation."""
    for target in ("root", "approver"):
        minted = client.post(
            "/api/v1/keys", json={"user": target}, headers=callers.headers("admin")
        )
        assert minted.status_code == 403, minted.text
        assert "only for yourself" in minted.json()["message"]
    own = client.post("/api/v1/keys", json={"name": "mine"}, headers=callers.headers("viewer"))
    assert own.status_code == 201
    assert (
        client.get(
            "/api/v1/whoami", headers={"authorization": f"Bearer {own.json()['key']}"}
        ).json()["role"]
        == "viewer"
    )
    for_them = client.post("/api/v1/keys", json={"user": "editor"}, headers=callers.headers("root"))
    assert for_them.status_code == 201 and for_them.json()["user"] == "editor"


def test_a_session_cookie_writes_only_from_our_own_pages(
    client: TestClient, secured: FastAPI
) -> None:
    access: AccessStore = secured.state.services.access
    access.create_user("carl", "carl-password")
    access.set_role("carl", PROJECT, Role.EDITOR)
    login = client.post(
        "/login", data={"user": "carl", "password": "carl-password"}, follow_redirects=False
    )
    assert login.status_code == 303 and "lmops_session" in client.cookies

    assert client.get("/api/v1/experiments").status_code == 200  # reads: the cookie will do
    for site in ("same-site", "cross-site"):
        forged = client.post(
            "/api/v1/experiments", json={"name": "forged"}, headers={"sec-fetch-site": site}
        )
        assert forged.status_code == 403, (site, forged.text)
    ours = client.post(
        "/api/v1/experiments", json={"name": "ours"}, headers={"sec-fetch-site": "same-origin"}
    )
    assert ours.status_code == 201
    assert [e["name"] for e in client.get("/api/v1/experiments").json()] == ["ours"]


def test_auth_is_on_unless_turned_off(tmp_path: Path, store_uri: str) -> None:
    """An app built outside `lmops server` cannot know where it is bound: "auto" means on."""
    app = create_app(Settings(home=tmp_path, uri=store_uri))
    with TestClient(app) as c:
        assert c.get("/api/v1/experiments").status_code == 401
    off = create_app(Settings(home=tmp_path, uri=store_uri, auth="off"))
    with TestClient(off) as c:
        assert c.get("/api/v1/experiments").status_code == 200


def test_server_admins_read_server_wide_audit_entries(client: TestClient, callers: Callers) -> None:
    server = client.get("/api/v1/audit", params={"project": "-"}, headers=callers.headers("root"))
    assert server.status_code == 200
    assert {"user.create", "project.create"} <= {e["action"] for e in server.json()}
    refused = client.get("/api/v1/audit", params={"project": "-"}, headers=callers.headers("admin"))
    assert refused.status_code == 403
    other = client.get(
        "/api/v1/audit", params={"project": OTHER}, headers=callers.headers("outsider")
    )
    assert other.status_code == 200
    assert all(e["project"] == OTHER for e in other.json())


def test_password_guessing_is_slowed_down(client: TestClient, secured: FastAPI) -> None:
    access: AccessStore = secured.state.services.access
    access.create_user("dora", "dora-password")
    access.set_role("dora", PROJECT, Role.VIEWER)
    for _ in range(5):
        wrong = client.post("/login", data={"user": "dora", "password": "guess-guess"})
        assert wrong.status_code == 401
    blocked = client.post("/login", data={"user": "dora", "password": "dora-password"})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    assert "too many failed logins" in blocked.text
    # another user from the same address is not held up by dora's guesser
    access.create_user("eve", "eve-password")
    access.set_role("eve", PROJECT, Role.VIEWER)
    ok = client.post(
        "/login", data={"user": "eve", "password": "eve-password"}, follow_redirects=False
    )
    assert ok.status_code == 303
