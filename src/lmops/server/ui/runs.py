"""Run pages: one run with its charts, and several runs compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.core.errors import InvalidInput, NotFound
from lmops.server.auth import authorize
from lmops.server.deps import TrackingDep
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.tracking.compare import compare_table
from lmops.tracking.entities import Run, RunArtifact
from lmops.tracking.store import TrackingStore

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

RUN_MAX_POINTS = 1500  # per chart: the server downsamples longer series
COMPARE_MAX_POINTS = 1000  # per run and chart
MAX_COMPARE = 25
MAX_CHILDREN = 50
MAX_DIR_FILES = 200


@dataclass(frozen=True)
class ArtifactEntry:
    path: str
    artifact: RunArtifact
    files: list[str]  # for a directory: its files (capped), relative to `path`
    more_files: int


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, run_id: str, store: TrackingDep) -> Response:
    run = store.get_run(run_id)
    parent = _maybe_run(store, run.parent_run_id)
    children = store.search_runs(
        [run.experiment_id], f"parent_run_id = '{run.id}'", max_results=MAX_CHILDREN
    )
    context = {
        "section": "/experiments",
        "run": run,
        "experiment": store.get_experiment(run.experiment_id),
        "parent": parent,
        "children": children,
        "artifacts": _artifacts(store, run.id),
        "charts": [
            {"key": key, "series": [{"run": run.id, "name": run.name, "index": 0}]}
            for key in sorted(run.metrics)
        ],
        "max_points": RUN_MAX_POINTS,
    }
    return render(request, "run.html", context)


@router.get("/compare", include_in_schema=False)
def compare_page(
    request: Request,
    store: TrackingDep,
    runs: Annotated[str, Query(max_length=10_000)] = "",
    run: Annotated[list[str] | None, Query()] = None,
    show_all: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    """Compare runs given as ?runs=a,b,c (or ?run=a&run=b as a plain form sends them)."""
    ids = list(dict.fromkeys([*(i.strip() for i in runs.split(",")), *(run or [])]))
    ids = [i for i in ids if i]
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidInput(
            f"select between 2 and {MAX_COMPARE} runs to compare; got {len(ids)}", field="runs"
        )
    found = [store.get_run(i) for i in ids]
    keys = sorted({k for r in found for k in r.metrics})
    context = {
        "section": "/experiments",
        "runs": found,
        "experiments": {e: store.get_experiment(e) for e in {r.experiment_id for r in found}},
        "rows": compare_table(found, show_all),
        "show_all": show_all,
        "runs_param": ",".join(ids),
        "charts": [
            {
                "key": key,
                "series": [
                    {"run": r.id, "name": r.name, "index": n}
                    for n, r in enumerate(found)
                    if key in r.metrics
                ],
            }
            for key in keys
        ],
        "max_points": COMPARE_MAX_POINTS,
    }
    return render(request, "compare.html", context)


def _maybe_run(store: TrackingStore, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        return store.get_run(run_id)
    except NotFound:
        return None


def _artifacts(store: TrackingStore, run_id: str) -> list[ArtifactEntry]:
    entries = []
    for artifact in store.list_artifacts(run_id):
        files = store.artifact_files(run_id, artifact.path) if artifact.is_dir else []
        entries.append(
            ArtifactEntry(
                artifact.path,
                artifact,
                files[:MAX_DIR_FILES],
                max(0, len(files) - MAX_DIR_FILES),
            )
        )
    return entries
