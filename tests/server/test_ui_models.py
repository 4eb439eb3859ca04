"""The model registry pages, rendered by the app in-process: numbers, sources, files, lineage."""

from __future__ import annotations

import html
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
from lmops.server.ui.forms import URLENCODED
from lmops.server.ui.rendering import format_count
from tests.registry.conftest import fake_model_dir
from tests.server.test_models_routes import SECRET, Zoo, make_zoo
from tests.server.test_ui_datasets import cells


@pytest.fixture
def app(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path, uri=store_uri))


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


# -- model cards ----------------------------------------------------------------------------


def test_a_version_without_a_card_says_how_to_make_one(client: TestClient, zoo: Zoo) -> None:
    card = section(client.get("/models/chat/1").text, "card")
    assert "This version has no model card yet." in card
    assert '<form class="inline-form" method="post" action="/models/chat/1/card/generate">' in card
    assert "<code>lmops models card models:/chat/1 --generate</code>" in card
    assert 'href="/models/chat/1/card/edit">Write one</a>' in card
    assert 'id="card-body"' not in card


def test_generate_shows_the_card_rendered(client: TestClient, zoo: Zoo) -> None:
    made = client.post("/models/chat/latest/card/generate", follow_redirects=False)
    assert made.status_code == 303
    assert made.headers["location"] == "/models/chat/2#card"
    card = section(client.get("/models/chat/2").text, "card")
    assert 'Model card <span class="count">revision 1</span>' in card
    assert '<span class="card-badge card-generated"' in card and ">generated</span>" in card
    assert 'id="card-author">anonymous@testclient<' in card
    saved = client.app.state.services.registry.get_card(zoo.chat2.id)  # type: ignore[attr-defined]
    assert f'id="card-date">{when(saved)} UTC<' in card
    body = card.split('id="card-body">')[1].split("</article>")[0]
    assert body.startswith("<h1>chat v2</h1>")
    assert "<h2>Training</h2>" in body
    assert f"Run <strong>sft-1</strong> (<code>runs:/{zoo.run.id}</code>)" in body
    assert "<table>" in body and "<td>URI</td>\n<td><code>models:/chat/2</code></td>" in body
    assert "<em>To be written: who should use this model, and for what.</em>" in body
    assert 'id="card-revisions"' not in card  # one revision: nothing older to list
    assert 'href="/models/chat/2/card/edit">Edit</a>' in card


