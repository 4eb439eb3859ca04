"""How fast metric points become durable through the SDK, next to MLflow measured in the same run.

Run it from the repository root:

    .venv/bin/python benchmarks/tracking.py                       # lmops only
    .venv/bin/python benchmarks/tracking.py --mlflow-python /tmp/mlflow-venv/bin/python
    .venv/bin/python benchmarks/tracking.py --quick               # small counts, a smoke run

MLflow lives in a venv of its own (never in lmops's dependencies):

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow

`--mlflow-python` defaults to $LMOPS_BENCH_MLFLOW_PYTHON; without either the comparison is
skipped and the report says why.

What is measured, each in a fresh temp dir that is removed afterwards:

- `import lmops`: in fresh interpreters, the median time of the import statement itself, the
  median wall-clock difference of `python -c "import lmops"` over `python -c "pass"`, and
  which heavy libraries the import pulled in (they should load lazily).
- store open: `lmops.store.open_engine` on a new SQLite file (create + migrate) and on an
  existing one, each in a fresh interpreter since the engine is cached per process.
- durable points/s: `--points` calls of `lmops.log_metric` in a plain loop, then
  `lmops.flush()`; the clock runs from the first call until flush returns (every point
  committed). In-process SQLite ("local") and through `lmops server` over HTTP ("remote").
  Each trial checks afterwards that the store holds every point.
- MLflow, in a subprocess of its interpreter, on a SQLite tracking URI: `mlflow.log_metric`
  in a per-call loop, and `MlflowClient.log_batch` in batches of 1,000 (its limit).

Figures are printed with their targets and marked met / not met; a missed target never makes
the script fail. These machines are shared and small: read the figures as rough, and rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Only the standard library at module level: `--mlflow-worker` runs this file under MLflow's
# interpreter, where lmops is not installed. harness.py is stdlib-only too, and importable in
# both modes since Python puts this file's directory on sys.path.
from harness import (
    NOISE_NOTE,
    Load,
    add_common_args,
    bench_dir,
    lmops_server,
    mark,
    median_line,
    median_rate,
    new_parser,
    print_machine,
    print_worker_result,
    run_mlflow_worker,
    run_steps,
)

TARGET_POINTS_PER_S = 100_000
TARGET_VS_BATCH = 10.0
TARGET_IMPORT_S = 0.2
MLFLOW_BATCH_LIMIT = 1000
HEAVY_MODULES = ("sqlalchemy", "alembic", "pydantic", "httpx", "fastapi", "numpy", "pandas")


@dataclass
class Counts:
    """How much work each part does."""

    points: int
    repeats: int
    import_runs: int
    open_runs: int
    mlflow_per_call: int
    mlflow_batch: int


@dataclass
class Trial:
    """One timed loop of log_metric calls followed by flush()."""

    points: int
    seconds: float
    loop_seconds: float
    stored: int

    @property
    def rate(self) -> float:
        return self.points / self.seconds


@dataclass
class Report:
    """Everything measured; printed at the end."""

    counts: Counts
    import_stmt_s: float | None = None
    import_wall_s: float | None = None
    heavy_loaded: list[str] = field(default_factory=list)
    sdk_load_s: float | None = None
    open_new_s: float | None = None
    open_existing_s: float | None = None
    store_import_s: float | None = None
    local: list[Trial] = field(default_factory=list)
    remote: list[Trial] = field(default_factory=list)
    remote_error: str | None = None
    mlflow: dict[str, Any] | None = None
    mlflow_skipped: str | None = None
    load: list[Load] = field(default_factory=list)


# -- lmops: import and store open, in fresh interpreters ---------------------------------------

_IMPORT_CODE = f"""
import json, sys, time
t = time.perf_counter()
import lmops
dt = time.perf_counter() - t
heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]
t = time.perf_counter()
lmops.log_metric  # the first SDK name used pulls in what the import left out
sdk = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "heavy": heavy, "sdk": sdk}}))
"""

_OPEN_CODE = """
import json, sys, time
t0 = time.perf_counter()
from lmops.store import open_engine
t1 = time.perf_counter()
open_engine(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open": t2 - t1}))
"""


def _python_json(code: str, *args: str, cwd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _wall(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def measure_import(report: Report, tmp: Path) -> None:
    runs = report.counts.import_runs
    stmt = [_python_json(_IMPORT_CODE, cwd=tmp) for _ in range(runs)]
    report.import_stmt_s = statistics.median(r["seconds"] for r in stmt)
    report.heavy_loaded = sorted({m for r in stmt for m in r["heavy"]})
    report.sdk_load_s = statistics.median(r["sdk"] for r in stmt)
    # Interleave the two so that a burst of noise hits both alike.
    bare, with_lmops = [], []
    for _ in range(runs):
        bare.append(_wall([sys.executable, "-c", "pass"], tmp))
        with_lmops.append(_wall([sys.executable, "-c", "import lmops"], tmp))
    report.import_wall_s = statistics.median(with_lmops) - statistics.median(bare)


def measure_store_open(report: Report, tmp: Path) -> None:
    new, existing, imports = [], [], []
    for i in range(report.counts.open_runs):
        uri = f"sqlite:///{tmp / f'open-{i}.db'}"
        first = _python_json(_OPEN_CODE, uri, cwd=tmp)
        again = _python_json(_OPEN_CODE, uri, cwd=tmp)
        new.append(first["open"])
        existing.append(again["open"])
        imports.append(again["import"])
    report.open_new_s = statistics.median(new)
    report.open_existing_s = statistics.median(existing)
    report.store_import_s = statistics.median(imports)


# -- lmops: durable points/s -------------------------------------------------------------------


def log_points(points: int) -> Trial:
    """The loop the issue names: one log_metric call per point, then flush()."""
    import lmops

    with lmops.start_run(experiment="bench") as run:
        start = time.perf_counter()
        for i in range(points):
            lmops.log_metric("loss", 1.0 / (i + 1), step=i)
        looped = time.perf_counter()
        lmops.flush()
        done = time.perf_counter()
    stored = len(lmops.get_metric_history(run.id, "loss"))
    return Trial(points, done - start, looped - start, stored)


def run_local(report: Report, tmp: Path) -> None:
    import lmops

    for i in range(report.counts.repeats):
        home = tmp / f"local-{i}"
        lmops.configure(home=home, uri="", artifacts_uri=str(home / "artifacts"))
        # Open (create + migrate) the store before the clock starts.
        lmops.list_experiments()
        report.local.append(log_points(report.counts.points))


def run_remote(report: Report, tmp: Path) -> None:
    import lmops

    try:
        with lmops_server(tmp / "server" / "home") as url:
            lmops.configure(home=tmp / "client", uri=url)
            try:
                for _ in range(report.counts.repeats):
                    report.remote.append(log_points(report.counts.points))
            finally:
                lmops.configure(home=tmp / "idle", uri="")  # close the flusher while it is up
    except Exception as exc:  # report it and carry on to MLflow
        report.remote_error = f"{type(exc).__name__}: {exc}"


# -- MLflow, in its own interpreter --------------------------------------------------------------


def mlflow_worker(workdir: Path, per_call: int, batch_points: int) -> dict[str, Any]:
    """Run under MLflow's interpreter: time log_metric per call, then log_batch."""
    os.chdir(workdir)  # artifact dirs default to the working directory
    import mlflow  # type: ignore[import-not-found, unused-ignore]
    from mlflow.entities import Metric  # type: ignore[import-not-found, unused-ignore]
    from mlflow.tracking import MlflowClient  # type: ignore[import-not-found, unused-ignore]

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("bench")  # creates + migrates the db before any clock starts
    client = MlflowClient()

    with mlflow.start_run() as run:
        start = time.perf_counter()
        for i in range(per_call):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        per_call_s = time.perf_counter() - start
    per_call_stored = len(client.get_metric_history(run.info.run_id, "loss"))

    run_id = client.create_run(mlflow.get_experiment_by_name("bench").experiment_id).info.run_id
    start = time.perf_counter()
    for first in range(0, batch_points, MLFLOW_BATCH_LIMIT):
        now = int(time.time() * 1000)
        batch = [
            Metric("loss", 1.0 / (i + 1), now, i)
            for i in range(first, min(first + MLFLOW_BATCH_LIMIT, batch_points))
        ]
        client.log_batch(run_id, metrics=batch)
    batch_s = time.perf_counter() - start
    client.set_terminated(run_id)
    batch_stored = len(client.get_metric_history(run_id, "loss"))
    return {
        "version": mlflow.__version__,
        "per_call": {"points": per_call, "seconds": per_call_s, "stored": per_call_stored},
        "log_batch": {"points": batch_points, "seconds": batch_s, "stored": batch_stored},
    }


def run_mlflow(report: Report, python: str | None, tmp: Path) -> None:
    args = ["--mlflow-per-call", str(report.counts.mlflow_per_call)]
    args += ["--mlflow-batch", str(report.counts.mlflow_batch)]
    report.mlflow, report.mlflow_skipped, _ = run_mlflow_worker(python, __file__, tmp, args)


# -- the report --------------------------------------------------------------------------------


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return None if mine is None or theirs is None else mine / theirs


def _target(
    name: str, value: float | None, target: float, unit: str
) -> tuple[str, str, bool | None]:
    """A row of the targets table; unit "s" means lower is better."""
    if value is None:
        return name, "not measured", None
    shown = {"s": f"{value:.3f} s", "/s": f"{value:,.0f}/s", "x": f"{value:.1f}x"}[unit]
    return name, shown, value < target if unit == "s" else value >= target


def _rate(part: dict[str, Any]) -> float:
    return float(part["points"]) / float(part["seconds"])


def _trials(label: str, trials: list[Trial]) -> list[str]:
    lines = [median_line(label, [t.rate for t in trials], "points/s durable", 10)]
    for i, t in enumerate(trials, 1):
        ok = "ok" if t.stored == t.points else "MISSING POINTS"
        lines.append(
            f"    trial {i}: {t.points:,} points in {t.seconds:.3f} s "
            f"(loop {t.loop_seconds:.3f} s, flush {t.seconds - t.loop_seconds:.3f} s); "
            f"stored {t.stored:,}/{t.points:,} {ok}"
        )
    return lines


def _mlflow_rate(r: Report, part: str) -> float | None:
    return None if r.mlflow is None else _rate(r.mlflow[part])


def _print_startup(r: Report) -> None:
    print_machine(r.load)
    print("-- import and store open (medians over fresh interpreters)")
    print(f"  import lmops, the statement:              {r.import_stmt_s:.3f} s")
    print(f"  import lmops, wall over `python -c pass`: {r.import_wall_s:.3f} s")
    print(f"  heavy modules loaded by `import lmops`:   {', '.join(r.heavy_loaded) or 'none'}")
    print(f"  first SDK name used (lazy imports):       {r.sdk_load_s:.3f} s")
    print(f"  import lmops.store (sqlalchemy):          {r.store_import_s:.3f} s")
    print(f"  open_engine, new db (create + migrate):   {r.open_new_s:.3f} s")
    print(f"  open_engine, existing db:                 {r.open_existing_s:.3f} s")


def _print_lmops(r: Report) -> None:
    print(f"-- lmops: {r.counts.points:,} x log_metric, then flush()")
    for line in _trials("local  (in-process SQLite)", r.local):
        print(line)
    for line in _trials("remote (lmops server, HTTP)", r.remote) if r.remote else []:
        print(line)
    if r.remote_error is not None:
        print(f"  remote: failed after {len(r.remote)} trial(s): {r.remote_error}")


def _print_mlflow(r: Report) -> None:
    if r.mlflow is None:
        print(f"-- MLflow comparison skipped: {r.mlflow_skipped}")
        return
    print(f"-- MLflow {r.mlflow['version']} (SQLite tracking URI)")
    for label, part in (("log_metric per call", "per_call"), ("log_batch x1000", "log_batch")):
        p = r.mlflow[part]
        check = "ok" if p["stored"] == p["points"] else "MISSING POINTS"
        print(
            f"  {label:<20} {_rate(p):>10,.0f} points/s   ({p['points']:,} points in "
            f"{p['seconds']:.2f} s; stored {p['stored']:,}/{p['points']:,} {check})"
        )
    per_call, batch = _rate(r.mlflow["per_call"]), _rate(r.mlflow["log_batch"])
    print("-- ratios (lmops durable points/s over MLflow points/s)")
    for label, mine in (("local ", median_rate(r.local)), ("remote", median_rate(r.remote))):
        if mine is not None:
            print(
                f"  lmops {label} / MLflow per call: {mine / per_call:>8,.1f}x    "
                f"lmops {label} / MLflow log_batch: {mine / batch:>6,.1f}x"
            )


def _print_targets(r: Report) -> None:
    local, remote = median_rate(r.local), median_rate(r.remote)
    batch = _mlflow_rate(r, "log_batch")
    all_stored = all(t.stored == t.points for t in r.local + r.remote)
    rows = [
        _target("import lmops (statement) < 0.2 s", r.import_stmt_s, TARGET_IMPORT_S, "s"),
        _target("local durable >= 100,000 points/s", local, TARGET_POINTS_PER_S, "/s"),
        _target("remote durable >= 100,000 points/s", remote, TARGET_POINTS_PER_S, "/s"),
        _target("local >= 10x MLflow log_batch", _ratio(local, batch), TARGET_VS_BATCH, "x"),
        _target("remote >= 10x MLflow log_batch", _ratio(remote, batch), TARGET_VS_BATCH, "x"),
        ("every logged point stored", "yes" if all_stored else "NO", all_stored),
    ]
    print("-- targets")
    for name, value, ok in rows:
        print(f"  {name:<38} {value:>14}   {mark(ok)}")
    print(NOISE_NOTE)


def print_report(r: Report) -> None:
    _print_startup(r)
    _print_lmops(r)
    _print_mlflow(r)
    _print_targets(r)


# -- entry point -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--points", type=int, default=100_000, help="points per lmops trial")
    add_common_args(parser)
    parser.add_argument("--mlflow-per-call", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--mlflow-batch", type=int, default=100_000, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mlflow_worker is not None:
        result = mlflow_worker(args.mlflow_worker, args.mlflow_per_call, args.mlflow_batch)
        print_worker_result(result)
        return
    if args.quick:
        counts = Counts(min(args.points, 5_000), 1, 3, 1, 200, 5_000)
    else:
        counts = Counts(args.points, args.repeats, 7, 3, 10_000, 100_000)
    report = Report(counts)
    with bench_dir() as tmp:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("import lmops", lambda: measure_import(report, tmp)),
            ("store open", lambda: measure_store_open(report, tmp)),
            ("lmops local", lambda: run_local(report, tmp)),
            ("lmops remote", lambda: run_remote(report, tmp)),
            ("MLflow", lambda: run_mlflow(report, args.mlflow_python, tmp)),
        ]
        run_steps(steps, report.load, load_after="lmops remote")
    print_report(report)


if __name__ == "__main__":
    main()
