"""Experiment pages: the list of experiments and one experiment's runs table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.server.auth import authorize
from lmops.server.deps import TrackingDep
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.server.ui.runs_table import RunsQuery, build_table

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

Text = Annotated[str, Query(max_length=4000)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]


@router.get("/experiments", include_in_schema=False)
def experiments_page(request: Request, store: TrackingDep) -> Response:
    return render(
        request,
        "experiments.html",
        {"section": "/experiments", "experiments": store.list_experiments()},
    )


@router.get("/experiments/{experiment_id}", include_in_schema=False)
def experiment_page(
    request: Request,
    experiment_id: str,
    store: TrackingDep,
    filter: Text = "",
    sort: Text = "",
    order: Text = "",
    page: Page = 1,
) -> Response:
    experiment = store.get_experiment(experiment_id)
    table = build_table(store, experiment_id, RunsQuery.parse(filter, sort, order, page))
    return render(
        request,
        "experiment.html",
        {"section": "/experiments", "experiment": experiment, "table": table},
        status_code=400 if table.error else 200,
    )
