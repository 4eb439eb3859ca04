"""Who the audit log names for changes made through the server.

Until users and keys exist every caller is anonymous, so an entry names the client's
address (`anonymous@127.0.0.1`); authentication will name the user here instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from lmops.store.audit import acting_as


def install(app: FastAPI) -> None:
    """Attribute every request's audit entries to its caller."""

    @app.middleware("http")
    async def act_as_caller(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.client.host if request.client else "unknown"
        with acting_as(f"anonymous@{host}"):
            return await call_next(request)
