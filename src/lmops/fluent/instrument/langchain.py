"""LangChain runs as lmops spans: chains, LLM and chat model calls, tools and retrievers.

`LmopsCallbackHandler` keeps one open span per LangChain run id, a child of its parent run's
span, or of the caller's current lmops span for a top-level run. It never makes its spans
current: LangChain calls handlers from copied contexts, where a context variable set at a
run's start would be gone (or leak into a sibling) by its end.

`instrument("langchain")` adds one shared handler to every run through LangChain's configure
hook; without it, pass the handler per call: `chain.invoke(x, {"callbacks": [handler]})`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, cast
from uuid import UUID

from lmops.core.errors import MissingExtra
from lmops.core.ids import utcnow
from lmops.fluent.tracing import end_span
from lmops.tracing.entities import SpanType
from lmops.tracing.live import LiveSpan, current_span

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGeneration, LLMResult
    from langchain_core.tracers.context import register_configure_hook
except ImportError as exc:  # pragma: no cover - the dev install has langchain-core
    raise MissingExtra("the LangChain callback handler", "langchain") from exc

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class LmopsCallbackHandler(BaseCallbackHandler):
    """Record each LangChain run (chain, LLM, chat model, tool, retriever) as an lmops span."""

    # Inline, so that async runs call it in order on the loop instead of in a thread pool.
    run_inline = True

    def __init__(self) -> None:
        self._spans: dict[UUID, LiveSpan] = {}
        self._first_token: set[UUID] = set()
        self._lock = threading.Lock()

    # -- starts ---------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "chain")
        span_type = SpanType.PARSER if name.endswith("Parser") else SpanType.CHAIN
        self._open(run_id, parent_run_id, name, span_type, inputs, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "llm")
        inputs = {"prompts": prompts}
        self._open_model(run_id, parent_run_id, name, SpanType.LLM, inputs, kwargs)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "chat_model")
        batches = [[_message(m) for m in batch] for batch in messages]
        inputs = {"messages": batches[0] if len(batches) == 1 else batches}
        self._open_model(run_id, parent_run_id, name, SpanType.CHAT_MODEL, inputs, kwargs)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "tool")
        value = inputs if inputs is not None else input_str
        self._open(run_id, parent_run_id, name, SpanType.TOOL, value, kwargs)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = _run_name(serialized, kwargs, "retriever")
        self._open(run_id, parent_run_id, name, SpanType.RETRIEVER, {"query": query}, kwargs)

    # -- progress -------------------------------------------------------------------------

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        live = self._spans.get(run_id)
        if live is None or run_id in self._first_token:
            return
        self._first_token.add(run_id)
        elapsed_ms = (utcnow() - live.start_time).total_seconds() * 1000
        live.set_attribute("gen_ai.response.time_to_first_token_ms", round(elapsed_ms, 3))

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event(run_id, "agent_action", {"tool": getattr(action, "tool", None)})

    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event(run_id, "retry", {"attempt": getattr(retry_state, "attempt_number", None)})

    # -- ends -----------------------------------------------------------------------------

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, outputs)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, _message(output) if isinstance(output, BaseMessage) else output)

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        found = [{"page_content": d.page_content, "metadata": d.metadata} for d in documents]
        self._close(run_id, found)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        live = self._pop(run_id)
        if live is not None:
            _record_result(live, response)
            end_span(live)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- bookkeeping ----------------------------------------------------------------------

    def _open(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        span_type: SpanType,
        inputs: Any,
        kwargs: dict[str, Any],
    ) -> LiveSpan:
        with self._lock:
            parent = self._spans.get(parent_run_id) if parent_run_id is not None else None
        live = LiveSpan(name, span_type, parent=parent or current_span())
        live.set_inputs(inputs)
        live.set_attribute("langchain.run_id", str(run_id))
        if kwargs.get("tags"):
            live.set_attribute("langchain.tags", kwargs["tags"])
        with self._lock:
            self._spans[run_id] = live
        return live

    def _open_model(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        span_type: SpanType,
        inputs: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> None:
        live = self._open(run_id, parent_run_id, name, span_type, inputs, kwargs)
        params = kwargs.get("invocation_params") or {}
        metadata = kwargs.get("metadata") or {}
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
        live.set_model(model, metadata.get("ls_provider"))
        if params:
            live.set_attribute("langchain.invocation_params", params)

    def _pop(self, run_id: UUID) -> LiveSpan | None:
        with self._lock:
            self._first_token.discard(run_id)
            return self._spans.pop(run_id, None)

    def _close(self, run_id: UUID, outputs: Any) -> None:
        live = self._pop(run_id)
        if live is not None:
            live.set_outputs(outputs)
            end_span(live)

    def _fail(self, run_id: UUID, error: BaseException) -> None:
        live = self._pop(run_id)
        if live is not None:
            live.record_exception(error)
            end_span(live)

    def _event(self, run_id: UUID, name: str, attributes: dict[str, Any]) -> None:
        live = self._spans.get(run_id)
        if live is not None:
            live.add_event(name, attributes)


def _run_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    serialized = serialized or {}
    ids = serialized.get("id") or [default]
    return str(serialized.get("name") or ids[-1])


def _message(message: BaseMessage) -> dict[str, Any]:
    found: dict[str, Any] = {
        "role": _ROLES.get(message.type, message.type),
        "content": message.content,
    }
    for key in ("name", "tool_calls", "tool_call_id"):
        value = getattr(message, key, None)
        if value:
            found[key] = value
    return found


def _record_result(live: LiveSpan, response: LLMResult) -> None:
    choices: list[dict[str, Any]] = []
    usage: dict[str, int] = {}
    llm_output = response.llm_output or {}
    model = llm_output.get("model_name") or llm_output.get("model")
    for generation in (g for batch in response.generations for g in batch):
        choice: dict[str, Any] = {"index": len(choices)}
        info = generation.generation_info or {}
        if info.get("finish_reason"):
            choice["finish_reason"] = info["finish_reason"]
        if isinstance(generation, ChatGeneration):
            choice["message"] = _message(generation.message)
            metadata = generation.message.response_metadata or {}
            model = model or metadata.get("model_name") or metadata.get("model")
            _add_usage(usage, getattr(generation.message, "usage_metadata", None))
        else:
            choice["text"] = generation.text
        choices.append(choice)
    live.set_outputs({"choices": choices})
    if not usage:
        _add_usage(usage, llm_output.get("token_usage") or llm_output.get("usage"))
    if usage:
        live.set_usage(
            input=usage.get("input"),
            output=usage.get("output"),
            cached=usage.get("cached"),
            reasoning=usage.get("reasoning"),
        )
    if model:
        live.set_model(str(model))


def _add_usage(total: dict[str, int], usage: Any) -> None:
    """Add one usage record: LangChain's `usage_metadata` or a provider's `token_usage`."""
    if not isinstance(usage, dict):
        return
    prompt_details = usage.get("input_token_details") or usage.get("prompt_tokens_details") or {}
    output_details = (
        usage.get("output_token_details") or usage.get("completion_tokens_details") or {}
    )
    counts = {
        "input": usage.get("input_tokens", usage.get("prompt_tokens")),
        "output": usage.get("output_tokens", usage.get("completion_tokens")),
        "cached": prompt_details.get("cache_read", prompt_details.get("cached_tokens")),
        "reasoning": output_details.get("reasoning", output_details.get("reasoning_tokens")),
    }
    for key, value in counts.items():
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value


class _SharedHandler:
    """Reads like a context variable to LangChain's configure hook (which only calls `get`),
    but holds one handler for every thread, including ones LangChain did not start."""

    def __init__(self) -> None:
        self.handler: LmopsCallbackHandler | None = None
        self.hooked = False

    def get(self) -> LmopsCallbackHandler | None:
        return self.handler


_shared = _SharedHandler()


def patch() -> None:
    """Add an `LmopsCallbackHandler` to every LangChain run from now on."""
    if not _shared.hooked:
        register_configure_hook(cast(ContextVar[Any], _shared), inheritable=True)
        _shared.hooked = True
    _shared.handler = _shared.handler or LmopsCallbackHandler()


def unpatch() -> None:
    """Stop adding the handler (runs already started finish their spans)."""
    _shared.handler = None
