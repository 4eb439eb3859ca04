"""REST API for tracking: /api/v1/experiments, /api/v1/runs, /api/v1/blobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from lmops.artifacts import Blob
from lmops.core.errors import InvalidInput
from lmops.core.ids import now_ms
from lmops.governance.roles import Role
from lmops.server.auth import authorize, needs
from lmops.server.deps import ArtifactsDep, TrackingDep
from lmops.tracking.entities import (
    Experiment,
    Metric,
    MetricColumns,
    Run,
    RunArtifact,
    RunPage,
    RunStatus,
)
from lmops.tracking.store import MAX_RESULTS

router = APIRouter(prefix="/api/v1", tags=["tracking"], dependencies=[Depends(authorize)])

ParamValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentIn(_Body):
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class RunIn(_Body):
    experiment_id: str
    name: str | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None
    start_time: AwareDatetime | None = None


class RunEnd(_Body):
    status: RunStatus = RunStatus.FINISHED
    end_time: AwareDatetime | None = None


class MetricIn(Metric):
    model_config = ConfigDict(extra="forbid")

    timestamp: int = Field(default_factory=now_ms)


class LogBatch(_Body):
    metrics: list[MetricIn] = Field(default_factory=list)
    metric_columns: MetricColumns | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class SearchIn(_Body):
    experiment_ids: list[str] = Field(min_length=1)
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = Field(default=100, ge=1, le=MAX_RESULTS)
    page_token: str | None = None


class ArtifactIn(_Body):
    path: str = Field(min_length=1, max_length=1024)
    digest: str | None = None
    files: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ArtifactIn:
        if (self.digest is None) == (self.files is None):
            raise ValueError("give either digest (a file) or files (a directory), not both")
        return self


@router.get("/experiments")
def list_experiments(store: TrackingDep) -> list[Experiment]:
    return store.list_experiments()


@router.post("/experiments", status_code=201)
def create_experiment(body: ExperimentIn, store: TrackingDep) -> Experiment:
    return store.create_experiment(body.name, body.description, body.tags)


@router.get("/experiments/by-name")
def get_experiment_by_name(name: str, store: TrackingDep) -> Experiment:
    return store.get_experiment_by_name(name)


@router.put("/experiments/by-name")
def get_or_create_experiment(
    name: Annotated[str, Query(min_length=1, max_length=255)], store: TrackingDep
) -> Experiment:
    return store.get_or_create_experiment(name)


@router.get("/experiments/{experiment_id}")
def get_experiment(experiment_id: str, store: TrackingDep) -> Experiment:
    return store.get_experiment(experiment_id)


@router.post("/runs", status_code=201)
def create_run(body: RunIn, store: TrackingDep) -> Run:
    return store.create_run(
        body.experiment_id, body.name, body.params, body.tags, body.parent_run_id, body.start_time
    )


@router.post("/runs/search")
@needs(Role.VIEWER)  # a read, sent as POST for its body
def search_runs(body: SearchIn, store: TrackingDep) -> RunPage:
    return store.search_runs(
        body.experiment_ids, body.filter, body.order_by, body.max_results, body.page_token
    )


@router.get("/runs/{run_id}")
def get_run(run_id: str, store: TrackingDep) -> Run:
    return store.get_run(run_id)


@router.post("/runs/{run_id}/end")
def end_run(run_id: str, body: RunEnd, store: TrackingDep) -> Run:
    return store.end_run(run_id, body.status, body.end_time)


@router.post("/runs/{run_id}/log-batch", status_code=204)
def log_batch(run_id: str, body: LogBatch, store: TrackingDep) -> None:
    rows = [(m.key, m.value, m.step, m.timestamp) for m in body.metrics]
    if body.metric_columns is not None:
        rows += body.metric_columns.rows()
    store.log_metric_rows(run_id, rows, body.params, body.tags)


@router.get("/runs/{run_id}/metrics/history")
def get_metric_history(
    run_id: str,
    key: str,
    store: TrackingDep,
    max_points: Annotated[int | None, Query(ge=4, le=100_000)] = None,
) -> list[Metric]:
    return store.get_metric_history(run_id, key, max_points)


@router.post("/blobs", status_code=201)
async def upload_blob(request: Request, artifacts: ArtifactsDep) -> dict[str, Any]:
    """Stream a request body into the artifact store; answer its digest and size."""
    # Disk and S3 writes run in worker threads: a multi-GB upload never stalls the loop.
    writer = await run_in_threadpool(artifacts.writer)
    try:
        async for chunk in request.stream():
            await run_in_threadpool(writer.write, chunk)
        blob: Blob = await run_in_threadpool(writer.commit)
    finally:
        await run_in_threadpool(writer.close)
    return {"digest": blob.digest, "size": blob.size}


@router.post("/runs/{run_id}/artifacts", status_code=201)
def record_artifact(run_id: str, body: ArtifactIn, store: TrackingDep) -> RunArtifact:
    if body.files is not None:
        return store.record_directory(run_id, body.path, body.files)
    assert body.digest is not None  # the validator allows exactly one of the two
    return store.record_file(run_id, body.path, body.digest)


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(run_id: str, store: TrackingDep) -> list[RunArtifact]:
    return store.list_artifacts(run_id)


@router.get("/runs/{run_id}/artifact-files")
def list_artifact_files(run_id: str, path: str, store: TrackingDep) -> list[str]:
    return store.artifact_files(run_id, path)


@router.get("/runs/{run_id}/artifacts/{path:path}")
def download_artifact(run_id: str, path: str, store: TrackingDep) -> StreamingResponse:
    digest, is_dir = store.resolve_artifact(run_id, path)
    if is_dir:
        raise InvalidInput(
            f"{path!r} is a directory: list it with /artifact-files?path=", field="path"
        )
    return StreamingResponse(
        store.artifacts.iter_chunks(digest), media_type="application/octet-stream"
    )