def test_edit_saves_a_revision_and_older_ones_stay(client: TestClient, zoo: Zoo) -> None:
    client.post("/models/chat/1/card/generate")
    form = client.get("/models/chat/1/card/edit")
    assert form.status_code == 200
    assert "Starting from revision 1" in form.text
    assert '<form class="card-form" method="post" action="/models/chat/1/card">' in form.text
    generated = form.text.split('name="markdown"')[1].split(">", 1)[1].split("</textarea>")[0]
    assert generated.startswith("\n# chat v1\n\nfirst cut\n\n| | |")
    edited = "# chat v1\r\n\r\nReviewed by **ana**.\r\n"  # as a browser posts a textarea
    saved = client.post("/models/chat/1/card", data={"markdown": edited}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/models/chat/1#card"
    registry = client.app.state.services.registry  # type: ignore[attr-defined]
    latest = registry.get_card(zoo.chat1.id)
    assert (latest.revision, latest.generated) == (2, False)
    assert latest.markdown == "# chat v1\n\nReviewed by **ana**.\n"

    card = section(client.get("/models/chat/1").text, "card")
    assert 'Model card <span class="count">revision 2</span>' in card
    assert ">edited</span>" in card and "Reviewed by <strong>ana</strong>." in card
    revisions = card.split('id="card-revisions"')[1]
    assert 'href="/models/chat/1?card_revision=2#card">revision 2</a>' in revisions
    assert 'href="/models/chat/1?card_revision=1#card">revision 1</a>' in revisions
    assert revisions.index("revision 2") < revisions.index("revision 1")

    old = section(client.get("/models/chat/1?card_revision=1").text, "card")
    assert 'Model card <span class="count">revision 1 of 2</span>' in old
    assert "An older revision." in old and 'href="/models/chat/1#card">Show the latest' in old
    assert "<h1>chat v1</h1>\n<p>first cut</p>" in old and "Reviewed by" not in old
    assert 'href="/models/chat/1/card/edit?revision=1">Edit</a>' in old
    assert "Starting from revision 1" in client.get("/models/chat/1/card/edit?revision=1").text


def test_card_markdown_is_rendered_safely(client: TestClient, zoo: Zoo) -> None:
    hostile = (
        "# Card\n\n<script>alert(1)</script>\n\n"
        '<img src=x onerror="alert(2)">\n\n'
        "[click](javascript:alert(3)) and [docs](https://example.com/card)\n\n"
        "| metric | value |\n|---|---|\n| rougeL | 0.41 |\n"
    )
    client.post("/models/chat/1/card", data={"markdown": hostile})
    page = client.get("/models/chat/1").text
    body = section(page, "card").split('id="card-body">')[1].split("</article>")[0]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img" not in body and "&lt;img src=x onerror=" in body
    assert "javascript:" not in body.replace("[click](javascript:alert(3))", "")
    assert 'href="javascript' not in page
    assert '<a href="https://example.com/card">docs</a>' in body
    assert (
        "<table>\n<thead>\n<tr>\n<th>metric</th>\n<th>value</th>\n</tr>\n</thead>\n"
        "<tbody>\n<tr>\n<td>rougeL</td>\n<td>0.41</td>\n</tr>\n</tbody>\n</table>"
    ) in body
    edit = client.get("/models/chat/1/card/edit").text
    assert "<script>alert" not in edit and "&lt;script&gt;alert(1)&lt;/script&gt;" in edit


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"markdown": ""}, "the card is empty: write its markdown"),
        ({"markdown": "\r\n  \r\n"}, "the card is empty"),
        ({}, "the card is empty"),
        ({"markdown": "x" * 200_001}, "markdown is longer than 200000 characters"),
        ({"markdown": "a\x00b"}, "markdown contains a NUL character"),
    ],
)
def test_a_refused_edit_comes_back_to_be_fixed(
    client: TestClient, zoo: Zoo, data: dict[str, str], message: str
) -> None:
    response = client.post("/models/chat/1/card", data=data)
    assert response.status_code == 400
    assert f'id="card-error"><strong>Not saved:</strong> {message}' in response.text
    textarea = response.text.split('name="markdown"')[1].split(">", 1)[1].split("</textarea>")[0]
    assert html.unescape(textarea) == "\n" + data.get("markdown", "").replace("\r\n", "\n")
    registry = client.app.state.services.registry  # type: ignore[attr-defined]
    assert registry.get_card(zoo.chat1.id) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "https://evil.example.com"},
        {"origin": "null"},
    ],
)
def test_a_form_posted_from_another_site_is_refused(
    client: TestClient, zoo: Zoo, headers: dict[str, str]
) -> None:
    for url, data in (
        ("/models/chat/1/card/generate", None),
        ("/models/chat/1/card", {"markdown": "# pwned"}),
    ):
        response = client.post(url, data=data, headers=headers, follow_redirects=False)
        assert response.status_code == 403, url
        assert "posted from another site" in response.text
    registry = client.app.state.services.registry  # type: ignore[attr-defined]
    assert registry.get_card(zoo.chat1.id) is None
    same = {"sec-fetch-site": "same-origin", "origin": "http://testserver"}
    made = client.post("/models/chat/1/card/generate", headers=same, follow_redirects=False)
    assert made.status_code == 303
    older = {"origin": "http://testserver"}  # a browser without Sec-Fetch-Site
    saved = client.post("/models/chat/1/card", data={"markdown": "# ok"}, headers=older)
    assert saved.status_code == 200 and registry.get_card(zoo.chat1.id).revision == 2


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "message"),
    [
        ("GET", "/models/chat/1?card_revision=1", None, 404, "models:/chat/1 has no model card"),
        ("GET", "/models/chat/1?card_revision=0", None, 400, "card_revision: Input should be"),
        ("GET", "/models/chat/1/card/edit?revision=3", None, 404, "has no model card yet"),
        ("GET", "/models/chat/9/card/edit", None, 404, "no model version models:/chat/9"),
        ("POST", "/models/chat/9/card/generate", None, 404, "no model version models:/chat/9"),
        ("POST", "/models/nope/1/card", b"markdown=x", 404, "no registered model named"),
        ("POST", "/models/chat/1/card", b'{"markdown": "x"}', 415, "send the form as"),
    ],
)
def test_card_errors_are_pages(
    client: TestClient,
    zoo: Zoo,
    method: str,
    url: str,
    body: bytes | None,
    status: int,
    message: str,
) -> None:
    kind = "application/json" if body and body.startswith(b"{") else URLENCODED
    response = client.request(method, url, content=body, headers={"content-type": kind})
    assert response.status_code == status
    assert 'class="error-message"' in response.text and message in response.text


def test_a_card_revision_that_is_not_there_names_the_latest(client: TestClient, zoo: Zoo) -> None:
    client.post("/models/chat/1/card/generate")
    response = client.get("/models/chat/1?card_revision=5")
    assert response.status_code == 404
    assert "the card of models:/chat/1 has no revision 5 (the latest is 1)" in response.text
