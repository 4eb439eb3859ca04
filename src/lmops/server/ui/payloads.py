"""How span inputs, outputs and attributes show: chat as a conversation, the rest as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

LONG_CHARS = 800  # longer values start collapsed, with a control to expand them
LONG_LINES = 14
_MESSAGE_EXTRAS = ("name", "tool_calls", "tool_call_id", "function_call")


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    extra: str = ""  # tool calls and the like, as pretty JSON

    @property
    def long(self) -> bool:
        return is_long(self.content)


@dataclass(frozen=True)
class Payload:
    kind: Literal["empty", "chat", "text", "json"]
    text: str = ""  # for text and json
    messages: list[Message] = field(default_factory=list)
    rest: str = ""  # for chat: the other keys beside the messages (model, temperature...)

    @property
    def long(self) -> bool:
        return is_long(self.text)


def describe(value: Any) -> Payload:
    """Decide how to show one value: a conversation, plain text, or pretty JSON."""
    if value is None or value == "" or value == {} or value == []:
        return Payload("empty")
    if isinstance(value, str):
        return Payload("text", text=value)
    messages, rest = _chat(value)
    if messages is not None:
        return Payload("chat", messages=messages, rest=pretty(rest) if rest else "")
    return Payload("json", text=pretty(value))


def pretty(value: Any) -> str:
    """Indented JSON (text stays text)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def is_long(text: str) -> bool:
    return len(text) > LONG_CHARS or text.count("\n") >= LONG_LINES


def _chat(value: Any) -> tuple[list[Message] | None, dict[str, Any]]:
    """Messages in `value` and the keys beside them: a list of {role, content}, an OpenAI
    request ({"messages": [...]}), response ({"choices": [{"message": ...}]}) or one message."""
    if isinstance(value, list):
        return _messages(value), {}
    if not isinstance(value, dict):
        return None, {}
    if "messages" in value:
        found = _messages(value["messages"])
        return found, {k: v for k, v in value.items() if k != "messages"}
    choices = value.get("choices")
    if isinstance(choices, list) and choices:
        inner = [c.get("message") if isinstance(c, dict) else None for c in choices]
        found = _messages(inner)
        return found, {k: v for k, v in value.items() if k != "choices"}
    if _is_message(value):
        return _messages([value]), {}
    return None, {}


def _is_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("role"), str)
        and ("content" in item or "tool_calls" in item)
    )


def _messages(items: Any) -> list[Message] | None:
    if not isinstance(items, list) or not items or not all(_is_message(i) for i in items):
        return None
    return [
        Message(
            role=item["role"],
            content=_content(item.get("content")),
            extra=pretty(extra) if (extra := _extras(item)) else "",
        )
        for item in items
    ]


def _extras(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in _MESSAGE_EXTRAS if item.get(k) not in (None, "", [])}


def _content(content: Any) -> str:
    """Message content as text: multimodal parts become their text, or a [type] marker."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and "type" in part:
                parts.append(f"[{part['type']}]")
            else:
                parts.append(pretty(part))
        return "\n".join(parts)
    return pretty(content)


# -- numbers and times -------------------------------------------------------------------


def format_ms(ms: float | None) -> str:
    """A latency: 850 ms, 1.24 s, 2 min 5 s."""
    if ms is None:
        return ""
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def format_cost(cost: float | None) -> str:
    """US dollars, with enough digits for the fractions of a cent one call costs."""
    if cost is None:
        return ""
    if cost == 0:
        return "$0"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.6f}".rstrip("0")


def format_precise(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
