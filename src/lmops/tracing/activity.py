"""Gateway traffic over a window: per endpoint and per model version, the requests, errors,
tokens, latency and time-to-first-token percentiles, and a time series for charts.

Counts and token sums are exact (SQL aggregates). Percentiles and the time series come from
the newest `MAX_ROWS` traces of the window, read into Python: percentile functions differ
between SQLite and PostgreSQL, and a window of a busy gateway must not be read whole.
`ActivityWindow.sampled` says when that cap was reached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text
from lmops.tracing.entities import SpanStatus
from lmops.tracing.tables import spans, traces

MAX_ROWS = 50_000
MAX_BUCKETS = 2_000
TTFT_ATTRIBUTE = "gen_ai.response.time_to_first_token_ms"
_ERROR = SpanStatus.ERROR.value


class Stats(BaseModel):
    """Traffic of one endpoint, or one model version behind it, in a window."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    requests_per_minute: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None  # time to first token, of streamed requests
    ttft_p95_ms: float | None = None
    models: list[str] = Field(default_factory=list)  # the span models that answered

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class Bucket(BaseModel):
    """One step of the time series: requests that started in [start, start + bucket_s)."""

    start: datetime
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


class EndpointActivity(BaseModel):
    endpoint: str
    total: Stats = Field(default_factory=Stats)
    versions: dict[str, Stats] = Field(default_factory=dict)  # by model version URI
    series: list[Bucket] = Field(default_factory=list)
    version_series: dict[str, list[Bucket]] = Field(default_factory=dict)


class ActivityWindow(BaseModel):
    since: datetime
    until: datetime
    bucket_s: int
    sampled: bool = False  # percentiles and series read only the newest MAX_ROWS traces
    endpoints: dict[str, EndpointActivity] = Field(default_factory=dict)

    @property
    def minutes(self) -> float:
        return (self.until - self.since).total_seconds() / 60

    def of(self, endpoint: str) -> EndpointActivity:
        """The activity of `endpoint`, empty (with an empty series) if it had no traffic."""
        found = self.endpoints.get(endpoint)
        if found is not None:
            return found
        return EndpointActivity(endpoint=endpoint, series=_empty_series(self))


