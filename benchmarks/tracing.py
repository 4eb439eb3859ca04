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
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    http_status,
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

TARGET_SPANS_PER_S = 20_000
ISSUE_MLFLOW_SPANS_PER_S = 320.0
ISSUE_MLFLOW_STORED = 0.27
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
    load: list[Load] = field(default_factory=list)


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


Step = Callable[[int], int]


def chain(depth: int, trace: Callable[[str], Callable[[Step], Step]]) -> Step:
    """`step-0(x)` calls `step-1(x + 1)` ... down to `step-{depth-1}`, each wrapped by
    `trace(name)`."""

    def make(level: int, inner: Step | None) -> Step:
        def step(x: int) -> int:
            return x if inner is None else inner(x + 1)

        return trace(f"step-{level}")(step)

    fn: Step | None = None
    for level in reversed(range(depth)):
        fn = make(level, fn)
    assert fn is not None
    return fn


def lmops_chain(depth: int) -> Step:
    """The chain, each step `@lmops.trace`d."""
    import lmops

    return chain(depth, lambda name: lmops.trace(name=name))


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
            status = http_status(f"{url}/v1/traces", "POST", b"")
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

    root = chain(depth, lambda name: mlflow.trace(name=name))
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
    args = ["--traces", str(report.counts.traces), "--depth", str(report.counts.depth)]
    outcome = run_mlflow_worker(python, __file__, tmp, args)
    report.mlflow, report.mlflow_skipped = outcome.result, outcome.skipped
    if report.mlflow is not None:
        report.mlflow["queue_full"] = MLFLOW_QUEUE_FULL in outcome.stderr


# -- the report --------------------------------------------------------------------------------


def _trials(label: str, trials: list[Trial]) -> list[str]:
    lines = [median_line(label, [t.rate for t in trials], "spans/s queryable", 9)]
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
    local = median_rate(r.local)
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
    local, otlp = median_rate(r.local), median_rate(r.otlp)
    total = r.counts.spans
    otlp_lost = ", ".join(f"{t.lost:,}" for t in r.otlp)
    rows: list[tuple[str, str, str]] = [
        (
            f"local >= {TARGET_SPANS_PER_S:,} spans/s queryable",
            "not measured" if local is None else f"{local:,.0f}/s",
            "n/a" if local is None else mark(local >= TARGET_SPANS_PER_S),
        ),
        (
            f"local: all {total:,} spans stored",
            ", ".join(f"{t.stored_spans:,}" for t in r.local) or "not measured",
            mark(all(t.lost == 0 for t in r.local) if r.local else None),
        ),
        ("OTLP end-to-end spans/s", "skipped" if otlp is None else f"{otlp:,.0f}/s", "printed"),
        (
            "OTLP: 0 spans lost",
            f"lost {otlp_lost}" if r.otlp else "skipped",
            mark(all(t.lost == 0 for t in r.otlp) if r.otlp else None),
        ),
    ]
    print("-- targets")
    for name, value, ok in rows:
        print(f"  {name:<36} {value:>22}   {ok}")
    print(NOISE_NOTE)


def print_report(r: Report) -> None:
    c = r.counts
    print_machine(r.load)
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
    parser = new_parser(__doc__)
    parser.add_argument("--traces", type=int, default=2000, help="traces in the workload")
    parser.add_argument(
        "--depth", "--spans-per-trace", type=int, default=5, help="nested spans per trace"
    )
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mlflow_worker is not None:
        result = mlflow_worker(args.mlflow_worker, args.traces, args.depth)
        print_worker_result(result)
        return
    if args.quick:
        counts = Counts(min(args.traces, 200), args.depth, 1, 1000, 3)
    else:
        counts = Counts(args.traces, args.depth, args.repeats, 5000, 7)
    report = Report(counts)
    with bench_dir() as tmp:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("caller overhead", lambda: measure_overhead(report, tmp)),
            ("lmops local", lambda: run_local(report, tmp)),
            ("OTLP to lmops server", lambda: run_otlp(report, tmp)),
            ("MLflow", lambda: run_mlflow(report, args.mlflow_python, tmp)),
        ]
        run_steps(steps, report.load, load_after="OTLP to lmops server")
    print_report(report)


if __name__ == "__main__":
    main()
