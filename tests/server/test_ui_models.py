"""The model registry pages, rendered by the app in-process: numbers, sources, files, lineage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2.filters import do_filesizeformat

from lmops.core.settings import Settings
from lmops.registry import registering
from lmops.server import create_app
from lmops.server.deps import Services
from lmops.server.ui.rendering import format_count
from tests.registry.conftest import fake_model_dir
from tests.server.test_models_routes import SECRET, Zoo, make_zoo
from tests.server.test_ui_datasets import cells


@pytest.fixture
def app(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(home=tmp_path, uri=store_uri))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # raises on any unhandled error: no page may answer 500
        yield c


@pytest.fixture
def services(app: FastAPI) -> Services:
    found: Services = app.state.services
    return found


@pytest.fixture
def zoo(services: Services, tmp_path: Path) -> Zoo:
    return make_zoo(services, tmp_path)


def when(version: object) -> str:
    return version.created_at.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]


def section(page: str, id_: str) -> str:
    """The page from section `id_` up to the next section with an id."""
    assert f'<section id="{id_}">' in page, id_
    return page.split(f'<section id="{id_}">')[1].split("<section id=")[0]


def test_models_list(client: TestClient, zoo: Zoo, services: Services) -> None:
    page = client.get("/models").text
    assert 'class="active" aria-current="page">Models' in page
    models = {m.name: m for m in services.registry.list_models()}
    assert cells(page, "models") == [
        ["chat", "2", "v2", "@production @staging", when(models["chat"]), ""],
        ["chat-lora", "1", "v1", "", when(models["chat-lora"]), ""],
        ["gpt", "1", "v1", "@production", when(models["gpt"]), ""],
    ]
    assert 'href="/models/chat/2">v2</a>' in page
    assert 'href="/models/chat/1" title="models:/chat@production → v1">@production</a>' in page


def test_empty_list_says_how_to_register(client: TestClient) -> None:
    page = client.get("/models").text
    assert "No models yet" in page and "lmops models register chat ./my-model" in page


def test_model_page(client: TestClient, zoo: Zoo) -> None:
    page = client.get("/models/chat").text
    assert "<h1>chat</h1>" in page and "2 versions" in page
    size_1 = do_filesizeformat(zoo.chat1.format.size_bytes)
    size_2 = do_filesizeformat(zoo.chat2.format.size_bytes)
    llama = "LlamaForCausalLM"
    assert cells(page, "versions") == [
        ["v2", "model", llama, "64", size_2, "@staging", "run", when(zoo.chat2)],
        ["v1", "model", llama, "1.2M", size_1, "@production", "import", when(zoo.chat1)],
    ]
    assert 'title="1,200,000">1.2M</td>' in page
    panel = page.split('id="aliases-panel"')[1].split("</aside>")[0]
    rows = re.findall(r"<tr[^>]*><th>(.*?)</th><td>(.*?)</td></tr>", panel, re.S)
    shown = [(re.sub(r"<[^>]+>", "", a), re.sub(r"<[^>]+>", "", v)) for a, v in rows]
    assert shown == [("@production", "v1"), ("@staging", "v2"), ("@latest", "v2")]
    assert 'load_model("models:/chat@production")' in page


def test_external_and_adapter_rows(client: TestClient, zoo: Zoo) -> None:
    assert cells(client.get("/models/gpt").text, "versions") == [
        ["v1", "external", "", "", "", "@production", "external", when(zoo.gpt)]
    ]
    lora = cells(client.get("/models/chat-lora").text, "versions")
    assert lora[0][1] == "adapter" and lora[0][6] == "import"


def test_version_page_of_an_import(client: TestClient, zoo: Zoo, tmp_path: Path) -> None:
    page = client.get("/models/chat/1").text
    assert "<h1>chat v1" in page and '<span class="alias-badge"' in page
    assert 'id="description">first cut<' in page
    assert 'id="parameters" title="1,200,000">1.2M<' in page
    assert "<dd>apache-2.0</dd>" in page and "<dd>yes · chat template yes</dd>" in page
    assert f'id="import-path">{tmp_path / "chat"}<' in page
    assert cells(page, "tags") == [["nlp"]] and "<th>team</th>" in page
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "chat").iterdir()}
    assert cells(page, "files") == [
        [name, do_filesizeformat(size)] for name, size in sorted(sizes.items())
    ]
    assert sum(sizes.values()) == zoo.chat1.format.size_bytes
    total = do_filesizeformat(sum(sizes.values()))
    assert f'id="files-total">{total}<' in page
    lineage = section(page, "lineage")
    assert "Nothing recorded: it came from outside lmops." in lineage
    down = lineage.split('id="downstream"')[1]
    assert "adapter_of" in down
    assert '<a href="/models/chat-lora/1"><code>models:/chat-lora/1</code></a>' in down


def test_version_page_of_a_run_artifact(client: TestClient, zoo: Zoo) -> None:
    page = client.get("/models/chat/latest").text
    assert "<h1>chat v2" in page
    run_link = f'<a href="/runs/{zoo.run.id}">sft-1</a>'
    experiment_link = f'<a href="/experiments/{zoo.run.experiment_id}">sft</a>'
    source = section(page, "source")
    assert run_link in source and experiment_link in source
    assert f"<code>runs:/{zoo.run.id}/model</code>" in source
    upstream = section(page, "lineage").split('id="upstream"')[1].split("</ul>")[0]
    assert "produced" in upstream and run_link in upstream and experiment_link in upstream
    assert "Nothing made from this version yet." in section(page, "lineage")


def test_version_page_of_an_external_endpoint(client: TestClient, zoo: Zoo) -> None:
    page = client.get("/models/gpt/1").text
    assert 'id="endpoint-url">https://llm.example.com/v1<' in page
    assert "<code>gpt-x</code>" in page
    assert 'id="api-key">kept, never shown<' in page
    assert SECRET not in page
    assert 'id="files"' not in page and "Parameters" not in page


def test_version_page_of_an_adapter_links_its_base(client: TestClient, zoo: Zoo) -> None:
    page = client.get("/models/chat-lora/1").text
    assert '<a href="/models/chat/1"><code>models:/chat/1</code></a>' in page  # Adapts
    upstream = section(page, "lineage").split('id="upstream"')[1]
    assert "adapter_of" in upstream and 'href="/models/chat/1"' in upstream


def test_a_key_less_endpoint_says_none(client: TestClient, services: Services) -> None:
    registering.register_endpoint(services.registry, "local", "http://127.0.0.1:8000/v1", "qwen")
    page = client.get("/models/local/1").text
    assert 'id="api-key"><span class="muted">none</span>' in page


def test_missing_files_are_said_not_a_500(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    version = registering.register_directory(services.registry, "m", fake_model_dir(tmp_path / "m"))
    Path(services.artifacts.path_of(version.digest or "")).unlink()
    page = client.get("/models/m/1").text
    assert "missing from the artifact store" in page


def test_text_is_escaped(client: TestClient, services: Services, tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    registering.register_directory(
        services.registry, "m", fake_model_dir(tmp_path / "m"), description=evil, tags={evil: evil}
    )
    for url in ("/models", "/models/m", "/models/m/1"):
        assert "<script>alert" not in client.get(url).text, url


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/models/nope", 404, "no registered model named &#39;nope&#39;"),
        ("/models/nope/1", 404, "no registered model named &#39;nope&#39;"),
        ("/models/chat/9", 404, "no model version models:/chat/9"),
        ("/models/chat/two", 400, "version must be a version number or latest"),
    ],
)
def test_errors_are_pages(
    client: TestClient, zoo: Zoo, url: str, status: int, message: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert 'class="error-message"' in response.text and message in response.text


def test_models_is_built_in_the_navigation(client: TestClient) -> None:
    page = client.get("/models").text
    nav = page[page.index('href="/models"') :].split("</li>")[0]
    assert "soon" not in nav and 'aria-current="page"' in nav


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (None, ""),
        (64, "64"),
        (999, "999"),
        (1500, "1.5K"),
        (135_000, "135K"),
        (999_999, "1M"),
        (1_234_567, "1.2M"),
        (135_000_000, "135M"),
        (6_738_415_616, "6.7B"),
        (70_553_706_496, "71B"),
    ],
)
def test_parameter_counts_read_at_a_glance(count: int | None, shown: str) -> None:
    assert format_count(count) == shown


def test_a_model_without_versions(client: TestClient, services: Services) -> None:
    services.registry.create_model("empty", description="reserved")
    assert cells(client.get("/models").text, "models")[0][:4] == ["empty", "0", "", ""]
    page = client.get("/models/empty").text
    assert "No versions yet." in page and "@latest" not in page
    assert client.get("/models/empty/latest").status_code == 404
    api = client.get("/api/v1/models/empty/versions/latest")
    assert api.status_code == 404 and api.json()["message"] == "model 'empty' has no versions yet"
