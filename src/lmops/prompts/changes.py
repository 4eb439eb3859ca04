"""What changed between two prompt versions: a unified diff and the settings that differ."""

from __future__ import annotations

import difflib
import json

from lmops.prompts.entities import Prompt, PromptDiff

_COMPARED = ("model_params", "response_format", "tags", "variables", "commit_message")


def diff_versions(a: Prompt, b: Prompt) -> PromptDiff:
    """The unified diff of `a`'s text (or messages) against `b`'s, and each changed setting."""
    lines = difflib.unified_diff(
        _text(a).splitlines(keepends=True),
        _text(b).splitlines(keepends=True),
        fromfile=a.uri,
        tofile=b.uri,
    )
    text_diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    changes = {
        field: {"a": getattr(a, field), "b": getattr(b, field)}
        for field in _COMPARED
        if getattr(a, field) != getattr(b, field)
    }
    for key in sorted({*a.model_params, *b.model_params}):
        if a.model_params.get(key) != b.model_params.get(key):
            changes[f"model_params.{key}"] = {
                "a": a.model_params.get(key),
                "b": b.model_params.get(key),
            }
    changes.pop("model_params", None)  # said key by key above
    return PromptDiff(a=a.uri, b=b.uri, text_diff=text_diff, changes=changes)


def _text(prompt: Prompt) -> str:
    """What a person reads as the prompt: the template, or each message as `[role]` + text."""
    if prompt.messages is None:
        return prompt.template or ""
    return "".join(f"[{m.role}]\n{m.content.rstrip(chr(10))}\n" for m in prompt.messages)


def describe(found: PromptDiff) -> str:
    """The diff as text for a terminal: the unified diff, then one line per changed setting."""
    if found.unchanged:
        return f"{found.a} and {found.b} are the same\n"
    out = [found.text_diff]
    for field, change in found.changes.items():
        out.append(f"{field}: {json.dumps(change['a'])} -> {json.dumps(change['b'])}\n")
    return "".join(out)
