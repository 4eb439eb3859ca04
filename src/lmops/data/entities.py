"""Data entities: what the SDK returns and the REST API will answer, one model for both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Column(BaseModel):
    """One column of a version's schema: its name and its Arrow type, as Arrow prints it."""

    name: str
    type: str


class Dataset(BaseModel):
    id: str
    name: str
    description: str = ""
    created_at: datetime
    version_count: int = 0
    latest_version: int | None = None


class DatasetVersion(BaseModel):
    """An immutable version: a Parquet blob in the artifact store, named by its sha256.

    `columns` is the schema (named so because pydantic reserves `schema`); `recipe` says
    how the version was made, e.g. {"op": "import", "source": [...], "format": "jsonl"}.
    """

    id: str
    dataset_id: str
    dataset_name: str
    version: int
    digest: str
    columns: list[Column]
    row_count: int
    size_bytes: int
    parent_version_id: str | None = None
    recipe: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime

    @property
    def uri(self) -> str:
        return f"datasets:/{self.dataset_name}/{self.version}"
