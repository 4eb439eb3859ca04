"""Fixtures for the data stage: a DataStore on SQLite and PostgreSQL, and small versions."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.data.entities import DatasetVersion
from lmops.data.importing import import_source
from lmops.data.store import DataStore


@pytest.fixture
def store(engine: Engine, artifacts: ArtifactStore) -> DataStore:
    return DataStore(engine, artifacts)


def make_version(store: DataStore, name: str, rows: list[dict[str, Any]]) -> DatasetVersion:
    """Import `rows` as the next version of `name`."""
    return import_source(store, name, pa.Table.from_pylist(rows))
