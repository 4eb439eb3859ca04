"""Spans being recorded: the context variables that say which span is current, and the
mutable span the SDK fills until it ends."""

from __future__ import annotations

import contextvars
import secrets
import traceback
from datetime import datetime
from typing import Any

from lmops.core.ids import new_id, utcnow
from lmops.tracing.entities import (
    SpanStatus,
    SpanType,
    TraceContext,
)
from lmops.tracing.limits import cut, truncate_values
from lmops.tracing.rows import SpanRow
from lmops.tracing.serialize import to_jsonable

_current: contextvars.ContextVar[LiveSpan | None] = contextvars.ContextVar(
    "lmops_current_span", default=None
)


def current_span() -> LiveSpan | None:
    """The innermost span open in this context (thread or asyncio task)."""
    return _current.get()


class LiveTrace:
    """What all spans of one trace share while it is being recorded.

    The trace context (user, session, tags...) travels on the root span and on any span
    that ends after it changed, not on every span: copying it is most of a span's cost.
    """

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.context = TraceContext()
        self._version = 0
        self._sent = 0

    def update(
        self,
        *,
        user: str | None = None,
        session: str | None = None,
        environment: str | None = None,
        tags: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        prompt_version: str | None = None,
    ) -> None:
        ctx = self.context
        if prompt_version is not None:
            ctx.prompt_version = prompt_version
        if user is not None:
            ctx.user_id = user
        if session is not None:
            ctx.session_id = session
        if environment is not None:
            ctx.environment = environment
        ctx.tags.update(tags or {})
        ctx.metadata.update(to_jsonable(metadata or {}))
        self._version += 1

    def context_for(self, is_root: bool) -> dict[str, Any]:
        if not is_root and self._version == self._sent:
            return {}
        self._sent = self._version
        return self.context.model_dump(mode="json", exclude_defaults=True)


class LiveSpan:
    """A span being recorded; `finish()` turns it into an immutable Span."""

    def __init__(
        self,
        name: str,
        span_type: SpanType | str = SpanType.UNKNOWN,
        parent: LiveSpan | None = None,
    ) -> None:
        self.trace: LiveTrace = parent.trace if parent is not None else LiveTrace(new_id())
        self.span_id = secrets.token_hex(8)
        self.parent_span_id = parent.span_id if parent is not None else None
        self.name: str = cut(name, 1000)
        self.span_type = SpanType(span_type)
        self.start_time: datetime = utcnow()
        self.attributes: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.inputs: Any = None
        self.outputs: Any = None
        self.status = SpanStatus.UNSET
        self.status_message: str | None = None
        self.usage: dict[str, int | None] = {}
        self.cost: float | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self._token: contextvars.Token[LiveSpan | None] | None = None

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    def set_inputs(self, inputs: Any) -> None:
        self.inputs = to_jsonable(inputs)

    def set_outputs(self, outputs: Any) -> None:
        self.outputs = to_jsonable(outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = to_jsonable(value)

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_usage(
        self,
        input: int | None = None,
        output: int | None = None,
        cached: int | None = None,
        reasoning: int | None = None,
    ) -> None:
        """Token counts of an LLM call."""
        self.usage = {"input": input, "output": output, "cached": cached, "reasoning": reasoning}

    def set_model(self, model: str | None, provider: str | None = None) -> None:
        self.model = cut(model, 255)
        self.provider = cut(provider, 255) or self.provider

    def set_cost(self, cost: float) -> None:
        """A cost the caller knows (else the server prices tokens from its price table)."""
        self.cost = cost

    def set_status(self, status: SpanStatus | str, message: str | None = None) -> None:
        self.status, self.status_message = SpanStatus(status), truncate_values(message)

    def add_event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        self.events.append(
            {
                "name": name,
                "time": utcnow().isoformat(),
                "attributes": to_jsonable(attributes or {}),
            }
        )

    def record_exception(self, exc: BaseException) -> None:
        self.set_status(SpanStatus.ERROR, f"{type(exc).__name__}: {exc}")
        self.add_event(
            "exception",
            {
                "exception.type": type(exc).__name__,
                "exception.message": str(exc),
                "exception.stacktrace": "".join(traceback.format_exception(exc))[-8000:],
            },
        )

    def activate(self) -> None:
        self._token = _current.set(self)

    def deactivate(self) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # ended in another context (a generator closed elsewhere)
                _current.set(None)
            self._token = None

    def finish(self) -> SpanRow:
        """End the span and return its row (see rows.py): values are already JSON-ready
        and cut to size by to_jsonable, so the store inserts it as it is."""
        if self.status == SpanStatus.UNSET:
            self.status = SpanStatus.OK
        context = self.trace.context_for(self.parent_span_id is None)
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "span_type": self.span_type.value,
            "start_time": self.start_time,
            "end_time": utcnow(),
            "status": self.status.value,
            "status_message": self.status_message,
            "attributes": self.attributes,
            "events": self.events,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "input_tokens": self.usage.get("input"),
            "output_tokens": self.usage.get("output"),
            "cached_tokens": self.usage.get("cached"),
            "reasoning_tokens": self.usage.get("reasoning"),
            "cost": self.cost,
            "cost_source": None,
            "model": self.model,
            "provider": self.provider,
            "context": context,
        }
