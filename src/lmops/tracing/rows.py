"""The row form of a span: what the SDK queues and the store inserts, no object per span.

A row has the spans table's columns; `start_time`/`end_time` are aware datetimes, every
other value is JSON-ready, and `context` is a dict of the trace-level fields it sets.
"""

from __future__ import annotations

from typing import Any

from lmops.tracing.entities import Span
from lmops.tracing.limits import cut, truncate_values

SpanRow = dict[str, Any]


def span_row(s: Span) -> SpanRow:
    """The row of a validated span, with oversized values cut (the untrusted path)."""
    return {
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "name": cut(s.name, 1000),
        "span_type": str(s.span_type),
        "start_time": s.start_time,
        # An end before the start (clock skew between hosts) would give a negative duration.
        "end_time": max(s.end_time, s.start_time) if s.end_time is not None else None,
        "status": str(s.status),
        "status_message": truncate_values(s.status_message),
        "attributes": truncate_values(s.attributes),
        "events": [truncate_values(e.model_dump(mode="json")) for e in s.events],
        "inputs": truncate_values(s.inputs),
        "outputs": truncate_values(s.outputs),
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cached_tokens": s.cached_tokens,
        "reasoning_tokens": s.reasoning_tokens,
        "cost": s.cost,
        "cost_source": cut(s.cost_source, 1000),
        "model": cut(s.model, 255),
        "provider": cut(s.provider, 255),
        "context": truncate_values(s.context.model_dump(mode="json", exclude_defaults=True)),
    }


def row_json(row: SpanRow) -> SpanRow:
    """A row as JSON for the wire (times as ISO 8601)."""
    end = row["end_time"]
    return {
        **row,
        "start_time": row["start_time"].isoformat(),
        "end_time": end.isoformat() if end is not None else None,
    }
