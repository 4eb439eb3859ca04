"""`lmops endpoints` against a real store (SQLite and PostgreSQL): routes and ordered
fallbacks set, kept, replaced and cleared, and shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli


@pytest.fixture(autouse=True)
def _store(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", store_uri)


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def fallbacks_of(name: str) -> list[str]:
    code, out = run_cli("endpoints", "show", name, "--json")
    assert code == 0, out
    return list(json.loads(out)["fallbacks"])


def test_fallbacks_are_set_kept_replaced_and_cleared() -> None:
    code, out = run_cli(
        "endpoints",
        "create",
        "assistant",
        "--model",
        "models:/chat/2=90",
        "--model",
        "models:/chat/3=10",
        "--fallback",
        "models:/backup@production",
        "--fallback",
        "models:/last/1",
    )
    assert code == 0, out
    assert out == (
        "assistant: models:/chat/2 90%, models:/chat/3 10% (sticky)\n"
        "  fallbacks: models:/backup@production > models:/last/1\n"
    )
    assert fallbacks_of("assistant") == ["models:/backup@production", "models:/last/1"]

    # an update without --fallback keeps them; with it, replaces them in the order given
    code, out = run_cli("endpoints", "update", "assistant", "--model", "models:/chat/3")
    assert code == 0, out
    assert fallbacks_of("assistant") == ["models:/backup@production", "models:/last/1"]
    code, out = run_cli(
        "endpoints",
        "update",
        "assistant",
        "--model",
        "models:/chat/3",
        "--fallback",
        "models:/last/1",
        "--fallback",
        "models:/chat/2",
    )
    assert code == 0, out
    assert fallbacks_of("assistant") == ["models:/last/1", "models:/chat/2"]

    code, out = run_cli("endpoints", "list")
    assert code == 0, out
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ROUTES", "FALLBACKS", "STICKY", "CACHE", "UPDATED"]
    assert "models:/last/1 > models:/chat/2" in row

    code, out = run_cli(
        "endpoints", "update", "assistant", "--model", "models:/chat/3", "--no-fallbacks"
    )
    assert (code, out) == (0, "assistant: models:/chat/3 100% (sticky)\n")
    assert fallbacks_of("assistant") == []
    code, out = run_cli("endpoints", "list")
    assert out.splitlines()[1].split()[2] == "-"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fallback", "gpt-4"], "fallbacks.0: Value error, cannot parse URI 'gpt-4'"),
        (["--fallback", "models:/chat/1"], "models:/chat/1 is a route already"),
        (["--fallback", "models:/b/1", "--fallback", "models:/b/1"], "appear once"),
    ],
)
def test_bad_fallbacks_are_refused_with_the_reason(args: list[str], says: str) -> None:
    code, out = run_cli("endpoints", "create", "bad", "--model", "models:/chat/1", *args)
    assert code == 1 and says in out, out
    code, out = run_cli("endpoints", "show", "bad")
    assert code == 1 and "no endpoint named 'bad'" in out


def test_fallbacks_and_no_fallbacks_together_are_refused() -> None:
    assert run_cli("endpoints", "create", "assistant", "--model", "models:/chat/1")[0] == 0
    code, out = run_cli(
        "endpoints",
        "update",
        "assistant",
        "--model",
        "models:/chat/1",
        "--fallback",
        "models:/b/1",
        "--no-fallbacks",
    )
    assert code == 1 and "not both" in out, out
