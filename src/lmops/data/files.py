"""A version's Parquet bytes as a local file, for readers that want a path (DuckDB, workers)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lmops.data.entities import DatasetVersion
from lmops.data.store import DataStore


@contextmanager
def local_parquet(store: DataStore, version: DatasetVersion) -> Iterator[Path]:
    """The blob itself on a local artifact store; a temporary copy, removed after, otherwise.

    The path must only be read: on a local store it is the stored blob.
    """
    if store.artifacts.is_local:
        yield Path(store.artifacts.path_of(version.digest))
        return
    with tempfile.TemporaryDirectory(prefix="lmops-data-") as tmp:
        yield store.artifacts.get_file(version.digest, Path(tmp) / f"{version.digest}.parquet")
