"""The evaluation store: the only code that runs SQL for evaluations and their rows."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, func, select, update

from lmops.core.errors import InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.evaluation.entities import EvalRow, Evaluation
from lmops.evaluation.tables import evaluation_rows, evaluations
from lmops.store.audit import record
from lmops.store.engine import writing
from lmops.tracing.serialize import to_jsonable

MAX_PAGE = 1000
_ID = re.compile(r"[0-9a-f]{32}")


class EvaluationStore(InProject):
    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project

    def start(
        self,
        name: str,
        *,
        target: str,
        data: str,
        scorers: list[str],
        model_version: str | None = None,
        prompt_version: str | None = None,
        higher_is_better: dict[str, bool] | None = None,
    ) -> Evaluation:
        row: dict[str, Any] = {
            "id": new_id(),
            "project": self.project,
            "name": name,
            "run_id": None,
            "target": target,
            "data": data,
            "model_version": model_version,
            "prompt_version": prompt_version,
            "scorers": scorers,
            "higher_is_better": higher_is_better or {},
            "status": "running",
            "row_count": 0,
            "failed_rows": 0,
            "aggregates": {},
            "failures": {},
            "created_at": utcnow(),
            "finished_at": None,
        }
        with writing(self.engine) as conn:
            conn.execute(evaluations.insert(), row)
        return _evaluation(row)

    def finish(
        self,
        evaluation_id: str,
        rows: list[EvalRow],
        *,
        aggregates: dict[str, float | None],
        failures: dict[str, int],
        run_id: str | None,
    ) -> Evaluation:
        """Store every row and the totals in one transaction: all of it, or nothing."""
        current = self.get(evaluation_id)
        values = {
            "status": "finished",
            "run_id": run_id,
            "row_count": len(rows),
            "failed_rows": sum(1 for r in rows if r.error is not None),
            "aggregates": aggregates,
            "failures": failures,
            "finished_at": utcnow(),
        }
        with writing(self.engine) as conn:
            if rows:
                conn.execute(evaluation_rows.insert(), [_row(evaluation_id, r) for r in rows])
            conn.execute(
                update(evaluations).where(evaluations.c.id == evaluation_id).values(**values)
            )
            record(
                conn,
                "evaluation.finish",
                "evaluation",
                evaluation_id,
                current.uri,
                project=self.project,
                after={"aggregates": aggregates, "rows": len(rows)},
            )
        return self.get(evaluation_id)

    def fail(self, evaluation_id: str, reason: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                update(evaluations)
                .where(evaluations.c.id == evaluation_id)
                .values(status="failed", failures={reason[:500]: 1}, finished_at=utcnow())
            )

    def get(self, evaluation_id: str) -> Evaluation:
        if not _ID.fullmatch(evaluation_id):
            raise NotFound(f"no evaluation {evaluation_id[:100]!r}")
        query = select(evaluations).where(
            evaluations.c.project == self.project, evaluations.c.id == evaluation_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no evaluation {evaluation_id!r}")
        return _evaluation(dict(row))

    def list_evaluations(self, *, limit: int = 100, name: str | None = None) -> list[Evaluation]:
        query = (
            select(evaluations)
            .where(evaluations.c.project == self.project)
            .order_by(evaluations.c.created_at.desc())
            .limit(min(limit, MAX_PAGE))
        )
        if name is not None:
            query = query.where(evaluations.c.name == name)
        with self.engine.connect() as conn:
            return [_evaluation(dict(r)) for r in conn.execute(query).mappings()]

    def rows(self, evaluation_id: str, *, offset: int = 0, limit: int = MAX_PAGE) -> list[EvalRow]:
        self.get(evaluation_id)  # 404 for another project's evaluation
        query = (
            select(evaluation_rows)
            .where(evaluation_rows.c.evaluation_id == evaluation_id)
            .order_by(evaluation_rows.c.row_index)
            .offset(offset)
            .limit(min(limit, MAX_PAGE))
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings()
            return [EvalRow.model_validate({**dict(r), "index": r["row_index"]}) for r in found]

    def all_rows(self, evaluation_id: str) -> list[EvalRow]:
        found: list[EvalRow] = []
        while True:
            page = self.rows(evaluation_id, offset=len(found))
            found += page
            if len(page) < MAX_PAGE:
                return found

    def find_rows(
        self,
        evaluation_id: str,
        *,
        failed: bool | None = None,
        scorer: str | None = None,
        below: float | None = None,
        offset: int = 0,
        limit: int = MAX_PAGE,
    ) -> tuple[list[EvalRow], int]:
        """A page of the rows that match, and how many match: `failed` rows (the target
        failed) or the others, rows whose `scorer` scored below `below` (unscored rows
        never are)."""
        evaluation = self.get(evaluation_id)
        where = [evaluation_rows.c.evaluation_id == evaluation.id]
        if failed is not None:
            error = evaluation_rows.c.error
            where.append(error.is_not(None) if failed else error.is_(None))
        if (scorer is None) != (below is None):
            raise InvalidInput("scorer and below go together", field="below")
        if scorer is not None and below is not None:
            if scorer not in evaluation.scorers:
                raise InvalidInput(
                    f"{evaluation.uri} has no scorer {scorer[:100]!r} "
                    f"(it has {', '.join(evaluation.scorers)})",
                    field="scorer",
                )
            value = evaluation_rows.c.scores[(scorer, "value")].as_float()
            where.append(value < below)
        query = (
            select(evaluation_rows)
            .where(*where)
            .order_by(evaluation_rows.c.row_index)
            .offset(offset)
            .limit(min(limit, MAX_PAGE))
        )
        counting = select(func.count()).select_from(evaluation_rows).where(*where)
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings()
            page = [EvalRow.model_validate({**dict(r), "index": r["row_index"]}) for r in found]
            total = int(conn.execute(counting).scalar() or 0)
        return page, total


def _row(evaluation_id: str, row: EvalRow) -> dict[str, Any]:
    return {
        "evaluation_id": evaluation_id,
        "row_index": row.index,
        "inputs": to_jsonable(row.inputs),
        "output": to_jsonable(row.output),
        "expected": to_jsonable(row.expected),
        "scores": {k: v.model_dump() for k, v in row.scores.items()},
        "latency_ms": row.latency_ms,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cost": row.cost,
        "trace_id": row.trace_id,
        "error": row.error,
    }


def _evaluation(row: dict[str, Any]) -> Evaluation:
    return Evaluation.model_validate({k: v for k, v in row.items() if k != "project"})
