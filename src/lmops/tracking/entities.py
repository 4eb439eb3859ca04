"""Tracking entities: what the SDK returns and the REST API answers, one model for both."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from lmops.core.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]{1,250}$")
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def check_key(key: str, field: str = "key") -> str:
    """Accept a metric, param or tag key, or raise InvalidInput naming the field."""
    try:
        return _valid_key(key)
    except ValueError as exc:
        raise InvalidInput(f"invalid {field}: {exc}", field=field) from None


def _valid_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or key.strip() != key:
        raise ValueError(
            f"{key!r} is not a valid key: use 1-250 letters, digits, spaces and "
            "_ - . / :, without leading or trailing spaces"
        )
    return key


MetricKey = Annotated[str, AfterValidator(_valid_key)]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# (key, value, step, timestamp in ms): how batches of points travel inside the SDK.
MetricRow = tuple[str, float, int, int]


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class Experiment(BaseModel):
    id: str
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    run_count: int = 0


class Metric(BaseModel):
    """One point: metrics are append-only (key, value, step, timestamp in ms).

    In JSON, NaN and the infinities travel as the strings "NaN", "Infinity", "-Infinity".
    """

    model_config = ConfigDict(ser_json_inf_nan="strings")

    key: MetricKey
    value: float
    step: Int64 = 0
    timestamp: Int64

    @field_validator("value", mode="before")
    @classmethod
    def _numeric(cls, v: object) -> object:
        if isinstance(v, str) and v in NON_FINITE:
            return NON_FINITE[v]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"metric value must be a number, got {type(v).__name__}")
        return v


class MetricColumns(BaseModel):
    """Many points in the compact wire form the SDK sends: one list per field."""

    model_config = ConfigDict(extra="forbid")

    key: list[str]
    value: list[Annotated[float, Strict()]]
    step: list[Annotated[Int64, Strict()]]
    timestamp: list[Annotated[Int64, Strict()]]

    @model_validator(mode="after")
    def _consistent(self) -> MetricColumns:
        n = len(self.key)
        if not len(self.value) == len(self.step) == len(self.timestamp) == n:
            raise ValueError("key, value, step and timestamp must be lists of the same length")
        for key in set(self.key):
            _valid_key(key)
        return self

    @classmethod
    def from_rows(cls, rows: Sequence[MetricRow]) -> dict[str, list[Any]]:
        """The JSON body for `rows` (built without validating: the SDK checked each point)."""
        keys, values, steps, stamps = zip(*rows, strict=True) if rows else ((), (), (), ())
        return {
            "key": list(keys),
            "value": list(values),
            "step": list(steps),
            "timestamp": list(stamps),
        }

    def rows(self) -> list[MetricRow]:
        return list(zip(self.key, self.value, self.step, self.timestamp, strict=True))


class Run(BaseModel):
    """A run with its params, tags and the latest value of each metric."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    parent_run_id: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


class RunArtifact(BaseModel):
    path: str
    digest: str
    size: int
    is_dir: bool
    created_at: datetime


class RunPage(BaseModel):
    runs: list[Run]
    next_page_token: str | None = None
    total: int


def metric_value(value: float | None) -> float:
    """Read a stored value back: SQLite stores NaN as NULL."""
    return math.nan if value is None else float(value)
