"""REST API for the prompt registry: /api/v1/prompts, their versions, aliases and diffs.

A version never changes: there is no PATCH. Registering one checks its templates first,
so a syntax error or an unbalanced `{{` answers 400 with its line and column.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lmops.core.uris import VersionRef, check_name
from lmops.prompts.changes import diff_versions
from lmops.prompts.entities import ChatMessage, Prompt, PromptDiff, RegisteredPrompt
from lmops.prompts.store import LATEST, MAX_TAGS, PromptStore
from lmops.prompts.templates import MAX_TEMPLATE_CHARS
from lmops.server.auth import authorize
from lmops.server.deps import PromptDep, version_ref

router = APIRouter(prefix="/api/v1", tags=["prompts"], dependencies=[Depends(authorize)])


class NewVersion(BaseModel):
    """A POST: the text or the chat messages of the next version, and what goes with them."""

    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    messages: list[ChatMessage] | None = Field(default=None, max_length=200)
    model_params: dict[str, Any] = Field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    commit_message: str = Field(default="", max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_TAGS)


class AliasTarget(BaseModel):
    """A PUT on an alias: the version it should point at."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


def _resolve(store: PromptStore, name: str, version: str) -> Prompt:
    """Version `version` of prompt `name`: a number, `latest` or an alias; 404 if unknown."""
    prompt = store.get_prompt(name)  # 404 for an unknown prompt, before judging the version
    if (version.isascii() and version.isdigit()) or version == LATEST:
        return store.get_version(version_ref("prompts", prompt.name, version))
    check_name(version, "alias", field="version")
    return store.get_version(VersionRef("prompts", prompt.name, alias=version))


VersionQuery = Annotated[str, Query(max_length=255, description="a number, latest or an alias")]


@router.get("/prompts")
def list_prompts(store: PromptDep) -> list[RegisteredPrompt]:
    return store.list_prompts()


@router.get("/prompts/{name}")
def get_prompt(name: str, store: PromptDep) -> RegisteredPrompt:
    return store.get_prompt(name)


@router.get("/prompts/{name}/versions")
def list_versions(name: str, store: PromptDep) -> list[Prompt]:
    """The versions of `name`, oldest first."""
    return store.list_versions(name)


@router.post("/prompts/{name}/versions", status_code=201)
def register_version(name: str, body: NewVersion, store: PromptDep) -> Prompt:
    """Register the next version of `name` (the prompt is made with its first version)."""
    return store.create_version(
        name,
        template=body.template,
        messages=body.messages,
        model_params=body.model_params,
        response_format=body.response_format,
        commit_message=body.commit_message,
        tags=body.tags,
    )


@router.get("/prompts/{name}/versions/{version}")
def get_version(name: str, version: str, store: PromptDep) -> Prompt:
    """Version `version` of `name`: a number or `latest`."""
    return store.get_version(version_ref("prompts", store.get_prompt(name).name, version))


@router.get("/prompts/{name}/diff")
def diff(name: str, a: VersionQuery, b: VersionQuery, store: PromptDep) -> PromptDiff:
    """What changed from version `a` to version `b` (numbers, `latest` or aliases)."""
    return diff_versions(_resolve(store, name, a), _resolve(store, name, b))


@router.get("/prompts/{name}/aliases/{alias}")
def get_alias(name: str, alias: str, store: PromptDep) -> Prompt:
    """The version `prompts:/name@alias` resolves to (`latest` is the highest version)."""
    prompt = store.get_prompt(name)
    check_name(alias, "alias", field="alias")
    return store.get_version(VersionRef("prompts", prompt.name, alias=alias))


@router.put("/prompts/{name}/aliases/{alias}")
def set_alias(name: str, alias: str, target: AliasTarget, store: PromptDep) -> Prompt:
    """Point `alias` at `target.version`, moving it if it pointed elsewhere."""
    return store.set_alias(name, alias, target.version)


@router.delete("/prompts/{name}/aliases/{alias}", status_code=204)
def delete_alias(name: str, alias: str, store: PromptDep) -> Response:
    store.delete_alias(name, alias)
    return Response(status_code=204)
