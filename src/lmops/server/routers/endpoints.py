"""REST API for the gateway: /api/v1/endpoints (what `/v1` model names route to) and each
API key's limits and spend (/api/v1/keys/{id}/limits)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from lmops.core.errors import NotFound
from lmops.governance.roles import Role
from lmops.server.auth import CurrentUser, Principal, authorize, needs
from lmops.server.deps import ServicesDep, endpoint_store
from lmops.serving.entities import Endpoint, EndpointSpec, KeyLimits
from lmops.serving.limits import current_period
from lmops.serving.service import OpenAIService
from lmops.serving.store import EndpointStore, LimitStore

router = APIRouter(prefix="/api/v1", tags=["gateway"], dependencies=[Depends(authorize)])
EndpointDep = Annotated[EndpointStore, Depends(endpoint_store)]


def _gateway(request: Request) -> OpenAIService:
    service: OpenAIService = request.app.state.openai
    return service


@router.get("/endpoints")
def list_endpoints(store: EndpointDep) -> list[Endpoint]:
    return store.list()


@router.post("/endpoints/{name}", status_code=201)
def create_endpoint(name: str, spec: EndpointSpec, store: EndpointDep) -> Endpoint:
    """Create `name`: `/v1` requests for model `name` go to its routes, and to its fallbacks
    in order when the route's model fails."""
    return store.create(name, spec)


@router.get("/endpoints/{name}")
def get_endpoint(name: str, store: EndpointDep) -> Endpoint:
    return store.get(name)


@router.put("/endpoints/{name}")
def update_endpoint(
    name: str, spec: EndpointSpec, store: EndpointDep, request: Request
) -> Endpoint:
    """Replace the routes (a new split, a canary), fallbacks and options; takes effect at once."""
    endpoint = store.update(name, spec)
    _gateway(request).forget_endpoint(store.project, name)
    return endpoint


@router.delete("/endpoints/{name}", status_code=204)
def delete_endpoint(name: str, store: EndpointDep, request: Request) -> Response:
    store.delete(name)
    _gateway(request).forget_endpoint(store.project, name)
    return Response(status_code=204)


def _own_or_admin(key_id: str, principal: Principal, services: Any, *, write: bool) -> str:
    """The key's project, if the caller may see (or, `write`, change) its limits."""
    key = services.access.get_key(key_id)
    in_project = key.project == principal.project
    admin = in_project and principal.role.allows(Role.ADMIN)
    own = in_project and key.user == principal.name
    if not (admin or principal.superuser or (own and not write)):
        raise NotFound(f"no API key {key_id!r}")  # as if unknown: others' keys stay unseen
    return str(key.project)


@router.get("/keys/{key_id}/limits")
@needs(Role.VIEWER)
def get_key_limits(key_id: str, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The key's limits and what it spent this month."""
    _own_or_admin(key_id, principal, services, write=False)
    limits = LimitStore(services.engine)
    usage = limits.get_usage(key_id, current_period())
    return {"limits": limits.get_limits(key_id), "usage": usage}


@router.put("/keys/{key_id}/limits")
@needs(Role.ADMIN)
def set_key_limits(
    key_id: str,
    body: KeyLimits,
    principal: CurrentUser,
    services: ServicesDep,
    request: Request,
) -> KeyLimits:
    """Set requests and tokens per minute and a monthly budget (USD); null lifts one."""
    project = _own_or_admin(key_id, principal, services, write=True)
    limits = LimitStore(services.engine).set_limits(key_id, body, project=project)
    _gateway(request).forget_key(key_id)
    return limits
