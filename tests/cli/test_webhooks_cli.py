"""`lmops webhooks` against a real store (SQLite and PostgreSQL) and a real receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.artifacts import ArtifactStore
from lmops.cli.main import cli
from lmops.governance.webhooks import verify_signature
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store import open_engine
from tests.governance.receiver import Receiver
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def registry(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", store_uri)
    return RegistryStore(open_engine(store_uri), ArtifactStore(str(tmp_path / "artifacts")))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_add_deliver_list_and_remove(registry: RegistryStore, tmp_path: Path) -> None:
    with Receiver(statuses=(503, 200)) as receiver:
        code, out = run_cli("webhooks", "add", receiver.url, "--event", "model_alias.set", "--json")
        assert code == 0, out
        hook = json.loads(out)
        registering.register_directory(registry, "chat", fake_model_dir(tmp_path / "m"))
        registry.set_alias("chat", "production", 1)

        assert run_cli("webhooks", "deliver") == (
            0,
            "1 attempted: 0 delivered, 1 to retry, 0 failed\n",
        )
        code, out = run_cli("webhooks", "deliveries", hook["id"], "--json")
        [pending] = json.loads(out)
        assert (pending["status"], pending["last_status_code"]) == ("pending", 503)
        assert pending["last_error"] == "HTTP 503: no"
        assert run_cli("webhooks", "deliver")[1].startswith("0 attempted")  # backing off

        [request] = receiver.requests
        headers = request.headers
        assert request.json["target"] == "models:/chat@production"
        assert verify_signature(
            hook["secret"], headers["x-lmops-timestamp"], request.body, headers["x-lmops-signature"]
        )

    code, out = run_cli("webhooks", "list")
    assert code == 0 and hook["id"] in out and "model_alias.set" in out
    assert out.splitlines()[0].split() == ["ID", "URL", "EVENTS", "ACTIVE", "CREATED"]
    assert hook["secret"] not in out and "secret" not in run_cli("webhooks", "list", "--json")[1]
    code, out = run_cli("webhooks", "deliveries", "--status", "pending")
    assert code == 0 and "model_alias.set" in out and "HTTP 503: no" in out

    assert run_cli("webhooks", "remove", hook["id"]) == (0, f"removed webhook {hook['id']}\n")
    assert json.loads(run_cli("webhooks", "list", "--json")[1]) == []
    code, out = run_cli("webhooks", "remove", hook["id"])
    assert code == 1 and "no webhook" in out


def test_add_prints_the_secret_once_and_explains_mistakes(registry: RegistryStore) -> None:
    code, out = run_cli("webhooks", "add", "https://example.com/h", "--event", "*")
    assert code == 0, out
    assert "secret: whsec_" in out and "does not show it again" in out

    code, out = run_cli("webhooks", "add", "https://example.com/h", "--event", "model.eaten")
    assert code == 1 and "unknown event 'model.eaten'; known: model.create" in out
    code, out = run_cli("webhooks", "add", "ftp://example.com/h", "--event", "*")
    assert code == 1 and "http:// or https://" in out
    code, out = run_cli("webhooks", "add", "https://example.com/h")
    assert code == 2 and "--event" in out
    assert len(json.loads(run_cli("webhooks", "list", "--json")[1])) == 1
