"""What the playground asks of the server besides its page: the prompt versions to pick from,
prompt text (a registered version, or an edit not saved yet) checked and filled in, and what
an answer cost by the price table.

The routes are in `lmops.server.ui.endpoints`, beside the gateway pages the playground calls.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmops.core.errors import InvalidInput
from lmops.core.uris import VersionRef, parse_uri
from lmops.prompts.content import check_body
from lmops.prompts.entities import Prompt
from lmops.prompts.store import PromptStore
from lmops.prompts.templates import check_variables, render
from lmops.serving.entities import Endpoint
from lmops.tracing.prices import PriceStore, price_row

MAX_PANELS = 8  # (prompt version, endpoint) pairs run side by side
PROMPT_VERSIONS_SHOWN = 10


class PromptText(BaseModel):
    """A registered version (`uri`) or edited text (`template` or `messages`) to check, and the
    values of its variables to fill it with."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = Field(default=None, max_length=1000)
    template: str | None = None
    messages: list[dict[str, Any]] | None = None  # checked one by one, each error placed
    variables: dict[str, str] | None = None


def prompt_choices(store: PromptStore) -> list[tuple[str, list[tuple[str, str]]]]:
    """(prompt name, [(version URI, label)]) newest first, for the playground's picker."""
    groups = []
    for registered in store.list_prompts():
        versions = store.list_versions(registered.name)[::-1][:PROMPT_VERSIONS_SHOWN]
        choices = [(v.uri, version_label(v)) for v in versions]
        if choices:
            groups.append((registered.name, choices))
    return groups


def version_label(version: Prompt) -> str:
    aliases = f" @{' @'.join(version.aliases)}" if version.aliases else ""
    kind = "chat" if version.is_chat else "text"
    return f"{version.name} v{version.version} ({kind}){aliases}"


def describe_version(version: Prompt) -> dict[str, Any]:
    """A version as the playground shows and edits it."""
    return {
        "uri": version.uri,
        "name": version.name,
        "version": version.version,
        "label": version_label(version),
        "template": version.template,
        "messages": [m.model_dump() for m in version.messages or []] or None,
        "variables": version.variables,
        "model_params": version.model_params,
        "response_format": version.response_format,
        "commit_message": version.commit_message,
    }


def fill_in(store: PromptStore, text: PromptText) -> dict[str, Any]:
    """The variables the text uses and, when values are given (or it uses none), the chat
    messages it makes: a text prompt becomes the user's message.

    Edited text is checked as registering it would check it, so a stray `}}` is named here
    with its line and column before anyone tries to save it."""
    if text.uri is not None:
        if text.template is not None or text.messages is not None:
            raise InvalidInput("give a version's uri or edited text, not both", field="uri")
        version = store.get_version(text.uri)
        template = version.template
        messages = [m.model_dump() for m in version.messages] if version.messages else None
        variables = version.variables
    else:
        template, messages, variables = check_body(text.template, text.messages)
    filled = None
    if text.variables is not None or not variables:
        given = text.variables or {}
        check_variables(variables, given)
        if messages is None:
            filled = [{"role": "user", "content": render(template or "", given)}]
        else:
            filled = [
                {"role": m["role"], "content": render(m["content"], given, _field(i))}
                for i, m in enumerate(messages)
            ]
    return {"variables": variables, "messages": filled}


def answer_costs(
    endpoint: Endpoint, prices: PriceStore, input_tokens: int, output_tokens: int
) -> list[dict[str, Any]]:
    """What an answer with these token counts cost on each model the endpoint sends traffic
    to, as the trace of it records: USD from the price table, None where a model has none.

    The gateway prices a request by the name its model is served under, the registered
    model's name; the stream does not say which route answered, so a split endpoint gets
    one figure per model."""
    models = dict.fromkeys(_served_name(r.model) for r in endpoint.routes if r.weight > 0)
    table = prices.prices_for(set(models))
    found = []
    for model in models:
        row: dict[str, Any] = {
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_tokens": None,
            "reasoning_tokens": None,
            "cost": None,
            "cost_source": None,
        }
        price_row(row, table)
        found.append({"model": model, "cost": row["cost"], "source": row["cost_source"]})
    return found


def _served_name(uri: str) -> str:
    ref = parse_uri(uri)
    return ref.name if isinstance(ref, VersionRef) else uri


def _field(index: int) -> str:
    return f"messages[{index}].content"
