"""Logging in and out, your account (project, keys) and the admin page (members, users).

A login sets an HttpOnly, SameSite=Lax session cookie (Secure when the page came over
HTTPS); the store keeps only the token's sha256. Every form that writes is refused when
another site's page made the browser post it.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from lmops.core.errors import Forbidden, InvalidInput, LmopsError, Unauthorized
from lmops.core.ids import utcnow
from lmops.governance.access import MAX_KEY_DAYS, SESSION_LIFETIME, AccessStore
from lmops.governance.roles import Role
from lmops.server.actor import SESSION_COOKIE
from lmops.server.auth import SERVER_ADMIN, CurrentUser, Principal, authorize, needs
from lmops.server.throttle import LoginThrottle
from lmops.server.ui.forms import FormDep, same_origin
from lmops.server.ui.rendering import HtmlRoute, render

public = APIRouter(route_class=HtmlRoute, tags=["ui"])
router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])
WRITES = [Depends(same_origin)]
SERVER_WRITES = [*SERVER_ADMIN, *WRITES]


def _access(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.services.access
    return store


# -- logging in and out ------------------------------------------------------------------------


@public.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return _login_form(request, next_path=_local(next))


@public.post("/login", include_in_schema=False, dependencies=WRITES)
def login(request: Request, form: FormDep) -> Response:
    """Check the password, set the session cookie and go where the user was going."""
    next_path = _local(form.get("next", "/"))
    user = form.get("user", "")
    address = request.client.host if request.client else "unknown"
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.wait_s(user, address)
    if wait > 0:
        message = f"too many failed logins: try again in {math.ceil(wait)} s"
        response = _login_form(request, next_path, user=user, error=message, status=429)
        response.headers["retry-after"] = str(math.ceil(wait))
        return response
    try:
        token, _ = _access(request).login(user, form.get("password", ""))
    except (Unauthorized, InvalidInput) as exc:
        throttle.failed(user, address)
        return _login_form(request, next_path, user=user, error=exc.message, status=401)
    throttle.succeeded(user, address)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@public.post("/logout", include_in_schema=False, dependencies=WRITES)
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _access(request).logout(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _login_form(
    request: Request, next_path: str, *, user: str = "", error: str | None = None, status: int = 200
) -> Response:
    context = {"next_path": next_path, "user": user, "error": error, "principal": None}
    return render(request, "login.html", context, status)


def _local(path: str) -> str:
    """Only a path on this server: never an address that sends the user elsewhere."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


# -- your account ------------------------------------------------------------------------------


@router.get("/account", include_in_schema=False)
def account_page(request: Request, principal: CurrentUser) -> Response:
    return _account(request, principal)


@router.post("/account/project", include_in_schema=False, dependencies=WRITES)
@needs(Role.VIEWER)
def switch_project(request: Request, principal: CurrentUser, form: FormDep) -> Response:
    """Work in another of your projects from now on (this session only)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise InvalidInput("only a logged-in session switches project; a key has its own")
    _access(request).switch_project(token, form.get("project", ""))
    return RedirectResponse("/account", status_code=303)


@router.post("/account/keys", include_in_schema=False, dependencies=WRITES)
@needs(Role.VIEWER)
def create_key(request: Request, principal: CurrentUser, form: FormDep) -> Response:
    """Make a key for yourself in this project and show it, this once."""
    try:
        days = _days(form.get("expires_in_days", ""))
        expires = None if days is None else utcnow() + timedelta(days=days)
        created = _access(request).create_key(
            principal.name, principal.project, name=form.get("name", ""), expires_at=expires
        )
    except LmopsError as exc:
        return _account(request, principal, error=exc.message, status=exc.status_code)
    return _account(request, principal, new_key=created.key)


@router.post("/account/keys/{key_id}/revoke", include_in_schema=False, dependencies=WRITES)
@needs(Role.VIEWER)
def revoke_key(request: Request, key_id: str, principal: CurrentUser) -> Response:
    store = _access(request)
    key = store.get_key(key_id)
    admin = principal.role.allows(Role.ADMIN) and key.project == principal.project
    if key.user != principal.name and not admin and not principal.superuser:
        raise Forbidden("you may revoke only your own keys")
    store.revoke_key(key_id)
    return RedirectResponse("/admin" if key.user != principal.name else "/account", 303)


def _days(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_KEY_DAYS:
        raise InvalidInput(f"expiry must be 1 to {MAX_KEY_DAYS} days, or empty for never")
    return int(text)


def _account(
    request: Request,
    principal: Principal,
    *,
    new_key: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    store = _access(request)
    known = request.app.state.services.auth or principal.name != "anonymous"
    context: dict[str, Any] = {
        "section": "/account",
        "memberships": store.memberships_of(principal.name) if known else [],
        "keys": store.list_keys(user=principal.name) if known else [],
        "new_key": new_key,
        "error": error,
        "logged_in": SESSION_COOKIE in request.cookies,
    }
    return render(request, "account.html", context, status)


# -- the admin page ----------------------------------------------------------------------------


@router.get("/admin", include_in_schema=False)
@needs(Role.ADMIN)
def admin_page(request: Request, principal: CurrentUser) -> Response:
    return _admin(request, principal)


@router.post("/admin/members", include_in_schema=False, dependencies=WRITES)
@needs(Role.ADMIN)
def set_member(request: Request, principal: CurrentUser, form: FormDep) -> Response:
    """Add a user to this project with a role, change their role, or take them out."""
    store = _access(request)
    user = form.get("user", "")
    try:
        if form.get("role") == "remove":
            store.remove_member(user, principal.project)
        else:
            store.set_role(user, principal.project, form.get("role", ""))
    except LmopsError as exc:
        return _admin(request, principal, error=exc.message, status=exc.status_code)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users", include_in_schema=False, dependencies=SERVER_WRITES)
@needs(Role.ADMIN)
def create_user(request: Request, principal: CurrentUser, form: FormDep) -> Response:
    """A server admin makes a user, optionally a member of this project right away."""
    store = _access(request)
    name, role = form.get("name", ""), form.get("role", "")
    try:
        if role and role not in set(Role):
            raise InvalidInput(f"unknown role {role!r}")
        store.create_user(name, form.get("password") or None, superuser="superuser" in form)
        if role:
            store.set_role(name, principal.project, role)
    except LmopsError as exc:
        return _admin(request, principal, error=exc.message, status=exc.status_code)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/active", include_in_schema=False, dependencies=SERVER_WRITES)
@needs(Role.ADMIN)
def set_active(request: Request, name: str, principal: CurrentUser, form: FormDep) -> Response:
    _access(request).update_user(name, active=form.get("active") == "true")
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/projects", include_in_schema=False, dependencies=SERVER_WRITES)
@needs(Role.ADMIN)
def create_project(request: Request, principal: CurrentUser, form: FormDep) -> Response:
    try:
        _access(request).create_project(form.get("name", ""), form.get("description", ""))
    except LmopsError as exc:
        return _admin(request, principal, error=exc.message, status=exc.status_code)
    return RedirectResponse("/admin", status_code=303)


def _admin(
    request: Request, principal: Principal, *, error: str | None = None, status: int = 200
) -> Response:
    store = _access(request)
    context: dict[str, Any] = {
        "section": "/admin",
        "members": store.members(principal.project),
        "keys": store.list_keys(project=principal.project),
        "users": store.list_users() if principal.superuser else [],
        "projects": store.list_projects() if principal.superuser else [],
        "roles": list(Role),
        "error": error,
    }
    return render(request, "admin.html", context, status)
