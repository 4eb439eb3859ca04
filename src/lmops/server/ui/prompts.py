"""Prompt registry pages: the list of prompts, one prompt's versions, one version and a diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from lmops.core.uris import VersionRef
from lmops.prompts.changes import diff_versions
from lmops.prompts.entities import Prompt, PromptDiff
from lmops.server.auth import authorize
from lmops.server.deps import PromptDep, version_ref
from lmops.server.ui.rendering import HtmlRoute, render

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

DiffParam = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add | del | hunk | file | same
    text: str


@router.get("/prompts", include_in_schema=False)
def prompts_page(request: Request, store: PromptDep) -> Response:
    return _render(request, "prompts.html", {"prompts": store.list_prompts()})


@router.get("/prompts/{name}", include_in_schema=False)
def prompt_page(request: Request, name: str, store: PromptDep) -> Response:
    """The versions of a prompt, newest first, and where its aliases point."""
    prompt = store.get_prompt(name)
    versions = store.list_versions(prompt.name)[::-1]
    return _render(request, "prompt.html", {"prompt": prompt, "versions": versions})


@router.get("/prompts/{name}/{version}", include_in_schema=False)
def version_page(
    request: Request, name: str, version: str, store: PromptDep, diff: DiffParam = None
) -> Response:
    """A version's text or messages, variables, parameters and response format, and what
    changed since the previous version (or since version `diff`)."""
    prompt = store.get_prompt(name)
    this = store.get_version(version_ref("prompts", prompt.name, version))
    against: Prompt | None = None
    if diff is not None:
        against = store.get_version(VersionRef("prompts", prompt.name, version=diff))
    elif this.version > 1:
        against = store.get_version(VersionRef("prompts", prompt.name, version=this.version - 1))
    changes = diff_versions(against, this) if against is not None else None
    context = {
        "prompt": prompt,
        "this_version": this,
        "against": against,
        "changes": changes,
        "diff_lines": _lines(changes),
        "others": [v for v in range(prompt.latest_version or 0, 0, -1) if v != this.version],
    }
    return _render(request, "prompt_version.html", context)


def _lines(changes: PromptDiff | None) -> list[DiffLine]:
    """The unified diff line by line, each marked for its colour."""
    if changes is None:
        return []
    found = []
    for line in changes.text_diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        found.append(DiffLine(kind, line))
    return found


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    return render(request, name, {"section": "/prompts", **context})
