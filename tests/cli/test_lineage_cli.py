"""`lmops lineage URI` over real runs, dataset versions and model versions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

import lmops
import lmops.data
from lmops.cli.main import cli
from lmops.fluent.backends import settings
from lmops.store import open_engine
from lmops.store.lineage import add_edge
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    lmops.configure(home=tmp_path, uri="")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_lineage_walks_up_and_down(home: Path) -> None:
    raw = lmops.data.create("qa", pa.table({"q": ["a", "b"]}))
    clean = lmops.data.apply(raw.uri, "sample", n=1)
    with lmops.start_run(experiment="sft", name="sft-1") as active:
        lmops.log_artifact(str(fake_model_dir(home / "out")), "model")
        run_id = active.id
    engine = open_engine(settings().uri)
    add_edge(engine, "dataset_version", clean.id, "run", run_id, "trained_on")
    lmops.register_model("sft", f"runs:/{run_id}/model")

    code, out = run("lineage", "models:/sft/1")
    assert code == 0, out
    assert out.splitlines() == [
        "models:/sft/1",
        "  upstream",
        f"    produced     runs:/{run_id}  run 'sft-1' in experiment 'sft'",
        "      trained_on   datasets:/qa/2",
        "        derived_from datasets:/qa/1",
        "  downstream",
        "    (none)",
    ]
    code, out = run("lineage", "datasets:/qa/1", "--depth", "1", "--json")
    assert [link["uri"] for link in json.loads(out)["downstream"]] == ["datasets:/qa/2"]
    code, out = run("lineage", "prompts:/p/1")
    assert code == 1 and "not 'prompts:/p/1'" in out
