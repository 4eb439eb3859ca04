"""Experiment tracking: experiments, runs, params, tags, metrics, artifacts, system metrics."""

from lmops.tracking.entities import Experiment, Metric, Run, RunArtifact, RunPage, RunStatus
from lmops.tracking.store import TrackingStore

__all__ = ["Experiment", "Metric", "Run", "RunArtifact", "RunPage", "RunStatus", "TrackingStore"]
