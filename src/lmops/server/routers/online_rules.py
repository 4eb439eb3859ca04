"""REST API for online scoring: /api/v1/online-rules (rules that score a sampled share of
the project's traces and attach the results as feedback), what each rule scored, and a
pass on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel

from lmops.evaluation.entities import OnlineRule, RuleSpec, RuleStats, ScoredTrace
from lmops.evaluation.online import check_rule
from lmops.evaluation.rules import RuleStore
from lmops.prompts.store import PromptStore
from lmops.server.auth import CurrentUser, authorize
from lmops.server.deps import prompt_store, rule_store
from lmops.server.online_worker import OnlineWorker

router = APIRouter(prefix="/api/v1", tags=["online scoring"], dependencies=[Depends(authorize)])

RuleDep = Annotated[RuleStore, Depends(rule_store)]
PromptDep = Annotated[PromptStore, Depends(prompt_store)]


class NewRule(RuleSpec):
    since: AwareDatetime | None = None  # score traces from then on (default: from now on)


class RuleView(OnlineRule):
    stats: RuleStats


class PassReport(BaseModel):
    """What a pass of the rule did: traces read, sampled, scored, and how many failed."""

    rule: str
    read: int
    sampled: int
    scored: int
    failed: int
    error: str | None = None


def _view(store: RuleStore, rule: OnlineRule) -> RuleView:
    return RuleView(**rule.model_dump(), stats=store.stats(rule.name))


@router.get("/online-rules")
def list_rules(store: RuleDep) -> list[RuleView]:
    return [_view(store, rule) for rule in store.list()]


@router.post("/online-rules/{name}", status_code=201)
def create_rule(
    name: str, body: NewRule, store: RuleDep, prompts: PromptDep, principal: CurrentUser
) -> RuleView:
    """Create rule `name`: from now on (or `since`), the server scores a `sample_rate`
    share of the traces matching `filter` with `scorers`."""
    spec = RuleSpec.model_validate(body.model_dump(exclude={"since"}))
    check_rule(spec, prompts)
    return _view(store, store.create(name, spec, created_by=principal.name, since=body.since))


@router.get("/online-rules/{name}")
def get_rule(name: str, store: RuleDep) -> RuleView:
    return _view(store, store.get(name))


@router.put("/online-rules/{name}")
def update_rule(name: str, spec: RuleSpec, store: RuleDep, prompts: PromptDep) -> RuleView:
    """Replace what the rule does (scorers, rate, filter, judge, enabled)."""
    check_rule(spec, prompts)
    return _view(store, store.update(name, spec))


@router.delete("/online-rules/{name}", status_code=204)
def delete_rule(name: str, store: RuleDep) -> Response:
    """Delete the rule and its log; the feedback it wrote stays on the traces."""
    store.delete(name)
    return Response(status_code=204)


@router.get("/online-rules/{name}/scored")
def list_scored(
    name: str,
    store: RuleDep,
    failed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[ScoredTrace]:
    """The traces the rule scored, newest first (`failed=true`: only those that failed)."""
    return store.scored(name, limit=limit, failed=failed)


@router.post("/online-rules/{name}/run")
def run_rule(name: str, store: RuleDep, request: Request) -> PassReport:
    """Run a pass of the rule now over the traces that settled since its last one."""
    worker: OnlineWorker = request.app.state.online
    done = worker.run_rule(store.get(name))
    return PassReport(**{k: v for k, v in done.__dict__.items() if k != "project"})
