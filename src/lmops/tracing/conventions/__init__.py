"""Attribute conventions mapped onto span fields: OpenTelemetry GenAI, OpenInference, MLflow,
Langfuse. The raw attributes stay on the span; this only fills the lifted fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from lmops.tracing.conventions.genai import map_genai
from lmops.tracing.conventions.openinference import map_openinference
from lmops.tracing.conventions.values import Mapped, first, text
from lmops.tracing.conventions.vendors import map_langfuse, map_mlflow
from lmops.tracing.entities import SpanEvent

__all__ = ["Mapped", "map_span"]

_MERGED = ("tags", "metadata")


def map_span(
    attributes: Mapping[str, Any],
    resource: Mapping[str, Any] | None = None,
    events: Sequence[SpanEvent] = (),
) -> Mapped:
    """What the attribute conventions say about one span.

    Where sources disagree the most specific wins: vendor keys (Langfuse, MLflow), then
    OpenInference, then the GenAI conventions, then generic keys (`user.id`, `enduser.id`,
    `deployment.environment`), which may also sit on the resource.
    """
    resource = resource or {}
    sources = [
        map_langfuse(attributes),
        map_mlflow(attributes),
        map_openinference(attributes),
        map_genai(attributes, events),
        _generic({**resource, **attributes}),
    ]
    merged = Mapped()
    for item in fields(Mapped):
        if item.name in _MERGED:
            continue
        for found in sources:
            value = getattr(found, item.name)
            if value is not None:
                setattr(merged, item.name, value)
                break
    if merged.cost_source is not None and merged.cost is None:
        merged.cost_source = None
    for found in reversed(sources):
        merged.tags.update(found.tags)
        merged.metadata.update(found.metadata)
    return merged


def _generic(attrs: Mapping[str, Any]) -> Mapped:
    return Mapped(
        user_id=text(first(attrs, "user.id", "enduser.id")),
        session_id=text(first(attrs, "session.id")),
        environment=text(first(attrs, "deployment.environment.name", "deployment.environment")),
    )
