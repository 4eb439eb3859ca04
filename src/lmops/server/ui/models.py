"""Model registry pages: the list of models, one model's versions and aliases, one version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from lmops.artifacts import ArtifactStore
from lmops.core.errors import NotFound
from lmops.governance.lineage import LineageLink, describe_lineage
from lmops.registry.entities import ModelVersion
from lmops.server.auth import authorize
from lmops.server.deps import CardRevisionParam, ModelVersionDep, RegistryDep, StoresDep
from lmops.server.ui.cards import card_view
from lmops.server.ui.dag import neighbourhood
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.server.ui.transitions import governance_view

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

MAX_FILES = 500  # a sharded checkpoint has dozens of files; more than this is listed in part


@dataclass(frozen=True)
class ModelFile:
    path: str
    size: int


@dataclass(frozen=True)
class FileList:
    """A version's files as its directory manifest names them (the first MAX_FILES)."""

    files: list[ModelFile]
    count: int
    missing: bool = False  # the manifest is gone from the artifact store


@router.get("/models", include_in_schema=False)
def models_page(request: Request, store: RegistryDep) -> Response:
    return _render(request, "models.html", {"models": store.list_models()})


@router.get("/models/{name}", include_in_schema=False)
def model_page(request: Request, name: str, store: RegistryDep) -> Response:
    """The versions of a model, newest first, and where its aliases point."""
    model = store.get_model(name)
    context = {
        "model": model,
        "versions": store.list_versions(model.name)[::-1],
        "governance": governance_view(request, store, model),
    }
    return _render(request, "model.html", context)


@router.get("/models/{name}/{version}", include_in_schema=False)
def version_page(
    request: Request,
    version: ModelVersionDep,
    stores: StoresDep,
    card_revision: CardRevisionParam = None,
) -> Response:
    """Format, source, files, tags, aliases, lineage and model card of one version."""
    lineage = describe_lineage(stores, "model_version", version.id)
    base = None
    if version.base_version_id is not None:
        try:
            base = stores.registry.get_version_by_id(version.base_version_id)
        except NotFound:  # in another project: the lineage lists it as not accessible
            base = None
    context = {
        "this_version": version,
        "base": base,
        "source_run": _source_run(version, lineage.upstream),
        "lineage": lineage,
        "graph": neighbourhood(
            f"{version.model_name}/{version.version}",
            "this version",
            lineage.upstream,
            lineage.downstream,
        ),
        "files": list_files(stores.registry.artifacts, version),
        "card": card_view(stores.registry, version, card_revision),
    }
    return _render(request, "model_version.html", context)


def list_files(artifacts: ArtifactStore, version: ModelVersion) -> FileList:
    """The files of `version` with their sizes; an external endpoint has none."""
    if version.digest is None:
        return FileList([], 0)
    try:
        manifest = artifacts.read_manifest(version.digest)
        shown = sorted(manifest.items())[:MAX_FILES]
        files = [ModelFile(path, artifacts.size(digest)) for path, digest in shown]
    except NotFound:
        return FileList([], 0, missing=True)
    return FileList(files, len(manifest))


def _source_run(version: ModelVersion, upstream: list[LineageLink]) -> LineageLink | None:
    """The run that made `version`, described, when its source is a run that still exists."""
    for link in upstream:
        if link.kind == "run" and link.id == version.source.run_id and link.resolved:
            return link
    return None


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    return render(request, name, {"section": "/models", **context})
