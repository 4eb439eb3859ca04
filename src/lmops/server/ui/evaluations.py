"""Evaluation pages: the list (pick two to compare), one evaluation with its aggregates,
failures and rows, and two evaluations side by side."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.core.errors import InvalidInput
from lmops.core.uris import VersionRef, parse_uri
from lmops.evaluation.compare import RowChange, compare
from lmops.evaluation.entities import EvalRow, Evaluation
from lmops.evaluation.store import EvaluationStore
from lmops.server.auth import authorize
from lmops.server.deps import evaluation_store
from lmops.server.routers.evaluations import Confidence, Offset, known_id
from lmops.server.ui.payloads import format_ms
from lmops.server.ui.rendering import HtmlRoute, format_number, render

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

EvaluationDep = Annotated[EvaluationStore, Depends(evaluation_store)]
IdParam = Annotated[str, Query(max_length=100)]
PAGE_SIZE = 50
LISTED = 200  # evaluations on the list page, newest first
METRIC_COLUMNS = 12  # aggregate columns the list shows at most
SHOW = ("all", "better", "worse")


@dataclass(frozen=True)
class RowFilters:
    """The rows the evaluation page shows: failed ones only, a scorer below a value."""

    failed: bool = False
    scorer: str = ""
    below: str = ""  # as typed, so that the form shows it back
    offset: int = 0

    @property
    def active(self) -> bool:
        return self.failed or bool(self.scorer or self.below)

    def link(self, **changes: Any) -> str:
        """This page's query with `changes` (offset=..., failed=...)."""
        values = {**self.__dict__, **changes}
        pairs = [("failed", "true")] if values["failed"] else []
        pairs += [(k, values[k]) for k in ("scorer", "below") if values[k]]
        if values["offset"]:
            pairs.append(("offset", str(values["offset"])))
        return "?" + urlencode(pairs) + "#rows" if pairs else "?#rows"

    def threshold(self) -> float | None:
        if not self.below:
            return None
        try:
            value = float(self.below)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidInput(f"below must be a number, not {self.below[:40]!r}", field="below")
        return value


@router.get("/evaluations", include_in_schema=False)
def evaluations_page(request: Request, store: EvaluationDep) -> Response:
    """Evaluations newest first, each aggregate a column, and a form to compare two."""
    found = store.list_evaluations(limit=LISTED)
    metrics = list(dict.fromkeys(m for e in found for m in e.scorers))[:METRIC_COLUMNS]
    return _render(request, "evaluations.html", {"evaluations": found, "metrics": metrics})


@router.get("/evaluations/compare", include_in_schema=False)
def compare_page(
    request: Request,
    store: EvaluationDep,
    a: IdParam,
    b: IdParam,
    confidence: Confidence = 0.95,
    show: Annotated[str, Query(max_length=10)] = "all",
    metric: Annotated[str, Query(max_length=255)] = "",
    offset: Offset = 0,
) -> Response:
    """B against A: per metric the delta, its interval, wins and losses, and a verdict;
    then the rows whose scores changed (on `metric`, for the `show`n better or worse),
    both outputs side by side."""
    if show not in SHOW:
        raise InvalidInput(f"show must be one of {', '.join(SHOW)}, not {show!r}", field="show")
    found = compare(store, known_id(a), known_id(b), confidence=confidence)
    directions = {m.name: m.higher_is_better for m in found.metrics}
    if metric and metric not in directions:
        shared = ", ".join(directions)
        raise InvalidInput(
            f"no metric {metric[:100]!r} in both (they share {shared})", field="metric"
        )
    changed = [
        c
        for c in found.changed
        if (not metric or metric in c.changes)
        and (show == "all" or show in _moves(c, directions, metric))
    ]

    def link(**changes: Any) -> str:
        """This page's query with `changes`, leaving out what is the default."""
        values = {"a": a, "b": b, "confidence": confidence, "show": show, "metric": metric}
        values.update({"offset": offset, **changes})
        defaults = {"confidence": 0.95, "show": "all", "metric": "", "offset": 0}
        pairs = {k: v for k, v in values.items() if k not in defaults or v != defaults[k]}
        return "?" + urlencode(pairs) + "#changed"

    context = {
        "c": found,
        "changed": changed[offset : offset + PAGE_SIZE],
        "changed_total": len(changed),
        "show": show,
        "metric": metric,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "link": link,
        "moved": lambda metric, va, vb: _moved(directions[metric], va, vb),
    }
    return _render(request, "evaluation_compare.html", context)


