"""Turn whatever a traced function takes or returns into JSON-ready values."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from lmops.tracing.limits import truncate_values

_MAX_ITEMS = 1000
_MAX_DEPTH = 16


_PLAIN = frozenset({bool, int, type(None)})


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy, cut to the size limits: pydantic models and dataclasses as dicts,
    unknown objects as repr, long strings truncated with a marker."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is str or kind is float:
        return truncate_values(value)
    if _depth >= _MAX_DEPTH:
        return repr(value)[:200]
    if isinstance(value, str | float):
        return truncate_values(value)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, Mapping):
        items = list(value.items())[:_MAX_ITEMS]
        return {truncate_values(str(k), 1000): to_jsonable(v, _depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth + 1) for v in list(value)[:_MAX_ITEMS]]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    dump = getattr(value, "model_dump", None)  # pydantic v2 (the openai client's types)
    if callable(dump):
        try:
            return to_jsonable(dump(), _depth + 1)
        except Exception:
            return repr(value)[:1000]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), _depth + 1)
    return repr(value)[:1000]
