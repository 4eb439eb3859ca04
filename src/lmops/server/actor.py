"""Who is calling: worked out once per request, before routing.

Leaves `request.state.principal` (None when the caller could not be identified, with
`request.state.auth_error` saying why) for `lmops.server.auth.authorize` to check against
the route, and names the caller in every audit entry the request writes.

With auth off every caller is an anonymous admin of the project its `X-Lmops-Project`
header names. With auth on the caller is the user of the API key in `Authorization:
Bearer` (in the key's project) or of the UI session cookie (in the session's project).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from lmops.core.errors import Forbidden, LmopsError, Unauthorized
from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.uris import check_name
from lmops.governance.access import AccessStore, Identity
from lmops.server.auth import READ_METHODS, Principal, anonymous
from lmops.server.ui.forms import same_origin
from lmops.store.audit import acting_as

PROJECT_HEADER = "x-lmops-project"
SESSION_COOKIE = "lmops_session"


def install(app: FastAPI) -> None:
    """Authenticate every request and attribute its audit entries to its caller."""
    app.add_middleware(_ActAsCaller)


class _ActAsCaller:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task group per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = request.client.host if request.client else "unknown"
        services = request.app.state.services
        try:
            asked = request.headers.get(PROJECT_HEADER)
            if asked is not None:
                check_name(asked, "project", field="project")
            if not services.auth:
                principal: Principal | None = anonymous(asked or DEFAULT_PROJECT)
                actor = f"anonymous@{host}"
            else:
                principal = _known(services.access, request)
                if principal is None:  # not seen lately: ask the store, off the event loop
                    principal = await run_in_threadpool(_authenticate, services.access, request)
                if principal is not None and asked is not None and asked != principal.project:
                    raise Forbidden(
                        f"these credentials work in project {principal.project!r}, not "
                        f"{asked!r}: set LMOPS_PROJECT={principal.project} or use a key "
                        f"made for {asked!r}"
                    )
                actor = principal.name if principal is not None else f"anonymous@{host}"
        except LmopsError as exc:
            response = JSONResponse(exc.to_dict(), status_code=exc.status_code)
            await response(scope, receive, send)
            return
        request.state.principal = principal
        with acting_as(actor):
            await self.app(scope, receive, send)


def _known(access: AccessStore, request: Request) -> Principal | None:
    """The caller of a key this process authenticated in the last two seconds, if that is
    what the request carries (no store access)."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    identity = access.known_key(key.strip())
    return principal_of(identity) if identity is not None else None


def _authenticate(access: AccessStore, request: Request) -> Principal | None:
    """The caller of a request, by key or session; None (with the reason kept) if neither."""
    header = request.headers.get("authorization")
    token = request.cookies.get(SESSION_COOKIE)
    try:
        if header is not None:
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
            identity = access.authenticate_key(key.strip())
        elif token:
            if request.method not in READ_METHODS:
                # a browser sends the cookie by itself: a write must come from our own pages
                same_origin(request)
            identity = access.authenticate_session(token)
        else:
            raise Unauthorized("no credentials")
    except Unauthorized as exc:
        request.state.auth_error = exc.message
        return None
    return principal_of(identity)


def principal_of(identity: Identity) -> Principal:
    return Principal(
        identity.user, identity.project, identity.role, identity.superuser, identity.key_id
    )
