"""What a convention lifts out of a span's attributes, and the helpers every source shares."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmops.tracing.entities import SpanType

MAX_TOKENS = 2**62
_MAX_DEPTH = 16


@dataclass
class Mapped:
    """The span fields one source of conventions found; None where it found nothing."""

    span_type: SpanType | None = None
    inputs: Any = None
    outputs: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    model: str | None = None
    provider: str | None = None
    cost: float | None = None
    cost_source: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    environment: str | None = None
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def first(attrs: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present and not empty."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def loads(value: Any) -> Any:
    """Parse a string that holds a JSON object or array; anything else comes back as is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def loads_any(value: Any) -> Any:
    """Parse any JSON text (MLflow writes every attribute JSON-encoded, strings included)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def token(value: Any) -> int | None:
    """A token count from an int, an integral float or a numeric string; None if not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def amount(value: Any) -> float | None:
    """A non-negative finite cost, or None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def text(value: Any, limit: int = 255) -> str | None:
    """A short label (model, provider, user, session): text without NULs, cut to `limit`."""
    if value is None or isinstance(value, dict | list):
        return None
    label = str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return label[:limit] or None


def tag_map(value: Any) -> dict[str, str]:
    """Tags from a list of names (each becomes a key with an empty value) or a mapping."""
    value = loads(value)
    if isinstance(value, str):
        value = [value]
    pairs: list[tuple[Any, Any]]
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [(v, "") for v in value]
    else:
        return {}
    tags: dict[str, str] = {}
    for key, tag_value in pairs:
        name = text(key, 250)
        if name is not None:
            tags[name] = text(tag_value, 1000) or ""
    return tags


def prefixed(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The attributes under `prefix.`, with the prefix taken off their keys."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in attrs.items() if k.startswith(start) and k != start}


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[Any]:
    """Rebuild a list flattened into keys like `prefix.0.message.role`, in index order."""
    items: dict[int, dict[str, Any]] = {}
    for rest, value in prefixed(attrs, prefix).items():
        index, _, path = rest.partition(".")
        if not index.isdigit() or not path:
            continue
        _put(items.setdefault(int(index), {}), path.split("."), value)
    return [_listify(items[i]) for i in sorted(items)]


def _put(node: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return  # a scalar already sits where a nested key wants to go; keep the scalar
        node = child
    node.setdefault(path[-1], value)


def _listify(node: Any, depth: int = 0) -> Any:
    """Nested dicts whose keys are all indexes become lists, recursively."""
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k], depth + 1) for k in sorted(node, key=int)]
    return {k: _listify(v, depth + 1) for k, v in node.items()}
