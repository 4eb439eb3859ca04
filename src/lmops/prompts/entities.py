"""Prompt entities: what the SDK returns and the REST API answers, one model for both."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmops.prompts.templates import check_variables, render

Role = Literal["system", "user", "assistant", "tool", "developer"]


class ChatMessage(BaseModel):
    """One message of a chat prompt; `content` is a template like a text prompt's."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str


class RegisteredPrompt(BaseModel):
    id: str
    name: str
    created_at: datetime
    version_count: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)


class Prompt(BaseModel):
    """An immutable prompt version: a text `template` or chat `messages` (never both), with
    the model parameters and response format it was written for.

    `variables` are the placeholders (`{{ name }}`) its templates use; `format` fills them.
    """

    id: str
    prompt_id: str
    name: str
    version: int
    template: str | None = None
    messages: list[ChatMessage] | None = None
    model_params: dict[str, Any] = Field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    commit_message: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)
    author: str
    created_at: datetime
    aliases: list[str] = Field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def format(self, **variables: Any) -> str | list[dict[str, str]]:
        """The text (a text prompt) or the chat messages with every variable filled in.

        Every variable the prompt uses must be given, and no other: a missing or an
        unknown one is an InvalidInput that names it.
        """
        check_variables(self.variables, variables)
        if self.messages is None:
            return render(self.template or "", variables)
        return [
            {"role": m.role, "content": render(m.content, variables, f"messages[{i}].content")}
            for i, m in enumerate(self.messages)
        ]


class PromptDiff(BaseModel):
    """What changed from version `a` to version `b`: a unified diff of the text (or of
    the messages, one `role: content` block each) and the settings that differ."""

    a: str
    b: str
    text_diff: str
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)  # field -> {a, b}

    @property
    def unchanged(self) -> bool:
        return not self.text_diff and not self.changes
