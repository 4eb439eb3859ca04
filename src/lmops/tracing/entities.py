"""Traces, spans and feedback: what the SDK returns and the REST API answers.

Spans follow OpenTelemetry (trace id 32 hex, span id 16 hex, parent, status, attributes,
events) with the LLM fields lifted out of the attributes: span type, inputs and outputs,
token usage, cost, model and provider. A trace keeps totals over its spans so that list
pages never read span payloads.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


def _trace_id(value: str) -> str:
    if not _TRACE_ID.match(value):
        raise ValueError(f"{value!r} is not a trace id: 32 lowercase hex characters")
    return value


def _span_id(value: str) -> str:
    if not _SPAN_ID.match(value):
        raise ValueError(f"{value!r} is not a span id: 16 lowercase hex characters")
    return value


TraceId = Annotated[str, AfterValidator(_trace_id)]
SpanId = Annotated[str, AfterValidator(_span_id)]
TokenCount = Annotated[int, Field(ge=0, le=2**62)]


class SpanType(StrEnum):
    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    PARSER = "PARSER"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


class SpanStatus(StrEnum):
    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


class SpanEvent(BaseModel):
    name: str
    time: datetime
    attributes: dict[str, Any] = Field(default_factory=dict)


class TraceContext(BaseModel):
    """Trace-level facts a span may carry; the store lifts them onto its trace."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = None
    session_id: str | None = None
    environment: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    prompt_version: str | None = None
    model_version: str | None = None
    endpoint: str | None = None


class Span(BaseModel):
    """One unit of work: an LLM call, a chain step, a tool call."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    trace_id: TraceId
    span_id: SpanId
    parent_span_id: SpanId | None = None
    name: str = Field(min_length=1, max_length=1000)
    span_type: SpanType = SpanType.UNKNOWN
    start_time: datetime
    end_time: datetime | None = None
    status: SpanStatus = SpanStatus.UNSET
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[SpanEvent] = Field(default_factory=list)
    inputs: Any = None
    outputs: Any = None
    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    cached_tokens: TokenCount | None = None
    reasoning_tokens: TokenCount | None = None
    cost: float | None = Field(default=None, ge=0)
    cost_source: str | None = None
    model: str | None = None
    provider: str | None = None
    context: TraceContext = Field(default_factory=TraceContext)

    @property
    def latency_ms(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds() * 1000


class Trace(BaseModel):
    """A trace with its totals: what lists and searches return."""

    trace_id: str
    name: str | None
    start_time: datetime
    end_time: datetime | None
    latency_ms: float | None
    status: SpanStatus
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: float | None
    user_id: str | None = None
    session_id: str | None = None
    environment: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    prompt_version: str | None = None
    model_version: str | None = None
    endpoint: str | None = None
    models: list[str] = Field(default_factory=list)
    input_preview: str | None = None
    output_preview: str | None = None
    feedback_count: int = 0


class SessionSummary(BaseModel):
    """A session: its traces counted, its users, when it was active, its last exchange."""

    session_id: str
    trace_count: int
    users: list[str]
    first_start: datetime
    last_start: datetime
    tokens: int
    cost: float | None
    last_input_preview: str | None = None
    last_output_preview: str | None = None


class FeedbackKind(StrEnum):
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    TEXT = "text"
    CORRECTION = "correction"


class FeedbackSource(StrEnum):
    HUMAN = "human"
    LLM = "llm"
    CODE = "code"


class Feedback(BaseModel):
    id: str
    trace_id: str
    span_id: str | None = None
    name: str
    kind: FeedbackKind
    value: float | bool | str | None = None
    correction: Any = None
    source: FeedbackSource
    comment: str | None = None
    author: str | None = None
    created_at: datetime


class TraceDetail(Trace):
    """A trace with every span and its feedback."""

    spans: list[Span]
    feedback: list[Feedback] = Field(default_factory=list)


class TraceQuery(BaseModel):
    """Which traces to list: every filter is optional; `cursor` continues a listing."""

    model_config = ConfigDict(extra="forbid")

    start_after: datetime | None = None
    start_before: datetime | None = None
    name: str | None = None
    status: SpanStatus | None = None
    user_id: str | None = None
    session_id: str | None = None
    prompt_version: str | None = None  # prompts:/qa/3: group traces by the prompt they used
    model_version: str | None = None  # models:/chat/2
    endpoint: str | None = None  # the gateway endpoint that answered
    tags: dict[str, str] = Field(default_factory=dict)
    model: str | None = None
    min_latency_ms: float | None = Field(default=None, ge=0)
    has_feedback: bool | None = None
    feedback_name: str | None = None
    feedback_min: float | None = None
    feedback_max: float | None = None
    text: str | None = Field(default=None, max_length=1000)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class TracePage(BaseModel):
    traces: list[Trace]
    next_cursor: str | None = None


class FeedbackConfig(BaseModel):
    """How a team labels one kind of feedback, so everyone labels alike."""

    name: str = Field(min_length=1, max_length=250)
    kind: FeedbackKind
    allowed_values: list[str] | None = None
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""


class ModelPrice(BaseModel):
    """USD per million tokens for one model, with where the figures came from."""

    model: str = Field(min_length=1, max_length=250)
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(default=None, ge=0)
    reasoning_per_million: float | None = Field(default=None, ge=0)
    source: str = Field(min_length=1, max_length=1000)
    updated_at: datetime | None = None
