"""Checks for text that users send and every store must be able to keep."""

from __future__ import annotations

from lmops.core.errors import InvalidInput


def check_text(value: str, field: str, *, max_length: int | None = None) -> str:
    """Refuse text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {type(value).__name__}", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{field} is not valid Unicode: {exc.reason}", field=field) from None
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    return value
