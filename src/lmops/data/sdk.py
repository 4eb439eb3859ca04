"""The data SDK: `lmops.data.create`, `load`, `get_version`, `list_datasets`, `list_versions`.

In-process only for now: the SDK talks to the store the current settings name
(`LMOPS_URI`, or `lmops.configure(...)`). A server URI (http://...) is refused until the
REST routes for datasets exist.
"""

from __future__ import annotations

from typing import Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings, current
from lmops.data.entities import Dataset, DatasetVersion
from lmops.data.store import DataStore


def open_data_store(settings: Settings) -> DataStore:
    """The data store the settings name (in-process only)."""
    if settings.is_remote:
        raise InvalidInput(
            f"datasets work in-process only for now: LMOPS_URI={settings.uri} is a server; "
            "point LMOPS_URI at the store (sqlite:/// or postgresql+psycopg://)",
            field="uri",
        )
    from lmops.artifacts import open_artifact_store
    from lmops.store import open_engine

    return DataStore(open_engine(settings.uri), open_artifact_store(settings))


def _store() -> DataStore:
    return open_data_store(current())


def create(
    name: str, source: Any, format: str | None = None, description: str = ""
) -> DatasetVersion:
    """Import `source` as the next version of dataset `name` (created if new).

    `source`: a path or a list of paths (JSONL, CSV, Parquet, or a directory saved by
    `datasets.Dataset.save_to_disk`), a pandas DataFrame, a pyarrow Table or a
    `datasets.Dataset`. `format` (jsonl, csv, parquet, hf) overrides the file extension.
    """
    from lmops.data.importing import import_source

    return import_source(_store(), name, source, format, description)


def get_version(uri: str) -> DatasetVersion:
    """Resolve `datasets:/name/3` or `datasets:/name@latest`."""
    return _store().get_version(uri)


def load(uri: str, as_: str = "pandas") -> Any:
    """Load a version as a pandas DataFrame, a pyarrow Table or a `datasets.Dataset`."""
    from lmops.data.loading import AS, convert, read_table

    if as_ not in AS:
        raise InvalidInput(f"unknown as_={as_!r}: use one of {', '.join(AS)}", field="as_")
    store = _store()
    return convert(read_table(store, store.get_version(uri)), as_)


def list_datasets() -> list[Dataset]:
    """Every dataset, by name, with its version count and latest version."""
    return _store().list_datasets()


def list_versions(name: str) -> list[DatasetVersion]:
    """The versions of dataset `name`, oldest first."""
    return _store().list_versions(name)
