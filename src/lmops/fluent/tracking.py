"""`lmops.start_run`, `lmops.log_metric` and friends, over whichever face is configured."""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.fluent import backends
from lmops.fluent.flusher import MetricFlusher
from lmops.tracking.entities import (
    INT64_MAX,
    INT64_MIN,
    Experiment,
    Metric,
    Run,
    RunArtifact,
    RunStatus,
    check_key,
)
from lmops.tracking.system_metrics import SystemMetricsMonitor

DEFAULT_EXPERIMENT = "Default"

_lock = threading.RLock()
# Each thread has its own stack of active runs, as in MLflow, so parallel trials in threads
# each log to their own run. A thread with none logs to the main thread's active run
# (data loaders, callbacks and monitors running beside a training loop).
_main_stack: list[ActiveRun] = []
_local = threading.local()


def _stack() -> list[ActiveRun]:
    if threading.current_thread() is threading.main_thread():
        return _main_stack
    stack: list[ActiveRun] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _innermost() -> ActiveRun | None:
    stack = _stack()
    if stack:
        return stack[-1]
    return _main_stack[-1] if _main_stack else None


_flusher: MetricFlusher | None = None
_valid_keys: set[str] = set()
_experiment: str | None = None


class ActiveRun:
    """The run `start_run` opened. As a context manager it ends the run on exit."""

    def __init__(self, run: Run, monitor: SystemMetricsMonitor | None = None) -> None:
        self.run = run
        self._monitor = monitor

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def info(self) -> Run:
        """The run as last read (call `refresh()` for what the store holds now)."""
        return self.run

    def refresh(self) -> Run:
        flush()
        self.run = backends.tracking_backend().get_run(self.run.id)
        return self.run

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        end_run(status, run_id=self.run.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run.id} {self.run.name!r}>"


def set_experiment(name: str) -> Experiment:
    """Make `name` the experiment new runs go to (created if missing)."""
    global _experiment
    experiment = backends.tracking_backend().get_or_create_experiment(name)
    _experiment = name
    return experiment


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    log_system_metrics: bool = False,
    system_metrics_interval: float = 10.0,
) -> ActiveRun:
    """Start a run (or resume `run_id`) and make it the active one.

    `nested=True` starts a child of the active run, as a sweep's trials are.
    """
    backend = backends.tracking_backend()
    with _lock:
        stack = _stack()
        if stack and not nested and run_id is None:
            raise InvalidInput(
                f"run {stack[-1].id} is still active: end it first, or pass "
                "nested=True to start a child run",
                field="nested",
            )
        outer = _innermost()
        if nested and parent_run_id is None and outer is not None:
            parent_run_id = outer.id
        if run_id is not None:
            run = backend.get_run(run_id)
        else:
            exp = backend.get_or_create_experiment(experiment or _experiment or DEFAULT_EXPERIMENT)
            run = backend.create_run(
                exp.id, name=name, params=params, tags=tags, parent_run_id=parent_run_id
            )
        monitor = None
        if log_system_metrics:
            monitor = SystemMetricsMonitor(
                lambda values, step: log_metrics(values, step=step, run_id=run.id),
                interval=system_metrics_interval,
            )
            monitor.start()
        active = ActiveRun(run, monitor)
        stack.append(active)
        return active


def active_run() -> ActiveRun | None:
    """The run this thread logs to: its own innermost run, else the main thread's."""
    return _innermost()


def end_run(status: RunStatus | str = RunStatus.FINISHED, *, run_id: str | None = None) -> None:
    """End this thread's active run (or `run_id`): flush its points, then record its status."""
    with _lock:
        target = None
        for stack in (_stack(), _main_stack):
            target = next((a for a in reversed(stack) if run_id in (None, a.id)), None)
            if target is not None:
                stack.remove(target)
                break
        resolved = run_id or (target.id if target else None)
    if resolved is None:
        return
    if target is not None and target._monitor is not None:
        target._monitor.stop()
    try:
        flush()
    finally:
        backends.tracking_backend().end_run(resolved, status)


def _current_run_id(run_id: str | None) -> str:
    if run_id is not None:
        return run_id
    active = _innermost()  # list reads are atomic: no lock on the per-point path
    if active is None:
        raise InvalidInput(
            "no active run: call lmops.start_run() first or pass run_id", field="run_id"
        )
    return active.id


