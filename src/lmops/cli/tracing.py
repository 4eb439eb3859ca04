"""`lmops traces ...` and `lmops prices ...`, in-process or against a server (LMOPS_URI)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import click

from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.ids import utcnow
from lmops.core.settings import Settings
from lmops.fluent.backends import TracingBackend, open_tracing
from lmops.tracing.entities import ModelPrice, TraceQuery

_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _backend() -> TracingBackend:
    backend = open_tracing(Settings())
    click.get_current_context().call_on_close(backend.close)
    return backend


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s`."""
    m = _AGE.match(text.strip())
    if not m:
        raise InvalidInput(
            f"cannot read age {text!r}: use a number and s, m, h, d or w (e.g. 30d)",
            field="older_than",
        )
    return timedelta(**{_UNITS[m[2]]: int(m[1])})


@click.group()
def traces() -> None:
    """Traces: every LLM call, chain step and tool call, with feedback."""


@traces.command("list")
@click.option("--user", help="Only this user's traces.")
@click.option("--session", help="Only this session's traces.")
@click.option("--prompt", "prompt_version", help="Only traces that used this prompt version.")
@click.option("--name", help="Only traces with this root span name.")
@click.option("--status", type=click.Choice(["OK", "ERROR", "UNSET"]))
@click.option("--since", help="Only traces newer than this age, e.g. 24h.")
@click.option("--text", help="Text to find in inputs or outputs.")
@click.option("--limit", "-n", default=20, show_default=True, type=int)
@json_option
def list_traces(
    user: str | None,
    session: str | None,
    prompt_version: str | None,
    name: str | None,
    status: str | None,
    since: str | None,
    text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List traces, newest first, with their totals."""
    query = TraceQuery.model_validate(
        {
            "user_id": user,
            "session_id": session,
            "prompt_version": prompt_version,
            "name": name,
            "status": status,
            "text": text,
            "limit": limit,
            "start_after": utcnow() - parse_age(since) if since else None,
        }
    )
    page = _backend().search_traces(query)
    emit(
        page.traces,
        [
            ("trace", lambda t: t.trace_id),
            ("name", lambda t: t.name),
            ("started", lambda t: t.start_time),
            ("ms", lambda t: t.latency_ms),
            ("status", lambda t: t.status.value),
            ("spans", lambda t: t.span_count),
            ("tokens", lambda t: t.input_tokens + t.output_tokens),
            ("cost", lambda t: t.cost),
            ("user", lambda t: t.user_id),
        ],
        as_json,
    )


@traces.command("show")
@click.argument("trace_id")
@json_option
def show_trace(trace_id: str, as_json: bool) -> None:
    """Show a trace as a tree of spans."""
    trace = _backend().get_trace(trace_id)
    if as_json:
        click.echo(json.dumps(trace.model_dump(mode="json"), indent=2))
        return
    click.echo(
        f"trace {trace.trace_id}  {trace.name}  [{trace.status.value}]  "
        f"{trace.latency_ms or 0:.0f} ms  {trace.span_count} spans  "
        f"tokens {trace.input_tokens}/{trace.output_tokens}  cost {trace.cost}"
    )
    children: dict[str | None, list[int]] = {}
    known = {s.span_id for s in trace.spans}
    for i, s in enumerate(trace.spans):
        parent = s.parent_span_id if s.parent_span_id in known else None
        children.setdefault(parent, []).append(i)

    def walk(parent: str | None, depth: int) -> None:
        for i in children.get(parent, []):
            s = trace.spans[i]
            ms = f"{s.latency_ms:.0f} ms" if s.latency_ms is not None else "open"
            extra = f"  {s.model}" if s.model else ""
            click.echo(
                f"{'  ' * depth}- {s.name} ({s.span_type.value}) {ms} [{s.status.value}]{extra}"
            )
            walk(s.span_id, depth + 1)

    walk(None, 1)
    for f in trace.feedback:
        click.echo(
            f"feedback {f.name} = {f.value if f.correction is None else f.correction} "
            f"({f.source.value}){'  ' + f.comment if f.comment else ''}"
        )


@traces.command("delete")
@click.argument("trace_id", required=False)
@click.option("--older-than", help="Delete every trace older than this age, e.g. 30d.")
def delete_traces(trace_id: str | None, older_than: str | None) -> None:
    """Delete one trace, or all traces older than an age (with spans and feedback)."""
    if (trace_id is None) == (older_than is None):
        raise click.UsageError("give a trace id or --older-than, not both")
    backend = _backend()
    if trace_id is not None:
        backend.delete_trace(trace_id)
        click.echo(f"deleted trace {trace_id}")
        return
    assert older_than is not None
    count = backend.delete_traces_before(utcnow() - parse_age(older_than))
    click.echo(f"deleted {count} traces older than {older_than}")


@click.group()
def prices() -> None:
    """Model prices (USD per million tokens) that turn token counts into cost."""


@prices.command("list")
@json_option
def list_prices(as_json: bool) -> None:
    """List the price table."""
    emit(
        _backend().prices.list_prices(),
        [
            ("model", lambda p: p.model),
            ("input/M", lambda p: p.input_per_million),
            ("output/M", lambda p: p.output_per_million),
            ("cached/M", lambda p: p.cached_input_per_million),
            ("reasoning/M", lambda p: p.reasoning_per_million),
            ("source", lambda p: p.source),
        ],
        as_json,
    )


@prices.command("set")
@click.argument("model")
@click.option("--input", "input_", type=float, required=True, help="USD per 1M input tokens.")
@click.option("--output", type=float, required=True, help="USD per 1M output tokens.")
@click.option("--cached-input", type=float, help="USD per 1M cached input tokens.")
@click.option("--reasoning", type=float, help="USD per 1M reasoning tokens.")
@click.option("--source", required=True, help="Where the prices come from (a URL, a contract).")
def set_price(
    model: str,
    input_: float,
    output: float,
    cached_input: float | None,
    reasoning: float | None,
    source: str,
) -> None:
    """Set the price of one model."""
    price = ModelPrice(
        model=model,
        input_per_million=input_,
        output_per_million=output,
        cached_input_per_million=cached_input,
        reasoning_per_million=reasoning,
        source=source,
    )
    _backend().prices.set_price(price)
    click.echo(f"price of {model} set (source: {source})")
