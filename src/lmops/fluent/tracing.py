"""`@lmops.trace`, `lmops.span`, `lmops.update_current_trace`, feedback and trace search."""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from pydantic import ValidationError

from lmops.core.errors import InvalidInput
from lmops.fluent import backends
from lmops.fluent.exporter import ExportStats, SpanExporter
from lmops.tracing.entities import Feedback, SpanType, TraceDetail, TracePage, TraceQuery
from lmops.tracing.live import LiveSpan, current_span
from lmops.tracing.rows import SpanRow

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_MAX_STREAM_ITEMS = 1000

_lock = threading.Lock()
_exporter: SpanExporter | None = None


def _span_exporter() -> SpanExporter:
    global _exporter
    if _exporter is None:
        with _lock:
            if _exporter is None:
                _exporter = SpanExporter(backends.tracing_backend().write_span_rows)
    return _exporter


def _start(name: str, span_type: SpanType | str) -> LiveSpan:
    live = LiveSpan(name, span_type, parent=current_span())
    live.activate()
    return live


def end_span(live: LiveSpan) -> None:
    """End a span and queue it for export (instrumentations call this)."""
    live.deactivate()
    _span_exporter().put(live.finish())


@contextmanager
def span(
    name: str,
    type: SpanType | str = SpanType.UNKNOWN,
    *,
    inputs: Any = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[LiveSpan]:
    """Record the block as a span (a child of the current one); exceptions mark it failed."""
    live = _start(name, type)
    if inputs is not None:
        live.set_inputs(inputs)
    if attributes:
        live.set_attributes(attributes)
    try:
        yield live
    except BaseException as exc:
        live.record_exception(exc)
        raise
    finally:
        end_span(live)


@overload
def trace(func: F) -> F: ...
@overload
def trace(
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
) -> Callable[[F], F]: ...


def trace(
    func: F | None = None,
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
) -> F | Callable[[F], F]:
    """Record each call of a function (sync, async, generator, async generator) as a span."""

    def decorate(fn: F) -> F:
        label = name or fn.__name__
        bind = _Binder(inspect.signature(fn))

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> LiveSpan:
            live = _start(label, span_type)
            if capture_inputs:
                live.set_inputs(bind(args, kwargs))
            return live

        def open_span(args: tuple[Any, ...], kwargs: dict[str, Any]) -> LiveSpan:
            # A generator's span is current only while its body runs (inside next()),
            # never while the caller holds it between items.
            live = LiveSpan(label, span_type, parent=current_span())
            if capture_inputs:
                live.set_inputs(bind(args, kwargs))
            return live

        def close_span(live: LiveSpan, items: list[Any], exc: BaseException | None) -> None:
            if exc is not None and not isinstance(exc, GeneratorExit):
                live.record_exception(exc)
            if capture_outputs:
                live.set_outputs(items)
            end_span(live)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                live = open_span(args, kwargs)
                inner = fn(*args, **kwargs)
                items: list[Any] = []
                failure: BaseException | None = None
                try:
                    while True:
                        live.activate()
                        try:
                            item = await inner.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            live.deactivate()
                        if len(items) < _MAX_STREAM_ITEMS:
                            items.append(item)
                        yield item
                except BaseException as exc:
                    failure = exc
                    await inner.aclose()
                    raise
                finally:
                    close_span(live, items, failure)

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                live = open_span(args, kwargs)
                inner = fn(*args, **kwargs)
                items: list[Any] = []
                failure: BaseException | None = None
                try:
                    while True:
                        live.activate()
                        try:
                            item = next(inner)
                        except StopIteration:
                            break
                        finally:
                            live.deactivate()
                        if len(items) < _MAX_STREAM_ITEMS:
                            items.append(item)
                        yield item
                except BaseException as exc:
                    failure = exc
                    inner.close()
                    raise
                finally:
                    close_span(live, items, failure)

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                live = begin(args, kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    live.record_exception(exc)
                    end_span(live)
                    raise
                if capture_outputs:
                    live.set_outputs(result)
                end_span(live)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            live = begin(args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                live.record_exception(exc)
                end_span(live)
                raise
            if capture_outputs:
                live.set_outputs(result)
            end_span(live)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


class _Binder:
    """Name a call's arguments as the signature does, precomputed once per function
    (`Signature.bind` per call costs more than the rest of a span)."""

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.names = [p.name for p in params if p.kind in positional]
        self.rest = next(
            (p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), "args"
        )

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        inputs = dict(zip(self.names, args, strict=False))
        if len(args) > len(self.names):
            inputs[self.rest] = args[len(self.names) :]
        inputs.update(kwargs)
        inputs.pop("self", None)
        inputs.pop("cls", None)
        return inputs


def update_current_trace(
    *,
    user: str | None = None,
    session: str | None = None,
    tags: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    environment: str | None = None,
    prompt_version: str | None = None,
) -> None:
    """Set who and what the current trace is about (user, session, tags, metadata), and
    the prompt version it used (`prompts:/name/3`, e.g. `prompt.uri`), so that traces,
    feedback and evaluations can be grouped by prompt version."""
    live = current_span()
    if live is None:
        raise InvalidInput(
            "no current trace: call this inside @lmops.trace or lmops.span", field="trace"
        )
    live.trace.update(
        user=user,
        session=session,
        environment=environment,
        tags=tags,
        metadata=metadata,
        prompt_version=prompt_version,
    )


def with_current_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap `fn` to run in a copy of this context, so that spans it makes in another thread
    (`executor.submit(lmops.with_current_context(work), x)`) nest under the current span.
    asyncio tasks copy the context by themselves."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        return context.copy().run(fn, *args, **kwargs)

    return run


def get_current_trace_id() -> str | None:
    live = current_span()
    return live.trace_id if live is not None else None


def export_span(row: SpanRow) -> None:
    """Queue a span finished elsewhere (a model server's request) for export."""
    _span_exporter().put(row)


def flush_traces() -> None:
    """Write every finished span queued so far."""
    if _exporter is not None:
        _exporter.flush()


def tracing_stats() -> ExportStats:
    """How many spans were queued, exported, dropped (queue full) and refused."""
    return _span_exporter().stats


def log_feedback(
    trace_id: str,
    name: str,
    value: float | bool | str | None = None,
    *,
    source: str = "human",
    comment: str | None = None,
    span_id: str | None = None,
    correction: Any = None,
    kind: str | None = None,
) -> Feedback:
    """Attach feedback (a score, a thumbs up, a label, a text, a correction) to a trace."""
    flush_traces()
    found: Feedback = backends.tracing_backend().feedback.log_feedback(
        trace_id,
        name,
        value,
        source=source,
        comment=comment,
        span_id=span_id,
        correction=correction,
        kind=kind,
    )
    return found


def get_trace(trace_id: str) -> TraceDetail:
    flush_traces()
    return backends.tracing_backend().get_trace(trace_id)


def search_traces(**filters: Any) -> TracePage:
    """Traces newest first with their totals; filters are the fields of TraceQuery
    (start_after, user_id, session_id, tags, model, min_latency_ms, text, limit, cursor...)."""
    flush_traces()
    try:
        query = TraceQuery(**filters)
    except ValidationError as exc:
        raise InvalidInput(
            str(exc).splitlines()[0] + ": " + exc.errors()[0]["msg"],
            field=".".join(str(p) for p in exc.errors()[0]["loc"]),
        ) from None
    return backends.tracing_backend().search_traces(query)


def reset() -> None:
    """Flush and forget the exporter (after `configure`)."""
    global _exporter
    with _lock:
        if _exporter is not None:
            _exporter.close()
        _exporter = None


def _after_fork_in_child() -> None:
    global _exporter
    if _exporter is not None:
        _exporter.abandon()
    _exporter = None


os.register_at_fork(after_in_child=_after_fork_in_child)
