"""REST API for tracing: spans in, traces out, feedback, feedback configs and prices.

Every route works in the caller's project (the scoped store from deps), except redeeming a
feedback token: the token is the credential and names its trace, whatever the project.
Prices and feedback configs are server-wide: every member reads them, server admins set them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from lmops.core.errors import InvalidInput
from lmops.governance.roles import Role
from lmops.server.auth import SERVER_ADMIN, authorize, needs
from lmops.server.deps import ServicesDep, TracingDep
from lmops.tracing.entities import (
    Feedback,
    FeedbackConfig,
    FeedbackKind,
    FeedbackSource,
    ModelPrice,
    Span,
    SpanId,
    Trace,
    TraceDetail,
    TracePage,
    TraceQuery,
)

router = APIRouter(prefix="/api/v1", tags=["tracing"], dependencies=[Depends(authorize)])
# The one route an end user reaches without an API key: the feedback token is the credential.
token_router = APIRouter(prefix="/api/v1", tags=["tracing"])

MAX_SPANS = 10_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpansIn(_Body):
    spans: list[Span] = Field(max_length=MAX_SPANS)


class DeleteIn(_Body):
    before: AwareDatetime


class FeedbackIn(_Body):
    name: str = Field(min_length=1, max_length=250)
    value: float | bool | str | None = None
    source: FeedbackSource = FeedbackSource.HUMAN
    kind: FeedbackKind | None = None
    comment: str | None = Field(default=None, max_length=10_000)
    correction: Any = None
    span_id: SpanId | None = None
    author: str | None = Field(default=None, max_length=255)


class TokenFeedbackIn(_Body):
    name: str = Field(min_length=1, max_length=250)
    value: float | bool | str | None = None
    comment: str | None = Field(default=None, max_length=10_000)
    correction: Any = None


class TokenIn(_Body):
    ttl_seconds: int = Field(default=7 * 86_400, ge=60, le=90 * 86_400)


TraceIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("/spans", status_code=201)
def write_spans(body: SpansIn, store: TracingDep) -> dict[str, int]:
    """Store spans; answers only after they are committed."""
    return {"accepted": store.write_spans(body.spans)}


@router.post("/traces/search")
@needs(Role.VIEWER)  # a read, sent as POST for its body
def search_traces(query: TraceQuery, store: TracingDep) -> TracePage:
    return store.search_traces(query)


@router.post("/traces/delete")
def delete_traces(body: DeleteIn, store: TracingDep) -> dict[str, int]:
    """Delete the caller's project's traces that started before `before`."""
    return {"deleted": store.delete_traces_before(body.before)}


@router.get("/traces/{trace_id}")
def get_trace(trace_id: TraceIdPath, store: TracingDep) -> TraceDetail:
    return store.get_trace(trace_id)


@router.delete("/traces/{trace_id}", status_code=204)
def delete_trace(trace_id: TraceIdPath, store: TracingDep) -> None:
    store.delete_trace(trace_id)


@router.get("/sessions/{session_id}")
def get_session(session_id: str, store: TracingDep) -> list[Trace]:
    return store.get_session(session_id)


@router.post("/traces/{trace_id}/feedback", status_code=201)
def log_feedback(trace_id: TraceIdPath, body: FeedbackIn, store: TracingDep) -> Feedback:
    return store.feedback.log_feedback(
        trace_id,
        body.name,
        body.value,
        source=body.source,
        kind=body.kind,
        comment=body.comment,
        correction=body.correction,
        span_id=body.span_id,
        author=body.author,
    )


@router.get("/traces/{trace_id}/feedback")
def list_feedback(trace_id: TraceIdPath, store: TracingDep) -> list[Feedback]:
    return store.feedback.list_feedback(trace_id)


@router.post("/traces/{trace_id}/feedback-token", status_code=201)
def create_feedback_token(
    trace_id: TraceIdPath, body: TokenIn, store: TracingDep
) -> dict[str, str]:
    """A secret the app hands its end user to rate this trace (shown once)."""
    return {"token": store.feedback.create_token(trace_id, timedelta(seconds=body.ttl_seconds))}


@token_router.post("/feedback/by-token/{token}", status_code=201)
def log_feedback_with_token(token: str, body: TokenFeedbackIn, services: ServicesDep) -> Feedback:
    # No caller, so no project: the token names its trace (and so the project) itself.
    if len(token) > 100:
        raise InvalidInput("not a feedback token", field="token")
    return services.tracing.feedback.log_with_token(
        token, body.name, body.value, comment=body.comment, correction=body.correction
    )


@router.get("/feedback-configs")
def list_feedback_configs(store: TracingDep) -> list[FeedbackConfig]:
    return store.feedback.list_configs()


@router.put("/feedback-configs/{name}", dependencies=SERVER_ADMIN)
def set_feedback_config(name: str, body: FeedbackConfig, store: TracingDep) -> FeedbackConfig:
    if body.name != name:
        raise InvalidInput("the name in the path and in the body differ", field="name")
    return store.feedback.set_config(body)


@router.get("/prices")
def list_prices(store: TracingDep) -> list[ModelPrice]:
    return store.prices.list_prices()


@router.put("/prices/{model}", dependencies=SERVER_ADMIN)
def set_price(model: str, body: ModelPrice, store: TracingDep) -> ModelPrice:
    if body.model != model:
        raise InvalidInput("the model in the path and in the body differ", field="model")
    return store.prices.set_price(body)


@router.delete("/prices/{model}", status_code=204, dependencies=SERVER_ADMIN)
def delete_price(model: str, store: TracingDep) -> None:
    store.prices.delete_price(model)
