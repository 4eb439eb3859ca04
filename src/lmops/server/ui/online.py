"""Online scoring pages: the project's rules with what each has scored, and one rule with
its settings, its means and the traces it scored (failures with their reason), with forms
to switch it on or off and to run a pass now."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from lmops.evaluation.rules import RuleStore
from lmops.server.auth import authorize
from lmops.server.deps import rule_store
from lmops.server.online_worker import OnlineWorker
from lmops.server.ui.forms import FormDep, same_origin
from lmops.server.ui.rendering import HtmlRoute, format_number, render

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

RuleDep = Annotated[RuleStore, Depends(rule_store)]
WRITES = [Depends(same_origin)]
SCORED_SHOWN = 100


@router.get("/online-rules", include_in_schema=False)
def rules_page(request: Request, store: RuleDep) -> Response:
    found = store.list()
    stats = {rule.name: store.stats(rule.name) for rule in found}
    return _render(request, "online_rules.html", {"rules": found, "stats": stats})


@router.get("/online-rules/{name}", include_in_schema=False)
def rule_page(
    request: Request, name: str, store: RuleDep, failed: Annotated[bool, Query()] = False
) -> Response:
    rule = store.get(name)  # unknown: the 404 page
    scored = store.scored(name, limit=SCORED_SHOWN, failed=True if failed else None)
    context = {
        "rule": rule,
        "stats": store.stats(name),
        "scored": scored,
        "failed_only": failed,
        "ran": request.query_params.get("ran"),
    }
    return _render(request, "online_rule.html", context)


@router.post("/online-rules/{name}/enabled", include_in_schema=False, dependencies=WRITES)
def set_enabled(request: Request, name: str, store: RuleDep, form: FormDep) -> Response:
    """Switch the rule on (`enabled=true`) or off."""
    spec = store.get(name).spec()
    store.update(name, spec.model_copy(update={"enabled": form.get("enabled") == "true"}))
    return RedirectResponse(f"/online-rules/{quote(name)}", status_code=303)


@router.post("/online-rules/{name}/run", include_in_schema=False, dependencies=WRITES)
def run_now(request: Request, name: str, store: RuleDep) -> Response:
    """Run a pass of the rule now, then show it with what the pass did."""
    worker: OnlineWorker = request.app.state.online
    done = worker.run_rule(store.get(name))
    summary = done.error or f"read {done.read}, scored {done.scored}, {done.failed} failed"
    return RedirectResponse(
        f"/online-rules/{quote(name)}?{urlencode({'ran': summary})}", status_code=303
    )


def _render(request: Request, name: str, context: dict[str, object]) -> Response:
    return render(request, name, {"section": "/evaluations", "fmt": format_number, **context})
