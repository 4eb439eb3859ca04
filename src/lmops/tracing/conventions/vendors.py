"""Vendor keys: MLflow's `mlflow.*` span attributes and Langfuse's `langfuse.*` OTel mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmops.tracing.conventions.values import (
    Mapped,
    amount,
    first,
    loads,
    loads_any,
    prefixed,
    tag_map,
    text,
    token,
)
from lmops.tracing.entities import SpanType

_LANGFUSE_TYPES = {
    "generation": SpanType.LLM,
    "embedding": SpanType.EMBEDDING,
    "agent": SpanType.AGENT,
    "tool": SpanType.TOOL,
    "chain": SpanType.CHAIN,
    "retriever": SpanType.RETRIEVER,
    "evaluator": SpanType.EVALUATOR,
    "guardrail": SpanType.GUARDRAIL,
}


def map_mlflow(attrs: Mapping[str, Any]) -> Mapped:
    """MLflow writes each `mlflow.*` value JSON-encoded, plain strings included."""
    kind = text(loads_any(attrs.get("mlflow.spanType")))
    usage = loads_any(attrs.get("mlflow.chat.tokenUsage"))
    usage = usage if isinstance(usage, dict) else {}
    found = Mapped(
        span_type=SpanType.__members__.get(kind.upper()) if kind else None,
        inputs=loads_any(attrs.get("mlflow.spanInputs")),
        outputs=loads_any(attrs.get("mlflow.spanOutputs")),
        input_tokens=token(usage.get("input_tokens")),
        output_tokens=token(usage.get("output_tokens")),
        cached_tokens=token(usage.get("cache_read_input_tokens")),
        model=text(loads_any(attrs.get("mlflow.llm.model"))),
        provider=text(loads_any(attrs.get("mlflow.llm.provider"))),
        user_id=text(loads_any(attrs.get("mlflow.trace.user"))),
        session_id=text(loads_any(attrs.get("mlflow.trace.session"))),
        tags=tag_map(prefixed(attrs, "mlflow.traceTag")),
    )
    request_id = text(loads_any(attrs.get("mlflow.traceRequestId")))
    if request_id is not None:
        found.metadata["mlflow.traceRequestId"] = request_id
    cost = loads_any(attrs.get("mlflow.llm.cost"))
    if isinstance(cost, dict) and amount(cost.get("total_cost")) is not None:
        found.cost, found.cost_source = amount(cost["total_cost"]), "reported (mlflow.llm.cost)"
    return found


def map_langfuse(attrs: Mapping[str, Any]) -> Mapped:
    """Langfuse's documented OTel property mapping (observation and trace keys)."""
    kind = text(attrs.get("langfuse.observation.type"))
    usage = loads(attrs.get("langfuse.observation.usage_details"))
    usage = usage if isinstance(usage, dict) else {}
    found = Mapped(
        span_type=_LANGFUSE_TYPES.get(kind.lower()) if kind else None,
        inputs=loads(first(attrs, "langfuse.observation.input", "langfuse.trace.input")),
        outputs=loads(first(attrs, "langfuse.observation.output", "langfuse.trace.output")),
        input_tokens=token(first(usage, "input", "input_tokens", "prompt_tokens")),
        output_tokens=token(first(usage, "output", "output_tokens", "completion_tokens")),
        cached_tokens=token(_detail(usage, "cache_read", "cached")),
        reasoning_tokens=token(_detail(usage, "reasoning")),
        model=text(attrs.get("langfuse.observation.model.name")),
        user_id=text(attrs.get("langfuse.user.id")),
        session_id=text(attrs.get("langfuse.session.id")),
        environment=text(attrs.get("langfuse.environment")),
        tags=tag_map(attrs.get("langfuse.trace.tags")),
        metadata=_langfuse_metadata(attrs),
    )
    cost = loads(attrs.get("langfuse.observation.cost_details"))
    if isinstance(cost, dict) and amount(cost.get("total")) is not None:
        found.cost = amount(cost["total"])
        found.cost_source = "reported (langfuse.observation.cost_details)"
    if str(attrs.get("langfuse.observation.level", "")).upper() == "ERROR":
        found.error = text(attrs.get("langfuse.observation.status_message"), 10_000) or "error"
    return found


def _detail(usage: Mapping[str, Any], *words: str) -> Any:
    """A usage detail whose key mentions one of `words` (providers spell these many ways)."""
    for key, value in usage.items():
        if any(word in str(key) for word in words):
            return value
    return None


def _langfuse_metadata(attrs: Mapping[str, Any]) -> dict[str, Any]:
    whole = loads(attrs.get("langfuse.trace.metadata"))
    metadata = dict(whole) if isinstance(whole, dict) else {}
    metadata.update({k: loads(v) for k, v in prefixed(attrs, "langfuse.trace.metadata").items()})
    return metadata
