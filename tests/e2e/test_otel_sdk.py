"""The official OpenTelemetry SDK exporting over OTLP/HTTP to a real `lmops server`.

One test per attribute source (GenAI current and deprecated names, OpenInference, MLflow,
Langfuse) shows that inputs, outputs and tokens come out filled when read back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Span as OtelSpan
from opentelemetry.trace import Tracer, format_trace_id, set_span_in_context

from lmops.client import TracingClient, Transport
from lmops.tracing.entities import Span, SpanStatus, SpanType, TraceDetail
from lmops.tracing.limits import MAX_STRING
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


@dataclass
class Otel:
    tracer: Tracer
    provider: TracerProvider
    client: TracingClient

    def trace(self, span: OtelSpan) -> TraceDetail:
        self.provider.force_flush()
        return self.client.get_trace(format_trace_id(span.get_span_context().trace_id))


def _otel(server: LiveServer, *, batch: bool = False, gzip: bool = False) -> Iterator[Otel]:
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces",
        compression=Compression.Gzip if gzip else Compression.NoCompression,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app"}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    client = TracingClient(Transport(server.url))
    yield Otel(provider.get_tracer("e2e"), provider, client)
    provider.shutdown()
    client.close()


@pytest.fixture
def otel(live_server: LiveServer) -> Iterator[Otel]:
    yield from _otel(live_server)


def llm_span(trace: TraceDetail) -> Span:
    (found,) = [s for s in trace.spans if s.parent_span_id is not None]
    return found


def test_genai_current_names(otel: Otel) -> None:
    with (
        otel.tracer.start_as_current_span(
            "support-agent", attributes={"user.id": "u-1", "session.id": "s-1"}
        ) as root,
        otel.tracer.start_as_current_span("chat gpt-4o") as span,
    ):
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 42,
                "gen_ai.usage.output_tokens": 7,
                "gen_ai.usage.cache_read.input_tokens": 32,
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": "hi"}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "yo"}]),
            }
        )
    trace = otel.trace(root)
    chat = llm_span(trace)
    assert chat.span_type is SpanType.CHAT_MODEL
    assert chat.parent_span_id == next(s.span_id for s in trace.spans if s.name == "support-agent")
    assert (chat.model, chat.provider) == ("gpt-4o", "openai")
    assert (chat.input_tokens, chat.output_tokens, chat.cached_tokens) == (42, 7, 32)
    assert chat.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert chat.outputs == {"messages": [{"role": "assistant", "content": "yo"}]}
    assert (trace.user_id, trace.session_id) == ("u-1", "s-1")
    assert (trace.input_tokens, trace.output_tokens, trace.models) == (42, 7, ["gpt-4o"])
    assert chat.attributes["resource.service.name"] == "e2e-app"


def test_genai_deprecated_names(otel: Otel) -> None:
    with (
        otel.tracer.start_as_current_span("app") as root,
        otel.tracer.start_as_current_span("anthropic.chat") as span,
    ):
        span.set_attributes(
            {
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku",
                "gen_ai.usage.prompt_tokens": 15,
                "gen_ai.usage.completion_tokens": 4,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "capital of Norway?",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Oslo",
            }
        )
    chat = llm_span(otel.trace(root))
    assert chat.span_type is SpanType.LLM
    assert (chat.model, chat.provider) == ("claude-3-5-haiku", "anthropic")
    assert (chat.input_tokens, chat.output_tokens) == (15, 4)
    assert chat.inputs == {"messages": [{"role": "user", "content": "capital of Norway?"}]}
    assert chat.outputs == {"messages": [{"role": "assistant", "content": "Oslo"}]}


def test_openinference(otel: Otel) -> None:
    with (
        otel.tracer.start_as_current_span(
            "rag", attributes={"openinference.span.kind": "CHAIN", "session.id": "s-oi"}
        ) as root,
        otel.tracer.start_as_current_span("ChatOpenAI") as span,
    ):
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "input.value": json.dumps({"question": "why?"}),
                "input.mime_type": "application/json",
                "output.value": "because",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "why?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "because",
                "llm.token_count.prompt": 20,
                "llm.token_count.completion": 3,
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "user.id": "u-oi",
                "tag.tags": ["beta"],
            }
        )
    trace = otel.trace(root)
    llm = llm_span(trace)
    assert llm.span_type is SpanType.LLM
    assert llm.inputs == {"messages": [{"role": "user", "content": "why?"}]}
    assert llm.outputs == {"messages": [{"role": "assistant", "content": "because"}]}
    assert (llm.input_tokens, llm.output_tokens) == (20, 3)
    assert (llm.model, llm.provider) == ("gpt-4o-mini", "openai")
    assert (trace.user_id, trace.session_id, trace.tags) == ("u-oi", "s-oi", {"beta": ""})
    assert next(s for s in trace.spans if s.name == "rag").span_type is SpanType.CHAIN


def test_mlflow_keys(otel: Otel) -> None:
    with (
        otel.tracer.start_as_current_span("predict") as root,
        otel.tracer.start_as_current_span("ChatModel") as span,
    ):
        span.set_attributes(
            {
                "mlflow.spanType": json.dumps("CHAT_MODEL"),
                "mlflow.spanInputs": json.dumps({"messages": [{"role": "user", "content": "a"}]}),
                "mlflow.spanOutputs": json.dumps({"content": "b"}),
                "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 9, "output_tokens": 2}),
                "mlflow.llm.model": json.dumps("gpt-4.1"),
                "mlflow.llm.provider": json.dumps("openai"),
                "mlflow.traceRequestId": json.dumps("tr-abc"),
            }
        )
    trace = otel.trace(root)
    chat = llm_span(trace)
    assert chat.span_type is SpanType.CHAT_MODEL
    assert chat.inputs == {"messages": [{"role": "user", "content": "a"}]}
    assert chat.outputs == {"content": "b"}
    assert (chat.input_tokens, chat.output_tokens) == (9, 2)
    assert (chat.model, chat.provider) == ("gpt-4.1", "openai")
    assert trace.metadata["mlflow.traceRequestId"] == "tr-abc"


def test_langfuse_keys(otel: Otel) -> None:
    with (
        otel.tracer.start_as_current_span(
            "pipeline",
            attributes={
                "langfuse.user.id": "u-lf",
                "langfuse.session.id": "s-lf",
                "langfuse.trace.tags": ["prod", "eu"],
                "langfuse.environment": "production",
            },
        ) as root,
        otel.tracer.start_as_current_span("generation") as span,
    ):
        span.set_attributes(
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.input": json.dumps([{"role": "user", "content": "q"}]),
                "langfuse.observation.output": json.dumps({"role": "assistant", "content": "a"}),
                "langfuse.observation.model.name": "mistral-small",
                "langfuse.observation.usage_details": json.dumps({"input": 30, "output": 6}),
            }
        )
    trace = otel.trace(root)
    generation = llm_span(trace)
    assert generation.span_type is SpanType.LLM
    assert generation.inputs == [{"role": "user", "content": "q"}]
    assert generation.outputs == {"role": "assistant", "content": "a"}
    assert (generation.input_tokens, generation.output_tokens) == (30, 6)
    assert generation.model == "mistral-small"
    assert (trace.user_id, trace.session_id, trace.environment) == ("u-lf", "s-lf", "production")
    assert trace.tags == {"prod": "", "eu": ""}


def test_a_child_exported_before_its_parent_is_kept_and_linked(otel: Otel) -> None:
    root = otel.tracer.start_span("slow-parent")
    with otel.tracer.start_as_current_span(
        "quick-child", context=set_span_in_context(root)
    ) as child:
        child.set_attribute("gen_ai.usage.input_tokens", 3)
    early = otel.trace(child)
    (alone,) = early.spans
    assert alone.parent_span_id == format(root.get_span_context().span_id, "016x")
    root.end()
    trace = otel.trace(root)
    assert [s.name for s in trace.spans] == ["slow-parent", "quick-child"]
    assert trace.name == "slow-parent" and trace.span_count == 2


def test_an_oversized_attribute_is_truncated_not_rejected(otel: Otel) -> None:
    with otel.tracer.start_as_current_span("big") as span:
        span.set_attribute("input.value", "y" * (MAX_STRING + 500))
        span.set_attribute("note", "z" * (MAX_STRING + 1))
    (stored,) = otel.trace(span).spans
    assert stored.attributes["note"].endswith("…[truncated 1 characters]")
    assert stored.inputs.endswith("…[truncated 500 characters]")


def test_batches_and_gzip(live_server: LiveServer) -> None:
    for otel in _otel(live_server, batch=True, gzip=True):
        with otel.tracer.start_as_current_span("root") as root:
            for i in range(50):
                with otel.tracer.start_as_current_span(f"step {i}") as step:
                    step.set_attribute("gen_ai.usage.output_tokens", 2)
        trace = otel.trace(root)
        assert trace.span_count == 51 and trace.output_tokens == 100


def test_errors_keep_their_message_and_exception_event(otel: Otel) -> None:
    def call_tool() -> None:
        with otel.tracer.start_as_current_span("tool call") as span:
            span.set_attribute("gen_ai.operation.name", "execute_tool")
            spans.append(span)
            raise RuntimeError("tool exploded")

    spans: list[OtelSpan] = []
    with pytest.raises(RuntimeError, match="exploded"):
        call_tool()
    (span,) = spans
    (stored,) = otel.trace(span).spans
    assert stored.span_type is SpanType.TOOL
    assert stored.status is SpanStatus.ERROR and "tool exploded" in (stored.status_message or "")
    assert [e.name for e in stored.events] == ["exception"]
