"""Pages for lifecycle stages the UI does not show yet: they say so plainly."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from lmops.server.auth import authorize
from lmops.server.ui.nav import STAGES, Stage
from lmops.server.ui.rendering import HtmlRoute, render

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/experiments", status_code=307)


def _placeholder(stage: Stage) -> None:
    def page(request: Request) -> Response:
        return render(request, "stage.html", {"section": stage.path, "stage": stage})

    router.add_api_route(stage.path, page, methods=["GET"], include_in_schema=False)


for _stage in STAGES:
    if not _stage.built:
        _placeholder(_stage)
