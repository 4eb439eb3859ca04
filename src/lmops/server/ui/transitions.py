"""Controlled transitions on a model's page: protected aliases, pending requests with their
checks as they stand now, approve / reject / cancel forms, and the latest decisions.

The forms post here. A decision the rules refuse (a failed check, four eyes, a rejection
without a reason) comes back as the model page with the refusal above the request, in the
status the API would answer; the request stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from lmops.core.errors import LmopsError
from lmops.governance import transitions
from lmops.governance.entities import Transition
from lmops.governance.roles import Role
from lmops.registry.entities import AliasPolicy, PolicyCheck, RegisteredModel
from lmops.registry.policies import list_policies
from lmops.registry.store import RegistryStore
from lmops.server.auth import authorize, needs
from lmops.server.deps import RegistryDep
from lmops.server.ui.forms import FormDep, same_origin
from lmops.server.ui.rendering import HtmlRoute

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])
WRITES = [Depends(same_origin)]
RECENT = 10  # decided transitions shown under the pending ones


@dataclass(frozen=True)
class Pending:
    """A pending transition and its policy's checks as they stand now."""

    transition: Transition
    checks: list[PolicyCheck]

    @property
    def ready(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass(frozen=True)
class Refusal:
    """Why the last decision posted on the page was refused, and on which transition."""

    transition_id: str
    message: str


@dataclass(frozen=True)
class Governance:
    """The governance section of a model's page."""

    policies: list[AliasPolicy]
    pending: list[Pending]
    decided: list[Transition]
    refusal: Refusal | None = None


def governance_view(request: Request, store: RegistryStore, model: RegisteredModel) -> Governance:
    """Policies, pending transitions (checked now) and recent decisions of `model`."""
    waiting = transitions.list_transitions(
        store, model.name, status=transitions.PENDING, limit=transitions.MAX_PAGE
    )
    pending = [
        Pending(
            t, transitions.evaluate_policy(store, store.get_version_by_id(t.version_id), t.alias)
        )
        for t in waiting
    ]
    latest = transitions.list_transitions(store, model.name, limit=RECENT + len(waiting))
    decided = [t for t in latest if t.status != transitions.PENDING][:RECENT]
    refusal = getattr(request.state, "transition_refusal", None)
    return Governance(list_policies(store, model.name), pending, decided, refusal)


@router.post("/transitions/{transition_id}/approve", include_in_schema=False, dependencies=WRITES)
@needs(Role.APPROVER)
def approve(request: Request, transition_id: str, store: RegistryDep, form: FormDep) -> Response:
    """Approve and move the alias, then show the model page again."""
    return _decide(request, store, transition_id, "approve", form.get("comment", ""))


@router.post("/transitions/{transition_id}/reject", include_in_schema=False, dependencies=WRITES)
@needs(Role.APPROVER)
def reject(request: Request, transition_id: str, store: RegistryDep, form: FormDep) -> Response:
    return _decide(request, store, transition_id, "reject", form.get("comment", ""))


@router.post("/transitions/{transition_id}/cancel", include_in_schema=False, dependencies=WRITES)
def cancel(request: Request, transition_id: str, store: RegistryDep, form: FormDep) -> Response:
    return _decide(request, store, transition_id, "cancel", form.get("comment", ""))


def _decide(
    request: Request, store: RegistryStore, transition_id: str, decision: str, comment: str
) -> Response:
    found = transitions.get_transition(store, transition_id)  # unknown: the 404 page
    act = {
        "approve": transitions.approve,
        "reject": transitions.reject,
        "cancel": transitions.cancel,
    }[decision]
    try:
        act(store, found.id, comment)
    except LmopsError as exc:
        from lmops.server.ui.models import model_page  # it shows this module's section

        request.state.transition_refusal = Refusal(found.id, exc.message)
        page = model_page(request, found.model_name, store)
        page.status_code = exc.status_code
        return page
    url = f"/models/{quote(found.model_name, safe='')}#transition-{found.id}"
    return RedirectResponse(url, status_code=303)
