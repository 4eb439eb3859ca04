"""Size limits on span payloads: oversized values are cut with a marker, never refused."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_STRING = 32_768
PREVIEW = 300
_MAX_DEPTH = 32


def truncate_values(value: Any, limit: int = MAX_STRING, _depth: int = 0) -> Any:
    """Copy `value` with every string longer than `limit` cut and marked, NULs removed."""
    if isinstance(value, str):
        if len(value) <= limit and value.isascii() and "\x00" not in value:
            return value
        if not value.isascii():  # lone surrogates cannot be stored: replace them
            value = value.encode("utf-8", "replace").decode("utf-8")
        if "\x00" in value:
            value = value.replace("\x00", "")
        if len(value) > limit:
            return f"{value[:limit]}…[truncated {len(value) - limit} characters]"
        return value
    if _depth >= _MAX_DEPTH:
        return "…[nested too deep]"
    if isinstance(value, dict):
        return {
            str(truncate_values(k, 1000, _depth + 1)): truncate_values(v, limit, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [truncate_values(v, limit, _depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def cut(value: Any, length: int) -> Any:
    """Text for a column of `length` characters: cleaned, then cut without a marker."""
    if not isinstance(value, str):
        return value
    clean: str = truncate_values(value, length)
    return clean[:length]


def preview(value: Any) -> str | None:
    """A short single-line text of a span's inputs or outputs for list pages."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        text = only if isinstance(only, str) else json.dumps(only, default=str)
    else:
        text = json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"
