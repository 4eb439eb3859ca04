"""Who is calling and what they may do: the dependency every router takes.

Authentication happens once per request, before routing (`lmops.server.actor`), and leaves
`request.state.principal`. `authorize` then checks the role the matched route needs: reads
need a viewer, writes an editor, unless the route's endpoint says otherwise with `@needs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from lmops.core.errors import Forbidden, Unauthorized
from lmops.core.projects import DEFAULT_PROJECT
from lmops.governance.roles import Role

F = TypeVar("F", bound=Callable[..., Any])
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The caller: a user (or "anonymous" with auth off) working in one project.

    `role` is the user's role in `project`; `superuser` marks server admins, who manage users
    and projects (and hold admin in every project).
    """

    name: str
    project: str
    role: Role
    superuser: bool = False
    key_id: str | None = None  # set when the caller authenticated with an API key


def anonymous(project: str = DEFAULT_PROJECT) -> Principal:
    """The caller when auth is off: an admin of whichever project it names."""
    return Principal("anonymous", project, Role.ADMIN, superuser=True)


def needs(role: Role) -> Callable[[F], F]:
    """Mark an endpoint as needing `role` instead of its method's default."""

    def mark(endpoint: F) -> F:
        endpoint.__dict__["lmops_role"] = role
        return endpoint

    return mark


def required_role(endpoint: Callable[..., Any] | None, method: str) -> Role:
    """The role a route needs: its `@needs` mark, else viewer to read and editor to write."""
    marked = getattr(endpoint, "lmops_role", None)
    if isinstance(marked, Role):
        return marked
    return Role.VIEWER if method.upper() in READ_METHODS else Role.EDITOR


async def authorize(request: Request) -> Principal:
    """Return the caller, or refuse: 401 without valid credentials, 403 without the role.

    Async: it reads only the request, so it runs on the event loop, not a worker thread."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        reason = getattr(request.state, "auth_error", None) or "no credentials"
        raise Unauthorized(
            f"{reason}: send an API key as 'Authorization: Bearer <key>' "
            "(create one with `lmops keys create`), or log in at /login"
        )
    route = request.scope.get("route")
    needed = required_role(getattr(route, "endpoint", None), request.method)
    if not principal.role.allows(needed):
        raise Forbidden(
            f"{principal.name} is {principal.role} in project {principal.project!r}; "
            f"{request.method} {request.url.path} needs {needed} or above"
        )
    return principal


CurrentUser = Annotated[Principal, Depends(authorize)]


async def server_admin(principal: CurrentUser) -> Principal:
    """Refuse everyone but server admins: for users, projects and server-wide settings.

    A route dependency (`dependencies=SERVER_ADMIN`), so it refuses before the body is read.
    """
    if not principal.superuser:
        raise Forbidden(f"only server admins may do this; {principal.name} is not one")
    return principal


SERVER_ADMIN = [Depends(server_admin)]
