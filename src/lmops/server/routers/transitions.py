"""REST API for controlled transitions: alias policies, version results, transition requests
and their decisions.

Who may do what: reading needs a viewer; attaching results and requesting (or cancelling
one's own) transitions an editor; approving and rejecting an approver; setting and removing
policies an admin, since a policy decides what every later approval must check (an
approver who could loosen the policy of the alias they approve would be checking
themselves).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lmops.core.uris import VersionRef
from lmops.governance import transitions
from lmops.governance.entities import Transition, TransitionStatus
from lmops.governance.roles import Role
from lmops.registry import policies, results
from lmops.registry.entities import AliasPolicy, PolicyCheck, VersionResult
from lmops.server.auth import authorize, needs
from lmops.server.deps import ModelVersionDep, RegistryDep

router = APIRouter(prefix="/api/v1", tags=["governance"], dependencies=[Depends(authorize)])

Comment = Annotated[str, Field(max_length=transitions.MAX_COMMENT)]
Limit = Annotated[int, Query(ge=1, le=transitions.MAX_PAGE)]


class PolicyRules(BaseModel):
    """A PUT on an alias's policy: what a version must have before the alias points at it."""

    model_config = ConfigDict(extra="forbid")

    required_tags: list[Annotated[str, Field(max_length=5000)]] = Field(
        default_factory=list, max_length=policies.MAX_REQUIREMENTS
    )
    min_results: dict[Annotated[str, Field(max_length=250)], float] = Field(
        default_factory=dict, max_length=policies.MAX_REQUIREMENTS
    )
    require_card: bool = False


class NewResult(BaseModel):
    """A POST of a result: its name, value and where it came from."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=250)
    value: float
    source: str = Field(default="", max_length=results.MAX_SOURCE)


class NewTransition(BaseModel):
    """A POST asking for `alias` to point at `version`."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)
    alias: str = Field(max_length=255)
    comment: Comment = ""


class Decision(BaseModel):
    """An approval, rejection or cancellation: its comment (a rejection must have one)."""

    model_config = ConfigDict(extra="forbid")

    comment: Comment = ""


# -- policies -----------------------------------------------------------------------------


@router.get("/models/{name}/policies")
def list_policies(name: str, store: RegistryDep) -> list[AliasPolicy]:
    """The policies protecting the model's aliases."""
    return policies.list_policies(store, name)


@router.get("/models/{name}/aliases/{alias}/policy")
def get_policy(name: str, alias: str, store: RegistryDep) -> AliasPolicy:
    return policies.get_policy(store, name, alias)


@router.put("/models/{name}/aliases/{alias}/policy")
@needs(Role.ADMIN)
def set_policy(name: str, alias: str, rules: PolicyRules, store: RegistryDep) -> AliasPolicy:
    """Protect the alias (replacing its policy): from now on it moves only by transition."""
    return policies.set_policy(
        store,
        name,
        alias,
        required_tags=rules.required_tags,
        min_results=rules.min_results,
        require_card=rules.require_card,
    )


@router.delete("/models/{name}/aliases/{alias}/policy", status_code=204)
@needs(Role.ADMIN)
def delete_policy(name: str, alias: str, store: RegistryDep) -> Response:
    """Unprotect the alias; pending transitions to it stay pending until decided."""
    policies.delete_policy(store, name, alias)
    return Response(status_code=204)


# -- results ------------------------------------------------------------------------------


@router.get("/models/{name}/versions/{version}/results")
def list_results(version: ModelVersionDep, store: RegistryDep) -> list[VersionResult]:
    return results.list_results(store, version)


@router.post("/models/{name}/versions/{version}/results", status_code=201)
def attach_result(version: ModelVersionDep, result: NewResult, store: RegistryDep) -> VersionResult:
    """Attach a named result to the version, replacing an earlier value of that name."""
    return results.attach_result(store, version, result.name, result.value, result.source)


@router.get("/models/{name}/versions/{version}/checks")
def check_version(
    version: ModelVersionDep, store: RegistryDep, alias: Annotated[str, Query(max_length=255)]
) -> list[PolicyCheck]:
    """How the version fares now against the policy of `alias` (empty: not protected)."""
    return transitions.evaluate_policy(store, version, alias)


# -- transitions --------------------------------------------------------------------------


@router.post("/models/{name}/transitions", status_code=201)
def request_transition(name: str, body: NewTransition, store: RegistryDep) -> Transition:
    """Ask for a protected alias to point at a version; recorded with its checks."""
    model = store.get_model(name)
    ref = VersionRef("models", model.name, version=body.version)
    return transitions.request_transition(store, ref, body.alias, body.comment)


@router.get("/models/{name}/transitions")
def list_model_transitions(
    name: str,
    store: RegistryDep,
    status: TransitionStatus | None = None,
    limit: Limit = 100,
) -> list[Transition]:
    """The model's transitions, newest first."""
    return transitions.list_transitions(store, name, status=status, limit=limit)


@router.get("/transitions")
def list_transitions(
    store: RegistryDep, status: TransitionStatus | None = None, limit: Limit = 100
) -> list[Transition]:
    """The transitions of every model in the project, newest first."""
    return transitions.list_transitions(store, status=status, limit=limit)


@router.get("/transitions/{transition_id}")
def get_transition(transition_id: str, store: RegistryDep) -> Transition:
    return transitions.get_transition(store, transition_id)


@router.post("/transitions/{transition_id}/approve")
@needs(Role.APPROVER)
def approve(transition_id: str, store: RegistryDep, decision: Decision | None = None) -> Transition:
    """Approve and move the alias; refused, naming each failed check, unless all pass, and
    refused to whoever requested it."""
    comment = decision.comment if decision else ""
    return transitions.approve(store, transition_id, comment)


@router.post("/transitions/{transition_id}/reject")
@needs(Role.APPROVER)
def reject(transition_id: str, decision: Decision, store: RegistryDep) -> Transition:
    """Reject, saying why in `comment`."""
    return transitions.reject(store, transition_id, decision.comment)


@router.post("/transitions/{transition_id}/cancel")
def cancel(transition_id: str, store: RegistryDep, decision: Decision | None = None) -> Transition:
    """Withdraw a pending request; only its requester may."""
    return transitions.cancel(store, transition_id, decision.comment if decision else "")
