"""REST API for evaluations: /api/v1/evaluations, their rows (filtered, a page at a time)
and the comparison of two. Evaluations are made by `lmops eval run` and `lmops.evaluate`;
here they are only read."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from lmops.core.errors import NotFound
from lmops.core.text import check_text
from lmops.evaluation.compare import Comparison, compare
from lmops.evaluation.entities import EvalRow, Evaluation
from lmops.evaluation.store import MAX_PAGE, EvaluationStore
from lmops.server.auth import authorize
from lmops.server.deps import evaluation_store

router = APIRouter(prefix="/api/v1", tags=["evaluations"], dependencies=[Depends(authorize)])

EvaluationDep = Annotated[EvaluationStore, Depends(evaluation_store)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Confidence = Annotated[float, Query(ge=0.5, lt=1, allow_inf_nan=False)]
_ID = re.compile(r"^[0-9a-f]{32}$")


class RowPage(BaseModel):
    """A page of an evaluation's rows, and how many rows match the filters in all."""

    rows: list[EvalRow]
    offset: int
    limit: int
    total_matching: int


class MetricComparison(BaseModel):
    """One metric of B against A: the delta of row means B - A, its interval, and how
    many paired rows B won, lost or tied (by the metric's direction)."""

    name: str
    a: float | None
    b: float | None
    paired: int
    delta: float | None
    low: float | None
    high: float | None
    wins: int
    losses: int
    ties: int
    higher_is_better: bool
    verdict: str  # better | worse | unclear


class RowComparison(BaseModel):
    index: int
    a: EvalRow
    b: EvalRow
    changes: dict[str, tuple[float | None, float | None]]  # metric -> (A's value, B's value)


class ComparisonPage(BaseModel):
    """Two evaluations compared, with a page of the rows whose scores changed."""

    a: Evaluation
    b: Evaluation
    confidence: float
    same_data: bool  # both ran on the same data and the same number of rows
    metrics: list[MetricComparison]
    changed: list[RowComparison]
    changed_count: int
    offset: int
    limit: int


def known_id(evaluation_id: str) -> str:
    """An id we could have made; anything else is unknown (and never reaches the database)."""
    if not _ID.match(evaluation_id):
        raise NotFound(f"no evaluation {evaluation_id[:100]!r}")
    return evaluation_id


def comparison_page(found: Comparison, offset: int, limit: int) -> ComparisonPage:
    return ComparisonPage(
        a=found.a,
        b=found.b,
        confidence=found.confidence,
        same_data=found.same_data,
        metrics=[MetricComparison(**{**m.__dict__, "verdict": m.verdict}) for m in found.metrics],
        changed=[
            RowComparison(index=c.index, a=c.a, b=c.b, changes=c.changes)
            for c in found.changed[offset : offset + limit]
        ],
        changed_count=len(found.changed),
        offset=offset,
        limit=limit,
    )


@router.get("/evaluations")
def list_evaluations(
    store: EvaluationDep,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[Evaluation]:
    """Evaluations, newest first; `name` keeps those of that name."""
    if name is not None:
        check_text(name, "name")
    return store.list_evaluations(limit=limit, name=name)


@router.get("/evaluations/compare")
def compare_evaluations(
    store: EvaluationDep,
    a: Annotated[str, Query(max_length=100, description="the baseline's id")],
    b: Annotated[str, Query(max_length=100, description="the candidate's id")],
    confidence: Confidence = 0.95,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ComparisonPage:
    """B against A per shared metric, with paired bootstrap intervals, and the rows whose
    scores changed (`offset` and `limit` page through them)."""
    found = compare(store, known_id(a), known_id(b), confidence=confidence)
    return comparison_page(found, offset, limit)


@router.get("/evaluations/{evaluation_id}")
def get_evaluation(evaluation_id: str, store: EvaluationDep) -> Evaluation:
    return store.get(known_id(evaluation_id))


@router.get("/evaluations/{evaluation_id}/rows")
def get_rows(
    evaluation_id: str,
    store: EvaluationDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    failed: bool | None = None,
    scorer: Annotated[str | None, Query(max_length=255)] = None,
    below: Annotated[float | None, Query(allow_inf_nan=False)] = None,
) -> RowPage:
    """Rows in order, a page at a time: `failed=true` the rows the target failed on
    (`false` the others), `scorer` with `below` those it scored under that value."""
    rows, total = store.find_rows(
        known_id(evaluation_id),
        failed=failed,
        scorer=scorer,
        below=below,
        offset=offset,
        limit=limit,
    )
    return RowPage(rows=rows, offset=offset, limit=limit, total_matching=total)
