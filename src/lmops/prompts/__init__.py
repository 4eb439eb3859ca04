"""The prompt registry: prompts, immutable versions, aliases, `prompts:/` URIs, rendering.

import lmops

lmops.register_prompt("qa", "Answer briefly: {{ question }}", commit_message="first")
prompt = lmops.load_prompt("prompts:/qa@production")
text = prompt.format(question="What is LoRA?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops.prompts.entities import ChatMessage, Prompt, PromptDiff, RegisteredPrompt

if TYPE_CHECKING:
    from lmops.prompts.sdk import (
        clear_prompt_cache,
        delete_prompt_alias,
        diff,
        get_prompt,
        list_prompt_versions,
        list_prompts,
        load_prompt,
        register_prompt,
        set_prompt_alias,
    )

__all__ = [
    "ChatMessage",
    "Prompt",
    "PromptDiff",
    "RegisteredPrompt",
    "clear_prompt_cache",
    "delete_prompt_alias",
    "diff",
    "get_prompt",
    "list_prompt_versions",
    "list_prompts",
    "load_prompt",
    "register_prompt",
    "set_prompt_alias",
]

_SDK = {
    "clear_prompt_cache",
    "delete_prompt_alias",
    "diff",
    "get_prompt",
    "list_prompt_versions",
    "list_prompts",
    "load_prompt",
    "register_prompt",
    "set_prompt_alias",
}


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from lmops.prompts import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'lmops.prompts' has no attribute {name!r}")
