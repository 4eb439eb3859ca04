"""The app `lmops serve` runs: the OpenAI API over loaded models, /health and /metrics."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmops._version import __version__
from lmops.server.routers import openai
from lmops.serving.protocol import OpenAIError
from lmops.serving.service import OpenAIService


def create_model_app(service: OpenAIService, *, api_key: str | None = None) -> FastAPI:
    """`api_key`, when given, must come as `Authorization: Bearer <key>` on /v1 routes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="lmops model server", version=__version__, lifespan=lifespan)
    app.state.openai = service
    app.include_router(openai.router)
    openai.install_openai_errors(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = OpenAIError(exc.status_code, str(exc.detail), type="invalid_request_error")
        return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)

    if api_key:

        @app.middleware("http")
        async def _check_key(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            if request.url.path.startswith("/v1/"):
                given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(given.encode(), api_key.encode()):
                    error = OpenAIError(
                        401,
                        "Incorrect API key provided: pass the server's key as "
                        "`Authorization: Bearer <key>`",
                        code="invalid_api_key",
                    )
                    return JSONResponse(error.body(), status_code=401)
            return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "models": [m.id for m in service.models()],
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
