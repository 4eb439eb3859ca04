"""Evaluations: one target scored on rows of data, each row kept with its scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class RowScore(BaseModel):
    value: float | None = None
    rationale: str | None = None
    error: str | None = None


class EvalRow(BaseModel):
    """One row: what went in, what came out, what was expected, and how each scorer saw it."""

    index: int
    inputs: dict[str, Any]
    output: Any = None
    expected: Any = None
    scores: dict[str, RowScore] = Field(default_factory=dict)
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    trace_id: str | None = None
    error: str | None = None  # the target failed on this row (after retries)


class Evaluation(BaseModel):
    """A finished (or failed) evaluation and its aggregates; the rows are read separately.

    `failures` counts why rows or scores failed: "target: TimeoutError ..." -> 3.
    """

    id: str
    name: str
    run_id: str | None = None
    target: str
    data: str
    model_version: str | None = None
    prompt_version: str | None = None
    scorers: list[str]
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    status: str  # running | finished | failed
    row_count: int = 0
    failed_rows: int = 0
    aggregates: dict[str, float | None] = Field(default_factory=dict)
    failures: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def uri(self) -> str:
        return f"evals:/{self.id}"
