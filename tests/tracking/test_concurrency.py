"""Two processes logging to one SQLite store at once: no lock errors, no lost points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lmops.artifacts import ArtifactStore
from lmops.store import open_engine
from lmops.tracking import TrackingStore

WRITER = """
import sys, lmops
with lmops.start_run(experiment="shared", name=sys.argv[1]) as run:
    for step in range(int(sys.argv[2])):
        lmops.log_metric("loss", 1.0 / (step + 1), step=step)
        if step % 1000 == 0:
            lmops.set_tags({"progress": str(step)})
print(run.id)
"""


def test_two_processes_share_one_sqlite_store(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LMOPS_HOME": str(tmp_path),
        "LMOPS_URI": "",
        # small batches and a short interval: many interleaved write transactions
        "LMOPS_METRIC_BATCH_SIZE": "200",
        "LMOPS_METRIC_FLUSH_INTERVAL": "0.01",
    }
    n = 20_000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"writer-{i}", str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    store = TrackingStore(
        open_engine(f"sqlite:///{tmp_path / 'lmops.db'}"),
        ArtifactStore(str(tmp_path / "artifacts")),
    )
    for out, _ in results:
        run = store.get_run(out.strip())
        history = store.get_metric_history(run.id, "loss")
        assert [p.step for p in history] == list(range(n))
        assert run.status.value == "FINISHED"
