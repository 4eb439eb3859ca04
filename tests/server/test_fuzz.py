"""Hostile input against every route: the server may refuse it, never answer 500."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from lmops.core.settings import Settings
from lmops.data.importing import import_source
from lmops.governance.webhooks import WebhookStore
from lmops.registry.registering import register_directory
from lmops.server import create_app
from lmops.server.ui import pages
from tests.conftest import free_port
from tests.registry.conftest import fake_model_dir

# %ED%A0%80 is a lone surrogate encoded as if it were UTF-8: bytes no valid URL holds.
NASTY_TEXT = ["%ED%A0%80", "%00", "..", "%2e%2e%2f", "☃" * 3, "x" * 5000, "-1", " "]
NASTY_BODIES: list[Any] = [
    {},
    [],
    None,
    "text",
    7,
    {"name": "a\x00b", "tags": {"k": "\ud800"}},
    {"experiment_id": "\ud800", "start_time": "2024-01-01T00:00:00"},
    {"experiment_ids": ["x"], "filter": "(" * 500},
    {
        "experiment_ids": ["x"],
        "filter": "start_time > 1e400",
        "page_token": "eyJvZmZzZXQiOiAxZTMwfQ==",
    },
    {"metrics": [{"key": "loss", "value": 1, "step": 2**70}]},
    {"metric_columns": {"key": ["a"], "value": [1e400], "step": [2**64], "timestamp": [0]}},
    {"params": {"k": "a\x00b"}, "tags": {"k": "v"}},
    {"status": "DONE", "end_time": "yesterday"},
    {"path": "../../etc/passwd", "digest": "0" * 64},
    {"path": "a", "files": {"../x": "0" * 64}},
    {"version": 1},
    {"version": -1},
    {"version": 2**70},
    {"version": 1, "alias": "\ud800"},
    {"tags": {"k\x00": "\ud800"}, "remove_tags": ["\x00", "\ud800"]},
    {"description": "\ud800", "format": {"kind": "adapter"}},
    {"url": "http://\ud800/", "events": ["\x00"]},
    {"url": "http://[::1", "events": ["*"], "secret": "\x00" * 20, "active": "maybe"},
    {"url": "http://x.org/" + "%" * 3000, "events": ["*"] * 60, "description": "\ud800"},
]
# what a hostile page or client may post to a UI form (urlencoded)
NASTY_FORMS = [
    b"",
    b"markdown=%ED%A0%80",
    b"markdown=a%00b",
    b"markdown=%FF%FE&markdown=",
    b"markdown=" + b"x" * 300_000,
    b"&&==&%&markdown",
    b"a=1&" * 100,
    "markdown=\u2603\ud800".encode("utf-8", "surrogatepass"),
]
QUERY = {
    "name": "a\x00b",
    "key": "k\x00",
    "max_points": "-5",
    "path": "../..",
    "filter": "((",
    "sort": "metrics.`x`",
    "order": "up",
    "page": "0",
    "runs": "a,\x00",
    "all": "maybe",
    "q": "\x00",
    "a": "1",
    "b": "latest",
    "order_by": "text",
    "revision": "-1",
    "card_revision": "2e9",
}


@pytest.fixture
def client(store_uri: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(auth="off", home=tmp_path, uri=store_uri))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _routes(client: TestClient) -> list[tuple[str, str, bool]]:
    """(path, method, whether it reads a form): the API's routes and every UI route."""
    found = [
        (path, method.upper(), False)
        for path, ops in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in ops
    ]
    found += [
        (route.path, method, method == "POST")
        for router in pages.ROUTERS
        for route in router.routes
        for method in getattr(route, "methods", None) or {"GET"}
        if method != "HEAD"
    ]
    return found


def _raw(body: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a hostile client would send.
    return json.dumps(body).encode()


def test_no_route_answers_500(client: TestClient, tmp_path: Path) -> None:
    exp = client.post("/api/v1/experiments", json={"name": "fuzz"}).json()
    run = client.post("/api/v1/runs", json={"experiment_id": exp["id"]}).json()
    services = client.app.state.services  # type: ignore[attr-defined]
    # a dataset, a model and a prompt named "1", each with a version 1 (and an alias "1"):
    # "1" in every path slot reaches rows, diffs, versions, aliases, lineage, pages
    import_source(services.data, "1", pa.table({"text": ["a"]}))
    register_directory(services.registry, "1", fake_model_dir(tmp_path / "model"))
    services.registry.set_alias("1", "1", 1)
    services.prompts.create_version("1", template="{{ a }}")
    services.prompts.set_alias("1", "1", 1)
    # a webhook (its id reaches get, delete and deliveries) whose deliveries fail at once
    hook = WebhookStore(services.engine).create(f"http://127.0.0.1:{free_port()}/", ["*"])
    failures = []
    routes = _routes(client)
    assert ("/models/{name}/{version}/card", "POST", True) in routes
    for path, method, form in routes:
        values = [*NASTY_TEXT, run["id"], exp["id"], "1", hook.id]
        for value in values:
            url = re.sub(r"\{\w+(:path)?\}", value.replace("/", "%2F"), path)
            bodies: list[Any] = [None]
            if method in ("POST", "PUT", "PATCH"):
                bodies = (
                    NASTY_FORMS if form else [b if b is None else _raw(b) for b in NASTY_BODIES]
                )
            kind = "application/x-www-form-urlencoded" if form else "application/json"
            for body in bodies:
                response = client.request(
                    method,
                    url,
                    params=QUERY if body is None else None,
                    content=body,
                    headers={"content-type": kind},
                )
                if response.status_code >= 500:
                    failures.append(
                        (method, url[:80], body, response.status_code, response.text[:200])
                    )
    assert failures == []
