"""REST API for users, projects, members and API keys.

Anyone may see who they are and manage their own keys; a project's admins manage its
members and keys; server admins (superusers) manage users and projects. A key is shown in
the answer to the POST that makes it and never again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lmops.core.errors import Forbidden, InvalidInput, NotFound
from lmops.core.ids import utcnow
from lmops.governance.access import (
    MAX_KEY_DAYS,
    AccessStore,
    ApiKey,
    CreatedKey,
    Membership,
    Project,
    User,
)
from lmops.governance.roles import Role
from lmops.server.auth import SERVER_ADMIN, CurrentUser, authorize, needs

router = APIRouter(prefix="/api/v1", tags=["access"], dependencies=[Depends(authorize)])


def access_store(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.services.access
    return store


AccessDep = Annotated[AccessStore, Depends(access_store)]


class WhoAmI(BaseModel):
    user: str
    project: str
    role: Role
    superuser: bool
    auth: bool


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=255)
    description: str = Field(default="", max_length=10_000)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=255)
    password: str | None = Field(default=None, max_length=1024)
    superuser: bool = False


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, max_length=1024)
    active: bool | None = None
    superuser: bool | None = None


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class NewKey(BaseModel):
    """A key for yourself in this project (or, for a server admin, for one of its members)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=255)
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_KEY_DAYS)
    user: str | None = Field(default=None, max_length=255)


@router.get("/whoami")
def whoami(principal: CurrentUser, request: Request) -> WhoAmI:
    """The caller, the project they work in and their role there."""
    return WhoAmI(
        user=principal.name,
        project=principal.project,
        role=principal.role,
        superuser=principal.superuser,
        auth=request.app.state.services.auth,
    )


def _in_project(project: str, principal: CurrentUser) -> None:
    """Project admins manage their own project; server admins any. A route dependency, so
    it refuses before the body is read."""
    if project != principal.project and not principal.superuser:
        raise Forbidden(f"you work in project {principal.project!r} and cannot manage {project!r}")


IN_PROJECT = [Depends(_in_project)]


# -- projects and members ----------------------------------------------------------------------


@router.get("/projects")
def list_projects(principal: CurrentUser, store: AccessDep) -> list[Project]:
    """The projects the caller belongs to (every one for a server admin)."""
    if principal.superuser:
        return store.list_projects()
    mine = {m.project for m in store.memberships_of(principal.name)}
    return [p for p in store.list_projects() if p.name in mine]


@router.post("/projects", status_code=201, dependencies=SERVER_ADMIN)
@needs(Role.ADMIN)
def create_project(body: NewProject, principal: CurrentUser, store: AccessDep) -> Project:
    return store.create_project(body.name, body.description)


@router.get("/projects/{project}/members", dependencies=IN_PROJECT)
@needs(Role.ADMIN)
def list_members(project: str, store: AccessDep) -> list[Membership]:
    store.get_project(project)
    return store.members(project)


@router.put("/projects/{project}/members/{user}", dependencies=IN_PROJECT)
@needs(Role.ADMIN)
def set_member(project: str, user: str, body: RoleBody, store: AccessDep) -> Membership:
    """Add `user` to the project with a role, or change the role they hold."""
    return store.set_role(user, project, body.role)


@router.delete("/projects/{project}/members/{user}", status_code=204, dependencies=IN_PROJECT)
@needs(Role.ADMIN)
def remove_member(project: str, user: str, store: AccessDep) -> Response:
    store.remove_member(user, project)
    return Response(status_code=204)


# -- users ---------------------------------------------------------------------------------------


@router.get("/users", dependencies=SERVER_ADMIN)
@needs(Role.ADMIN)
def list_users(principal: CurrentUser, store: AccessDep) -> list[User]:
    return store.list_users()


@router.post("/users", status_code=201, dependencies=SERVER_ADMIN)
@needs(Role.ADMIN)
def create_user(body: NewUser, principal: CurrentUser, store: AccessDep) -> User:
    return store.create_user(body.name, body.password, superuser=body.superuser)


@router.patch("/users/{name}", dependencies=SERVER_ADMIN)
@needs(Role.ADMIN)
def update_user(name: str, body: UserChange, principal: CurrentUser, store: AccessDep) -> User:
    return store.update_user(
        name, password=body.password, active=body.active, superuser=body.superuser
    )


# -- keys ----------------------------------------------------------------------------------------


@router.get("/keys")
def list_keys(principal: CurrentUser, store: AccessDep) -> list[ApiKey]:
    """The caller's keys in this project; a project admin sees every member's."""
    if principal.role.allows(Role.ADMIN):
        return store.list_keys(project=principal.project)
    return store.list_keys(user=principal.name, project=principal.project)


@router.post("/keys", status_code=201)
@needs(Role.VIEWER)
def create_key(
    body: NewKey, principal: CurrentUser, store: AccessDep, request: Request
) -> CreatedKey:
    """A key in the caller's project, carrying its user's role there; shown only now."""
    user = body.user or principal.name
    if user != principal.name and not principal.superuser:
        # a key for someone else acts as them: only server admins may mint one
        raise Forbidden("you may make keys only for yourself; a server admin makes others'")
    if not request.app.state.services.auth and body.user is None:
        raise InvalidInput(
            "auth is off, so there is no user to make a key for: name one in `user`",
            field="user",
        )
    expires_at: datetime | None = None
    if body.expires_in_days is not None:
        expires_at = utcnow() + timedelta(days=body.expires_in_days)
    return store.create_key(user, principal.project, name=body.name, expires_at=expires_at)


@router.delete("/keys/{key_id}", status_code=204)
@needs(Role.VIEWER)
def revoke_key(key_id: str, principal: CurrentUser, store: AccessDep) -> Response:
    """Revoke one of your keys (a project admin: any key of the project)."""
    key = store.get_key(key_id)
    own = key.user == principal.name and key.project == principal.project
    admin = key.project == principal.project and principal.role.allows(Role.ADMIN)
    if not (own or admin or principal.superuser):
        raise NotFound(f"no API key {key_id!r}")  # as if unknown: others' keys stay unseen
    store.revoke_key(key_id)
    return Response(status_code=204)
