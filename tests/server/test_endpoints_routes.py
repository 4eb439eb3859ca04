"""/api/v1/endpoints over a real app (SQLite and PostgreSQL): routes and ordered fallbacks in
and out, bad fallbacks refused naming the field, and the endpoint pages showing them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ROUTES = [{"model": "models:/chat/1"}]


def test_fallbacks_go_in_and_come_back_in_order(client: TestClient) -> None:
    body = {"routes": ROUTES, "fallbacks": ["models:/chat@stable", "models:/other/3"]}
    made = client.post("/api/v1/endpoints/assistant", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["fallbacks"] == ["models:/chat@stable", "models:/other/3"]
    assert client.get("/api/v1/endpoints/assistant").json()["fallbacks"] == body["fallbacks"]

    body["fallbacks"] = ["models:/other/3", "models:/chat@stable"]  # a new order replaces
    assert client.put("/api/v1/endpoints/assistant", json=body).json()["fallbacks"] == [
        "models:/other/3",
        "models:/chat@stable",
    ]
    [listed] = client.get("/api/v1/endpoints").json()
    assert listed["fallbacks"] == ["models:/other/3", "models:/chat@stable"]

    # a body without fallbacks has none
    assert (
        client.put("/api/v1/endpoints/assistant", json={"routes": ROUTES}).json()["fallbacks"] == []
    )


@pytest.mark.parametrize(
    ("fallbacks", "field", "says"),
    [
        (["gpt-4"], "fallbacks.0", "cannot parse URI"),
        (["models:/ok/1", "datasets:/d/1"], "fallbacks.1", "not a model URI"),
        (["models:/b/1", "models:/b/1"], "fallbacks", "appear once"),
        (["models:/chat/1"], "fallbacks", "is a route already"),
        ([f"models:/b/{i}" for i in range(1, 10)], "fallbacks", "at most 8"),
        ("models:/b/1", "fallbacks", "valid list"),
    ],
)
def test_bad_fallbacks_are_a_400_naming_the_field(
    client: TestClient, fallbacks: Any, field: str, says: str
) -> None:
    body = {"routes": ROUTES, "fallbacks": fallbacks}
    for answer in (
        client.post("/api/v1/endpoints/bad", json=body),
        client.put("/api/v1/endpoints/bad", json=body),
    ):
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["field"] == field
        assert says in error["message"]
    assert client.get("/api/v1/endpoints/bad").status_code == 404


def test_the_endpoint_pages_list_the_fallbacks_in_order(client: TestClient) -> None:
    body = {"routes": ROUTES, "fallbacks": ["models:/spare@production", "models:/last/2"]}
    assert client.post("/api/v1/endpoints/assistant", json=body).status_code == 201
    client.post("/api/v1/endpoints/plain", json={"routes": ROUTES})

    page = client.get("/endpoints/assistant")
    assert page.status_code == 200
    listed = page.text[page.text.index('id="fallbacks"') :]
    first = listed.index('data-fallback="models:/spare@production"')
    assert 0 < first < listed.index('data-fallback="models:/last/2"')
    assert 'href="/models/spare"' in listed and 'href="/models/last/2"' in listed
    assert 'id="no-fallbacks"' in client.get("/endpoints/plain").text

    overview = client.get("/endpoints")
    assert overview.status_code == 200
    row = overview.text[overview.text.index('data-endpoint="assistant"') :]
    row = row[: row.index("</tr>")]
    assert row.index("models:/spare@production") < row.index("models:/last/2")
