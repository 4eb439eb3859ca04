"""The prompt pages, rendered by the app in-process: list, versions, a version and its diff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.core.settings import Settings
from lmops.prompts.store import PromptStore
from lmops.server import create_app


@pytest.fixture
def app(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path, uri=store_uri))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # raises on any unhandled error: no page may answer 500
        yield c


@pytest.fixture
def prompts(app: FastAPI) -> PromptStore:
    found: PromptStore = app.state.services.prompts
    return found


def test_pages_show_versions_text_and_diffs(client: TestClient, prompts: PromptStore) -> None:
    assert "No prompts yet" in client.get("/prompts").text
    prompts.create_version(
        "qa", template="Answer <b>{{ question }}</b>.", model_params={"temperature": 0.2}
    )
    prompts.create_version(
        "qa",
        messages=[
            {"role": "system", "content": "Be <i>brief</i>."},
            {"role": "user", "content": "{{ question }}"},
        ],
        model_params={"temperature": 0.7},
        commit_message="chat <script>",
    )
    prompts.set_alias("qa", "production", 1)
    listing = client.get("/prompts").text
    assert 'href="/prompts/qa"' in listing and 'href="/prompts/qa/1"' in listing
    assert "@production" in listing
    page = client.get("/prompts/qa").text
    assert 'data-version="2"' in page and "chat &lt;script&gt;" in page
    first = client.get("/prompts/qa/1").text
    assert "Answer &lt;b&gt;{{ question }}&lt;/b&gt;." in first and "first version" in first
    second = client.get("/prompts/qa/latest").text
    assert "Be &lt;i&gt;brief&lt;/i&gt;." in second and "<script>" not in second
    assert '<span class="diff-del">-Answer &lt;b&gt;{{ question }}&lt;/b&gt;.\n</span>' in second
    assert '<span class="diff-add">+[system]\n</span>' in second
    assert "model_params.temperature" in second
    same = client.get("/prompts/qa/2", params={"diff": 2}).text
    assert "v2 and v2 are the same" in same
    assert client.get("/prompts/qa/2", params={"diff": 9}).status_code == 404
    assert client.get("/prompts/qa/x").status_code == 400
    assert client.get("/prompts/nope").status_code == 404
