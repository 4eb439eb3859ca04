"""The registry SDK: register versions, resolve `models:/` URIs, move aliases, load models.

In-process only for now, like the data SDK: it talks to the store the current settings
name; a server URI is refused until the registry's REST routes exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings, current
from lmops.registry.entities import ModelVersion, RegisteredModel
from lmops.registry.store import RegistryStore

LOAD_AS = ("path", "transformers")


def open_registry(settings: Settings) -> RegistryStore:
    """The registry store the settings name (in-process only)."""
    if settings.is_remote:
        raise InvalidInput(
            f"the registry works in-process only for now: LMOPS_URI={settings.uri} is a "
            "server; point LMOPS_URI at the store (sqlite:/// or postgresql+psycopg://)",
            field="uri",
        )
    from lmops.artifacts import open_artifact_store
    from lmops.store import open_engine

    return RegistryStore(open_engine(settings.uri), open_artifact_store(settings), settings.project)


def _store() -> RegistryStore:
    return open_registry(current())


def register_model(
    name: str,
    source: str | Path,
    *,
    base: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    license: str | None = None,
) -> ModelVersion:
    """Register the next version of `name` from `source`: a local Hugging Face model or PEFT
    adapter directory, or a run's logged directory (`runs:/<run_id>/path`). An adapter names
    the version it adapts with `base` (`models:/base/1`)."""
    from lmops.registry.registering import register_source

    return register_source(
        _store(), name, source, base=base, description=description, tags=tags, license=license
    )


def register_endpoint(
    name: str,
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register an external OpenAI-compatible endpoint as the next version of `name`."""
    from lmops.registry import registering

    return registering.register_endpoint(
        _store(), name, url, model, api_key=api_key, description=description, tags=tags
    )


def get_model_version(uri: str) -> ModelVersion:
    """Resolve `models:/name/3`, `models:/name@production` or `models:/name@latest`."""
    return _store().get_version(uri)


def list_models() -> list[RegisteredModel]:
    return _store().list_models()


def list_model_versions(name: str) -> list[ModelVersion]:
    return _store().list_versions(name)


def set_model_alias(name: str, alias: str, version: int) -> ModelVersion:
    """Point `models:/name@alias` at `version`."""
    return _store().set_alias(name, alias, version)


def delete_model_alias(name: str, alias: str) -> None:
    _store().delete_alias(name, alias)


def load_model(uri: str, as_: str = "path") -> Any:
    """The files of a version as a local directory (`path`), or `(model, tokenizer)` loaded
    with transformers (`transformers`; an adapter comes loaded onto its base)."""
    from lmops.registry.loading import load_transformers, local_files

    if as_ not in LOAD_AS:
        raise InvalidInput(f"unknown as_={as_!r}: use one of {', '.join(LOAD_AS)}", field="as_")
    settings = current()
    store = open_registry(settings)
    version = store.get_version(uri)
    cache = settings.home / "models"
    if as_ == "path":
        return local_files(store, version, cache)
    return load_transformers(store, version, cache)
