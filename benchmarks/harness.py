"""What the benchmark scripts share: the server, the MLflow worker, the run loop, the report.

Only the standard library, here as in the scripts: each script runs itself again under
MLflow's interpreter (`--mlflow-worker`), where lmops is not installed, and imports this
module there too. Python puts the script's directory on `sys.path`, so `import harness`
works in both modes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

RESULT_MARK = "LMOPS_BENCH_RESULT "
# the last line of each report
NOISE_NOTE = "(shared, small machine: expect run-to-run noise; lmops figures are medians of trials)"

Load = tuple[float, float, float]


# -- lmops server on a free port -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lmops_command() -> list[str]:
    """The `lmops` script next to this interpreter, else the same CLI run by this interpreter."""
    script = Path(sys.executable).parent / "lmops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lmops.cli.main"]


def http_status(url: str, method: str = "GET", body: bytes | None = None) -> int:
    """The HTTP status `url` answers, or 0 when nothing listens."""
    headers = {"Content-Type": "application/x-protobuf"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:  # not listening yet
        return 0


@contextlib.contextmanager
def lmops_server(home: Path) -> Iterator[str]:
    """Start `lmops server` on a free port; yield its URL once /health answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMOPS_")}
    env.update(LMOPS_HOME=str(home), LMOPS_URI="")
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / "server.log"
    with open(log_path, "w") as log:
        argv = [*lmops_command(), "server", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while http_status(f"{url}/health") != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /health within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- MLflow, in its own interpreter ----------------------------------------------------------------


class WorkerOutcome(NamedTuple):
    """What the MLflow worker gave back: its result, or why there is none."""

    result: dict[str, Any] | None
    skipped: str | None
    stderr: str = ""


def run_mlflow_worker(
    python: str | None, script: str, tmp: Path, worker_args: Sequence[str]
) -> WorkerOutcome:
    """Run `script --mlflow-worker <tmp/mlflow> *worker_args` under `python`; read its result."""
    if not python:
        return WorkerOutcome(None, "no --mlflow-python given and LMOPS_BENCH_MLFLOW_PYTHON unset")
    if not Path(python).exists():
        return WorkerOutcome(None, f"{python} does not exist")
    workdir = tmp / "mlflow"
    workdir.mkdir()
    probe = subprocess.run(
        [python, "-c", "import mlflow"], capture_output=True, text=True, cwd=workdir
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return WorkerOutcome(None, f"{python} cannot import mlflow ({last})")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    argv = [python, str(Path(script).resolve()), "--mlflow-worker", str(workdir), *worker_args]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if out.returncode != 0 or not lines:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        failed = f"the MLflow worker failed (exit {out.returncode}):\n{tail}"
        return WorkerOutcome(None, failed, out.stderr)
    return WorkerOutcome(json.loads(lines[-1][len(RESULT_MARK) :]), None, out.stderr)


def print_worker_result(result: dict[str, Any]) -> None:
    """The worker's side: the one line `run_mlflow_worker` looks for."""
    print(RESULT_MARK + json.dumps(result), flush=True)


# -- command line and the run --------------------------------------------------------------------


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--repeats, --quick, --mlflow-python and the hidden --mlflow-worker."""
    parser.add_argument("--repeats", type=int, default=3, help="lmops trials per mode")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--mlflow-python",
        default=os.environ.get("LMOPS_BENCH_MLFLOW_PYTHON"),
        help="an interpreter with mlflow installed (default: $LMOPS_BENCH_MLFLOW_PYTHON)",
    )
    parser.add_argument("--mlflow-worker", type=Path, help=argparse.SUPPRESS)


@contextlib.contextmanager
def bench_dir() -> Iterator[Path]:
    """A fresh temp dir, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lmops-bench-") as name:
        yield Path(name)


def run_steps(
    steps: Sequence[tuple[str, Callable[[], None]]], load: list[Load], load_after: str
) -> None:
    """Run each step, saying so; note the load average at the start, after `load_after`, at
    the end."""
    load.append(os.getloadavg())
    for label, step in steps:
        print(f"measuring {label} ...", flush=True)
        step()
        if label == load_after:
            load.append(os.getloadavg())
    load.append(os.getloadavg())


# -- the report --------------------------------------------------------------------------------


class HasRate(Protocol):
    @property
    def rate(self) -> float: ...


def print_machine(load: Iterable[Load]) -> None:
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs, {sys.platform}")
    loads = " -> ".join(f"{a:.2f}" for a, _, _ in load)
    print(f"load average (1 min) at the start, after lmops, at the end: {loads}")


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def median_rate(trials: Sequence[HasRate]) -> float | None:
    return statistics.median(t.rate for t in trials) if trials else None


def median_line(label: str, rates: Sequence[float], unit: str, width: int) -> str:
    """`  label: median N unit   (trials: a, b, c)`, N right-aligned in `width`."""
    return (
        f"  {label}: median {statistics.median(rates):>{width},.0f} {unit}"
        f"   (trials: {', '.join(f'{r:,.0f}' for r in rates)})"
    )