def _metric_flusher() -> MetricFlusher:
    global _flusher
    if _flusher is None:
        with _lock:
            if _flusher is None:
                backend, s = backends.tracking_backend(), backends.settings()
                _flusher = MetricFlusher(
                    backend.log_metric_rows,
                    batch_size=s.metric_batch_size,
                    interval=s.metric_flush_interval,
                )
    return _flusher


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    *,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Queue one metric point; it becomes durable in the background (see `flush`)."""
    if key not in _valid_keys:
        check_key(key, "key")
        _valid_keys.add(key)
    _metric_flusher().put(
        (
            _current_run_id(run_id),
            key,
            _as_float(key, value),
            0 if step is None else _as_int64(step, "step"),
            int(time.time() * 1000) if timestamp is None else _as_int64(timestamp, "timestamp"),
        )
    )


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    *,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Queue several metric points sharing one step and timestamp."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    for key, value in metrics.items():
        log_metric(key, value, step, timestamp=ts, run_id=run_id)


def flush() -> None:
    """Make every metric point and finished span queued so far durable; raise if a write
    failed."""
    from lmops.fluent.tracing import flush_traces

    if _flusher is not None:
        _flusher.flush()
    flush_traces()


def log_param(key: str, value: Any, *, run_id: str | None = None) -> None:
    log_params({key: value}, run_id=run_id)


def log_params(params: Mapping[str, Any], *, run_id: str | None = None) -> None:
    """Record params (write-once: a different value for a logged key is a Conflict)."""
    backends.tracking_backend().log_batch(_current_run_id(run_id), params=params)


def set_tag(key: str, value: str, *, run_id: str | None = None) -> None:
    set_tags({key: value}, run_id=run_id)


def set_tags(tags: Mapping[str, str], *, run_id: str | None = None) -> None:
    backends.tracking_backend().log_batch(_current_run_id(run_id), tags=tags)


def log_artifact(
    local_path: str | Path, artifact_path: str | None = None, *, run_id: str | None = None
) -> RunArtifact:
    """Store a file or a directory with the run (content-addressed, streamed)."""
    return backends.tracking_backend().log_artifact(
        _current_run_id(run_id), local_path, artifact_path
    )


def get_run(run_id: str) -> Run:
    flush()
    return backends.tracking_backend().get_run(run_id)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
) -> list[Run]:
    """Runs of one or more experiments (by name) matching `filter`, in `order_by` order."""
    flush()
    backend = backends.tracking_backend()
    names = (
        [experiment]
        if isinstance(experiment, str)
        else list(experiment or [_experiment or DEFAULT_EXPERIMENT])
    )
    ids = [backend.get_experiment_by_name(n).id for n in names]
    found: list[Run] = []
    token: str | None = None
    while len(found) < max_results:
        page = backend.search_runs(
            ids,
            filter=filter,
            order_by=order_by,
            max_results=min(1000, max_results - len(found)),
            page_token=token,
        )
        found.extend(page.runs)
        token = page.next_page_token
        if token is None:
            break
    return found


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    flush()
    return backends.tracking_backend().get_metric_history(run_id, key)


def list_experiments() -> list[Experiment]:
    return backends.tracking_backend().list_experiments()


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, bool | str | bytes):
        raise InvalidInput(
            f"metric {key!r} value must be a number, got {type(value).__name__} {value!r}",
            field="value",
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"metric {key!r} value must be a number, got {type(value).__name__}", field="value"
        ) from exc


def _as_int64(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if float(value) != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInput(f"{field} must be an integer, got {value!r}", field=field) from exc
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"{field} {value} does not fit in 64 bits", field=field)
    return int(value)


@atexit.register
def _end_active_runs() -> None:
    """At interpreter exit, flush and end runs left open, as MLflow does (FINISHED)."""
    while _main_stack:
        try:
            end_run(run_id=_main_stack[-1].id)
        except Exception:  # the process is ending; do not mask its own exit status
            _main_stack.pop()


def reset() -> None:
    """Forget active runs and the queue's face (after `configure`); pending points are flushed."""
    global _flusher
    with _lock:
        if _flusher is not None:
            _flusher.close()
        _flusher = None
        _main_stack.clear()
        _stack().clear()


def _after_fork_in_child() -> None:
    # The parent writes what it had queued; the child starts an empty queue of its own.
    global _flusher
    if _flusher is not None:
        _flusher.abandon()
    _flusher = None


os.register_at_fork(after_in_child=_after_fork_in_child)
