"""OTLP/HTTP trace payloads: ExportTraceServiceRequest in protobuf or JSON, gzip or not, into
spans; and the answers the OTLP spec asks for (ExportTraceServiceResponse, rpc Status).

Span attributes are kept as sent. Resource attributes join them under a `resource.` prefix
(`resource.service.name`); the instrumentation scope, span kind, trace state and links go
under `otel.` keys. Conventions (GenAI, OpenInference, MLflow, Langfuse) fill the lifted
fields. A span that cannot be stored (bad ids, impossible times) is rejected alone.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

# google.protobuf ships no type hints (types-protobuf is not a dependency).
from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from pydantic import ValidationError

from lmops.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from lmops.tracing.conventions import Mapped, map_span
from lmops.tracing.entities import Span, SpanEvent, SpanStatus, SpanType, TraceContext
from lmops.tracing.limits import truncate_values

log = logging.getLogger(__name__)

MAX_BODY = 32 * 2**20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS = {0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR}
_KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_MAX_DEPTH = 32
_REASONS_SHOWN = 5


class Encoding(StrEnum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


@dataclass
class Decoded:
    """The spans a request carried, and why each rejected span was refused."""

    spans: list[Span] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def rejection_message(rejected: list[str]) -> str:
    """One line saying how many spans were refused and why (the first few reasons)."""
    if not rejected:
        return ""
    shown = "; ".join(rejected[:_REASONS_SHOWN])
    more = len(rejected) - _REASONS_SHOWN
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{len(rejected)} span(s) rejected: {shown}{tail}"


def encoding_of(content_type: str | None) -> Encoding:
    """The payload encoding a Content-Type names; 415 for anything but OTLP's two."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return Encoding.PROTOBUF
    if media == "application/json":
        return Encoding.JSON
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not supported: send OTLP as "
        "application/x-protobuf or application/json"
    )


