"""Experiment tracking: experiments, runs, params, tags, metrics, artifacts, system metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops.tracking.entities import Experiment, Metric, Run, RunArtifact, RunPage, RunStatus

if TYPE_CHECKING:
    from lmops.tracking.store import TrackingStore

__all__ = ["Experiment", "Metric", "Run", "RunArtifact", "RunPage", "RunStatus", "TrackingStore"]


def __getattr__(name: str) -> Any:
    # The store pulls in SQLAlchemy; an SDK talking to a server never needs it.
    if name == "TrackingStore":
        from lmops.tracking.store import TrackingStore

        return TrackingStore
    raise AttributeError(f"module 'lmops.tracking' has no attribute {name!r}")
