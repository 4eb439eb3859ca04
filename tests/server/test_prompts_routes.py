"""/api/v1/prompts over a real app on SQLite and PostgreSQL: register, read, alias, diff."""

from __future__ import annotations

from fastapi.testclient import TestClient

API = "/api/v1/prompts"


def _register(client: TestClient, name: str, **body: object) -> dict[str, object]:
    response = client.post(f"{API}/{name}/versions", json=body)
    assert response.status_code == 201, response.text
    found: dict[str, object] = response.json()
    return found


def test_register_read_alias_and_diff(client: TestClient) -> None:
    first = _register(
        client,
        "qa",
        template="Answer {{ question }}.",
        model_params={"temperature": 0.2},
        commit_message="first",
    )
    assert (first["version"], first["variables"], first["author"]) == (
        1,
        ["question"],
        "anonymous@testclient",
    )
    _register(
        client,
        "qa",
        messages=[{"role": "user", "content": "Answer {{ question }} in {{ lang }}."}],
        response_format={"type": "object", "properties": {"a": {"type": "string"}}},
    )
    assert [p["name"] for p in client.get(API).json()] == ["qa"]
    assert client.get(f"{API}/qa").json()["latest_version"] == 2
    assert [v["version"] for v in client.get(f"{API}/qa/versions").json()] == [1, 2]
    latest = client.get(f"{API}/qa/versions/latest").json()
    assert latest["messages"][0]["role"] == "user" and latest["template"] is None
    moved = client.put(f"{API}/qa/aliases/production", json={"version": 1})
    assert moved.status_code == 200 and moved.json()["aliases"] == ["production"]
    assert client.get(f"{API}/qa/aliases/production").json()["version"] == 1
    found = client.get(f"{API}/qa/diff", params={"a": "production", "b": "2"}).json()
    assert (found["a"], found["b"]) == ("prompts:/qa/1", "prompts:/qa/2")
    assert "-Answer {{ question }}." in found["text_diff"]
    assert found["changes"]["model_params.temperature"] == {"a": 0.2, "b": None}
    assert client.delete(f"{API}/qa/aliases/production").status_code == 204
    assert client.get(f"{API}/qa/aliases/production").status_code == 404


def test_bad_input_answers_400_with_the_position(client: TestClient) -> None:
    response = client.post(f"{API}/qa/versions", json={"template": "a\nHi {{ name }} }}"})
    assert response.status_code == 400
    assert response.json()["message"] == "template has an unbalanced '}}' at line 2, column 15"
    assert response.json()["field"] == "template"
    for body, field in [
        ({"template": "x", "messages": [{"role": "user", "content": "y"}]}, "template"),
        ({"messages": [{"role": "robot", "content": "y"}]}, "messages.0.role"),
        ({"template": "x", "response_format": {"type": "banana"}}, "response_format"),
        ({"template": "x", "version": 3}, "version"),
    ]:
        response = client.post(f"{API}/qa/versions", json=body)
        assert (response.status_code, response.json()["field"]) == (400, field), response.text
    assert client.get(API).json() == []
    assert client.get(f"{API}/qa/versions/1").status_code == 404
    _register(client, "qa", template="x")
    assert client.get(f"{API}/qa/versions/x").status_code == 400
    assert client.get(f"{API}/qa/diff", params={"a": "1", "b": "nope"}).status_code == 404
    assert client.put(f"{API}/qa/aliases/latest", json={"version": 1}).status_code == 400
    assert client.put(f"{API}/qa/aliases/p", json={"version": 2}).status_code == 404