@router.get("/evaluations/{evaluation_id}", include_in_schema=False)
def evaluation_page(
    request: Request,
    evaluation_id: str,
    store: EvaluationDep,
    failed: bool = False,
    scorer: Annotated[str, Query(max_length=255)] = "",
    below: Annotated[str, Query(max_length=40)] = "",
    offset: Offset = 0,
) -> Response:
    """Facts and links, aggregates as a chart, failures by reason, and the rows (filtered)."""
    evaluation = store.get(known_id(evaluation_id))
    filters = RowFilters(failed, scorer, below.strip(), offset)
    rows: list[EvalRow] = []
    total, error = 0, ""
    try:
        rows, total = store.find_rows(
            evaluation.id,
            failed=True if failed else None,
            scorer=scorer or None,
            below=filters.threshold(),
            offset=offset,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        error = exc.message
    context = {
        "e": evaluation,
        "links": _links(evaluation),
        "chart": _chart(evaluation),
        "failures": sorted(evaluation.failures.items(), key=lambda kv: (-kv[1], kv[0])),
        "rows": rows,
        "total": total,
        "rows_error": error,
        "filters": filters,
        "page_size": PAGE_SIZE,
        "has_cost": any(r.cost is not None for r in rows),
    }
    return _render(request, "evaluation.html", context, 400 if error else 200)


# -- helpers ----------------------------------------------------------------------------


def _links(evaluation: Evaluation) -> dict[str, str]:
    """The pages the evaluation's URIs lead to: target, data, model and prompt versions."""
    return {
        "target": uri_path(evaluation.target),
        "data": uri_path(evaluation.data),
        "model_version": uri_path(evaluation.model_version),
        "prompt_version": uri_path(evaluation.prompt_version),
    }


def uri_path(uri: str | None) -> str:
    """The UI page of a models:/, prompts:/ or datasets:/ URI ("" for anything else): the
    version's page, or for an alias other than latest the page listing the versions."""
    try:
        ref = parse_uri(uri or "")
    except InvalidInput:
        return ""
    if not isinstance(ref, VersionRef):
        return ""
    base = f"/{ref.kind}/{quote(ref.name, safe='')}"
    if ref.version is not None:
        return f"{base}/{ref.version}"
    return f"{base}/latest" if ref.alias == "latest" else base


def _chart(evaluation: Evaluation) -> dict[str, list[Any]]:
    """The aggregates a 0-1 axis can show together (rates, F1, ROUGE); others (latency in
    ms, BLEU out of 100) only the table shows, where no shared axis misleads."""
    shown = [
        (name, value)
        for name, value in evaluation.aggregates.items()
        if value is not None and math.isfinite(value) and 0 <= value <= 1
    ]
    return {"names": [n for n, _ in shown], "values": [v for _, v in shown]}


def _moved(higher_is_better: bool, va: float | None, vb: float | None) -> str:
    """better, worse or "" for a row's metric going from va (A) to vb (B)."""
    if va is None or vb is None or va == vb:
        return ""
    return "better" if (vb > va) == higher_is_better else "worse"


def _moves(change: RowChange, directions: dict[str, bool], metric: str) -> set[str]:
    """How the row moved on `metric` (on any metric when "")."""
    moves = change.changes.items()
    return {_moved(directions[m], va, vb) for m, (va, vb) in moves if m == metric or not metric}


def compact(value: Any) -> str:
    """A value on one line: text as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    helpers = {"compact": compact, "ms": format_ms, "fmt": format_number, "uri_path": uri_path}
    return render(request, name, {"section": "/evaluations", **helpers, **context}, status)
