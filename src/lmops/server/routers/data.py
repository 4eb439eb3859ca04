"""REST API for datasets, read-only: /api/v1/datasets, versions, rows, profiles, diffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lmops.core.errors import NotFound
from lmops.data.browse import MAX_FILTERS, MAX_LIMIT, Filter, RowPage, browse
from lmops.data.diff import MAX_SAMPLE, VersionDiff, diff_versions
from lmops.data.entities import Dataset, DatasetVersion, Job, Profile
from lmops.data.graph import LineageGraph, lineage_graph
from lmops.server.auth import authorize
from lmops.server.deps import DataDep, VersionDep, resolve_version

router = APIRouter(prefix="/api/v1", tags=["data"], dependencies=[Depends(authorize)])

VersionSpec = Annotated[str, Query(min_length=1, max_length=20, description="a number or latest")]
MAX_JOBS = 200


@router.get("/datasets")
def list_datasets(store: DataDep) -> list[Dataset]:
    return store.list_datasets()


@router.get("/datasets/{name}")
def get_dataset(name: str, store: DataDep) -> Dataset:
    return store.get_dataset(name)


@router.get("/datasets/{name}/versions")
def list_versions(name: str, store: DataDep) -> list[DatasetVersion]:
    return store.list_versions(name)


@router.get("/datasets/{name}/versions/{version}")
def get_version(version: VersionDep) -> DatasetVersion:
    return version


@router.get("/datasets/{name}/versions/{version}/rows")
def get_rows(
    version: VersionDep,
    store: DataDep,
    q: Annotated[str | None, Query(max_length=10_000)] = None,
    filter: Annotated[list[str] | None, Query(max_length=MAX_FILTERS)] = None,
    offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    order_by: Annotated[str | None, Query(max_length=10_000)] = None,
    desc: bool = False,
) -> RowPage:
    """Rows containing `q`, passing every `filter=column:op:value`, a page at a time."""
    return browse(
        store,
        version,
        search=q,
        filters=[Filter.parse(f) for f in filter or []],
        offset=offset,
        limit=limit,
        order_by=order_by,
        descending=desc,
    )


@router.get("/datasets/{name}/versions/{version}/profile")
def get_profile(version: VersionDep, store: DataDep) -> Profile:
    profile = store.get_profile(version.id)
    if profile is None:
        raise NotFound(f"{version.uri} has no profile yet: run `lmops data profile {version.uri}`")
    return profile


@router.get("/datasets/{name}/diff")
def diff(
    name: str,
    a: VersionSpec,
    b: VersionSpec,
    store: DataDep,
    sample: Annotated[int, Query(ge=0, le=MAX_SAMPLE)] = 20,
) -> VersionDiff:
    """What changed from version a to version b of `name`."""
    return diff_versions(
        store, resolve_version(store, name, a), resolve_version(store, name, b), sample
    )


@router.get("/datasets/{name}/lineage")
def get_lineage(name: str, store: DataDep) -> LineageGraph:
    return lineage_graph(store, name)


@router.get("/datasets/{name}/jobs")
def list_jobs(
    name: str, store: DataDep, limit: Annotated[int, Query(ge=1, le=MAX_JOBS)] = 50
) -> list[Job]:
    """The latest jobs on `name`, newest first."""
    store.get_dataset(name)  # an unknown dataset is a 404, not an empty list
    return store.list_jobs(name, limit)
