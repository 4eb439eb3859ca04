"""The prompt SDK: register versions, load them by `prompts:/` URI, move aliases.

In-process, like the registry SDK: it talks to the store the current settings name.
`load_prompt` keeps what it loaded: a numbered version never changes, so it is kept for
the life of the process; an alias may move, so what it resolved to is kept `ALIAS_TTL_S`
seconds at most (0 resolves every time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings, current
from lmops.core.uris import VersionRef, parse_uri
from lmops.prompts.changes import diff_versions
from lmops.prompts.entities import ChatMessage, Prompt, PromptDiff, RegisteredPrompt
from lmops.prompts.store import PromptStore

ALIAS_TTL_S = 10.0
_MAX_CACHED = 1024

_lock = threading.Lock()
# (store uri, project, prompt uri) -> (when it was loaded, the version)
_cache: dict[tuple[str, str, str], tuple[float, Prompt]] = {}


def open_prompts(settings: Settings) -> PromptStore:
    """The prompt store the settings name (in-process only)."""
    if settings.is_remote:
        raise InvalidInput(
            f"prompts work in-process only for now: LMOPS_URI={settings.uri} is a server; "
            "point LMOPS_URI at the store (sqlite:/// or postgresql+psycopg://)",
            field="uri",
        )
    from lmops.store import open_engine

    return PromptStore(open_engine(settings.uri), settings.project)


def _store() -> PromptStore:
    return open_prompts(current())


def register_prompt(
    name: str,
    template: str | None = None,
    *,
    messages: Sequence[Mapping[str, Any] | ChatMessage] | None = None,
    model_params: Mapping[str, Any] | None = None,
    response_format: Mapping[str, Any] | None = None,
    commit_message: str = "",
    tags: Mapping[str, str] | None = None,
) -> Prompt:
    """Register the next version of prompt `name`: a text `template` or chat `messages`
    (`[{"role": "system", "content": "..."}]`), with `{{ variable }}` placeholders."""
    return _store().create_version(
        name,
        template=template,
        messages=messages,
        model_params=model_params,
        response_format=response_format,
        commit_message=commit_message,
        tags=tags,
    )


def load_prompt(uri: str, *, cache_ttl_s: float | None = None) -> Prompt:
    """The version `prompts:/name/3`, `prompts:/name@alias` or `prompts:/name@latest` names.

    A numbered version is cached for good; an alias for `cache_ttl_s` seconds (default
    `ALIAS_TTL_S`), so a moved alias is seen within that time.
    """
    settings = current()
    ref = parse_uri(uri)
    if not isinstance(ref, VersionRef) or ref.kind != "prompts":
        raise InvalidInput(
            f"{uri!r} is not a prompt URI: use prompts:/<name>/<version>", field="uri"
        )
    key = (settings.uri, settings.project, str(ref))
    ttl = ALIAS_TTL_S if cache_ttl_s is None else cache_ttl_s
    now = time.monotonic()
    with _lock:
        found = _cache.get(key)
    if found is not None and (ref.version is not None or now - found[0] < ttl):
        return found[1]
    prompt = open_prompts(settings).get_version(ref)
    with _lock:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[key] = (now, prompt)
    return prompt


def clear_prompt_cache() -> None:
    """Forget every prompt `load_prompt` kept."""
    with _lock:
        _cache.clear()


def get_prompt(name: str) -> RegisteredPrompt:
    return _store().get_prompt(name)


def list_prompts() -> list[RegisteredPrompt]:
    return _store().list_prompts()


def list_prompt_versions(name: str) -> list[Prompt]:
    return _store().list_versions(name)


def set_prompt_alias(name: str, alias: str, version: int) -> Prompt:
    """Point `prompts:/name@alias` at `version`."""
    return _store().set_alias(name, alias, version)


def delete_prompt_alias(name: str, alias: str) -> None:
    _store().delete_alias(name, alias)


def diff(a: str | Prompt, b: str | Prompt) -> PromptDiff:
    """What changed from `a` to `b` (versions or their `prompts:/` URIs)."""
    first, second = (v if isinstance(v, Prompt) else _store().get_version(v) for v in (a, b))
    return diff_versions(first, second)
