"""/health (open, for load balancers) and Prometheus /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import text

from lmops._version import __version__
from lmops.server.auth import authorize
from lmops.server.deps import ServicesDep

health_router = APIRouter(tags=["system"])
metrics_router = APIRouter(tags=["system"], dependencies=[Depends(authorize)])


@health_router.get("/health")
def health(services: ServicesDep) -> dict[str, str]:
    """Answer ok when the metadata store answers."""
    with services.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__, "store": services.engine.dialect.name}


@metrics_router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.prometheus
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install_request_metrics(app: FastAPI) -> None:
    """Count requests and time them per route template (not per raw path: ids would explode)."""
    registry = CollectorRegistry()
    app.state.prometheus = registry
    requests = Counter(
        "lmops_http_requests_total",
        "HTTP requests",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "lmops_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
    )

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500  # unless the app answers: an exception that escapes is a 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            requests.labels(request.method, route, str(status)).inc()
            latency.labels(request.method, route).observe(time.perf_counter() - start)
