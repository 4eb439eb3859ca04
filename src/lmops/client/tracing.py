"""Tracing over HTTP: the same methods as TracingStore, FeedbackStore and PriceStore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from lmops.client.transport import Transport
from lmops.tracing.entities import (
    Feedback,
    FeedbackConfig,
    ModelPrice,
    Span,
    Trace,
    TraceDetail,
    TracePage,
    TraceQuery,
)
from lmops.tracing.rows import SpanRow, row_json


class FeedbackClient:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def log_feedback(
        self, trace_id: str, name: str, value: float | bool | str | None = None, **fields: Any
    ) -> Feedback:
        body = {"name": name, "value": value, **{k: v for k, v in fields.items() if v is not None}}
        return Feedback.model_validate(
            self.t.request("POST", f"/traces/{trace_id}/feedback", json=body)
        )

    def list_feedback(self, trace_id: str) -> list[Feedback]:
        return [
            Feedback.model_validate(f)
            for f in self.t.request("GET", f"/traces/{trace_id}/feedback")
        ]

    def set_config(self, config: FeedbackConfig) -> FeedbackConfig:
        return FeedbackConfig.model_validate(
            self.t.request(
                "PUT", f"/feedback-configs/{config.name}", json=config.model_dump(mode="json")
            )
        )

    def list_configs(self) -> list[FeedbackConfig]:
        return [
            FeedbackConfig.model_validate(c) for c in self.t.request("GET", "/feedback-configs")
        ]

    def create_token(self, trace_id: str, ttl: timedelta = timedelta(days=7)) -> str:
        body = {"ttl_seconds": int(ttl.total_seconds())}
        token: str = self.t.request("POST", f"/traces/{trace_id}/feedback-token", json=body)[
            "token"
        ]
        return token


class PriceClient:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def set_price(self, price: ModelPrice) -> ModelPrice:
        return ModelPrice.model_validate(
            self.t.request("PUT", f"/prices/{price.model}", json=price.model_dump(mode="json"))
        )

    def list_prices(self) -> list[ModelPrice]:
        return [ModelPrice.model_validate(p) for p in self.t.request("GET", "/prices")]


class TracingClient:
    """The remote face of TracingStore."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.feedback = FeedbackClient(transport)
        self.prices = PriceClient(transport)

    def close(self) -> None:
        self.t.close()

    def write_spans(self, batch: Sequence[Span]) -> int:
        body = {"spans": [s.model_dump(mode="json") for s in batch]}
        accepted: int = self.t.request("POST", "/spans", json=body)["accepted"]
        return accepted

    def write_span_rows(self, rows: Sequence[SpanRow]) -> int:
        accepted: int = self.t.request(
            "POST", "/spans", json={"spans": [row_json(r) for r in rows]}
        )["accepted"]
        return accepted

    def get_trace(self, trace_id: str) -> TraceDetail:
        return TraceDetail.model_validate(self.t.request("GET", f"/traces/{trace_id}"))

    def search_traces(self, query: TraceQuery | None = None) -> TracePage:
        body = (query or TraceQuery()).model_dump(mode="json", exclude_defaults=True)
        return TracePage.model_validate(self.t.request("POST", "/traces/search", json=body))

    def get_session(self, session_id: str) -> list[Trace]:
        return [Trace.model_validate(t) for t in self.t.request("GET", f"/sessions/{session_id}")]

    def delete_trace(self, trace_id: str) -> None:
        self.t.request("DELETE", f"/traces/{trace_id}")

    def delete_traces_before(self, before: datetime) -> int:
        deleted: int = self.t.request(
            "POST", "/traces/delete", json={"before": before.isoformat()}
        )["deleted"]
        return deleted
