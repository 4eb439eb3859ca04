"""Datasets and their immutable, content-addressed versions.

`import lmops.data` stays light: pyarrow, pandas and `datasets` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops.data.entities import Column, Dataset, DatasetVersion, Profile
from lmops.data.functions import map_function

if TYPE_CHECKING:
    from lmops.data.sdk import (
        apply,
        create,
        from_traces,
        get_profile,
        get_version,
        list_datasets,
        list_versions,
        load,
        profile,
        reproduce,
        sql,
    )
    from lmops.data.store import DataStore

__all__ = [
    "Column",
    "DataStore",
    "Dataset",
    "DatasetVersion",
    "Profile",
    "apply",
    "create",
    "from_traces",
    "get_profile",
    "get_version",
    "list_datasets",
    "list_versions",
    "load",
    "map_function",
    "profile",
    "reproduce",
    "sql",
]

_SDK = {
    "apply",
    "create",
    "from_traces",
    "get_profile",
    "get_version",
    "list_datasets",
    "list_versions",
    "load",
    "profile",
    "reproduce",
    "sql",
}


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from lmops.data import sdk

        return getattr(sdk, name)
    if name == "DataStore":
        from lmops.data.store import DataStore

        return DataStore
    raise AttributeError(f"module 'lmops.data' has no attribute {name!r}")
