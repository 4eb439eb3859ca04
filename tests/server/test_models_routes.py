"""The model registry API: every route, its errors, the secret it never returns, both dialects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.data.importing import import_source
from lmops.registry import registering
from lmops.registry.entities import ModelVersion
from lmops.server.deps import Services
from lmops.store.lineage import add_edge
from lmops.tracking.entities import Run
from tests.registry.conftest import fake_model_dir

SECRET = "sk-test-0123456789-never-shown"


@dataclass
class Zoo:
    """chat v1 (imported), chat v2 (a run's artifact), chat-lora v1 (an adapter of chat/1),
    gpt v1 (an external endpoint with a key); chat@production -> 1, chat@staging -> 2."""

    chat1: ModelVersion
    chat2: ModelVersion
    lora: ModelVersion
    gpt: ModelVersion
    run: Run


@pytest.fixture
def zoo(app: FastAPI, tmp_path: Path) -> Zoo:
    return make_zoo(app.state.services, tmp_path)


def make_zoo(services: Services, tmp_path: Path) -> Zoo:
    store, tracking = services.registry, services.tracking
    chat1 = registering.register_directory(
        store,
        "chat",
        fake_model_dir(tmp_path / "chat", params=1_200_000),
        description="first cut",
        tags={"team": "nlp"},
        license="apache-2.0",
    )
    run = tracking.create_run(tracking.create_experiment("sft").id, name="sft-1")
    tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out", params=64), "model")
    chat2 = registering.register_run_artifact(store, "chat", f"runs:/{run.id}/model")
    lora = registering.register_directory(
        store, "chat-lora", fake_model_dir(tmp_path / "lora", adapter=True), base="models:/chat/1"
    )
    gpt = registering.register_endpoint(
        store, "gpt", "https://llm.example.com/v1", "gpt-x", api_key=SECRET
    )
    store.set_alias("chat", "production", 1)
    store.set_alias("chat", "staging", 2)
    store.set_alias("gpt", "production", 1)
    return Zoo(store.get_version_by_id(chat1.id), chat2, lora, gpt, run)


def test_list_and_get_models(client: TestClient, zoo: Zoo) -> None:
    found = client.get("/api/v1/models").json()
    assert [(m["name"], m["version_count"], m["latest_version"]) for m in found] == [
        ("chat", 2, 2),
        ("chat-lora", 1, 1),
        ("gpt", 1, 1),
    ]
    chat = client.get("/api/v1/models/chat").json()
    assert chat["aliases"] == {"production": 1, "staging": 2}
    assert chat["id"] == zoo.chat1.model_id


def test_versions_and_their_format(client: TestClient, zoo: Zoo) -> None:
    versions = client.get("/api/v1/models/chat/versions").json()
    assert [(v["version"], v["source"]["type"], v["aliases"]) for v in versions] == [
        (1, "import", ["production"]),
        (2, "run", ["staging"]),
    ]
    one = client.get("/api/v1/models/chat/versions/1").json()
    assert one == zoo.chat1.model_dump(mode="json")
    assert one["format"]["parameter_count"] == 1_200_000
    assert one["format"]["architecture"] == "LlamaForCausalLM"
    assert one["tags"] == {"team": "nlp"} and one["description"] == "first cut"
    latest = client.get("/api/v1/models/chat/versions/latest").json()
    assert latest["id"] == zoo.chat2.id and latest["source"]["run_id"] == zoo.run.id
    lora = client.get("/api/v1/models/chat-lora/versions/1").json()
    assert lora["format"]["kind"] == "adapter" and lora["base_version_id"] == zoo.chat1.id
    gpt = client.get("/api/v1/models/gpt/versions/1").json()
    assert gpt["has_api_key"] is True and gpt["digest"] is None
    assert gpt["source"]["endpoint_url"] == "https://llm.example.com/v1"


def test_aliases_resolve_move_and_go(client: TestClient, zoo: Zoo) -> None:
    url = "/api/v1/models/chat/aliases"
    assert client.get(f"{url}/production").json()["id"] == zoo.chat1.id
    assert client.get(f"{url}/latest").json()["id"] == zoo.chat2.id
    moved = client.put(f"{url}/production", json={"version": 2})
    assert moved.status_code == 200
    assert moved.json()["id"] == zoo.chat2.id
    assert moved.json()["aliases"] == ["production", "staging"]
    assert client.get(f"{url}/production").json()["version"] == 2
    assert client.get("/api/v1/models/chat/versions/1").json()["aliases"] == []
    created = client.put(f"{url}/canary", json={"version": 1})
    assert created.status_code == 200 and created.json()["aliases"] == ["canary"]
    gone = client.delete(f"{url}/staging")
    assert gone.status_code == 204 and gone.content == b""
    assert client.get("/api/v1/models/chat").json()["aliases"] == {"canary": 1, "production": 2}
    again = client.get(f"{url}/staging")
    assert again.status_code == 404
    assert again.json()["message"] == (
        "model 'chat' has no alias 'staging' (aliases: canary, production)"
    )
    assert client.delete(f"{url}/staging").status_code == 404


def test_patch_sets_and_removes_tags_and_the_description(client: TestClient, zoo: Zoo) -> None:
    url = "/api/v1/models/chat/versions/1"
    body = {"tags": {"stage": "eval", "owner": "ana"}, "description": "the one we ship"}
    changed = client.patch(url, json=body).json()
    assert changed["tags"] == {"team": "nlp", "stage": "eval", "owner": "ana"}
    assert changed["description"] == "the one we ship"
    removed = client.patch(url, json={"remove_tags": ["team", "absent"]}).json()
    assert removed["tags"] == {"stage": "eval", "owner": "ana"}
    assert removed["description"] == "the one we ship"
    assert removed["digest"] == zoo.chat1.digest and removed["format"] == changed["format"]
    by_alias = client.patch("/api/v1/models/chat/versions/latest", json={"tags": {"x": "1"}})
    assert by_alias.json()["version"] == 2 and by_alias.json()["tags"] == {"x": "1"}
    assert client.get(url).json()["tags"] == {"stage": "eval", "owner": "ana"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"format": {"kind": "model"}}, "format cannot change: a version's files and format"),
        ({"files": {"a": "b"}, "tags": {}}, "files cannot change"),
        ({"digest": "0" * 64}, "digest cannot change"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({}, "nothing to change: give description, tags or remove_tags"),
        ({"tags": {"a": "1"}, "remove_tags": ["a"]}, "tags both set and removed: a"),
        ({"tags": {"a": 1}}, "tags.a: Input should be a valid string"),
        ({"tags": ["a"]}, "tags: Input should be a valid dictionary"),
        ({"tags": {"a": "b\x00"}}, "NUL"),
        ({"description": "x" * 10_001}, "description"),
        ({"description": "\x00"}, "NUL"),
        ([], "Input should be a valid dictionary"),
    ],
)
def test_bad_patches_are_400_with_a_message(
    client: TestClient, zoo: Zoo, body: object, message: str
) -> None:
    response = client.patch("/api/v1/models/chat/versions/1", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert client.get("/api/v1/models/chat/versions/1").json() == zoo.chat1.model_dump(mode="json")


def test_lineage_describes_each_end(client: TestClient, zoo: Zoo, app: FastAPI) -> None:
    services: Services = app.state.services
    data = import_source(services.data, "sft-data", pa.table({"text": ["hi"]}))
    add_edge(services.engine, "dataset_version", data.id, "model_version", zoo.chat2.id, "trained")
    add_edge(services.engine, "run", "f" * 32, "model_version", zoo.chat2.id, "evaluated")
    two = client.get("/api/v1/models/chat/versions/2/lineage").json()
    assert (two["kind"], two["id"]) == ("model_version", zoo.chat2.id)
    up = [(u["kind"], u["relation"], u["resolved"], u["uri"], u["name"]) for u in two["upstream"]]
    assert up == [
        ("run", "produced", True, f"runs:/{zoo.run.id}", "sft-1"),
        ("dataset_version", "trained", True, "datasets:/sft-data/1", "sft-data"),
        ("run", "evaluated", False, None, None),
    ]
    assert two["upstream"][0]["experiment_name"] == "sft"
    assert two["upstream"][0]["experiment_id"] == zoo.run.experiment_id
    assert two["downstream"] == [] and two["more_upstream"] == 0
    one = client.get("/api/v1/models/chat/versions/1/lineage").json()
    assert one["upstream"] == []
    assert [(d["kind"], d["relation"], d["uri"], d["version"]) for d in one["downstream"]] == [
        ("model_version", "adapter_of", "models:/chat-lora/1", 1)
    ]
    lora = client.get("/api/v1/models/chat-lora/versions/latest/lineage").json()
    assert [u["uri"] for u in lora["upstream"]] == ["models:/chat/1"]


def test_the_api_key_is_in_no_response(client: TestClient, zoo: Zoo) -> None:
    """Every route, API and pages, answers about the endpoint without its key."""
    app = client.app
    paths = [
        p
        for p, ops in app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if p.startswith("/api/v1/models") and "registry" in ops.get("get", {}).get("tags", [])
    ]
    assert len(paths) == 8
    generated = client.post("/api/v1/models/gpt/versions/1/card/generate")
    assert generated.status_code == 201
    assert "https://llm.example.com/v1" in generated.json()["markdown"]
    assert SECRET not in generated.text
    urls = [p.format(name="gpt", version="1", alias="production") for p in paths]
    urls += ["/api/v1/models/gpt/versions/latest", "/api/v1/models/gpt/aliases/latest"]
    urls += ["/models", "/models/gpt", "/models/gpt/1", "/models/gpt/latest"]
    responses = [client.get(u) for u in urls]
    version = "/api/v1/models/gpt/versions/1"
    responses += [
        client.patch(version, json={"tags": {"k": "v"}, "description": "hosted"}),
        client.put("/api/v1/models/gpt/aliases/canary", json={"version": 1}),
    ]
    for response in responses:
        assert response.status_code == 200, (response.url, response.text)
        assert SECRET not in response.text, response.url
    assert client.get(version).json()["has_api_key"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/nope",
        "/api/v1/models/nope/versions",
        "/api/v1/models/nope/versions/1",
        "/api/v1/models/nope/versions/latest",
        "/api/v1/models/nope/versions/1/lineage",
        "/api/v1/models/nope/versions/1/card",
        "/api/v1/models/nope/versions/1/card/revisions",
        "/api/v1/models/nope/aliases/production",
    ],
)
def test_unknown_model_is_404(client: TestClient, zoo: Zoo, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no registered model named 'nope'"}


def test_unknown_model_on_writes_is_404(client: TestClient, zoo: Zoo) -> None:
    assert client.patch("/api/v1/models/nope/versions/1", json={"tags": {}}).status_code == 404
    assert client.put("/api/v1/models/nope/aliases/a", json={"version": 1}).status_code == 404
    assert client.delete("/api/v1/models/nope/aliases/a").status_code == 404
    card = "/api/v1/models/nope/versions/1/card"
    assert client.put(card, json={"markdown": "# x"}).status_code == 404
    assert client.post(f"{card}/generate").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/models/chat/versions/9", None),
        ("GET", "/api/v1/models/chat/versions/9/lineage", None),
        ("PATCH", "/api/v1/models/chat/versions/9", {"tags": {"a": "b"}}),
        ("PUT", "/api/v1/models/chat/aliases/production", {"version": 9}),
        ("GET", "/api/v1/models/chat/versions/9/card", None),
        ("PUT", "/api/v1/models/chat/versions/9/card", {"markdown": "# x"}),
        ("POST", "/api/v1/models/chat/versions/9/card/generate", None),
        ("GET", "/api/v1/models/chat/versions/9/card/revisions", None),
    ],
)
def test_unknown_version_is_404(
    client: TestClient, zoo: Zoo, method: str, path: str, body: object
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 404
    assert "models:/chat/9" in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("GET", "versions/two", None, "version must be a version number or latest, not 'two'"),
        ("GET", "versions/-1", None, "version must be a version number"),
        ("GET", "versions/1e3/lineage", None, "version must be a version number"),
        ("GET", "versions/9999999999", None, "version must be a version number"),
        ("GET", "aliases/bad alias", None, "invalid alias name 'bad alias'"),
        ("PUT", "aliases/latest", {"version": 1}, "cannot be set"),
        ("PUT", "aliases/bad alias", {"version": 1}, "invalid alias name"),
        ("PUT", "aliases/prod", {"version": 0}, "version: Input should be greater than"),
        ("PUT", "aliases/prod", {"version": "two"}, "version: Input should be a valid integer"),
        ("PUT", "aliases/prod", {}, "version: Field required"),
        ("PUT", "aliases/prod", {"version": 1, "x": 2}, "x: Extra inputs are not permitted"),
        ("PUT", "aliases/prod", {"version": 2**40}, "version: Input should be less than"),
        ("DELETE", "aliases/latest", None, "@latest always means the highest version"),
        ("DELETE", "aliases/a b", None, "invalid alias name"),
        ("PATCH", "versions/x", {"tags": {}}, "version must be a version number"),
        ("PUT", "versions/1/card", {"markdown": ""}, "the card is empty: write its markdown"),
        ("PUT", "versions/1/card", {"markdown": " \n\t"}, "the card is empty"),
        ("PUT", "versions/1/card", {"markdown": "x" * 200_001}, "at most 200000 characters"),
        ("PUT", "versions/1/card", {"markdown": "a\x00b"}, "markdown contains a NUL character"),
        ("PUT", "versions/1/card", {"markdown": 7}, "markdown: Input should be a valid string"),
        ("PUT", "versions/1/card", {}, "markdown: Field required"),
        ("PUT", "versions/1/card", {"markdown": "x", "generated": True}, "generated: Extra"),
        ("GET", "versions/1/card?revision=0", None, "revision: Input should be greater than"),
        ("GET", "versions/1/card?revision=two", None, "revision: Input should be a valid integer"),
        ("GET", "versions/x/card/revisions", None, "version must be a version number"),
    ],
)
def test_bad_input_is_400_with_a_message(
    client: TestClient, zoo: Zoo, method: str, path: str, body: object, message: str
) -> None:
    response = client.request(method, f"/api/v1/models/chat/{path}", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_hostile_input_never_answers_500(client: TestClient, zoo: Zoo) -> None:
    nasty = ["%ED%A0%80", "%00", "..", "x" * 5000, "☃", "-1", " ", "1e400", "latest", "0"]
    failures = []
    for value in nasty:
        for method, path, body in (
            ("GET", f"/api/v1/models/{value}", None),
            ("GET", f"/api/v1/models/{value}/versions/{value}", None),
            ("GET", f"/api/v1/models/chat/versions/{value}/lineage", None),
            ("GET", f"/api/v1/models/chat/aliases/{value}", None),
            ("PATCH", "/api/v1/models/chat/versions/1", {"tags": {value: value}}),
            ("PATCH", "/api/v1/models/chat/versions/1", {"remove_tags": [value]}),
            ("PUT", f"/api/v1/models/chat/aliases/{value}", {"version": 1}),
            ("DELETE", f"/api/v1/models/{value}/aliases/{value}", None),
            ("GET", f"/models/{value}/{value}", None),
            ("GET", f"/api/v1/models/chat/versions/1/card?revision={value}", None),
            ("PUT", f"/api/v1/models/{value}/versions/{value}/card", {"markdown": value}),
            ("POST", f"/api/v1/models/chat/versions/{value}/card/generate", None),
        ):
            response = client.request(method, path, json=body)
            if response.status_code >= 500:
                failures.append((method, path[:100], response.status_code, response.text[:200]))
    assert failures == []


def test_the_routes_are_in_the_schema_under_registry(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    models = {p: sorted(ops) for p, ops in paths.items() if p.startswith("/api/v1/models")}
    assert models == {
        "/api/v1/models": ["get"],
        "/api/v1/models/{name}": ["get"],
        "/api/v1/models/{name}/versions": ["get"],
        "/api/v1/models/{name}/versions/{version}": ["get", "patch"],
        "/api/v1/models/{name}/versions/{version}/lineage": ["get"],
        "/api/v1/models/{name}/versions/{version}/card": ["get", "put"],
        "/api/v1/models/{name}/versions/{version}/card/generate": ["post"],
        "/api/v1/models/{name}/versions/{version}/card/revisions": ["get"],
        "/api/v1/models/{name}/aliases/{alias}": ["delete", "get", "put"],
        # controlled transitions (routers/transitions.py)
        "/api/v1/models/{name}/aliases/{alias}/policy": ["delete", "get", "put"],
        "/api/v1/models/{name}/policies": ["get"],
        "/api/v1/models/{name}/transitions": ["get", "post"],
        "/api/v1/models/{name}/versions/{version}/checks": ["get"],
        "/api/v1/models/{name}/versions/{version}/results": ["get", "post"],
    }


def test_a_card_is_generated_edited_and_kept_in_revisions(
    client: TestClient, zoo: Zoo, app: FastAPI
) -> None:
    url = "/api/v1/models/chat/versions/2/card"
    generated = client.post(f"{url}/generate")
    assert generated.status_code == 201
    card = generated.json()
    assert (card["revision"], card["generated"], card["version_id"]) == (1, True, zoo.chat2.id)
    assert card["markdown"].startswith("# chat v2\n")
    assert f"Run **sft-1** (`runs:/{zoo.run.id}`) in experiment **sft**." in card["markdown"]
    assert card["author"] == "anonymous@testclient"
    assert client.get(url).json() == card

    edited = client.put(url, json={"markdown": card["markdown"] + "\nReviewed by ana.\n"})
    assert edited.status_code == 200
    assert (edited.json()["revision"], edited.json()["generated"]) == (2, False)
    again = client.post("/api/v1/models/chat/versions/latest/card/generate").json()
    assert (again["revision"], again["generated"]) == (3, True)

    latest = client.get(url).json()
    assert latest["revision"] == 3 and "Reviewed by ana." not in latest["markdown"]
    assert client.get(url, params={"revision": 2}).json() == edited.json()
    assert client.get(url, params={"revision": 1}).json() == card
    revisions = client.get(f"{url}/revisions").json()
    assert [(r["revision"], r["generated"]) for r in revisions] == [
        (3, True),
        (2, False),
        (1, True),
    ]
    assert set(revisions[0]) == {"revision", "generated", "author", "created_at"}
    assert revisions[2]["created_at"] == card["created_at"]
    # another version's card is its own
    assert client.get("/api/v1/models/chat/versions/1/card/revisions").json() == []
    services: Services = app.state.services
    assert services.registry.get_card(zoo.chat1.id) is None


def test_a_missing_card_says_how_to_make_one(client: TestClient, zoo: Zoo) -> None:
    url = "/api/v1/models/chat/versions/1/card"
    none = client.get(url)
    assert none.status_code == 404
    assert none.json()["message"] == (
        f"models:/chat/1 has no model card yet: generate one from its lineage with "
        f"POST {url}/generate or `lmops models card models:/chat/1 --generate`, "
        f"or write one with PUT {url}"
    )
    assert client.get(url, params={"revision": 2}).status_code == 404
    client.put(url, json={"markdown": "# chat v1\n"})
    old = client.get(url, params={"revision": 2})
    assert old.status_code == 404
    assert old.json()["message"] == "the card of models:/chat/1 has no revision 2 (the latest is 1)"
