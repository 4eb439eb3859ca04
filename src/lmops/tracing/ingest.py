"""OTLP ingestion: decode a request, store its spans, and say which were refused.

A span is acknowledged only once committed. When the store refuses a batch because of
what one span holds, the spans are written one by one so that the others are still kept;
when the store itself fails, the caller gets Unavailable (503, which exporters retry).

A span of a trace id that another project holds is refused the same way (the store's
Conflict): it is reported in partial_success, never merged into that project's trace,
and a retry cannot succeed, so it is not a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from lmops.core.errors import Conflict, InvalidInput, Unavailable
from lmops.tracing import otlp
from lmops.tracing.entities import Span

log = logging.getLogger(__name__)

# The store reports what a span holds as InvalidInput, a trace id of another project as
# Conflict: both are about the span, not the store failing.
_REFUSED = (InvalidInput, Conflict)


class SpanWriter(Protocol):
    """What ingestion needs of a store: TracingStore, or a test's writer around one."""

    def write_spans(self, batch: Sequence[Span]) -> int: ...


def export_traces(
    store: SpanWriter, body: bytes, encoding: otlp.Encoding, content_encoding: str | None
) -> bytes:
    """Store the spans of one OTLP/HTTP export; return the ExportTraceServiceResponse body."""
    data = otlp.decompress(body, content_encoding)
    decoded = otlp.decode_spans(otlp.parse_request(data, encoding))
    rejected = decoded.rejected + write_spans(store, decoded.spans)
    if rejected:
        log.warning("OTLP export: %s", otlp.rejection_message(rejected))
    return otlp.encode_response(rejected, encoding)


def write_spans(store: SpanWriter, spans: Sequence[Span]) -> list[str]:
    """Write spans in one transaction, or one by one if the batch is refused; return why
    each refused span was refused."""
    try:
        store.write_spans(spans)
        return []
    except _REFUSED:
        log.info("OTLP batch refused by the store; writing its %d spans one by one", len(spans))
    except Exception as exc:
        raise _unavailable(exc) from exc
    refused: list[str] = []
    for span in spans:
        try:
            store.write_spans([span])
        except _REFUSED as exc:
            detail = exc.message
            refused.append(f"span {span.span_id} of trace {span.trace_id}: {detail[:300]}")
        except Exception as exc:
            # Spans written so far are committed; a retry rewrites them (writes are idempotent).
            raise _unavailable(exc) from exc
    return refused


def _unavailable(exc: Exception) -> Unavailable:
    log.error("OTLP export: the trace store failed", exc_info=exc)
    return Unavailable(f"the trace store cannot take spans now ({type(exc).__name__})")
