"""How fast traced spans become queryable, next to MLflow and OTLP measured in the same run.

Run it from the repository root:

    .venv/bin/python benchmarks/tracing.py                       # lmops only
    .venv/bin/python benchmarks/tracing.py --mlflow-python /tmp/mlflow-venv/bin/python
    .venv/bin/python benchmarks/tracing.py --quick               # small counts, a smoke run

MLflow lives in a venv of its own (never in lmops's dependencies):

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow

`--mlflow-python` defaults to $LMOPS_BENCH_MLFLOW_PYTHON; without either the comparison is
skipped and the report says why.

The workload: `--traces` traces, each a chain of `--depth` nested spans (a root traced
function calls the next one, which calls the next, `--depth` deep; each span records its
small int input and output). What is measured, each in a fresh temp dir removed afterwards:

- caller overhead: N calls of a tiny `@lmops.trace` function against the same function
  untraced, in-process SQLite; the difference per call in microseconds on the app's thread
  (the exporter thread writes meanwhile, as in an app). Once as root spans (each call a
  trace), once as child spans of an open span. Median of several runs.
- local: the workload into in-process SQLite; the clock runs from the first call until
  `lmops.flush_traces()` returned and a walk of `lmops.search_traces(limit=500, cursor=...)`
  confirmed every trace and span (summing `span_count`). Median of `--repeats` trials.
- MLflow, in a subprocess of its interpreter: the same workload with `@mlflow.trace` on a
  SQLite tracking URI, then `mlflow.flush_trace_async_logging()`, then `search_traces`
  with pagination counting traces and spans. Its defaults are kept: MLflow discards traces
  when its async export queue is full, and the report counts what it actually stored.
- OTLP: the same workload made with the OpenTelemetry SDK (`start_as_current_span`) and
  sent by `BatchSpanProcessor(OTLPSpanExporter)` to `lmops server` on a free port; clock
  until `force_flush()` returned and a read-back through `lmops.client.TracingClient`
  confirmed every span. The processor's queue is sized to hold the whole run, so that a
  lost span is the server's doing, not the SDK's own queue overflowing (default 2,048).
  Skipped, saying so, when the server answers 404 on `/v1/traces`.

Figures are printed with their targets and marked met / not met; a missed target never makes
the script fail. These machines are shared and small: read the figures as rough, and rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Only the standard library at module level: `--mlflow-worker` runs this file under MLflow's
# interpreter, where lmops is not installed.

TARGET_SPANS_PER_S = 20_000
ISSUE_MLFLOW_SPANS_PER_S = 320.0
ISSUE_MLFLOW_STORED = 0.27
RESULT_MARK = "LMOPS_BENCH_RESULT "
MLFLOW_QUEUE_FULL = "Trace export queue is full"


@dataclass
class Counts:
    """How much work each part does."""

    traces: int
    depth: int
    repeats: int
    overhead_calls: int
    overhead_runs: int

    @property
    def spans(self) -> int:
        return self.traces * self.depth


@dataclass
class Trial:
    """One run of the workload: make the spans, flush, count what the store holds."""

    traces: int
    spans: int
    seconds: float
    loop_s: float
    flush_s: float
    stored_traces: int
    stored_spans: int
    dropped: int = 0

    @property
    def rate(self) -> float:
        return self.spans / self.seconds

    @property
    def lost(self) -> int:
        return self.spans - self.stored_spans


@dataclass
class Report:
    """Everything measured; printed at the end."""

    counts: Counts
    overhead_root_us: list[float] = field(default_factory=list)
    overhead_child_us: list[float] = field(default_factory=list)
    overhead_dropped: int = 0
    local: list[Trial] = field(default_factory=list)
    otlp: list[Trial] = field(default_factory=list)
    otlp_skipped: str | None = None
    mlflow: dict[str, Any] | None = None
    mlflow_skipped: str | None = None
    load: list[tuple[float, float, float]] = field(default_factory=list)


# -- lmops: caller overhead ------------------------------------------------------------------


def _tiny(x: int) -> int:
    return x


def _loop(fn: Callable[[int], int], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return time.perf_counter() - start


def measure_overhead(report: Report, tmp: Path) -> None:
    import lmops

    lmops.configure(home=tmp / "overhead", uri="")
    lmops.search_traces(limit=1)  # open (create + migrate) the store before any clock
    traced = lmops.trace(_tiny)
    n = report.counts.overhead_calls
    _loop(traced, 100)
    lmops.flush_traces()
    for _ in range(report.counts.overhead_runs):
        # Flushing between loops keeps the queue from filling (a full queue drops, cheaply).
        bare = _loop(_tiny, n)
        root = _loop(traced, n)
        lmops.flush_traces()
        with lmops.span("overhead-parent"):
            child = _loop(traced, n)
        lmops.flush_traces()
        report.overhead_root_us.append((root - bare) / n * 1e6)
        report.overhead_child_us.append((child - bare) / n * 1e6)
    report.overhead_dropped = lmops.tracing_stats().dropped


# -- lmops: the workload into in-process SQLite --------------------------------------------------


def lmops_chain(depth: int) -> Callable[[int], int]:
    """`step-0(x)` calls `step-1(x + 1)` ... down to `step-{depth-1}`, each `@lmops.trace`d."""
    import lmops

    def make(level: int, inner: Callable[[int], int] | None) -> Callable[[int], int]:
        def step(x: int) -> int:
            return x if inner is None else inner(x + 1)

        return lmops.trace(name=f"step-{level}")(step)

    fn: Callable[[int], int] | None = None
    for level in reversed(range(depth)):
        fn = make(level, fn)
    assert fn is not None
    return fn


def count_stored(search: Callable[[str | None], Any]) -> tuple[int, int]:
    """Walk every page of a trace search; return (traces, sum of span_count)."""
    traces = spans = 0
    cursor: str | None = None
    while True:
        page = search(cursor)
        traces += len(page.traces)
        spans += sum(t.span_count for t in page.traces)
        cursor = page.next_cursor
        if cursor is None:
            return traces, spans


def run_local(report: Report, tmp: Path) -> None:
    import lmops

    c = report.counts
    for i in range(c.repeats):
        lmops.configure(home=tmp / f"local-{i}", uri="")
        lmops.search_traces(limit=1)
        root = lmops_chain(c.depth)
        start = time.perf_counter()
        for x in range(c.traces):
            root(x)
        looped = time.perf_counter()
        lmops.flush_traces()
        flushed = time.perf_counter()
        stored = count_stored(lambda cur: lmops.search_traces(limit=500, cursor=cur))
        done = time.perf_counter()
        trial = Trial(c.traces, c.spans, done - start, looped - start, flushed - looped, *stored)
        trial.dropped = lmops.tracing_stats().dropped
        report.local.append(trial)
    lmops.configure(home=tmp / "idle", uri="")


# -- OTLP from the OpenTelemetry SDK to lmops server ----------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _lmops_command() -> list[str]:
    script = Path(sys.executable).parent / "lmops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lmops.cli"]


def _status(url: str, method: str = "GET", body: bytes | None = None) -> int:
    """The HTTP status `url` answers, or 0 when nothing listens."""
    headers = {"Content-Type": "application/x-protobuf"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


@contextlib.contextmanager
def lmops_server(home: Path) -> Iterator[str]:
    """Start `lmops server` on a free port; yield its URL once /health answers 200."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMOPS_")}
    env.update(LMOPS_HOME=str(home), LMOPS_URI="")
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / "server.log"
    with open(log_path, "w") as log:
        argv = [*_lmops_command(), "server", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _status(f"{url}/health") != 200:
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


def otlp_trial(url: str, c: Counts) -> Trial:
    """The workload through the OpenTelemetry SDK's OTLP/HTTP exporter; read back by lmops."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from lmops.client import TracingClient, Transport
    from lmops.tracing.entities import TraceQuery

    provider = TracerProvider(resource=Resource.create({"service.name": "lmops-bench"}))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=max(2048, c.spans)))
    tracer = provider.get_tracer("lmops-bench")

    def step(level: int, x: int) -> int:
        with tracer.start_as_current_span(f"step-{level}") as s:
            s.set_attribute("input.value", x)
            out = x if level + 1 == c.depth else step(level + 1, x + 1)
            s.set_attribute("output.value", out)
            return out

    since = datetime.now(UTC) - timedelta(milliseconds=1)
    start = time.perf_counter()
    for x in range(c.traces):
        step(0, x)
    looped = time.perf_counter()
    provider.force_flush(timeout_millis=300_000)
    flushed = time.perf_counter()
    client = TracingClient(Transport(url))
    try:
        stored = count_stored(
            lambda cur: client.search_traces(TraceQuery(start_after=since, limit=500, cursor=cur))
        )
    finally:
        client.close()
    done = time.perf_counter()
    provider.shutdown()
    return Trial(c.traces, c.spans, done - start, looped - start, flushed - looped, *stored)


def run_otlp(report: Report, tmp: Path) -> None:
    try:
        with lmops_server(tmp / "server" / "home") as url:
            # An empty ExportTraceServiceRequest is a valid (zero-byte) protobuf body.
            status = _status(f"{url}/v1/traces", "POST", b"")
            if status in (404, 405):
                report.otlp_skipped = f"the server has no /v1/traces yet (it answered {status})"
                return
            for _ in range(report.counts.repeats):
                report.otlp.append(otlp_trial(url, report.counts))
    except Exception as exc:  # report it and carry on to MLflow
        report.otlp_skipped = (
            f"failed after {len(report.otlp)} trial(s): {type(exc).__name__}: {exc}"
        )


# -- MLflow, in its own interpreter --------------------------------------------------------------


def mlflow_worker(workdir: Path, traces: int, depth: int) -> dict[str, Any]:
    """Run under MLflow's interpreter: the workload with @mlflow.trace, then count."""
    os.chdir(workdir)  # artifact dirs default to the working directory
    import mlflow  # type: ignore[import-not-found, unused-ignore]

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("warmup")  # creates + migrates the db before any clock starts

    def make(level: int, inner: Callable[[int], int] | None) -> Callable[[int], int]:
        def step(x: int) -> int:
            return x if inner is None else inner(x + 1)

        return mlflow.trace(name=f"step-{level}")(step)  # type: ignore[no-any-return]

    root: Callable[[int], int] | None = None
    for level in reversed(range(depth)):
        root = make(level, root)
    assert root is not None
    root(0)  # set the tracer up outside the clock
    flush: Callable[[], None] = getattr(mlflow, "flush_trace_async_logging", lambda: None)
    flush()
    experiment_id = mlflow.set_experiment("bench").experiment_id

    start = time.perf_counter()
    for x in range(traces):
        root(x)
    looped = time.perf_counter()
    flush()
    flushed = time.perf_counter()
    client = mlflow.MlflowClient()
    stored_traces = stored_spans = 0
    token: str | None = None
    while True:
        page = client.search_traces(
            experiment_ids=[experiment_id], max_results=500, page_token=token
        )
        stored_traces += len(page)
        stored_spans += sum(len(t.data.spans) for t in page)
        token = page.token
        if not token:
            break
    done = time.perf_counter()
    return {
        "version": mlflow.__version__,
        "traces": traces,
        "spans": traces * depth,
        "seconds": done - start,
        "loop_s": looped - start,
        "flush_s": flushed - looped,
        "stored_traces": stored_traces,
        "stored_spans": stored_spans,
    }


def run_mlflow(report: Report, python: str | None, tmp: Path) -> None:
    if not python:
        report.mlflow_skipped = "no --mlflow-python given and LMOPS_BENCH_MLFLOW_PYTHON unset"
        return
    if not Path(python).exists():
        report.mlflow_skipped = f"{python} does not exist"
        return
    workdir = tmp / "mlflow"
    workdir.mkdir()
    probe = subprocess.run(
        [python, "-c", "import mlflow"], capture_output=True, text=True, cwd=workdir
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        report.mlflow_skipped = f"{python} cannot import mlflow ({last})"
        return
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    argv = [python, str(Path(__file__).resolve()), "--mlflow-worker", str(workdir)]
    argv += ["--traces", str(report.counts.traces), "--depth", str(report.counts.depth)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if out.returncode != 0 or not lines:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        report.mlflow_skipped = f"the MLflow worker failed (exit {out.returncode}):\n{tail}"
        return
    report.mlflow = json.loads(lines[-1][len(RESULT_MARK) :])
    report.mlflow["queue_full"] = MLFLOW_QUEUE_FULL in out.stderr


# -- the report --------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _median_rate(trials: list[Trial]) -> float | None:
    return statistics.median(t.rate for t in trials) if trials else None


def _trials(label: str, trials: list[Trial]) -> list[str]:
    rates = [t.rate for t in trials]
    lines = [
        f"  {label}: median {statistics.median(rates):>9,.0f} spans/s queryable"
        f"   (trials: {', '.join(f'{r:,.0f}' for r in rates)})"
    ]
    for i, t in enumerate(trials, 1):
        ok = "ok" if t.lost == 0 and t.stored_traces == t.traces else f"LOST {t.lost:,} SPANS"
        verify = t.seconds - t.loop_s - t.flush_s
        lines.append(
            f"    trial {i}: {t.spans:,} spans in {t.seconds:.3f} s (calls {t.loop_s:.3f} s, "
            f"flush {t.flush_s:.3f} s, read back {verify:.3f} s); stored {t.stored_traces:,}/"
            f"{t.traces:,} traces, {t.stored_spans:,}/{t.spans:,} spans {ok}"
            + (f"; SDK dropped {t.dropped:,}" if t.dropped else "")
        )
    return lines


def _print_overhead(r: Report) -> None:
    c = r.counts
    print(
        f"-- caller overhead of @lmops.trace ({c.overhead_calls:,} calls x {c.overhead_runs} runs)"
    )
    for label, runs in (
        ("root span (a new trace)", r.overhead_root_us),
        ("child span", r.overhead_child_us),
    ):
        print(
            f"  {label:<24} median {statistics.median(runs):6.1f} us/span, "
            f"best {min(runs):.1f}   (runs: {', '.join(f'{u:.1f}' for u in runs)})"
        )
    print(f"  spans dropped by the SDK during these runs: {r.overhead_dropped}")


def _print_mlflow(r: Report) -> None:
    if r.mlflow is None:
        print(f"-- MLflow comparison skipped: {r.mlflow_skipped}")
        return
    m = r.mlflow
    rate = m["spans"] / m["seconds"]
    stored_rate = m["stored_spans"] / m["seconds"]
    share = m["stored_spans"] / m["spans"]
    print(f"-- MLflow {m['version']}: @mlflow.trace, SQLite tracking URI, default settings")
    print(
        f"  {rate:>9,.0f} spans/s until flushed and read back ({m['spans']:,} spans in "
        f"{m['seconds']:.2f} s: calls {m['loop_s']:.2f} s, flush {m['flush_s']:.2f} s)"
    )
    print(
        f"  stored {m['stored_traces']:,}/{m['traces']:,} traces, "
        f"{m['stored_spans']:,}/{m['spans']:,} spans ({share:.0%}): "
        f"{stored_rate:,.0f} stored spans/s"
        + (
            "; it logged 'Trace export queue is full, trace will be discarded'"
            if m["queue_full"]
            else ""
        )
    )
    print(
        f"  (the issue measured about {ISSUE_MLFLOW_SPANS_PER_S:.0f} spans/s "
        f"and {ISSUE_MLFLOW_STORED:.0%} stored)"
    )
    local = _median_rate(r.local)
    if local is not None:
        mine = statistics.median(t.stored_spans / t.spans for t in r.local)
        mine_stored = statistics.median(t.stored_spans / t.seconds for t in r.local)
        print("-- lmops local beside MLflow (same workload, same run; ratio = lmops / MLflow)")
        print(f"  {'':<26}{'lmops':>10}{'MLflow':>10}{'ratio':>10}")
        for label, ours, theirs in (
            ("spans made per second", local, rate),
            ("spans stored per second", mine_stored, stored_rate),
        ):
            print(f"  {label:<26}{ours:>10,.0f}{theirs:>10,.0f}{ours / theirs:>9,.1f}x")
        print(f"  {'share stored':<26}{mine:>10.0%}{share:>10.0%}")


def _print_targets(r: Report) -> None:
    local, otlp = _median_rate(r.local), _median_rate(r.otlp)
    total = r.counts.spans
    otlp_lost = ", ".join(f"{t.lost:,}" for t in r.otlp)
    rows: list[tuple[str, str, str]] = [
        (
            f"local >= {TARGET_SPANS_PER_S:,} spans/s queryable",
            "not measured" if local is None else f"{local:,.0f}/s",
            "n/a" if local is None else _mark(local >= TARGET_SPANS_PER_S),
        ),
        (
            f"local: all {total:,} spans stored",
            ", ".join(f"{t.stored_spans:,}" for t in r.local) or "not measured",
            _mark(all(t.lost == 0 for t in r.local) if r.local else None),
        ),
        ("OTLP end-to-end spans/s", "skipped" if otlp is None else f"{otlp:,.0f}/s", "printed"),
        (
            "OTLP: 0 spans lost",
            f"lost {otlp_lost}" if r.otlp else "skipped",
            _mark(all(t.lost == 0 for t in r.otlp) if r.otlp else None),
        ),
    ]
    print("-- targets")
    for name, value, ok in rows:
        print(f"  {name:<36} {value:>22}   {ok}")
    print("(shared, small machine: expect run-to-run noise; lmops figures are medians of trials)")


def print_report(r: Report) -> None:
    c = r.counts
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs, {sys.platform}")
    loads = " -> ".join(f"{a:.2f}" for a, _, _ in r.load)
    print(f"load average (1 min) at the start, after lmops, at the end: {loads}")
    print(f"workload: {c.traces:,} traces x a chain of {c.depth} nested spans = {c.spans:,} spans")
    _print_overhead(r)
    print("-- lmops: the workload, then flush_traces(), then read back with search_traces")
    for line in _trials("local (in-process SQLite)", r.local):
        print(line)
    if r.otlp:
        print("-- OpenTelemetry SDK -> OTLP/HTTP (protobuf) -> lmops server, read back over REST")
        for line in _trials("OTLP (lmops server)", r.otlp):
            print(line)
    else:
        print(f"-- OTLP part skipped: {r.otlp_skipped}")
    _print_mlflow(r)
    _print_targets(r)


# -- entry point -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", type=int, default=2000, help="traces in the workload")
    parser.add_argument(
        "--depth", "--spans-per-trace", type=int, default=5, help="nested spans per trace"
    )
    parser.add_argument("--repeats", type=int, default=3, help="lmops trials per mode")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument(
        "--mlflow-python",
        default=os.environ.get("LMOPS_BENCH_MLFLOW_PYTHON"),
        help="an interpreter with mlflow installed (default: $LMOPS_BENCH_MLFLOW_PYTHON)",
    )
    parser.add_argument("--mlflow-worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mlflow_worker is not None:
        result = mlflow_worker(args.mlflow_worker, args.traces, args.depth)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return
    if args.quick:
        counts = Counts(min(args.traces, 200), args.depth, 1, 1000, 3)
    else:
        counts = Counts(args.traces, args.depth, args.repeats, 5000, 7)
    report = Report(counts)
    with tempfile.TemporaryDirectory(prefix="lmops-bench-") as name:
        tmp = Path(name)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("caller overhead", lambda: measure_overhead(report, tmp)),
            ("lmops local", lambda: run_local(report, tmp)),
            ("OTLP to lmops server", lambda: run_otlp(report, tmp)),
            ("MLflow", lambda: run_mlflow(report, args.mlflow_python, tmp)),
        ]
        report.load.append(os.getloadavg())
        for label, step in steps:
            print(f"measuring {label} ...", flush=True)
            step()
            if label == "OTLP to lmops server":
                report.load.append(os.getloadavg())
        report.load.append(os.getloadavg())
    print_report(report)


if __name__ == "__main__":
    main()
