"""Make versions: from a local model directory, a run's artifact, or an external endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from lmops.core.errors import InvalidInput
from lmops.core.uris import RunRef, VersionRef, parse_uri
from lmops.registry.entities import ModelFormat, ModelSource, ModelVersion
from lmops.registry.formats import StoredFiles, inspect_directory, inspect_files
from lmops.registry.store import RegistryStore


def register_source(
    store: RegistryStore,
    name: str,
    source: str | Path,
    *,
    base: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    license: str | None = None,
) -> ModelVersion:
    """Register a run's logged directory (`runs:/<run_id>/path`) or a local directory."""
    if str(source).startswith("runs:/"):
        return register_run_artifact(
            store, name, str(source), base=base, description=description, tags=tags, license=license
        )
    return register_directory(
        store, name, source, base=base, description=description, tags=tags, license=license
    )


def register_directory(
    store: RegistryStore,
    name: str,
    path: str | Path,
    *,
    source: ModelSource | None = None,
    base: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    license: str | None = None,
) -> ModelVersion:
    """Store the model (or PEFT adapter) directory at `path` as the next version of `name`.

    An adapter needs `base`, the URI of the version it adapts (`models:/base/1`).
    """
    directory = Path(path).expanduser()
    format = inspect_directory(directory, license)  # refuses what is not a model directory
    base_id = _base_id(store, format, base)
    blob = store.artifacts.put_dir(directory)
    return store.create_version(
        name,
        format=format,
        source=source or ModelSource(type="import", path=str(directory)),
        digest=blob.digest,
        description=description,
        tags=tags,
        base_version_id=base_id,
    )


def register_run_artifact(
    store: RegistryStore,
    name: str,
    uri: str,
    *,
    base: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    license: str | None = None,
) -> ModelVersion:
    """Register the directory a run logged (`runs:/<run_id>/path`) without copying it."""
    from lmops.tracking.store import TrackingStore

    ref = parse_uri(uri)
    if not isinstance(ref, RunRef) or not ref.path:
        raise InvalidInput(
            f"{uri!r} is not a run artifact: use runs:/<run_id>/<path>", field="source"
        )
    digest, is_dir = TrackingStore(store.engine, store.artifacts, store.project).resolve_artifact(
        ref.run_id, ref.path
    )
    if not is_dir:
        raise InvalidInput(f"{uri} is a file; register the directory holding the model")
    files = StoredFiles(store.artifacts, store.artifacts.read_manifest(digest))
    format = inspect_files(files, uri, license)
    return store.create_version(
        name,
        format=format,
        source=ModelSource(type="run", run_id=ref.run_id, artifact_path=ref.path),
        digest=digest,
        description=description,
        tags=tags,
        base_version_id=_base_id(store, format, base),
    )


def register_endpoint(
    store: RegistryStore,
    name: str,
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register an OpenAI-compatible endpoint (a vLLM or Ollama server, a hosted API).

    The key is kept as a secret: stored apart, never returned, never logged.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(
            f"endpoint URL must be http(s)://host[:port]/..., not {url!r}", field="url"
        )
    if not model.strip():
        raise InvalidInput("name the model the endpoint serves", field="model")
    return store.create_version(
        name,
        format=ModelFormat(kind="external", task="text-generation"),
        source=ModelSource(type="external", endpoint_url=url.rstrip("/"), endpoint_model=model),
        description=description,
        tags=tags,
        api_key=api_key or None,
    )


def _base_id(store: RegistryStore, format: ModelFormat, base: str | None) -> str | None:
    if format.kind == "adapter" and base is None:
        raise InvalidInput(
            "an adapter needs the version it adapts: pass base='models:/<name>/<version>'",
            field="base",
        )
    if base is None:
        return None
    ref = parse_uri(base)
    if not isinstance(ref, VersionRef) or ref.kind != "models":
        raise InvalidInput(f"base must be a model URI, not {base!r}", field="base")
    return store.get_version(ref).id
