"""Pick the face the SDK talks to: the store in-process, or a server over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from lmops.core.settings import Settings
from lmops.core.settings import current as current_settings
from lmops.core.settings import use as use_settings
from lmops.tracing.entities import Span, Trace, TraceDetail, TracePage, TraceQuery
from lmops.tracking.entities import Experiment, Metric, Run, RunArtifact, RunPage


class TrackingBackend(Protocol):
    """What TrackingStore (in-process) and TrackingClient (remote) both offer."""

    def get_or_create_experiment(self, name: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def list_experiments(self) -> list[Experiment]: ...
    def create_run(
        self,
        experiment_id: str,
        name: str | None = ...,
        params: Any = ...,
        tags: Any = ...,
        parent_run_id: str | None = ...,
        start_time: Any = ...,
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def end_run(self, run_id: str, status: Any = ..., end_time: Any = ...) -> Run: ...
    def search_runs(
        self,
        experiment_ids: Any,
        filter: str | None = ...,
        order_by: Any = ...,
        max_results: int = ...,
        page_token: str | None = ...,
    ) -> RunPage: ...
    def log_batch(
        self, run_id: str, metrics: Any = ..., params: Any = ..., tags: Any = ...
    ) -> None: ...
    def log_metric_rows(self, run_id: str, rows: Any) -> None: ...
    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = ...
    ) -> list[Metric]: ...
    def log_artifact(
        self, run_id: str, local_path: Any, artifact_path: str | None = ...
    ) -> RunArtifact: ...
    def list_artifacts(self, run_id: str) -> list[RunArtifact]: ...
    def download_artifact(self, run_id: str, path: str, dest: Any) -> Path: ...
    def close(self) -> None: ...


class TracingBackend(Protocol):
    """What TracingStore (in-process) and TracingClient (remote) both offer."""

    feedback: Any
    prices: Any

    def write_spans(self, batch: Sequence[Span]) -> int: ...
    def write_span_rows(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def get_trace(self, trace_id: str) -> TraceDetail: ...
    def search_traces(self, query: TraceQuery | None = None) -> TracePage: ...
    def get_session(self, session_id: str) -> list[Trace]: ...
    def delete_trace(self, trace_id: str) -> None: ...
    def delete_traces_before(self, before: datetime) -> int: ...
    def close(self) -> None: ...


_lock = threading.Lock()
_tracking: TrackingBackend | None = None
_tracing: TracingBackend | None = None


def settings() -> Settings:
    """The settings the SDK uses (read from LMOPS_* once; `configure` replaces them)."""
    return current_settings()


def configure(**overrides: Any) -> Settings:
    """Point the SDK somewhere else, e.g. `configure(uri="http://127.0.0.1:5000")`."""
    global _tracking, _tracing
    from lmops.fluent import tracing, tracking

    tracking.reset()
    tracing.reset()
    with _lock:
        new = use_settings(Settings(**overrides))
        for backend in (_tracking, _tracing):
            if backend is not None:
                backend.close()
        _tracking = _tracing = None
    return new


def tracking_backend() -> TrackingBackend:
    """The tracking face for the current settings, created on first use."""
    global _tracking
    current = settings()
    with _lock:
        if _tracking is None:
            _tracking = open_tracking(current)
        return _tracking


def tracing_backend() -> TracingBackend:
    """The tracing face for the current settings, created on first use."""
    global _tracing
    current = settings()
    with _lock:
        if _tracing is None:
            _tracing = open_tracing(current)
        return _tracing


def open_tracing(s: Settings) -> TracingBackend:
    """Build the tracing face named by `s.uri`."""
    if s.is_remote:
        from lmops.client import TracingClient, Transport

        return TracingClient(Transport.for_settings(s))
    from lmops.store import open_engine
    from lmops.tracing.store import TracingStore

    return TracingStore(open_engine(s.uri), project=s.project)


def open_tracking(s: Settings) -> TrackingBackend:
    """Build the tracking face named by `s.uri`."""
    if s.is_remote:
        from lmops.client import TrackingClient, Transport

        return TrackingClient(Transport.for_settings(s))
    from lmops.artifacts import open_artifact_store
    from lmops.store import open_engine
    from lmops.tracking.store import TrackingStore

    return TrackingStore(open_engine(s.uri), open_artifact_store(s), s.project)
