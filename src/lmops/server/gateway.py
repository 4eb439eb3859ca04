"""The gateway on the platform server: `/v1/*` routes by endpoint name to managed models
(loaded in this process) and external providers, with per-key limits, an exact-match
cache, and a trace per request in the caller's project."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry

from lmops.core.settings import Settings
from lmops.fluent.exporter import SpanExporter
from lmops.registry.entities import ModelVersion
from lmops.registry.store import RegistryStore
from lmops.serving.backends import Backend
from lmops.serving.cache import ResponseCache
from lmops.serving.gateway import Deployments, GatewayRouter
from lmops.serving.limits import Limiter
from lmops.serving.loading import load_backend
from lmops.serving.metrics import ServingMetrics
from lmops.serving.service import OpenAIService
from lmops.serving.store import EndpointStore, LimitStore
from lmops.tracing.prices import PriceStore
from lmops.tracing.rows import SpanRow
from lmops.tracing.store import TracingStore


def build(
    settings: Settings,
    registry: RegistryStore,
    spans: ProjectSpans,
    endpoints: EndpointStore,
    limits: LimitStore,
    prices: PriceStore,
    metrics_registry: CollectorRegistry,
) -> OpenAIService:
    cache_dir = settings.home / "models"
    metrics = ServingMetrics(metrics_registry)

    def load(store: RegistryStore, version: ModelVersion) -> Backend:
        return load_backend(store, version, cache_dir, metrics=metrics)

    return OpenAIService(
        GatewayRouter(endpoints, Deployments(registry, load)),
        metrics=metrics,
        record=spans.put,
        limiter=Limiter(limits),
        cache=ResponseCache(),
        price=Prices(prices).cost,
        provider="lmops-gateway",
    )


class ProjectSpans:
    """Writes request spans into each caller's project, batched off the request path."""

    def __init__(self, tracing: TracingStore) -> None:
        self._tracing = tracing
        self._exporters: dict[str, SpanExporter] = {}
        self._lock = threading.Lock()

    def put(self, row: SpanRow, project: str) -> None:
        exporter = self._exporters.get(project)
        if exporter is None:
            with self._lock:
                exporter = self._exporters.get(project)
                if exporter is None:
                    store = self._tracing.in_project(project)
                    exporter = self._exporters[project] = SpanExporter(store.write_span_rows)
        exporter.put(row)

    def flush(self) -> None:
        for exporter in list(self._exporters.values()):
            exporter.flush()


class Prices:
    """USD for a request from the price table, each model's price re-read once a minute."""

    def __init__(self, store: PriceStore, ttl_s: float = 60.0) -> None:
        self._store = store
        self._ttl = ttl_s
        self._known: dict[str, tuple[float, float, float]] = {}  # model: (at, in, out)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        now = time.monotonic()
        known = self._known.get(model)
        if known is None or now - known[0] > self._ttl:
            price = self._store.prices_for({model}).get(model)
            rates = (price.input_per_million, price.output_per_million) if price else (0.0, 0.0)
            known = self._known[model] = (now, *rates)
        return (input_tokens * known[1] + output_tokens * known[2]) / 1_000_000
