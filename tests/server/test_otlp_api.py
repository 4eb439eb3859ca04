"""POST /v1/traces: OTLP/HTTP in protobuf and JSON, gzip, partial success and bad input."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.tracing import otlp
from lmops.tracing.store import TracingStore
from tests.tracing.test_otlp import CHILD, ROOT, TRACE, json_request, json_span

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(store_uri: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(auth="off", home=tmp_path, uri=store_uri))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def store_of(client: TestClient) -> TracingStore:
    store: TracingStore = client.app.state.services.tracing  # type: ignore[attr-defined]
    return store


def chat_span(**fields: object) -> dict[str, object]:
    attributes = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}},
        {"key": "gen_ai.input.messages", "value": {"stringValue": '[{"role":"user"}]'}},
    ]
    return json_span(parentSpanId=ROOT, attributes=attributes, **fields)


def protobuf_body(*spans: dict[str, object]) -> bytes:
    return otlp.parse_request(json_request(*spans), otlp.Encoding.JSON).SerializeToString()


def test_protobuf_is_stored_and_answered_in_protobuf(client: TestClient) -> None:
    body = protobuf_body(json_span(spanId=ROOT, name="agent"), chat_span())
    response = client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    trace = store_of(client).get_trace(TRACE)
    assert trace.span_count == 2 and (trace.input_tokens, trace.output_tokens) == (12, 5)
    chat = next(s for s in trace.spans if s.span_id == CHILD)
    assert chat.parent_span_id == ROOT and chat.model == "gpt-4o"
    assert chat.inputs == {"messages": [{"role": "user"}]}


def test_json_is_stored_and_answered_in_json(client: TestClient) -> None:
    response = client.post("/v1/traces", content=json_request(chat_span()), headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert store_of(client).get_trace(TRACE).spans[0].span_id == CHILD


@pytest.mark.parametrize("headers", [PROTOBUF, JSON])
def test_gzip_bodies(client: TestClient, headers: dict[str, str]) -> None:
    raw = protobuf_body(chat_span()) if headers is PROTOBUF else json_request(chat_span())
    response = client.post(
        "/v1/traces", content=gzip.compress(raw), headers={**headers, "content-encoding": "gzip"}
    )
    assert response.status_code == 200
    assert store_of(client).get_trace(TRACE).output_tokens == 5


def test_empty_requests_succeed(client: TestClient) -> None:
    assert client.post("/v1/traces", content=b"", headers=PROTOBUF).status_code == 200
    assert client.post("/v1/traces", content=b"{}", headers=JSON).json() == {}


def test_partial_success_in_protobuf(client: TestClient) -> None:
    body = protobuf_body(
        json_span(spanId=ROOT, name="agent"), json_span(spanId="0" * 16), chat_span()
    )
    response = client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "span_id is all zeros" in partial.error_message
    assert store_of(client).get_trace(TRACE).span_count == 2


def test_partial_success_in_json(client: TestClient) -> None:
    body = json_request(chat_span(), json_span(traceId="not-hex"), json_span(spanId="abc"))
    response = client.post("/v1/traces", content=body, headers=JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "trace_id must be 16 bytes" in partial["errorMessage"]
    assert "span_id must be 8 bytes" in partial["errorMessage"]
    assert store_of(client).get_trace(TRACE).span_count == 1


def test_malformed_protobuf_gets_400_with_an_rpc_status(client: TestClient) -> None:
    response = client.post("/v1/traces", content=b"\xff\xff\xff\xff", headers=PROTOBUF)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = Status.FromString(response.content)
    assert status.code == 3 and "not a protobuf ExportTraceServiceRequest" in status.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b'"text"', "must be a JSON object"),
        (b'{"resourceSpans": {"a": 1}}', "not an OTLP JSON trace request"),
    ],
)
def test_malformed_json_gets_400_saying_what_is_wrong(
    client: TestClient, body: bytes, message: str
) -> None:
    response = client.post("/v1/traces", content=body, headers=JSON)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 3 and answer["error"] == "invalid_input"
    assert message in answer["message"]


def test_bad_gzip_gets_400(client: TestClient) -> None:
    headers = {**JSON, "content-encoding": "gzip"}
    response = client.post("/v1/traces", content=b"not gzip", headers=headers)
    assert response.status_code == 400 and "not valid gzip" in response.json()["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/grpc"},
        {},
    ],
)
def test_unsupported_content_types_get_415(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/traces", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert "application/x-protobuf or application/json" in response.json()["message"]


def test_unsupported_content_encoding_gets_415(client: TestClient) -> None:
    response = client.post("/v1/traces", content=b"{}", headers={**JSON, "content-encoding": "br"})
    assert response.status_code == 415 and "br" in response.json()["message"]


def test_a_gzip_bomb_gets_413(client: TestClient) -> None:
    bomb = gzip.compress(b"\0" * (otlp.MAX_BODY + 1))
    headers = {**PROTOBUF, "content-encoding": "gzip"}
    response = client.post("/v1/traces", content=bomb, headers=headers)
    assert response.status_code == 413
    assert "limit" in Status.FromString(response.content).message


def test_an_oversized_body_gets_413(client: TestClient) -> None:
    response = client.post("/v1/traces", content=b" " * (otlp.MAX_BODY + 1), headers=JSON)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


def test_wrong_method_is_not_a_server_error(client: TestClient) -> None:
    assert client.get("/v1/traces").status_code == 405


def test_the_openapi_spec_lists_the_route(client: TestClient) -> None:
    spec = json.loads(client.get("/openapi.json").content)
    assert "post" in spec["paths"]["/v1/traces"]


def _deep_kvlist(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


HOSTILE = [
    json_span(attributes=[{"key": "deep", "value": _deep_kvlist(200)}]),
    json_span(attributes=[{"key": "deep", "value": _deep_kvlist(40)}]),
    json_span(attributes=[{"key": "n", "value": {"intValue": "99999999999999999999"}}]),
    json_span(attributes={"not": "a list"}),
    json_span(attributes=[{"key": "k\x00\ud800", "value": {"stringValue": "v\x00\udfff"}}]),
    json_span(name="\x00", status={"code": 2, "message": "\ud800" * 3}),
    json_span(events=[{"timeUnixNano": "-1", "name": "e"}]),
    json_span(endTimeUnixNano="1", kind=99, status={"code": 77}),
    json_span(links=[{"traceId": "xyz", "spanId": 5}]),
    json_span(attributes=[{"key": "gen_ai.usage.input_tokens", "value": {"doubleValue": 1e308}}]),
    json_span(attributes=[{"key": "gen_ai.input.messages", "value": {"stringValue": "[" * 5000}}]),
    json_span(attributes=[{"key": "tag.tags", "value": {"stringValue": "x" * 5000}}]),
    json_span(attributes=[{"key": "session.id", "value": {"stringValue": "s" * 5000}}]),
    json_span(attributes=[{"key": "llm.model_name", "value": {"stringValue": "m" * 5000}}]),
]


@pytest.mark.parametrize("span", HOSTILE)
def test_hostile_spans_never_get_a_server_error(
    client: TestClient, span: dict[str, object]
) -> None:
    response = client.post("/v1/traces", content=json_request(span), headers=JSON)
    assert response.status_code in (200, 400), response.text
    assert (
        "message" in response.json() or "partialSuccess" in response.json() or not response.json()
    )
