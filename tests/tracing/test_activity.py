"""endpoint_activity on SQLite and PostgreSQL: counts, tokens, percentiles, the time series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from lmops.core.errors import InvalidInput
from lmops.core.ids import new_id
from lmops.tracing.activity import endpoint_activity, percentile
from lmops.tracing.entities import Span, TraceContext
from lmops.tracing.store import TracingStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(minutes=15)
V1, V2 = "models:/chat/1", "models:/chat/2"


def request_span(
    *,
    at: datetime,
    ms: float,
    endpoint: str | None = "assistant",
    version: str | None = V1,
    tokens: tuple[int, int] = (10, 5),
    error: bool = False,
    ttft_ms: float | None = None,
    unfinished: bool = False,
) -> Span:
    """One gateway request as the gateway records it: a trace of a single CHAT_MODEL span."""
    attributes: dict[str, object] = {"gen_ai.operation.name": "chat"}
    if ttft_ms is not None:
        attributes["gen_ai.response.time_to_first_token_ms"] = ttft_ms
    return Span.model_validate(
        {
            "trace_id": new_id(),
            "span_id": new_id()[:16],
            "name": f"chat {endpoint}",
            "span_type": "CHAT_MODEL",
            "start_time": at,
            "end_time": None if unfinished else at + timedelta(milliseconds=ms),
            "status": "ERROR" if error else "OK",
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "model": "chat",
            "attributes": attributes,
            "context": TraceContext(endpoint=endpoint, model_version=version),
        }
    )


@pytest.fixture
def store(engine: Engine) -> TracingStore:
    return TracingStore(engine)


def test_counts_tokens_and_percentiles_per_endpoint_and_version(
    store: TracingStore, engine: Engine
) -> None:
    v1_latencies = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    batch = [
        request_span(at=SINCE + timedelta(seconds=30 + i), ms=ms, ttft_ms=ms / 10)
        for i, ms in enumerate(v1_latencies)
    ]
    batch += [
        request_span(at=NOW - timedelta(seconds=90), ms=50, version=V2, tokens=(7, 3)),
        request_span(at=NOW - timedelta(seconds=80), ms=70, version=V2, tokens=(7, 0), error=True),
        request_span(at=NOW - timedelta(seconds=70), ms=0, version=V2, unfinished=True),
        request_span(at=NOW - timedelta(minutes=2), ms=5, endpoint="other"),
        # outside the window, without an endpoint, or in another project: not counted
        request_span(at=SINCE - timedelta(seconds=1), ms=5),
        request_span(at=NOW, ms=5),
        request_span(at=NOW - timedelta(minutes=1), ms=5, endpoint=None),
    ]
    store.write_spans(batch)
    store.in_project("elsewhere").write_spans([request_span(at=NOW - timedelta(minutes=1), ms=5)])

    window = endpoint_activity(engine, "default", SINCE, 60, until=NOW)

    assert sorted(window.endpoints) == ["assistant", "other"]
    assistant = window.endpoints["assistant"]
    total = assistant.total
    assert (total.requests, total.errors) == (13, 1)
    assert (total.input_tokens, total.output_tokens) == (100 + 24, 50 + 8)
    assert total.requests_per_minute == pytest.approx(13 / 15)
    assert total.models == ["chat"]
    assert total.error_rate == pytest.approx(1 / 13)

    v1, v2 = assistant.versions[V1], assistant.versions[V2]
    assert (v1.requests, v1.errors, v1.input_tokens, v1.output_tokens) == (10, 0, 100, 50)
    assert v1.latency_p50_ms == pytest.approx(550)
    assert v1.latency_p95_ms == pytest.approx(955)
    assert v1.ttft_p50_ms == pytest.approx(55)
    assert v1.ttft_p95_ms == pytest.approx(95.5)
    assert (v2.requests, v2.errors, v2.input_tokens, v2.output_tokens) == (3, 1, 24, 8)
    assert v2.latency_p50_ms == pytest.approx(60)  # the unfinished request has no latency
    assert v2.ttft_p50_ms is None  # nothing streamed
    assert window.endpoints["other"].total.requests == 1
    assert not window.sampled


def test_series_has_every_bucket_of_the_window(store: TracingStore, engine: Engine) -> None:
    store.write_spans(
        [
            request_span(at=SINCE, ms=100),
            request_span(at=SINCE + timedelta(seconds=59), ms=300),
            request_span(at=SINCE + timedelta(minutes=5, seconds=1), ms=40, version=V2),
            request_span(at=NOW - timedelta(seconds=1), ms=10, error=True),
        ]
    )
    window = endpoint_activity(engine, "default", SINCE, 60, until=NOW)
    activity = window.of("assistant")
    assert len(activity.series) == 15
    assert [b.start for b in activity.series[:2]] == [SINCE, SINCE + timedelta(minutes=1)]
    assert [b.requests for b in activity.series] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert activity.series[0].latency_p50_ms == pytest.approx(200)
    assert activity.series[1].latency_p50_ms is None
    assert activity.series[-1].errors == 1
    assert [b.requests for b in activity.version_series[V2]][5] == 1
    assert sum(b.requests for b in activity.version_series[V1]) == 3


def test_one_endpoint_and_an_idle_one(store: TracingStore, engine: Engine) -> None:
    store.write_spans(
        [
            request_span(at=NOW - timedelta(minutes=1), ms=10),
            request_span(at=NOW - timedelta(minutes=1), ms=10, endpoint="other"),
        ]
    )
    window = endpoint_activity(engine, "default", SINCE, 30, until=NOW, endpoint="other")
    assert list(window.endpoints) == ["other"]
    idle = window.of("assistant")
    assert idle.total.requests == 0 and idle.total.latency_p50_ms is None
    assert len(idle.series) == 30 and all(b.requests == 0 for b in idle.series)


def test_rows_read_are_capped_but_counts_stay_exact(store: TracingStore, engine: Engine) -> None:
    store.write_spans(
        [request_span(at=SINCE + timedelta(seconds=i), ms=1000 + i) for i in range(20)]
    )
    window = endpoint_activity(engine, "default", SINCE, 60, until=NOW, max_rows=5)
    assert window.sampled
    total = window.endpoints["assistant"].total
    assert total.requests == 20
    # percentiles come from the newest 5 requests (latencies 1015..1019)
    assert total.latency_p50_ms == pytest.approx(1017)
    assert sum(b.requests for b in window.endpoints["assistant"].series) == 5


def test_bad_windows_are_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="timezone"):
        endpoint_activity(engine, "default", SINCE.replace(tzinfo=None), 60, until=NOW)
    with pytest.raises(InvalidInput, match="before"):
        endpoint_activity(engine, "default", NOW, 60, until=SINCE)
    with pytest.raises(InvalidInput, match="bucket_s"):
        endpoint_activity(engine, "default", SINCE, 0, until=NOW)
    with pytest.raises(InvalidInput, match="buckets"):
        endpoint_activity(engine, "default", NOW - timedelta(days=30), 1, until=NOW)
    with pytest.raises(InvalidInput, match="NUL"):
        endpoint_activity(engine, "default", SINCE, 60, until=NOW, endpoint="a\x00b")


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    assert percentile([1.0, 2.0, 3.0], 0.0) == 1.0 and percentile([1.0, 2.0, 3.0], 1.0) == 3.0
