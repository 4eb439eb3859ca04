"""Evaluations: one target scored on rows of data, each row kept with its scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_RULE_SCORERS = 16


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


# -- online scoring ------------------------------------------------------------------------


class ScorerRef(BaseModel):
    """A scorer a rule runs, by registered name, built with `options`; its results are
    feedback named `feedback_name` (the scorer's name by default)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=250)
    options: dict[str, Any] = Field(default_factory=dict)
    feedback_name: str | None = Field(default=None, min_length=1, max_length=250)

    @property
    def label(self) -> str:
        return self.feedback_name or self.name


class TraceFilter(BaseModel):
    """Which traces a rule considers: every field is optional, all that are set must hold."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str | None = None
    endpoint: str | None = None
    model_version: str | None = None
    prompt_version: str | None = None
    user_id: str | None = None
    model: str | None = None
    status: Literal["OK", "ERROR"] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RuleSpec(BaseModel):
    """What a caller sets on an online scoring rule."""

    model_config = ConfigDict(extra="forbid")

    scorers: list[ScorerRef] = Field(min_length=1, max_length=MAX_RULE_SCORERS)
    sample_rate: float = Field(default=1.0, gt=0, le=1)
    filter: TraceFilter = Field(default_factory=TraceFilter)
    description: str = Field(default="", max_length=10_000)
    judge: str | None = Field(default=None, min_length=1, max_length=1000)
    judge_model: str | None = Field(default=None, min_length=1, max_length=255)
    judge_rubric: str | None = Field(default=None, min_length=1, max_length=1000)
    enabled: bool = True

    @model_validator(mode="after")
    def _distinct_feedback(self) -> RuleSpec:
        labels = [s.label for s in self.scorers]
        if len(set(labels)) != len(labels):
            raise ValueError("two scorers would write the same feedback name: set feedback_name")
        return self


class OnlineRule(RuleSpec):
    id: str
    project: str
    name: str
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    scores_from: datetime  # traces last written before this are not the rule's
    watermark_at: datetime  # traces updated before this have been read
    last_pass_at: datetime | None = None
    last_error: str | None = None  # why the last pass failed

    def spec(self) -> RuleSpec:
        """What the rule does, without who made it and where it is."""
        return RuleSpec.model_validate(self.model_dump(include=set(RuleSpec.model_fields)))


class ScoredTrace(BaseModel):
    """One sampled trace a rule took: the feedback values it wrote and why any failed;
    `scored_at` is None while it is being scored (or if that never finished)."""

    rule_id: str
    trace_id: str
    claimed_at: datetime
    scored_at: datetime | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


class RuleStats(BaseModel):
    """How a rule has done: traces scored, how many failed, each feedback's mean."""

    scored: int
    failed: int
    in_progress: int = 0  # taken and not yet scored
    last_scored_at: datetime | None = None
    means: dict[str, float] = Field(default_factory=dict)  # over the latest `recent` traces
    recent: int = 0
