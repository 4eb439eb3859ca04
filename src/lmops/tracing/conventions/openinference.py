"""OpenInference conventions (Arize Phoenix and the openinference-instrumentation-* packages)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmops.tracing.conventions.values import (
    Mapped,
    amount,
    first,
    indexed,
    loads,
    tag_map,
    text,
    token,
)
from lmops.tracing.entities import SpanType

_KINDS = {
    "LLM": SpanType.LLM,
    "CHAIN": SpanType.CHAIN,
    "TOOL": SpanType.TOOL,
    "AGENT": SpanType.AGENT,
    "RETRIEVER": SpanType.RETRIEVER,
    "EMBEDDING": SpanType.EMBEDDING,
    "RERANKER": SpanType.RERANKER,
    "GUARDRAIL": SpanType.GUARDRAIL,
    "EVALUATOR": SpanType.EVALUATOR,
    "PROMPT": SpanType.CHAIN,
    "UNKNOWN": SpanType.UNKNOWN,
}
# OpenInference wraps each list item in a key naming its kind: `0.message.role`,
# `contents.0.message_content.text`, `tool_calls.0.tool_call.function.name`.
_WRAPPERS = frozenset({"message", "message_content", "tool_call", "document", "embedding"})
_MAX_DEPTH = 16


def map_openinference(attrs: Mapping[str, Any]) -> Mapped:
    """Lift what the OpenInference keys say about a span."""
    kind = text(attrs.get("openinference.span.kind"))
    found = Mapped(
        span_type=_KINDS.get(kind.upper()) if kind else None,
        inputs=_inputs(attrs),
        outputs=_outputs(attrs),
        input_tokens=token(attrs.get("llm.token_count.prompt")),
        output_tokens=token(attrs.get("llm.token_count.completion")),
        cached_tokens=token(attrs.get("llm.token_count.prompt_details.cache_read")),
        reasoning_tokens=token(attrs.get("llm.token_count.completion_details.reasoning")),
        model=text(first(attrs, "llm.model_name", "embedding.model_name", "reranker.model_name")),
        provider=text(first(attrs, "llm.provider", "llm.system")),
        user_id=text(attrs.get("user.id")),
        session_id=text(attrs.get("session.id")),
        tags=tag_map(attrs.get("tag.tags")),
        metadata=_metadata(attrs.get("metadata")),
    )
    cost = amount(attrs.get("llm.cost.total"))
    if cost is not None:
        found.cost, found.cost_source = cost, "reported (llm.cost.total)"
    return found


def _inputs(attrs: Mapping[str, Any]) -> Any:
    messages = indexed(attrs, "llm.input_messages")
    if messages:
        return {"messages": _unwrap(messages)}
    if attrs.get("input.value") is not None:
        return _value(attrs["input.value"], attrs.get("input.mime_type"))
    texts = indexed(attrs, "embedding.embeddings")
    if texts:
        return {"embeddings": _unwrap(texts)}
    query = attrs.get("reranker.query")
    return {"query": query} if query is not None else None


def _outputs(attrs: Mapping[str, Any]) -> Any:
    messages = indexed(attrs, "llm.output_messages")
    if messages:
        return {"messages": _unwrap(messages)}
    if attrs.get("output.value") is not None:
        return _value(attrs["output.value"], attrs.get("output.mime_type"))
    for key in ("retrieval.documents", "reranker.output_documents"):
        documents = indexed(attrs, key)
        if documents:
            return {"documents": _unwrap(documents)}
    return None


def _value(value: Any, mime_type: Any) -> Any:
    if isinstance(value, str) and isinstance(mime_type, str) and "json" in mime_type.lower():
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _metadata(value: Any) -> dict[str, Any]:
    value = loads(value)
    return dict(value) if isinstance(value, dict) else {}


def _unwrap(node: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return node
    if isinstance(node, list):
        return [_unwrap(item, depth + 1) for item in node]
    if isinstance(node, dict):
        if len(node) == 1:
            (key, inner), *_ = node.items()
            if key in _WRAPPERS and isinstance(inner, dict):
                return _unwrap(inner, depth + 1)
        return {k: _unwrap(v, depth + 1) for k, v in node.items()}
    return node
