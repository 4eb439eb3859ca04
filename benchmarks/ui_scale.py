"""How the UI and its APIs hold up at the scale the issues name: 10,000 runs in one
experiment, 100,000 points in one metric, and 1,000,000 spans of traces.

    .venv/bin/python benchmarks/ui_scale.py [--runs 10000] [--points 100000]
                                            [--spans 1000000] [--repeat 5]

It fills a fresh SQLite store in a temp dir, starts a real `lmops server` on a free port,
and times each request (median and max of --repeat tries, after one warm-up): the runs
table (first page, sorted by a metric, filtered, the last page), a run page, the metric
history thinned for a chart and in full, and the comparison page. It prints the figures;
it asserts nothing about time (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from lmops.artifacts import ArtifactStore
from lmops.core.ids import new_id, utcnow
from lmops.store import open_engine, writing
from lmops.tracking import Metric, TrackingStore
from lmops.tracking.tables import latest_metrics, params, runs


def populate(home: Path, n_runs: int, n_points: int) -> tuple[str, list[str]]:
    """Bulk-load n_runs runs (params and a latest loss each) and one long metric."""
    store = TrackingStore(
        open_engine(f"sqlite:///{home / 'lmops.db'}"), ArtifactStore(str(home / "artifacts"))
    )
    exp = store.create_experiment("scale")
    now = utcnow()
    run_rows, param_rows, metric_rows = [], [], []
    for i in range(n_runs):
        run_id = new_id()
        run_rows.append(
            {
                "id": run_id,
                "experiment_id": exp.id,
                "name": f"run-{i:05d}",
                "status": "FINISHED",
                "start_time": now,
                "end_time": now,
                "parent_run_id": None,
            }
        )
        param_rows += [
            {"run_id": run_id, "key": "lr", "value": str(10 ** -(i % 5))},
            {"run_id": run_id, "key": "seed", "value": str(i)},
        ]
        metric_rows.append(
            {
                "run_id": run_id,
                "key": "loss",
                "value": (i * 7919 % 1000) / 1000,
                "step": 0,
                "timestamp": 0,
            }
        )
    with writing(store.engine) as conn:
        conn.execute(runs.insert(), run_rows)
        conn.execute(params.insert(), param_rows)
        conn.execute(latest_metrics.insert(), metric_rows)
    long_run = store.create_run(exp.id, name="long")
    chunk = 20_000
    for start in range(0, n_points, chunk):
        store.log_metrics(
            long_run.id,
            [
                Metric(key="loss", value=1 / (i + 1), step=i, timestamp=i)
                for i in range(start, min(start + chunk, n_points))
            ],
        )
    return exp.id, [long_run.id, run_rows[0]["id"], run_rows[1]["id"]]


def populate_traces(home: Path, n_spans: int) -> tuple[str, str]:
    """Traces of 5 spans each (a root and 4 children), over 1,000 sessions and 500 users."""
    from datetime import timedelta

    from lmops.tracing.store import TracingStore

    store = TracingStore(open_engine(f"sqlite:///{home / 'lmops.db'}"))
    start = utcnow() - timedelta(days=1)
    batch: list[dict[str, object]] = []
    trace_id = ""
    for n in range(n_spans // 5):
        trace_id = new_id()
        at = start + timedelta(milliseconds=n)
        root = f"{n:016x}"
        for k in range(5):
            batch.append(
                {
                    "trace_id": trace_id,
                    "span_id": root if k == 0 else f"{n:012x}{k:04x}",
                    "parent_span_id": None if k == 0 else root,
                    "name": "chat" if k == 0 else f"step-{k}",
                    "span_type": "CHAIN" if k == 0 else "LLM",
                    "start_time": at,
                    "end_time": at + timedelta(milliseconds=20 + k),
                    "status": "OK",
                    "status_message": None,
                    "attributes": {},
                    "events": [],
                    "inputs": {"question": f"question {n}"},
                    "outputs": f"answer {n}",
                    "input_tokens": None if k == 0 else 12,
                    "output_tokens": None if k == 0 else 30,
                    "cached_tokens": None,
                    "reasoning_tokens": None,
                    "cost": None,
                    "cost_source": None,
                    "model": None if k == 0 else "model-a",
                    "provider": None,
                    "context": {"user_id": f"user-{n % 500}", "session_id": f"session-{n % 1000}"}
                    if k == 0
                    else {},
                }
            )
        if len(batch) >= 5000:
            store.write_span_rows(batch)
            batch = []
    store.write_span_rows(batch)
    return trace_id, "user-7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_get(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, int, int]:
    client.get(path)  # warm-up
    times, status, size = [], 0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        status, size = response.status_code, len(response.content)
    return statistics.median(times) * 1000, max(times) * 1000, status, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lmops-ui-scale-"))
    try:
        start = time.perf_counter()
        exp_id, (long_id, a, b) = populate(home, args.runs, args.points)
        print(
            f"populated {args.runs:,} runs and a {args.points:,}-point metric "
            f"in {time.perf_counter() - start:.1f} s"
        )
        start = time.perf_counter()
        last_trace, user = populate_traces(home, args.spans)
        print(
            f"populated {args.spans:,} spans ({args.spans // 5:,} traces) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        port = free_port()
        env = {**os.environ, "LMOPS_HOME": str(home), "LMOPS_URI": ""}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lmops.cli.main",
                "server",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for _ in range(300):
                    try:
                        if client.get("/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                last_page = (args.runs + 1 + 49) // 50  # the long run makes runs + 1
                cases = [
                    ("runs table, page 1", f"/experiments/{exp_id}"),
                    (
                        "runs table, sorted by metrics.loss",
                        f"/experiments/{exp_id}?sort=metrics.loss&order=desc",
                    ),
                    (
                        "runs table, filtered",
                        f"/experiments/{exp_id}?filter="
                        "metrics.loss+%3C+0.5+and+params.lr+%3D+%270.01%27",
                    ),
                    ("runs table, last page", f"/experiments/{exp_id}?page={last_page}"),
                    ("run page (100k-point metric)", f"/runs/{long_id}"),
                    (
                        "history API, max_points=1500",
                        f"/api/v1/runs/{long_id}/metrics/history?key=loss&max_points=1500",
                    ),
                    ("history API, all points", f"/api/v1/runs/{long_id}/metrics/history?key=loss"),
                    ("compare page, 3 runs", f"/compare?runs={long_id},{a},{b}"),
                    ("search API, 1000 runs sorted", None),
                    ("traces list, page 1", "/traces"),
                    ("traces list, one user", f"/traces?user={user}"),
                    ("traces list, min latency 23 ms", "/traces?min_latency=23"),
                    ("trace page (5 spans)", f"/traces/{last_trace}"),
                    ("sessions page", "/sessions"),
                ]
                print(
                    f"\n{'request':<40} {'median ms':>10} {'max ms':>9} {'status':>7} {'bytes':>10}"
                )
                for label, path in cases:
                    if path is None:
                        body = {
                            "experiment_ids": [exp_id],
                            "order_by": ["metrics.loss"],
                            "max_results": 1000,
                        }
                        client.post("/api/v1/runs/search", json=body)
                        times = []
                        for _ in range(args.repeat):
                            t0 = time.perf_counter()
                            response = client.post("/api/v1/runs/search", json=body)
                            times.append(time.perf_counter() - t0)
                        med, worst = statistics.median(times) * 1000, max(times) * 1000
                        status, size = response.status_code, len(response.content)
                    else:
                        med, worst, status, size = time_get(client, path, args.repeat)
                    print(f"{label:<40} {med:>10.1f} {worst:>9.1f} {status:>7} {size:>10,}")
        finally:
            server.terminate()
            server.wait(10)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
