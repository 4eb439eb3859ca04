"""Who is calling: worked out once per request, before routing.

Leaves `request.state.principal` for `lmops.server.auth.authorize` to check against the
route, and names the caller in every audit entry the request writes. With auth off, every
caller is an anonymous admin of the project its `X-Lmops-Project` header names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from lmops.core.errors import InvalidInput
from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.uris import check_name
from lmops.server.auth import anonymous
from lmops.store.audit import acting_as

PROJECT_HEADER = "x-lmops-project"


def install(app: FastAPI) -> None:
    """Authenticate every request and attribute its audit entries to its caller."""

    @app.middleware("http")
    async def act_as_caller(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.client.host if request.client else "unknown"
        try:
            project = check_name(
                request.headers.get(PROJECT_HEADER, DEFAULT_PROJECT), "project", field="project"
            )
        except InvalidInput as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.status_code)
        principal = anonymous(project)
        request.state.principal = principal
        with acting_as(f"{principal.name}@{host}"):
            return await call_next(request)
