"""Tracking over HTTP: the same methods as TrackingStore, one line each."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lmops.client.transport import Transport
from lmops.core.errors import InvalidInput, NotFound
from lmops.tracking.entities import (
    Experiment,
    Metric,
    MetricColumns,
    MetricRow,
    Run,
    RunArtifact,
    RunPage,
    RunStatus,
)


class TrackingClient:
    """The remote face of TrackingStore."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def close(self) -> None:
        self.t.close()

    def create_experiment(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> Experiment:
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return Experiment.model_validate(self.t.request("POST", "/experiments", json=body))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate(self.t.request("GET", f"/experiments/{experiment_id}"))

    def get_experiment_by_name(self, name: str) -> Experiment:
        return Experiment.model_validate(
            self.t.request("GET", "/experiments/by-name", params={"name": name})
        )

    def get_or_create_experiment(self, name: str) -> Experiment:
        return Experiment.model_validate(
            self.t.request("PUT", "/experiments/by-name", params={"name": name})
        )

    def list_experiments(self) -> list[Experiment]:
        return [Experiment.model_validate(e) for e in self.t.request("GET", "/experiments")]

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: datetime | None = None,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "params": {k: _param_text(v) for k, v in (params or {}).items()},
            "tags": dict(tags or {}),
            "parent_run_id": parent_run_id,
            "start_time": start_time.isoformat() if start_time else None,
        }
        return Run.model_validate(self.t.request("POST", "/runs", json=body))

    def get_run(self, run_id: str) -> Run:
        return Run.model_validate(self.t.request("GET", f"/runs/{run_id}"))

    def end_run(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        end_time: datetime | None = None,
    ) -> Run:
        body = {"status": str(status), "end_time": end_time.isoformat() if end_time else None}
        return Run.model_validate(self.t.request("POST", f"/runs/{run_id}/end", json=body))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        body = {
            "experiment_ids": list(experiment_ids),
            "filter": filter,
            "order_by": list(order_by or []),
            "max_results": max_results,
            "page_token": page_token,
        }
        return RunPage.model_validate(self.t.request("POST", "/runs/search", json=body))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        body = {
            "metrics": [
                {"key": m.key, "value": m.value, "step": m.step, "timestamp": m.timestamp}
                for m in metrics
            ],
            "params": {k: _param_text(v) for k, v in (params or {}).items()},
            "tags": dict(tags or {}),
        }
        self.t.request("POST", f"/runs/{run_id}/log-batch", json=body)

    def log_metric_rows(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        body = {"metric_columns": MetricColumns.from_rows(rows)}
        self.t.request("POST", f"/runs/{run_id}/log-batch", json=body)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_batch(run_id, tags=tags)

    def log_metrics(self, run_id: str, points: Sequence[Metric]) -> None:
        self.log_batch(run_id, metrics=points)

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        query = {"key": key, **({"max_points": max_points} if max_points else {})}
        points = self.t.request("GET", f"/runs/{run_id}/metrics/history", params=query)
        return [Metric.model_validate(p) for p in points]

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> RunArtifact:
        source = Path(local_path)
        if not source.exists():
            raise InvalidInput(f"no such file or directory: {source}", field="local_path")
        if source.is_dir():
            files = {
                p.relative_to(source).as_posix(): self._upload(p)["digest"]
                for p in sorted(source.rglob("*"))
                if p.is_file()
            }
            body: dict[str, Any] = {"path": artifact_path or source.name, "files": files}
        else:
            blob = self._upload(source)
            body = {"path": artifact_path or source.name, "digest": blob["digest"]}
        return RunArtifact.model_validate(
            self.t.request("POST", f"/runs/{run_id}/artifacts", json=body)
        )

    def _upload(self, path: Path) -> dict[str, Any]:
        with open(path, "rb") as f:
            blob: dict[str, Any] = self.t.upload("/blobs", f)
        return blob

    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        return [
            RunArtifact.model_validate(a)
            for a in self.t.request("GET", f"/runs/{run_id}/artifacts")
        ]

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> Path:
        target = Path(dest) / Path(path).name
        listing = self.t.request("GET", f"/runs/{run_id}/artifact-files", params={"path": path})
        if not listing:
            raise NotFound(f"run {run_id} has no artifact {path!r}")
        for rel in listing:
            out = target / rel if rel else target
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out.parent)
            with os.fdopen(fd, "wb") as f:
                inner = f"{path.strip('/')}/{rel}" if rel else path.strip("/")
                self.t.download(f"/runs/{run_id}/artifacts/{inner}", f)
            os.replace(tmp, out)
        return target


def _param_text(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | dict | list) else str(value)
