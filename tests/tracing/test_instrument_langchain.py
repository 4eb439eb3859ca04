"""`LmopsCallbackHandler` and `instrument("langchain")` with LangChain's own fake models."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseLLM
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import Generation, LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

import lmops
from lmops.core.errors import MissingExtra
from lmops.core.ids import new_id
from lmops.fluent.instrument import instrument, uninstrument
from lmops.fluent.instrument.langchain import LmopsCallbackHandler
from lmops.tracing.entities import Span, SpanStatus, SpanType, TraceDetail
from lmops.tracing.live import LiveSpan

USAGE: Any = {
    "input_tokens": 12,
    "output_tokens": 4,
    "total_tokens": 16,
    "input_token_details": {"cache_read": 5},
    "output_token_details": {"reasoning": 1},
}


class Docs(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"about {query}", metadata={"source": "atlas"})]


@tool
def capital(country: str) -> str:
    """The capital of a country."""
    if country == "Atlantis":
        raise ValueError("no such country")
    return {"France": "Paris"}.get(country, "unknown")


class TokenCountingLLM(BaseLLM):
    """A completion model that reports its usage the way provider integrations do."""

    def _generate(self, prompts: list[str], *args: Any, **kwargs: Any) -> LLMResult:
        return LLMResult(
            generations=[[Generation(text=p.upper())] for p in prompts],
            llm_output={
                "model_name": "counting-1",
                "token_usage": {"prompt_tokens": 9, "completion_tokens": 3},
            },
        )

    @property
    def _llm_type(self) -> str:
        return "counting"


def _answer(text: str = "Paris it is") -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata=USAGE,
        response_metadata={"model_name": "fake-chat-1"},
    )


def _chain(model: GenericFakeChatModel) -> Runnable[str, str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Use {context} and {fact}."), ("human", "{question}")]
    )
    lookup = RunnableLambda(lambda country: capital.invoke({"country": country}), name="lookup")
    branches = {"context": Docs(), "fact": lookup, "question": RunnablePassthrough()}
    return branches | prompt | model | StrOutputParser()


@contextmanager
def _app_span(tag: str) -> Iterator[LiveSpan]:
    with lmops.span("app", type=SpanType.CHAIN) as live:
        lmops.update_current_trace(tags={"test": tag})
        yield live


def _tagged_trace(tag: str) -> TraceDetail:
    page = lmops.search_traces(tags={"test": tag})
    assert len(page.traces) == 1, page.traces
    return lmops.get_trace(page.traces[0].trace_id)


def _by_name(trace: TraceDetail) -> dict[str, Span]:
    spans = {s.name: s for s in trace.spans}
    assert len(spans) == len(trace.spans), [s.name for s in trace.spans]
    return spans


def _parent(spans: dict[str, Span], name: str) -> str:
    parent_id = spans[name].parent_span_id
    return next(s.name for s in spans.values() if s.span_id == parent_id)


def _assert_chain_tree(spans: dict[str, Span]) -> None:
    assert _parent(spans, "RunnableSequence") == "app"
    assert _parent(spans, "RunnableParallel<context,fact,question>") == "RunnableSequence"
    for branch in ("Docs", "lookup", "RunnablePassthrough"):
        assert _parent(spans, branch) == "RunnableParallel<context,fact,question>"
    assert _parent(spans, "capital") == "lookup"
    for step in ("ChatPromptTemplate", "GenericFakeChatModel", "StrOutputParser"):
        assert _parent(spans, step) == "RunnableSequence"
    types = {name: span.span_type for name, span in spans.items()}
    assert types["RunnableSequence"] == SpanType.CHAIN
    assert types["Docs"] == SpanType.RETRIEVER
    assert types["capital"] == SpanType.TOOL
    assert types["GenericFakeChatModel"] == SpanType.CHAT_MODEL
    assert types["StrOutputParser"] == SpanType.PARSER
    assert all(s.status == SpanStatus.OK for s in spans.values())


def test_a_chain_becomes_a_span_tree(sdk: str) -> None:
    tag = new_id()
    chain = _chain(GenericFakeChatModel(messages=iter([_answer()])))
    with _app_span(tag):
        answer = chain.invoke("France", {"callbacks": [LmopsCallbackHandler()]})
    assert answer == "Paris it is"

    trace = _tagged_trace(tag)
    spans = _by_name(trace)
    _assert_chain_tree(spans)
    assert spans["RunnableSequence"].inputs == "France"
    assert spans["RunnableSequence"].outputs == "Paris it is"
    assert spans["Docs"].inputs == {"query": "France"}
    assert spans["Docs"].outputs == [
        {"page_content": "about France", "metadata": {"source": "atlas"}}
    ]
    assert spans["capital"].inputs == {"country": "France"}
    assert spans["capital"].outputs == "Paris"

    chat = spans["GenericFakeChatModel"]
    assert chat.inputs["messages"][1] == {"role": "user", "content": "France"}
    assert chat.inputs["messages"][0]["role"] == "system"
    message = chat.outputs["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Paris it is"}
    assert (chat.input_tokens, chat.output_tokens) == (12, 4)
    assert (chat.cached_tokens, chat.reasoning_tokens) == (5, 1)
    assert chat.model == "fake-chat-1"
    assert (trace.input_tokens, trace.output_tokens) == (12, 4)


def test_instrument_adds_the_handler_to_every_run(sdk: str) -> None:
    tag = new_id()
    chain = _chain(GenericFakeChatModel(messages=iter([_answer(), _answer("again")])))
    instrument("langchain")
    try:
        instrument("langchain")
        with _app_span(tag):
            chain.invoke("France")
    finally:
        uninstrument("langchain")
    _assert_chain_tree(_by_name(_tagged_trace(tag)))

    after = new_id()
    with _app_span(after):
        chain.invoke("France")
    assert [s.name for s in _tagged_trace(after).spans] == ["app"]


def test_async_runs_and_streamed_tokens(sdk: str) -> None:
    tag = new_id()
    model = GenericFakeChatModel(messages=iter([_answer("streamed answer here")]))
    handler = LmopsCallbackHandler()

    async def app() -> str:
        with _app_span(tag):
            pieces = [
                str(chunk.content) async for chunk in model.astream("hi", {"callbacks": [handler]})
            ]
        return "".join(pieces)

    assert asyncio.run(app()) == "streamed answer here"
    spans = _by_name(_tagged_trace(tag))
    chat = spans["GenericFakeChatModel"]
    assert _parent(spans, "GenericFakeChatModel") == "app"
    assert chat.outputs["choices"][0]["message"]["content"] == "streamed answer here"
    assert chat.attributes["gen_ai.response.time_to_first_token_ms"] >= 0


def test_completion_models_and_provider_token_usage(sdk: str) -> None:
    tag = new_id()
    handler = LmopsCallbackHandler()
    with _app_span(tag):
        FakeListLLM(responses=["plain"]).invoke("first", {"callbacks": [handler]})
        TokenCountingLLM().invoke("second", {"callbacks": [handler]})
    spans = _by_name(_tagged_trace(tag))
    plain, counting = spans["FakeListLLM"], spans["TokenCountingLLM"]
    assert (plain.span_type, counting.span_type) == (SpanType.LLM, SpanType.LLM)
    assert plain.inputs == {"prompts": ["first"]}
    assert plain.outputs == {"choices": [{"index": 0, "text": "plain"}]}
    assert plain.input_tokens is None
    assert counting.outputs == {"choices": [{"index": 0, "text": "SECOND"}]}
    assert (counting.input_tokens, counting.output_tokens) == (9, 3)
    assert counting.model == "counting-1"


def test_a_failing_tool_fails_its_span_and_the_chain(sdk: str) -> None:
    tag = new_id()
    chain = _chain(GenericFakeChatModel(messages=iter([_answer()])))
    with _app_span(tag), pytest.raises(ValueError, match="no such country"):
        chain.invoke("Atlantis", {"callbacks": [LmopsCallbackHandler()]})
    spans = _by_name(_tagged_trace(tag))
    assert spans["capital"].status == SpanStatus.ERROR
    assert "no such country" in (spans["capital"].status_message or "")
    assert spans["RunnableSequence"].status == SpanStatus.ERROR
    assert "GenericFakeChatModel" not in spans


def test_a_run_outside_any_span_is_its_own_trace(tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    try:
        FakeListLLM(responses=["x"]).invoke("q", {"callbacks": [LmopsCallbackHandler()]})
        (found,) = lmops.search_traces().traces
        (span,) = lmops.get_trace(found.trace_id).spans
        assert (span.name, span.parent_span_id) == ("FakeListLLM", None)
    finally:
        lmops.configure(home=tmp_path / "home", uri="")


def test_without_langchain_core_the_import_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.callbacks", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "lmops.fluent.instrument.langchain", raising=False)
    with pytest.raises(MissingExtra, match=r"lmops\[langchain\]"):
        importlib.import_module("lmops.fluent.instrument.langchain")
