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
    how the version was made, e.g. {"op": "import", "source": [...], "format": "jsonl"};
    `report` says what the step found (clusters removed, PII replaced, split sizes).
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
    report: dict[str, Any] | None = None
    created_at: datetime

    @property
    def uri(self) -> str:
        return f"datasets:/{self.dataset_name}/{self.version}"


class ValueCount(BaseModel):
    value: str
    count: int


class Distribution(BaseModel):
    """A numeric summary with an equal-width histogram (`edges` has one more item than `counts`)."""

    count: int
    min: float
    max: float
    mean: float
    p50: float
    p90: float
    p99: float
    edges: list[float]
    counts: list[int]


class TextProfile(BaseModel):
    """What profiling found in a text column (or in the message contents of a chat column).

    Row counts except where named: `pii` counts occurrences per kind; `languages` counts
    the `language_sample` rows that were run through language identification.
    `near_duplicates` is None when near-duplicate detection was switched off.
    """

    chars: Distribution
    tokens: Distribution | None = None
    tokenizer: str | None = None
    empty: int
    overlong: int
    overlong_limit: int
    control_chars: int
    exact_duplicates: int
    near_duplicates: int | None = None
    pii: dict[str, int]
    languages: dict[str, int]
    language_sample: int
    ngrams: dict[str, list[ValueCount]]


class ChatProfile(BaseModel):
    """Chat data: a list of {role, content} messages per row."""

    turns: Distribution
    roles: dict[str, int]


class ColumnProfile(BaseModel):
    """One column. `kind` is text, number, boolean, chat, or other.

    `top_values` is the label or category distribution: filled when the column has at most
    `CATEGORY_LIMIT` distinct values (see lmops.data.profiling). `distinct` is exact up to
    `EXACT_DISTINCT` values and a HyperLogLog estimate above; None for nested columns.
    """

    name: str
    type: str
    kind: str
    nulls: int
    distinct: int | None = None
    distinct_exact: bool = True
    top_values: list[ValueCount] = Field(default_factory=list)
    numbers: Distribution | None = None
    text: TextProfile | None = None
    chat: ChatProfile | None = None


class Profile(BaseModel):
    """The exploratory profile stored with a version."""

    version_id: str
    row_count: int
    columns: list[ColumnProfile]
    options: dict[str, Any] = Field(default_factory=dict)
    duration_s: float
    created_at: datetime


class Job(BaseModel):
    """A long data operation and how far it got; status is running, succeeded or failed."""

    id: str
    dataset_name: str
    op: str
    status: str
    done: int
    total: int
    message: str = ""
    input_version_id: str | None = None
    output_version_id: str | None = None
    started_at: datetime
    updated_at: datetime
