"""What a prompt version holds, checked before it is stored: the text or the messages, the
model parameters and the response format.

Parameters and the response format are JSON objects that both databases can keep (no NUL,
no lone surrogates, no NaN or infinity, nesting and size bounded). The response format must
look like a JSON schema: an object whose `type`, if given, names JSON types. Full schema
validation would need the `jsonschema` package, which lmops does not depend on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text
from lmops.prompts.entities import ChatMessage
from lmops.prompts.templates import check_template

MAX_MESSAGES = 200
MAX_JSON_CHARS = 100_000
MAX_DEPTH = 32
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def check_body(
    template: str | None, messages: Sequence[Mapping[str, Any] | ChatMessage] | None
) -> tuple[str | None, list[dict[str, str]] | None, list[str]]:
    """The text or the messages (exactly one), checked; and the variables they use."""
    if (template is None) == (messages is None):
        raise InvalidInput(
            "give a template or messages, not both and not neither", field="template"
        )
    if template is not None:
        return template, None, check_template(template)
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise InvalidInput("messages must be a list of {role, content}", field="messages")
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise InvalidInput(f"give 1 to {MAX_MESSAGES} messages", field="messages")
    checked: list[dict[str, str]] = []
    found: set[str] = set()
    for i, message in enumerate(messages):
        try:
            m = ChatMessage.model_validate(message)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"messages[{i}]{'.' + where if where else ''}: {first['msg']}",
                field="messages",
            ) from None
        found |= set(check_template(m.content, f"messages[{i}].content"))
        checked.append({"role": m.role, "content": m.content})
    return None, checked, sorted(found)


def check_object(value: object, field: str) -> dict[str, Any]:
    """A JSON object both databases can store, or InvalidInput naming `field`."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", field=field)
    checked = _check_json(value, field, 0)
    if len(json.dumps(checked)) > MAX_JSON_CHARS:
        raise InvalidInput(f"{field} is larger than {MAX_JSON_CHARS} characters", field=field)
    return dict(checked)


def check_response_format(value: object) -> dict[str, Any] | None:
    """A JSON schema the model's answer should follow (None for free text)."""
    if value is None:
        return None
    schema = check_object(value, "response_format")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    bad = [k for k in kinds if k not in JSON_TYPES]
    if bad:
        raise InvalidInput(
            f"response_format is not a JSON schema: type {bad[0]!r} is none of "
            f"{', '.join(sorted(JSON_TYPES))}",
            field="response_format",
        )
    return schema


def _check_json(value: Any, field: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{field} is nested deeper than {MAX_DEPTH} levels", field=field)
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise InvalidInput(f"{field} holds an integer too large to store", field=field)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field} holds {value}, which JSON cannot carry", field=field)
        return value
    if isinstance(value, Mapping):
        return {
            check_text(str(k), field, max_length=1000): _check_json(v, field, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_check_json(v, field, depth + 1) for v in value]
    raise InvalidInput(f"{field} holds a {type(value).__name__}, which is not JSON", field=field)
