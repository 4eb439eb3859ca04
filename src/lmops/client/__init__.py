"""The HTTP face of the SDK: one transport and thin per-stage clients."""

from lmops.client.tracing import TracingClient
from lmops.client.tracking import TrackingClient
from lmops.client.transport import Transport

__all__ = ["TracingClient", "TrackingClient", "Transport"]
