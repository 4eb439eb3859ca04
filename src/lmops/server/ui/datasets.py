"""Dataset pages: the list, one dataset with its lineage and jobs, a version, a diff."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.core.uris import VersionRef
from lmops.data.browse import OPS
from lmops.data.diff import MAX_SAMPLE, diff_versions
from lmops.data.entities import Dataset, DatasetVersion
from lmops.data.graph import lineage_graph, op_of, version_chain
from lmops.data.store import DataStore
from lmops.server.auth import authorize
from lmops.server.deps import DataDep, VersionDep, resolve_version
from lmops.server.ui.dag import layout
from lmops.server.ui.payloads import describe, pretty
from lmops.server.ui.profile_charts import column_charts
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.server.ui.row_browser import RowsQuery, build_rows, with_new_filter

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

Text = Annotated[str, Query(max_length=4000)]
VersionSpec = Annotated[str, Query(min_length=1, max_length=20)]
JOBS_SHOWN = 20
REFRESH_S = 3  # while a job runs, the dataset page reloads itself this often

DELTA_LABELS = {
    "nulls": "Nulls",
    "distinct": "Distinct",
    "mean_chars": "Mean chars",
    "empty": "Empty",
    "exact_duplicates": "Exact dups",
    "near_duplicates": "Near dups",
    "pii": "PII",
}
HELPERS: dict[str, Any] = {
    "pretty": pretty,
    "compact": lambda value: json.dumps(value, ensure_ascii=False, default=str),
    "describe": describe,
    "op_of": op_of,
    "ops": OPS,
    "delta_labels": DELTA_LABELS,
}


@router.get("/datasets", include_in_schema=False)
def datasets_page(request: Request, store: DataDep) -> Response:
    found = [(d, _latest(store, d)) for d in store.list_datasets()]
    return _render(request, "datasets.html", {"datasets": found})


@router.get("/datasets/{name}", include_in_schema=False)
def dataset_page(request: Request, name: str, store: DataDep) -> Response:
    """Versions, their lineage as a graph, recent jobs and a form to compare two versions."""
    dataset = store.get_dataset(name)
    graph = lineage_graph(store, name)
    jobs = store.list_jobs(dataset.name, JOBS_SHOWN)
    running = any(j.status == "running" for j in jobs)
    context = {
        "dataset": dataset,
        "versions": store.list_versions(name)[::-1],
        "nodes": {n.id: n for n in graph.nodes},
        "dag": layout(graph),
        "jobs": jobs,
        "refresh_s": REFRESH_S if running else None,
    }
    return _render(request, "dataset.html", context)


@router.get("/datasets/{name}/diff", include_in_schema=False)
def diff_page(
    request: Request,
    name: str,
    a: VersionSpec,
    b: VersionSpec,
    store: DataDep,
    sample: Annotated[int, Query(ge=0, le=MAX_SAMPLE)] = 20,
) -> Response:
    """Rows added and removed from version a to version b, schema and profile changes."""
    old, new = resolve_version(store, name, a), resolve_version(store, name, b)
    diff = diff_versions(store, old, new, sample)
    return _render(request, "dataset_diff.html", {"diff": diff, "name": name})


@router.get("/datasets/{name}/{version}", include_in_schema=False)
def version_page(
    request: Request,
    version: VersionDep,
    store: DataDep,
    q: Text = "",
    filter: Annotated[list[str] | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
    order_by: Text = "",
    desc: bool = False,
    column: Text = "",
    op: Annotated[str, Query(max_length=20)] = "=",
    value: Text = "",
) -> Response:
    """Schema, recipe and its chain of steps, report, profile charts and a row browser."""
    filters = with_new_filter(filter or [], column, op, value)
    query = RowsQuery(q=q, filters=filters, offset=offset, order_by=order_by, desc=desc)
    rows = build_rows(store, version, query)
    profile = store.get_profile(version.id)
    chain = version_chain(store, version)
    context = {
        "this_version": version,
        "chain": chain,
        "parent": chain[-2] if len(chain) > 1 else None,
        "profile": profile,
        "columns": {c.name: c for c in profile.columns} if profile else {},
        "charts": column_charts(profile) if profile else [],
        "rows": rows,
    }
    return _render(request, "dataset_version.html", context, 400 if rows.error else 200)


def _latest(store: DataStore, dataset: Dataset) -> DatasetVersion | None:
    if dataset.latest_version is None:
        return None
    return store.get_version(VersionRef("datasets", dataset.name, dataset.latest_version))


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, name, {"section": "/datasets", **HELPERS, **context}, status)