def decompress(body: bytes, content_encoding: str | None, limit: int = MAX_BODY) -> bytes:
    """Undo `Content-Encoding: gzip`, refusing output past `limit` bytes (413)."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("identity", "none", ""):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is over the {limit} byte limit")
        return body
    if coding not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(
            f"Content-Encoding {content_encoding!r} is not supported: use gzip or none"
        )
    out = bytearray()
    rest = body
    try:
        while rest:  # a gzip stream may hold several members back to back
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += member.decompress(rest, limit + 1 - len(out))
            if len(out) > limit or member.unconsumed_tail:
                raise PayloadTooLarge(f"decompressed request body is over the {limit} byte limit")
            if not member.eof:
                raise InvalidInput("gzip body is truncated", field="body")
            rest = member.unused_data
    except zlib.error as exc:
        raise InvalidInput(f"body is not valid gzip: {exc}", field="body") from None
    return bytes(out)


def parse_request(data: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """Parse the payload; 400 with what was wrong when it is not an ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    if encoding is Encoding.PROTOBUF:
        try:
            request.ParseFromString(data)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise InvalidInput(
                f"body is not a protobuf ExportTraceServiceRequest: {exc or 'cannot parse'}",
                field="body",
            ) from None
        return request
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body must be a JSON object with resourceSpans", field="body")
    try:
        json_format.ParseDict(_prepare_json(payload), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise InvalidInput(f"body is not an OTLP JSON trace request: {exc}", field="body") from None
    return request


def decode_spans(request: ExportTraceServiceRequest) -> Decoded:
    """Turn every span in the request into a Span; the ones that cannot be are listed."""
    decoded = Decoded()
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            for n, pb in enumerate(scope_spans.spans):
                try:
                    decoded.spans.append(_span(pb, resource, scope.name, scope.version))
                except (InvalidInput, ValidationError, OverflowError, ValueError) as exc:
                    where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                    decoded.rejected.append(f"{where} ({pb.name[:100]!r}): {_reason(exc)}")
    return decoded


def encode_response(rejected: list[str], encoding: Encoding) -> bytes:
    """The 200 answer: empty on full success, partial_success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = len(rejected)
        response.partial_success.error_message = rejection_message(rejected)
    if encoding is Encoding.PROTOBUF:
        return bytes(response.SerializeToString())
    return str(json_format.MessageToJson(response, indent=None)).encode()


def encode_status(code: int, message: str, encoding: Encoding, error: str) -> bytes:
    """A google.rpc.Status body for a 4xx/5xx answer, in the request's encoding.

    Written by hand (field 1 code, field 2 message) so the base install needs no
    googleapis-common-protos. JSON answers also carry our usual `error` field.
    """
    if encoding is Encoding.JSON:
        return json.dumps({"code": code, "message": message, "error": error}).encode()
    text = message.encode("utf-8", "replace")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


# -- one span -----------------------------------------------------------------------------


def _span(pb: trace_pb2.Span, resource: dict[str, Any], scope: str, version: str) -> Span:
    trace_id = _id(pb.trace_id, 16, "trace_id")
    span_id = _id(pb.span_id, 8, "span_id")
    parent = _id(pb.parent_span_id, 8, "parent_span_id") if any(pb.parent_span_id) else None
    start = _time(pb.start_time_unix_nano, "start_time_unix_nano")
    end = _time(pb.end_time_unix_nano, "end_time_unix_nano") if pb.end_time_unix_nano else None
    attributes = _attributes(pb.attributes)
    events = [
        SpanEvent(
            name=e.name.replace("\x00", "")[:1000] or "event",
            time=_time(e.time_unix_nano, "events.time_unix_nano") if e.time_unix_nano else start,
            attributes=truncate_values(_attributes(e.attributes)),
        )
        for e in pb.events
    ]
    try:
        mapped = map_span(attributes, resource, events)
    except Exception:  # a convention bug must not lose the span: keep it with raw attributes
        log.exception("mapping conventions failed for span %s", span_id)
        mapped = Mapped()
    status = _STATUS.get(pb.status.code, SpanStatus.UNSET)
    message = pb.status.message or None
    if mapped.error is not None and status is SpanStatus.UNSET:
        status, message = SpanStatus.ERROR, mapped.error
    if status is SpanStatus.ERROR and not message:
        message = _exception_message(events)
    raw = {**attributes, **{f"resource.{k}": v for k, v in resource.items()}}
    raw.update(_otel_fields(pb, scope, version))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=pb.name.replace("\x00", "")[:1000] or "(unnamed)",
        span_type=mapped.span_type or SpanType.UNKNOWN,
        start_time=start,
        end_time=end,
        status=status,
        status_message=truncate_values(message) if message else None,
        attributes=raw,
        events=events,
        inputs=mapped.inputs,
        outputs=mapped.outputs,
        input_tokens=mapped.input_tokens,
        output_tokens=mapped.output_tokens,
        cached_tokens=mapped.cached_tokens,
        reasoning_tokens=mapped.reasoning_tokens,
        cost=mapped.cost,
        cost_source=mapped.cost_source,
        model=mapped.model,
        provider=mapped.provider,
        context=TraceContext(
            user_id=mapped.user_id,
            session_id=mapped.session_id,
            environment=mapped.environment,
            tags=mapped.tags,
            metadata=truncate_values(mapped.metadata),
        ),
    )


def _otel_fields(pb: trace_pb2.Span, scope: str, version: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if scope:
        found["otel.scope.name"] = scope
    if version:
        found["otel.scope.version"] = version
    if pb.kind in _KINDS:
        found["otel.span.kind"] = _KINDS[pb.kind]
    if pb.trace_state:
        found["otel.trace_state"] = pb.trace_state
    if pb.links:
        found["otel.links"] = [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "attributes": _attributes(link.attributes),
            }
            for link in pb.links
        ]
    return found


def _exception_message(events: list[SpanEvent]) -> str | None:
    for event in events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type")
            text = event.attributes.get("exception.message")
            found = ": ".join(str(p) for p in (kind, text) if p)
            if found:
                return found
    return None


def _id(raw: bytes, size: int, name: str) -> str:
    if len(raw) != size:
        raise InvalidInput(
            f"{name} must be {size} bytes ({2 * size} hex characters in JSON), got {len(raw)}",
            field=name,
        )
    if not any(raw):
        raise InvalidInput(f"{name} is all zeros, which OpenTelemetry calls invalid", field=name)
    return raw.hex()


def _time(nanos: int, name: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=nanos // 1000)
    except OverflowError:
        raise InvalidInput(f"{name} {nanos} is out of range", field=name) from None


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        found[pair.key] = _value(pair.value, 0)
    return found


def _value(value: AnyValue, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if depth >= _MAX_DEPTH:
        return "…[nested too deep]"
    if kind == "array_value":
        return [_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {p.key: _value(p.value, depth + 1) for p in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
    return str(exc)


def _prepare_json(node: Any, depth: int = 0) -> Any:
    """OTLP JSON writes trace and span ids in hex where protobuf JSON expects base64; and
    JSON may carry lone surrogates, which protobuf strings refuse: replace them."""
    if depth > 200:
        raise InvalidInput("JSON body is nested too deep", field="body")
    if isinstance(node, dict):
        return {
            k: _b64(v) if k in _ID_KEYS and isinstance(v, str) else _prepare_json(v, depth + 1)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_prepare_json(v, depth + 1) for v in node]
    if isinstance(node, str):
        return _valid_text(node)
    return node


def _valid_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _b64(hex_id: str) -> str:
    try:
        raw = bytes.fromhex(hex_id)
    except ValueError:
        raw = b""  # not hex: the span is rejected alone, as an id of the wrong length
    return base64.b64encode(raw).decode()


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)
