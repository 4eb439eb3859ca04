"""The OTLP codec and the attribute conventions; storage round trips on both dialects."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from lmops.core.errors import InvalidInput, PayloadTooLarge, Unavailable, UnsupportedMediaType
from lmops.tracing import otlp
from lmops.tracing.conventions import map_span
from lmops.tracing.entities import Span, SpanEvent, SpanStatus, SpanType
from lmops.tracing.ingest import export_traces, write_spans
from lmops.tracing.limits import MAX_STRING
from lmops.tracing.store import TracingStore

TRACE = "5b8efff798038103d269b633813fc60c"
ROOT = "eee19b7ec3c1b174"
CHILD = "eee19b7ec3c1b173"


def otel_request(build: Callable[[Tracer], None]) -> ExportTraceServiceRequest:
    """Record spans with the real OpenTelemetry SDK and encode them as the exporter does."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("tests", "1.0"))
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The OTLP JSON encoding: protobuf JSON with hex ids instead of base64."""
    payload = json_format.MessageToDict(request)

    def hexify(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64decode(v).hex()
                if k in ("traceId", "spanId", "parentSpanId")
                else hexify(v)
                for k, v in node.items()
            }
        return [hexify(v) for v in node] if isinstance(node, list) else node

    return json.dumps(hexify(payload)).encode()


def json_span(**fields: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": CHILD,
        "name": "chat",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        **fields,
    }


def json_request(*spans: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]}
    scope = {"scope": {"name": "handmade"}, "spans": list(spans)}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}).encode()


def decode(data: bytes, encoding: otlp.Encoding = otlp.Encoding.JSON) -> otlp.Decoded:
    return otlp.decode_spans(otlp.parse_request(data, encoding))


def _nested(tracer: Tracer) -> None:
    with (
        tracer.start_as_current_span("agent", attributes={"user.id": "u1"}),
        tracer.start_as_current_span("chat") as span,
    ):
        span.set_attributes({"gen_ai.operation.name": "chat", "n": 3, "x": 0.5, "ok": True})
        span.set_attribute("tags", ["a", "b"])
        span.add_event("note", {"k": "v"})
        try:
            raise ValueError("boom")
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR))


# -- codec ---------------------------------------------------------------------------------


def test_protobuf_from_the_sdk_keeps_ids_links_attributes_resource_and_errors() -> None:
    request = otel_request(_nested)
    decoded = decode(request.SerializeToString(), otlp.Encoding.PROTOBUF)
    assert decoded.rejected == []
    chat, agent = decoded.spans
    assert chat.trace_id == agent.trace_id and len(chat.trace_id) == 32
    assert chat.parent_span_id == agent.span_id and agent.parent_span_id is None
    assert chat.attributes["n"] == 3 and chat.attributes["x"] == 0.5
    assert chat.attributes["ok"] is True and chat.attributes["tags"] == ["a", "b"]
    assert chat.attributes["resource.service.name"] == "shop"
    assert chat.attributes["otel.scope.name"] == "tests"
    assert chat.attributes["otel.span.kind"] == "INTERNAL"
    assert chat.span_type is SpanType.CHAT_MODEL
    assert chat.status is SpanStatus.ERROR and chat.status_message == "ValueError: boom"
    assert [e.name for e in chat.events] == ["note", "exception"]
    assert chat.events[1].attributes["exception.message"] == "boom"
    assert agent.context.user_id == "u1"
    assert chat.end_time is not None and chat.end_time >= chat.start_time


def test_json_and_protobuf_decode_to_the_same_spans() -> None:
    request = otel_request(_nested)
    from_json = decode(otlp_json(request)).spans
    from_protobuf = decode(request.SerializeToString(), otlp.Encoding.PROTOBUF).spans
    assert from_json == from_protobuf


def test_json_any_values_hex_ids_and_string_int64() -> None:
    attributes = [
        {"key": "s", "value": {"stringValue": "text"}},
        {"key": "i", "value": {"intValue": "9007199254740993"}},
        {"key": "d", "value": {"doubleValue": 1.5}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "a", "value": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "x"}]}}},
        {
            "key": "kv",
            "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "2"}}]}},
        },
        {"key": "raw", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
        {"key": "empty", "value": {}},
    ]
    span = json_span(
        traceId=TRACE.upper(),
        parentSpanId=ROOT,
        attributes=attributes,
        status={"code": 2, "message": "rate limited"},
        kind=3,
        unknownField="ignored",
    )
    (found,) = decode(json_request(span)).spans
    assert (found.trace_id, found.span_id, found.parent_span_id) == (TRACE, CHILD, ROOT)
    attrs = found.attributes
    assert attrs["s"] == "text" and attrs["i"] == 9007199254740993 and attrs["d"] == 1.5
    assert attrs["b"] is True and attrs["a"] == [1, "x"] and attrs["kv"] == {"n": 2}
    assert attrs["raw"] == "AQI=" and attrs["empty"] is None
    assert attrs["otel.span.kind"] == "CLIENT" and attrs["otel.scope.name"] == "handmade"
    assert found.status is SpanStatus.ERROR and found.status_message == "rate limited"
    assert found.latency_ms == 1500


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traceId": "abc"}, "trace_id must be 16 bytes"),
        ({"traceId": "zz" * 16}, "trace_id must be 16 bytes"),
        ({"spanId": "0" * 16}, "span_id is all zeros"),
        ({"parentSpanId": "0102"}, "parent_span_id must be 8 bytes"),
    ],
)
def test_a_bad_span_is_rejected_alone(fields: dict[str, Any], reason: str) -> None:
    good = json_span(spanId=ROOT)
    decoded = decode(json_request(good, json_span(**fields)))
    assert [s.span_id for s in decoded.spans] == [ROOT]
    (why,) = decoded.rejected
    assert reason in why and "spans[1]" in why
    assert otlp.rejection_message(decoded.rejected).startswith("1 span(s) rejected")


def test_an_all_zero_parent_means_a_root_and_odd_text_is_cleaned() -> None:
    span = json_span(parentSpanId="0" * 16, name="a\x00b\ud800")
    (found,) = decode(json_request(span)).spans
    assert found.parent_span_id is None
    assert found.name == "ab?"


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    [
        (b"\xff\xff\xff", otlp.Encoding.PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
        (b"{not json", otlp.Encoding.JSON, "not valid JSON"),
        (b"[1, 2]", otlp.Encoding.JSON, "must be a JSON object"),
        (b'{"resourceSpans": 7}', otlp.Encoding.JSON, "not an OTLP JSON trace request"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            otlp.Encoding.JSON,
            "startTimeUnixNano",
        ),
    ],
)
def test_malformed_payloads_say_what_is_wrong(
    data: bytes, encoding: otlp.Encoding, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        otlp.parse_request(data, encoding)


def test_content_types_and_encodings() -> None:
    assert otlp.encoding_of("application/x-protobuf") is otlp.Encoding.PROTOBUF
    assert otlp.encoding_of("application/json; charset=utf-8") is otlp.Encoding.JSON
    for bad in (None, "text/plain", "application/grpc"):
        with pytest.raises(UnsupportedMediaType):
            otlp.encoding_of(bad)
    with pytest.raises(UnsupportedMediaType, match="br"):
        otlp.decompress(b"x", "br")


def test_gzip_one_or_many_members_with_a_limit() -> None:
    body = json_request(json_span())
    assert otlp.decompress(gzip.compress(body), "gzip") == body
    assert otlp.decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"
    assert otlp.decompress(body, None) == body
    with pytest.raises(PayloadTooLarge):
        otlp.decompress(gzip.compress(b"\0" * 2_000_000), "gzip", limit=1_000_000)
    with pytest.raises(PayloadTooLarge):
        otlp.decompress(b"x" * 11, None, limit=10)
    with pytest.raises(InvalidInput, match="not valid gzip"):
        otlp.decompress(b"plain text", "gzip")
    with pytest.raises(InvalidInput, match="truncated"):
        otlp.decompress(gzip.compress(body)[:20], "gzip")


def test_responses_in_both_encodings() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    assert otlp.encode_response([], otlp.Encoding.PROTOBUF) == b""
    assert json.loads(otlp.encode_response([], otlp.Encoding.JSON)) == {}
    answer = ExportTraceServiceResponse.FromString(
        otlp.encode_response(["bad id"], otlp.Encoding.PROTOBUF)
    )
    assert answer.partial_success.rejected_spans == 1
    assert "bad id" in answer.partial_success.error_message
    assert json.loads(otlp.encode_response(["x", "y"], otlp.Encoding.JSON)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 span(s) rejected: x; y"}
    }


# -- conventions ---------------------------------------------------------------------------


def test_genai_current_names() -> None:
    found = map_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": "12",
            "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
            ),
            "gen_ai.conversation.id": "conv-1",
        }
    )
    assert found.span_type is SpanType.CHAT_MODEL
    assert (found.provider, found.model) == ("openai", "gpt-4o-2024-08-06")
    assert (found.input_tokens, found.output_tokens) == (120, 30)
    assert (found.cached_tokens, found.reasoning_tokens) == (100, 12)
    assert found.inputs["messages"][0]["parts"][0]["content"] == "hi"
    assert found.inputs["system_instructions"][0]["content"] == "be brief"
    assert found.outputs["messages"][0]["parts"][0]["content"] == "hello"
    assert found.session_id == "conv-1"


def test_genai_deprecated_names_and_indexed_prompts() -> None:
    found = map_span(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet",
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.tool_calls.0.name": "lookup",
        }
    )
    assert found.span_type is SpanType.LLM
    assert (found.provider, found.model) == ("anthropic", "claude-3-5-sonnet")
    assert (found.input_tokens, found.output_tokens) == (11, 7)
    assert found.inputs == {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    }
    assert found.outputs == {
        "messages": [{"role": "assistant", "content": "hello", "tool_calls": [{"name": "lookup"}]}]
    }


def test_genai_whole_prompt_and_completion_strings() -> None:
    found = map_span(
        {"gen_ai.prompt": '[{"role": "user", "content": "q"}]', "gen_ai.completion": "a"}
    )
    assert found.inputs == {"messages": [{"role": "user", "content": "q"}]}
    assert found.outputs == "a"


def test_genai_content_events() -> None:
    now = otlp._EPOCH
    events = [
        SpanEvent(name="gen_ai.system.message", time=now, attributes={"content": "be brief"}),
        SpanEvent(
            name="gen_ai.user.message",
            time=now,
            attributes={"gen_ai.event.content": '{"content": "hi"}', "gen_ai.system": "openai"},
        ),
        SpanEvent(
            name="gen_ai.choice",
            time=now,
            attributes={"index": 0, "finish_reason": "stop", "message": '{"content": "hello"}'},
        ),
    ]
    found = map_span({"gen_ai.operation.name": "chat"}, events=events)
    assert found.inputs == {
        "messages": [{"content": "be brief", "role": "system"}, {"content": "hi", "role": "user"}]
    }
    assert found.outputs == {
        "messages": [{"content": "hello", "index": 0, "finish_reason": "stop", "role": "assistant"}]
    }


def test_genai_tool_calls() -> None:
    found = map_span(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
            "gen_ai.tool.call.result": "rain",
        }
    )
    assert found.span_type is SpanType.TOOL
    assert (found.inputs, found.outputs) == ({"city": "Oslo"}, "rain")


def test_openinference() -> None:
    found = map_span(
        {
            "openinference.span.kind": "LLM",
            "input.value": '{"question": "hi"}',
            "input.mime_type": "application/json",
            "output.value": "hello",
            "output.mime_type": "text/plain",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.text": "more",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "hello",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "f",
            "llm.token_count.prompt": 9,
            "llm.token_count.completion": 4,
            "llm.token_count.total": 13,
            "llm.token_count.prompt_details.cache_read": 2,
            "llm.token_count.completion_details.reasoning": 1,
            "llm.model_name": "mistral-large",
            "llm.provider": "mistralai",
            "session.id": "s1",
            "user.id": "u1",
            "tag.tags": ["beta", "eu"],
            "metadata": '{"team": "search"}',
        }
    )
    assert found.span_type is SpanType.LLM
    assert found.inputs == {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "contents": [{"text": "more"}]},
        ]
    }
    assert found.outputs == {
        "messages": [
            {"role": "assistant", "content": "hello", "tool_calls": [{"function": {"name": "f"}}]}
        ]
    }
    assert (found.input_tokens, found.output_tokens) == (9, 4)
    assert (found.cached_tokens, found.reasoning_tokens) == (2, 1)
    assert (found.model, found.provider) == ("mistral-large", "mistralai")
    assert (found.user_id, found.session_id) == ("u1", "s1")
    assert found.tags == {"beta": "", "eu": ""} and found.metadata == {"team": "search"}


def test_openinference_values_without_messages() -> None:
    found = map_span(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": '{"q": 1}',
            "retrieval.documents.0.document.content": "doc a",
            "retrieval.documents.0.document.score": 0.9,
        }
    )
    assert found.span_type is SpanType.RETRIEVER
    assert found.inputs == '{"q": 1}'  # no JSON mime type: kept as the text it was
    assert found.outputs == {"documents": [{"content": "doc a", "score": 0.9}]}


def test_mlflow_keys() -> None:
    found = map_span(
        {
            "mlflow.spanType": '"CHAT_MODEL"',
            "mlflow.spanInputs": '{"messages": [{"role": "user", "content": "hi"}]}',
            "mlflow.spanOutputs": '"hello"',
            "mlflow.chat.tokenUsage": '{"input_tokens": 5, "output_tokens": 2, "total_tokens": 7,'
            ' "cache_read_input_tokens": 1}',
            "mlflow.llm.model": '"gpt-4o-mini"',
            "mlflow.llm.provider": '"openai"',
            "mlflow.llm.cost": '{"total_cost": 0.25}',
            "mlflow.traceRequestId": '"tr-123"',
            "mlflow.traceTag.team": "search",
        }
    )
    assert found.span_type is SpanType.CHAT_MODEL
    assert found.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert found.outputs == "hello"
    assert (found.input_tokens, found.output_tokens, found.cached_tokens) == (5, 2, 1)
    assert (found.model, found.provider) == ("gpt-4o-mini", "openai")
    assert (found.cost, found.cost_source) == (0.25, "reported (mlflow.llm.cost)")
    assert found.metadata == {"mlflow.traceRequestId": "tr-123"}
    assert found.tags == {"team": "search"}


def test_langfuse_keys() -> None:
    found = map_span(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": '[{"role": "user", "content": "hi"}]',
            "langfuse.observation.output": "hello",
            "langfuse.observation.model.name": "gpt-4.1",
            "langfuse.observation.usage_details": '{"input": 8, "output": 3, "total": 11,'
            ' "input_cache_read": 4, "output_reasoning": 2}',
            "langfuse.observation.cost_details": '{"total": 0.01}',
            "langfuse.observation.level": "ERROR",
            "langfuse.observation.status_message": "refused",
            "langfuse.user.id": "u9",
            "langfuse.session.id": "s9",
            "langfuse.trace.tags": ["prod"],
            "langfuse.trace.metadata.team": "search",
            "langfuse.environment": "staging",
        }
    )
    assert found.span_type is SpanType.LLM
    assert found.inputs == [{"role": "user", "content": "hi"}] and found.outputs == "hello"
    assert (found.input_tokens, found.output_tokens) == (8, 3)
    assert (found.cached_tokens, found.reasoning_tokens) == (4, 2)
    assert found.model == "gpt-4.1" and found.cost == 0.01
    assert (found.user_id, found.session_id, found.environment) == ("u9", "s9", "staging")
    assert found.tags == {"prod": ""} and found.metadata == {"team": "search"}
    assert found.error == "refused"


def test_vendor_keys_win_over_generic_ones_and_bad_counts_are_ignored() -> None:
    found = map_span(
        {
            "langfuse.observation.model.name": "from-langfuse",
            "gen_ai.request.model": "from-genai",
            "gen_ai.usage.input_tokens": -3,
            "gen_ai.usage.output_tokens": True,
            "llm.token_count.prompt": "many",
            "user.id": "span-user",
        },
        resource={"user.id": "resource-user", "deployment.environment.name": "prod"},
    )
    assert found.model == "from-langfuse"
    assert found.input_tokens is None and found.output_tokens is None
    assert (found.user_id, found.environment) == ("span-user", "prod")
    assert map_span({}).span_type is None


# -- storage -------------------------------------------------------------------------------


@pytest.fixture
def store(engine: Engine) -> TracingStore:
    return TracingStore(engine)


def test_decoded_spans_store_with_fields_filled(store: TracingStore) -> None:
    def build(tracer: Tracer) -> None:
        with (
            tracer.start_as_current_span("agent", attributes={"session.id": "s1"}),
            tracer.start_as_current_span("chat") as span,
        ):
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 4,
                    "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "content": "yo"}]',
                    "user.id": "u1",
                    "big": "x" * (MAX_STRING + 10),
                }
            )

    decoded = decode(otel_request(build).SerializeToString(), otlp.Encoding.PROTOBUF)
    assert store.write_spans(decoded.spans) == 2
    trace = store.get_trace(decoded.spans[0].trace_id)
    assert (trace.user_id, trace.session_id) == ("u1", "s1")
    assert (trace.input_tokens, trace.output_tokens, trace.models) == (10, 4, ["gpt-4o"])
    chat = next(s for s in trace.spans if s.name == "chat")
    assert chat.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert chat.outputs == {"messages": [{"role": "assistant", "content": "yo"}]}
    assert chat.attributes["big"].endswith("…[truncated 10 characters]")
    assert chat.attributes["resource.service.name"] == "shop"


def test_a_child_stored_before_its_parent_links_up(store: TracingStore) -> None:
    child = json_span(parentSpanId=ROOT, name="child")
    store.write_spans(decode(json_request(child)).spans)
    (alone,) = store.get_trace(TRACE).spans
    assert alone.parent_span_id == ROOT
    root = json_span(spanId=ROOT, name="root", startTimeUnixNano="1699999999000000000")
    store.write_spans(decode(json_request(root)).spans)
    trace = store.get_trace(TRACE)
    assert [s.name for s in trace.spans] == ["root", "child"]
    assert trace.name == "root" and trace.spans[1].parent_span_id == trace.spans[0].span_id


class Picky:
    """A writer around the real store that refuses spans named "refused" and fails on "down"."""

    def __init__(self, store: TracingStore) -> None:
        self.store = store

    def write_spans(self, batch: Sequence[Span]) -> int:
        if any(s.name == "down" for s in batch):
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        if any(s.name == "refused" for s in batch):
            raise InvalidInput("refused by the store")
        return self.store.write_spans(batch)


def test_spans_the_store_refuses_are_rejected_alone(store: TracingStore) -> None:
    spans = decode(json_request(json_span(spanId=ROOT), json_span(name="refused"))).spans
    refused = write_spans(Picky(store), spans)
    assert len(refused) == 1 and CHILD in refused[0] and "refused by the store" in refused[0]
    assert [s.span_id for s in store.get_trace(TRACE).spans] == [ROOT]


def test_a_failing_store_is_unavailable_not_an_error(store: TracingStore) -> None:
    body = json_request(json_span(name="down"))
    with pytest.raises(Unavailable, match="OperationalError"):
        export_traces(Picky(store), body, otlp.Encoding.JSON, None)


def test_export_answers_with_partial_success(store: TracingStore) -> None:
    body = json_request(json_span(spanId=ROOT), json_span(name="refused"), json_span(spanId="x"))
    answer = json.loads(export_traces(Picky(store), body, otlp.Encoding.JSON, None))
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    assert store.get_trace(TRACE).span_count == 1