def endpoint_activity(
    engine: Engine,
    project: str,
    since: datetime,
    bucket_s: int,
    *,
    until: datetime | None = None,
    endpoint: str | None = None,
    max_rows: int = MAX_ROWS,
) -> ActivityWindow:
    """Gateway traffic of `project` (of one `endpoint`, if given) from `since` to `until`
    (now), with a time series of `bucket_s`-second buckets.

    A model version without a recorded version (an upstream that named none) counts under
    the empty string.
    """
    until = until or datetime.now(UTC)
    _check_window(since, until, bucket_s)
    window = ActivityWindow(since=since, until=until, bucket_s=bucket_s)
    where = _where(project, since, until, endpoint)
    t = traces.c
    with engine.connect() as conn:
        totals = conn.execute(
            select(
                t.endpoint,
                t.model_version,
                func.count().label("requests"),
                func.sum(case((t.status == _ERROR, 1), else_=0)).label("errors"),
                func.coalesce(func.sum(t.input_tokens), 0).label("input_tokens"),
                func.coalesce(func.sum(t.output_tokens), 0).label("output_tokens"),
            )
            .where(*where)
            .group_by(t.endpoint, t.model_version)
        ).all()
        rows = conn.execute(
            select(
                t.endpoint,
                t.model_version,
                t.start_time,
                t.status,
                t.latency_ms,
                t.models,
                _ttft(),
            )
            .where(*where)
            .order_by(t.start_time.desc())
            .limit(max_rows)
        ).all()
    window.sampled = len(rows) >= max_rows
    _fill(window, totals, [_Row.of(r) for r in rows])
    return window


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0..1) of sorted values, interpolated linearly between the two
    nearest ranks (numpy's default); None for no values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    endpoint: str
    version: str
    start: datetime
    error: bool
    latency_ms: float | None
    ttft_ms: float | None
    models: tuple[str, ...]

    @classmethod
    def of(cls, row: Any) -> _Row:
        return cls(
            endpoint=row.endpoint,
            version=row.model_version or "",
            start=row.start_time,
            error=row.status == _ERROR,
            latency_ms=row.latency_ms,
            ttft_ms=_number(row.ttft_ms),
            models=tuple(m for m in (row.models or []) if isinstance(m, str)),
        )


def _check_window(since: datetime, until: datetime, bucket_s: int) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("since and until need a timezone", field="since")
    if since >= until:
        raise InvalidInput("since must be before until", field="since")
    if bucket_s < 1:
        raise InvalidInput("bucket_s must be at least 1 second", field="bucket_s")
    if (until - since).total_seconds() / bucket_s > MAX_BUCKETS:
        raise InvalidInput(
            f"at most {MAX_BUCKETS} buckets per window: choose a larger bucket_s",
            field="bucket_s",
        )


def _where(
    project: str, since: datetime, until: datetime, endpoint: str | None
) -> list[ColumnElement[bool]]:
    t = traces.c
    where = [t.project == project, t.start_time >= since, t.start_time < until]
    if endpoint is None:
        where.append(t.endpoint.is_not(None))
    else:
        where.append(t.endpoint == check_text(endpoint, "endpoint"))
    return where


def _ttft() -> Any:
    """The time to first token of a trace's root span (a gateway trace has one span)."""
    s = spans.c
    return (
        select(s.attributes[TTFT_ATTRIBUTE].as_float())
        .where(s.trace_id == traces.c.trace_id, s.parent_span_id.is_(None))
        .order_by(s.start_time)
        .limit(1)
        .scalar_subquery()
        .label("ttft_ms")
    )


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


# -- aggregating ---------------------------------------------------------------------------


@dataclass
class _Sample:
    """What the rows read say about one endpoint or version."""

    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    buckets: dict[int, list[_Row]] = field(default_factory=lambda: defaultdict(list))

    def add(self, row: _Row, bucket: int) -> None:
        if row.latency_ms is not None:
            self.latencies.append(row.latency_ms)
        if row.ttft_ms is not None:
            self.ttfts.append(row.ttft_ms)
        self.models.update(row.models)
        self.buckets[bucket].append(row)


def _fill(window: ActivityWindow, totals: Iterable[Any], rows: list[_Row]) -> None:
    minutes = window.minutes
    for r in totals:
        activity = window.endpoints.get(r.endpoint)
        if activity is None:
            activity = window.endpoints[r.endpoint] = EndpointActivity(endpoint=r.endpoint)
        counts = {
            "requests": int(r.requests),
            "errors": int(r.errors or 0),
            "input_tokens": int(r.input_tokens),
            "output_tokens": int(r.output_tokens),
        }
        activity.versions[r.model_version or ""] = Stats(
            **counts, requests_per_minute=counts["requests"] / minutes
        )
        total = activity.total
        for key, value in counts.items():
            setattr(total, key, getattr(total, key) + value)
        total.requests_per_minute = total.requests / minutes

    samples: dict[tuple[str, str | None], _Sample] = defaultdict(_Sample)
    for row in rows:
        bucket = int((row.start - window.since).total_seconds() // window.bucket_s)
        samples[row.endpoint, None].add(row, bucket)
        samples[row.endpoint, row.version].add(row, bucket)
    for activity in window.endpoints.values():
        name = activity.endpoint
        _describe(activity.total, samples[name, None])
        activity.series = _series(window, samples[name, None])
        for version, stats in activity.versions.items():
            _describe(stats, samples[name, version])
            activity.version_series[version] = _series(window, samples[name, version])


def _describe(stats: Stats, sample: _Sample) -> None:
    latencies, ttfts = sorted(sample.latencies), sorted(sample.ttfts)
    stats.latency_p50_ms = percentile(latencies, 0.5)
    stats.latency_p95_ms = percentile(latencies, 0.95)
    stats.ttft_p50_ms = percentile(ttfts, 0.5)
    stats.ttft_p95_ms = percentile(ttfts, 0.95)
    stats.models = sorted(sample.models)


def _series(window: ActivityWindow, sample: _Sample) -> list[Bucket]:
    series = _empty_series(window)
    for index, bucket in enumerate(series):
        found = sample.buckets.get(index, [])
        latencies = sorted(r.latency_ms for r in found if r.latency_ms is not None)
        bucket.requests = len(found)
        bucket.errors = sum(r.error for r in found)
        bucket.latency_p50_ms = percentile(latencies, 0.5)
        bucket.latency_p95_ms = percentile(latencies, 0.95)
    return series


def _empty_series(window: ActivityWindow) -> list[Bucket]:
    count = math.ceil((window.until - window.since).total_seconds() / window.bucket_s)
    step = timedelta(seconds=window.bucket_s)
    return [Bucket(start=window.since + step * i) for i in range(count)]
