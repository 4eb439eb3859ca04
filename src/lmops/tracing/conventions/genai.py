"""OpenTelemetry GenAI semantic conventions: the current names, the deprecated ones, and the
content events (gen_ai.user.message, gen_ai.choice, ...) older instrumentations emit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lmops.tracing.conventions.values import Mapped, first, indexed, loads, text, token
from lmops.tracing.entities import SpanEvent, SpanType

_OPERATIONS = {
    "chat": SpanType.CHAT_MODEL,
    "text_completion": SpanType.LLM,
    "completion": SpanType.LLM,
    "generate_content": SpanType.LLM,
    "embeddings": SpanType.EMBEDDING,
    "embedding": SpanType.EMBEDDING,
    "execute_tool": SpanType.TOOL,
    "create_agent": SpanType.AGENT,
    "invoke_agent": SpanType.AGENT,
    "invoke_workflow": SpanType.CHAIN,
    "retrieval": SpanType.RETRIEVER,
    "rerank": SpanType.RERANKER,
}
# OpenLLMetry (Traceloop) marks its non-LLM spans this way.
_TRACELOOP_KINDS = {
    "workflow": SpanType.CHAIN,
    "task": SpanType.CHAIN,
    "agent": SpanType.AGENT,
    "tool": SpanType.TOOL,
}
_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHED_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cached_tokens",
    "gen_ai.usage.input_cached_tokens",
)
REASONING_TOKENS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.output_reasoning_tokens",
)


def map_genai(attrs: Mapping[str, Any], events: Sequence[SpanEvent]) -> Mapped:
    """Lift what the GenAI conventions say about a span."""
    found = Mapped(
        span_type=_span_type(attrs),
        inputs=_inputs(attrs, events),
        outputs=_outputs(attrs, events),
        input_tokens=token(first(attrs, *INPUT_TOKENS)),
        output_tokens=token(first(attrs, *OUTPUT_TOKENS)),
        cached_tokens=token(first(attrs, *CACHED_TOKENS)),
        reasoning_tokens=token(first(attrs, *REASONING_TOKENS)),
        model=text(first(attrs, "gen_ai.response.model", "gen_ai.request.model")),
        provider=text(first(attrs, "gen_ai.provider.name", "gen_ai.system")),
        session_id=text(attrs.get("gen_ai.conversation.id")),
    )
    if found.span_type is None and (found.model or found.input_tokens is not None):
        found.span_type = SpanType.LLM
    return found


def _span_type(attrs: Mapping[str, Any]) -> SpanType | None:
    operation = text(attrs.get("gen_ai.operation.name"))
    if operation is not None and operation.lower() in _OPERATIONS:
        return _OPERATIONS[operation.lower()]
    kind = text(attrs.get("traceloop.span.kind"))
    return _TRACELOOP_KINDS.get(kind.lower()) if kind else None


def _inputs(attrs: Mapping[str, Any], events: Sequence[SpanEvent]) -> Any:
    messages = loads(attrs.get("gen_ai.input.messages"))
    system = loads(attrs.get("gen_ai.system_instructions"))
    if messages is not None or system is not None:
        found: dict[str, Any] = {}
        if system is not None:
            found["system_instructions"] = system
        if messages is not None:
            found["messages"] = messages
        return found
    if attrs.get("gen_ai.tool.call.arguments") is not None:
        return loads(attrs["gen_ai.tool.call.arguments"])
    return _as_messages(
        loads(attrs.get("gen_ai.prompt")), indexed(attrs, "gen_ai.prompt")
    ) or _event_inputs(events)


def _outputs(attrs: Mapping[str, Any], events: Sequence[SpanEvent]) -> Any:
    messages = loads(attrs.get("gen_ai.output.messages"))
    if messages is not None:
        return {"messages": messages}
    if attrs.get("gen_ai.tool.call.result") is not None:
        return loads(attrs["gen_ai.tool.call.result"])
    return _as_messages(
        loads(attrs.get("gen_ai.completion")), indexed(attrs, "gen_ai.completion")
    ) or _event_outputs(events)


def _as_messages(whole: Any, items: list[Any]) -> Any:
    """The deprecated gen_ai.prompt / gen_ai.completion: one value, or indexed messages."""
    if items:
        return {"messages": items}
    if isinstance(whole, list):
        return {"messages": whole}
    return whole


def _event_inputs(events: Sequence[SpanEvent]) -> Any:
    messages: list[Any] = []
    for event in events:
        attrs = event.attributes
        if event.name in _ROLE_EVENTS:
            messages.append(_event_message(attrs, _ROLE_EVENTS[event.name]))
        elif event.name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
            return _as_messages(loads(attrs["gen_ai.prompt"]), [])
        elif "gen_ai.input.messages" in attrs:
            return {"messages": loads(attrs["gen_ai.input.messages"])}
    return {"messages": messages} if messages else None


def _event_outputs(events: Sequence[SpanEvent]) -> Any:
    messages: list[Any] = []
    for event in events:
        attrs = event.attributes
        if event.name == "gen_ai.choice":
            choice = _event_message(attrs, "assistant")
            inner = choice.pop("message", None)
            if isinstance(inner, dict):
                choice = {**inner, **choice}
            messages.append(choice)
        elif event.name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
            return _as_messages(loads(attrs["gen_ai.completion"]), [])
        elif "gen_ai.output.messages" in attrs:
            return {"messages": loads(attrs["gen_ai.output.messages"])}
    return {"messages": messages} if messages else None


def _event_message(attrs: Mapping[str, Any], role: str) -> dict[str, Any]:
    """One message from an event: its own attributes, plus a JSON body when one was sent."""
    message = {k: loads(v) for k, v in attrs.items() if not k.startswith("gen_ai.")}
    body = loads(first(attrs, "gen_ai.event.content", "event.body", "body"))
    if isinstance(body, dict):
        message.update(body)
    elif body is not None:
        message.setdefault("content", body)
    message.setdefault("role", role)
    return message
