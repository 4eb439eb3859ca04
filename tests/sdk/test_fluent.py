"""The fluent SDK, run twice: in-process against SQLite and against a real server."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import lmops
from lmops.core.errors import Conflict, InvalidFilter, InvalidInput, NotFound
from lmops.core.ids import new_id


def _exp() -> str:
    return f"exp-{new_id()[:8]}"


def test_run_with_metrics_params_and_tags(sdk: str) -> None:
    name = _exp()
    with lmops.start_run(experiment=name, params={"lr": 0.01}, tags={"face": sdk}) as run:
        for step in range(1000):
            lmops.log_metric("loss", 1.0 / (step + 1), step=step)
        lmops.log_metrics({"acc": 0.9, "f1": 0.8}, step=999)
        lmops.log_params({"epochs": 3})
        lmops.set_tags({"stage": "sft"})
    stored = lmops.get_run(run.id)
    assert stored.status.value == "FINISHED"
    assert stored.params == {"lr": "0.01", "epochs": "3"}
    assert stored.tags == {"face": sdk, "stage": "sft"}
    assert stored.metrics == {"loss": 0.001, "acc": 0.9, "f1": 0.8}
    history = lmops.get_metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(1000))
    assert history[0].value == 1.0


def test_failed_run_is_marked_failed(sdk: str) -> None:
    def train() -> str:
        with lmops.start_run(experiment=_exp()) as run:
            lmops.log_metric("loss", 1.0)
            raise RuntimeError(run.id)

    with pytest.raises(RuntimeError) as diverged:
        train()
    run = lmops.get_run(str(diverged.value))
    stored = run
    assert stored.status.value == "FAILED"
    assert stored.metrics == {"loss": 1.0}


def test_param_conflict_and_bad_values(sdk: str) -> None:
    with lmops.start_run(experiment=_exp(), params={"lr": "0.01"}):
        with pytest.raises(Conflict, match="write-once"):
            lmops.log_param("lr", "0.1")
        with pytest.raises(InvalidInput, match="must be a number"):
            lmops.log_metric("loss", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="key"):
            lmops.log_metric("bad$key", 1.0)
        with pytest.raises(InvalidInput, match="step"):
            lmops.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]


def test_non_finite_metrics_survive_both_faces(sdk: str) -> None:
    with lmops.start_run(experiment=_exp()) as run:
        lmops.log_metric("x", math.nan, step=0)
        lmops.log_metric("x", math.inf, step=1)
    values = [p.value for p in lmops.get_metric_history(run.id, "x")]
    assert math.isnan(values[0]) and values[1] == math.inf


def test_search_runs_filter_and_order(sdk: str) -> None:
    name = _exp()
    for lr, loss in [("0.01", 0.3), ("0.1", 0.7), ("0.01", 0.6)]:
        with lmops.start_run(experiment=name, params={"lr": lr}):
            lmops.log_metric("loss", loss)
    found = lmops.search_runs(
        name, filter="metrics.loss < 0.65 and params.lr = '0.01'", order_by=["metrics.loss DESC"]
    )
    assert [r.metrics["loss"] for r in found] == [0.6, 0.3]
    with pytest.raises(InvalidInput, match="position 15") as err:
        lmops.search_runs(name, filter="metrics.loss < 'x'")
    if sdk == "local":
        assert isinstance(err.value, InvalidFilter)


def test_nested_runs_and_active_run(sdk: str) -> None:
    name = _exp()
    with lmops.start_run(experiment=name) as parent:
        with pytest.raises(InvalidInput, match="still active"):
            lmops.start_run(experiment=name)
        with lmops.start_run(experiment=name, nested=True) as child:
            active = lmops.active_run()
            assert active is not None and active.id == child.id
        active = lmops.active_run()
        assert active is not None and active.id == parent.id
    assert lmops.active_run() is None
    assert lmops.get_run(child.id).parent_run_id == parent.id


def test_logging_from_threads(sdk: str) -> None:
    with lmops.start_run(experiment=_exp()) as run:

        def worker(k: int) -> None:
            for step in range(500):
                lmops.log_metric(f"w{k}", float(step), step=step)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(4):
        assert len(lmops.get_metric_history(run.id, f"w{k}")) == 500


def test_artifacts_round_trip(sdk: str, tmp_path: Path) -> None:
    from lmops.fluent.backends import tracking_backend

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "weights.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    (ckpt / "config.json").write_text("{}")
    with lmops.start_run(experiment=_exp()) as run:
        lmops.log_artifact(ckpt)
        lmops.log_artifact(ckpt / "config.json", "extra/config.json")
    backend = tracking_backend()
    assert {a.path for a in backend.list_artifacts(run.id)} == {"ckpt", "extra/config.json"}
    out = backend.download_artifact(run.id, "ckpt", tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == (ckpt / "weights.bin").read_bytes()
    single = backend.download_artifact(run.id, "ckpt/config.json", tmp_path / "one")
    assert single.read_text() == "{}"
    with pytest.raises(NotFound):
        backend.download_artifact(run.id, "missing", tmp_path / "none")


def test_unknown_ids(sdk: str) -> None:
    with pytest.raises(NotFound, match="no run"):
        lmops.get_run("0" * 32)
    with pytest.raises(NotFound, match="no experiment"):
        lmops.search_runs("does-not-exist")


def test_log_without_active_run_is_a_clear_error(sdk: str) -> None:
    with pytest.raises(InvalidInput, match="no active run"):
        lmops.log_metric("loss", 1.0)


def test_system_metrics_are_logged(sdk: str) -> None:
    with lmops.start_run(
        experiment=_exp(), log_system_metrics=True, system_metrics_interval=0.05
    ) as run:
        import time

        time.sleep(0.4)
    metrics = lmops.get_run(run.id).metrics
    assert "system/cpu_percent" in metrics
    assert metrics["system/memory_used_mb"] > 0


EXITING_SCRIPT = """
import lmops
run = lmops.start_run(experiment="exit")
for step in range(5000):
    lmops.log_metric("loss", float(step), step=step)
print(run.id)
"""


def test_process_exit_makes_points_durable(sdk: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from lmops.fluent.backends import settings

    env = {**os.environ, "LMOPS_HOME": str(tmp_path / "home"), "LMOPS_URI": settings().uri}
    out = subprocess.run(
        [sys.executable, "-c", EXITING_SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    run = lmops.get_run(out)
    assert run.status.value == "FINISHED"
    assert len(lmops.get_metric_history(run.id, "loss")) == 5000
