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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

    async def measure(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless the app answers: an exception that escapes is a 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            requests.labels(method, route, str(status)).inc()
            latency.labels(method, route).observe(time.perf_counter() - start)

    app.add_middleware(_Measure, measure=measure)


class _Measure:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task group per request)."""

    def __init__(
        self,
        app: ASGIApp,
        measure: Callable[[ASGIApp, Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        self.app = app
        self.measure = measure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.measure(self.app, scope, receive, send)
