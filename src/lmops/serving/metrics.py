"""Prometheus metrics of a model server: requests, tokens, latency, time to first token,
queue depth and batch size."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServingMetrics:
    """One set per server; `registry` is what `/metrics` renders."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "lmops_serving_requests_total",
            "OpenAI API requests",
            ["model", "route", "status"],
            registry=r,
        )
        self.input_tokens = Counter(
            "lmops_serving_input_tokens_total", "Prompt tokens", ["model"], registry=r
        )
        self.output_tokens = Counter(
            "lmops_serving_output_tokens_total", "Completion tokens", ["model"], registry=r
        )
        self.latency = Histogram(
            "lmops_serving_request_duration_seconds",
            "Time from request to its last token",
            ["model", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "lmops_serving_time_to_first_token_seconds",
            "Time from request to its first streamed token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "lmops_serving_batch_size",
            "Sequences in each decode step",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self._queue = Gauge(
            "lmops_serving_queue_depth",
            "Requests waiting for a batch slot, per loaded version",
            ["version"],
            registry=r,
        )

    def watch_queue(self, version: str, depth: Callable[[], int]) -> None:
        self._queue.labels(version).set_function(depth)
