"""The web UI: one base layout, one router per page group, all behind `authorize` but the
login page and static files."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from lmops.server.ui import (
    account,
    assets,
    audit,
    cards,
    datasets,
    endpoints,
    evaluations,
    experiments,
    models,
    online,
    prompts,
    runs,
    stages,
    traces,
    transitions,
)

ROUTERS: tuple[APIRouter, ...] = (
    assets.router,
    stages.router,
    experiments.router,
    runs.router,
    traces.router,
    datasets.router,
    models.router,
    prompts.router,
    endpoints.router,
    evaluations.router,
    online.router,
    cards.router,
    transitions.router,
    audit.router,
    account.public,
    account.router,
)


def install(app: FastAPI) -> None:
    """Mount the UI routes and static files on `app`."""
    for router in ROUTERS:
        app.include_router(router)
