"""The CLI through click's runner, against a real store in a temp home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops._version import __version__
from lmops.artifacts import ArtifactStore
from lmops.cli.main import cli
from lmops.store import open_engine
from lmops.tracking import TrackingStore
from tests.factories import points


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    return tmp_path


@pytest.fixture
def store(home: Path) -> TrackingStore:
    return TrackingStore(
        open_engine(f"sqlite:///{home / 'lmops.db'}"), ArtifactStore(str(home / "artifacts"))
    )


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_version() -> None:
    assert run_cli("--version") == (0, f"lmops, version {__version__}\n")


def test_db_upgrade(home: Path) -> None:
    code, out = run_cli("db", "upgrade")
    assert code == 0
    assert "is at revision 0015" in out
    assert (home / "lmops.db").exists()


def test_experiments_and_runs(store: TrackingStore) -> None:
    exp = store.create_experiment("sft")
    a = store.create_run(exp.id, name="a", params={"lr": "0.01", "seed": "1"})
    b = store.create_run(exp.id, name="b", params={"lr": "0.1", "seed": "1"})
    store.log_metrics(a.id, points("loss", [0.9, 0.3]))
    store.log_metrics(b.id, points("loss", [0.9, 0.6]))
    store.end_run(a.id)

    code, out = run_cli("experiments", "list")
    assert (
        code == 0
        and "sft" in out
        and out.splitlines()[0].split() == ["ID", "NAME", "RUNS", "CREATED"]
    )
    code, out = run_cli("experiments", "list", "--json")
    assert json.loads(out)[0]["run_count"] == 2

    code, out = run_cli("runs", "list", "-e", "sft", "-f", "metrics.loss < 0.5", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["a"]
    code, out = run_cli("runs", "list", "-e", "sft", "-o", "metrics.loss DESC")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["b", "a"]

    code, out = run_cli("runs", "show", a.id)
    assert code == 0 and "FINISHED" in out and "lr = 0.01" in out and "loss = 0.3" in out

    code, out = run_cli("runs", "compare", a.id, b.id, "--json")
    rows = {r["key"]: r["values"] for r in json.loads(out)["rows"]}
    assert rows == {"params.lr": ["0.01", "0.1"], "metrics.loss": [0.3, 0.6]}
    code, out = run_cli("runs", "compare", a.id, b.id)
    assert "params.lr" in out and "params.seed" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "show", "nope"), "Error: no run with id 'nope'"),
        (("runs", "list", "-e", "missing"), "Error: no experiment named 'missing'"),
        (("runs", "compare", "a"), "at least two run ids"),
    ],
)
def test_errors_are_one_line(home: Path, args: tuple[str, ...], message: str) -> None:
    code, out = run_cli(*args)
    assert code != 0
    assert message in out
    assert "Traceback" not in out


def test_bad_filter_is_one_line(store: TrackingStore) -> None:
    store.create_experiment("sft")
    code, out = run_cli("runs", "list", "-e", "sft", "-f", "metrics.loss <")
    assert code == 1
    assert out.strip() == (
        "Error: expected a number or a quoted string, found end of filter (at position 14)"
    )


def test_cli_talks_to_a_server(live_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmops.client import TrackingClient, Transport

    url = live_server.url  # type: ignore[attr-defined]
    client = TrackingClient(Transport(url))
    exp = client.create_experiment("cli-remote")
    run = client.create_run(exp.id, name="remote-run", params={"lr": "0.5"})
    client.close()
    monkeypatch.setenv("LMOPS_URI", url)
    code, out = run_cli("runs", "list", "-e", "cli-remote", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [run.id]
    code, out = run_cli("runs", "show", "0" * 32)
    assert code == 1
    assert out.strip() == f"Error: no run with id '{'0' * 32}'"
