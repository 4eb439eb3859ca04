"""The serving part of `make demo`: an endpoint `assistant` on SmolLM2's production version,
and one streamed chat through the gateway with the official `openai` client and alice's key,
which the server records as a trace with tokens, latency and the version that answered; an
online scoring rule then scores that trace and attaches its scores as feedback."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from lmops.core.errors import Conflict
from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.settings import Settings
from lmops.demo_access import serving
from lmops.evaluation.entities import RuleSpec, ScorerRef, TraceFilter
from lmops.evaluation.online import OnlineScorer
from lmops.evaluation.rules import RuleStore
from lmops.governance.access import AccessStore
from lmops.prompts.store import PromptStore
from lmops.serving.entities import EndpointSpec, Route
from lmops.serving.store import EndpointStore
from lmops.store import open_engine
from lmops.tracing.entities import TraceQuery
from lmops.tracing.store import TracingStore
from lmops.tuning.register import DEMO_NAME

ENDPOINT = "assistant"
RULE = "answer-checks"
QUESTION = "What is the capital of France? Answer in one sentence."


@dataclass(frozen=True)
class Chat:
    answer: str
    trace_id: str | None
    model_version: str | None
    input_tokens: int
    output_tokens: int
    latency_ms: float | None
    first_token_ms: float
    scores: dict[str, float]  # what the online rule attached to the trace


def populate_endpoint(settings: Settings) -> bool:
    """The `assistant` endpoint on SmolLM2@production; False if it exists already."""
    store = EndpointStore(open_engine(settings.uri))
    spec = EndpointSpec(
        routes=[Route(model=f"models:/{DEMO_NAME}@production")],
        description="SmolLM2-135M-Instruct, following its production alias",
    )
    try:
        store.create(ENDPOINT, spec)
    except Conflict:
        return False
    checks = RuleSpec(
        scorers=[
            ScorerRef(name="regex", options={"pattern": "Paris"}, feedback_name="mentions_paris"),
            ScorerRef(name="word_count"),
        ],
        filter=TraceFilter(endpoint=ENDPOINT),
        description="Does the assistant name Paris, and in how many words",
    )
    RuleStore(open_engine(settings.uri)).create(RULE, checks)
    return True


def chat_through_gateway(settings: Settings) -> Chat:
    """Stream one answer from `assistant` over HTTP, as a user would, then read its trace."""
    import openai

    from lmops.server import create_app

    engine = open_engine(settings.uri)
    key = AccessStore(engine).create_key("alice", DEFAULT_PROJECT, name="demo-chat").key
    app = create_app(settings.model_copy(update={"auth": "on"}))
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        started = time.perf_counter()
        first: float | None = None
        pieces = []
        stream = client.chat.completions.create(
            model=ENDPOINT,
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=40,
            temperature=0,
            stream=True,
            user="demo-user",
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first if first is not None else time.perf_counter() - started
                pieces.append(chunk.choices[0].delta.content)
        client.close()
    # The server wrote the trace when it stopped (spans are written in batches).
    found = TracingStore(engine).search_traces(TraceQuery(endpoint=ENDPOINT, limit=1)).traces
    trace = found[0] if found else None
    # A running server scores new traces every few seconds; the demo's server has stopped
    # (every span written), so it runs the rule's pass itself, without waiting.
    rules, tracing = RuleStore(engine), TracingStore(engine)
    OnlineScorer(rules, tracing, PromptStore(engine), settle=timedelta(0)).run([rules.get(RULE)])
    notes = tracing.feedback.list_feedback(trace.trace_id) if trace else []
    return Chat(
        answer="".join(pieces).strip(),
        trace_id=trace.trace_id if trace else None,
        model_version=trace.model_version if trace else None,
        input_tokens=trace.input_tokens if trace else 0,
        output_tokens=trace.output_tokens if trace else 0,
        latency_ms=trace.latency_ms if trace else None,
        first_token_ms=round((first or 0.0) * 1000, 1),
        scores={f.name: float(f.value) for f in notes if isinstance(f.value, int | float)},
    )
