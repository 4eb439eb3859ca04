"""Online scoring on SQLite and PostgreSQL: rules score a sampled share of the traces that
match their filter, once each, and attach the results as feedback; judges' replies become
`llm` feedback; what cannot score is recorded against the trace; bad rules are refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.evaluation.entities import RuleSpec, ScorerRef, TraceFilter
from lmops.evaluation.judging import JudgeModel
from lmops.evaluation.online import SKIP_TAG, OnlineScorer, check_rule, sampled
from lmops.evaluation.rules import LEASE, RuleStore
from lmops.evaluation.tables import online_scored
from lmops.prompts.store import PromptStore
from lmops.tracing.entities import FeedbackConfig, FeedbackKind, Span, TraceContext
from lmops.tracing.store import TracingStore
from lmops.tracing.tables import traces


@pytest.fixture
def tracing(engine: Engine) -> TracingStore:
    return TracingStore(engine)


@pytest.fixture
def rules(engine: Engine) -> RuleStore:
    return RuleStore(engine)


@pytest.fixture
def prompts(engine: Engine) -> PromptStore:
    return PromptStore(engine)


def chat_trace(
    tracing: TracingStore,
    question: str,
    answer: str,
    *,
    endpoint: str = "assistant",
    tags: dict[str, str] | None = None,
    start: datetime | None = None,
) -> str:
    """A gateway-shaped trace: one chat span with the messages in and the answer out."""
    trace_id, begun = new_id(), start or utcnow()
    tracing.write_spans(
        [
            Span.model_validate(
                {
                    "trace_id": trace_id,
                    "span_id": new_id()[:16],
                    "name": f"chat {endpoint}",
                    "span_type": "CHAT_MODEL",
                    "start_time": begun,
                    "end_time": begun + timedelta(milliseconds=120),
                    "inputs": {"messages": [{"role": "user", "content": question}]},
                    "outputs": answer,
                    "input_tokens": 12,
                    "output_tokens": 5,
                    "context": TraceContext(endpoint=endpoint, tags=tags or {}),
                }
            )
        ]
    )
    return trace_id


def scorer(
    rules: RuleStore,
    tracing: TracingStore,
    prompts: PromptStore,
    judge: JudgeModel | None = None,
) -> OnlineScorer:
    opener = (lambda rule: judge) if judge is not None else None
    return OnlineScorer(rules, tracing, prompts, opener, settle=timedelta(0))


def make_rule(rules: RuleStore, prompts: PromptStore, name: str = "quality", **spec: Any) -> Any:
    values: dict[str, Any] = {"scorers": [ScorerRef(name="word_count")], **spec}
    rule_spec = RuleSpec(**values)
    check_rule(rule_spec, prompts)
    return rules.create(name, rule_spec, since=utcnow() - timedelta(hours=1))


def test_a_rule_scores_matching_traces_once_and_attaches_feedback(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    rule = make_rule(
        rules,
        prompts,
        scorers=[
            ScorerRef(name="word_count"),
            ScorerRef(name="regex", options={"pattern": "Paris"}, feedback_name="mentions_paris"),
        ],
        filter=TraceFilter(endpoint="assistant"),
    )
    hits = [chat_trace(tracing, "capital of France?", "It is Paris.") for _ in range(3)]
    miss = chat_trace(tracing, "capital of Italy?", "Rome", endpoint="other")
    online = scorer(rules, tracing, prompts)

    (done,) = online.run()
    assert (done.rule, done.read, done.sampled, done.scored, done.failed) == (
        "quality",
        3,
        3,
        3,
        0,
    )
    for trace_id in hits:
        notes = {f.name: f for f in tracing.feedback.list_feedback(trace_id)}
        assert notes["word_count"].value == 3.0
        assert notes["mentions_paris"].value == 1.0
        assert notes["mentions_paris"].comment == "matched 'Paris'"
        assert {f.source.value for f in notes.values()} == {"code"}
        assert {f.author for f in notes.values()} == {"rule:quality"}
    assert tracing.feedback.list_feedback(miss) == []

    # Nothing new: nothing scored twice, even when a scored trace gains a span later.
    assert online.run()[0].scored == 0
    late = tracing.get_trace(hits[0]).spans[0]
    tracing.write_spans(
        [late.model_copy(update={"span_id": new_id()[:16], "parent_span_id": late.span_id})]
    )
    assert online.run()[0].scored == 0
    assert len(tracing.feedback.list_feedback(hits[0])) == 2

    stats = rules.stats(rule.name)
    assert (stats.scored, stats.failed, stats.recent) == (3, 0, 3)
    assert stats.means == {"mentions_paris": 1.0, "word_count": 3.0}
    assert {s.trace_id for s in rules.scored(rule.name)} == set(hits)


def test_sampling_is_a_stable_share(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    rule = make_rule(rules, prompts, sample_rate=0.3)
    ids = [chat_trace(tracing, f"q{i}", "a b") for i in range(120)]
    online = scorer(rules, tracing, prompts)
    online.page = 50  # several pages in one pass

    (done,) = online.run()
    expected = {t for t in ids if sampled(rule.id, t, 0.3)}
    assert done.read == 120
    assert done.scored == len(expected)
    assert 18 <= len(expected) <= 54  # 0.3 of 120 is 36
    assert {s.trace_id for s in rules.scored(rule.name, limit=1000)} == expected
    # the same draw in any process: a second scorer over the same store takes nothing
    assert scorer(rules, tracing, prompts).run()[0].scored == 0


def test_judge_scores_become_llm_feedback_and_failures_are_recorded(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    asked: list[list[dict[str, Any]]] = []

    def complete(messages: list[dict[str, Any]]) -> str:
        asked.append(messages)
        if "Italy" in messages[-1]["content"]:
            return "I cannot say"
        return '{"score": 4, "rationale": "right, if terse"}'

    judge = JudgeModel(complete, lambda: None, "stand-in")
    rule = make_rule(
        rules,
        prompts,
        scorers=[ScorerRef(name="judge"), ScorerRef(name="length")],
        judge="judge-endpoint",
    )
    good = chat_trace(tracing, "capital of France?", "Paris")
    bad = chat_trace(tracing, "capital of Italy?", "Rome")
    (done,) = scorer(rules, tracing, prompts, judge).run()
    assert (done.scored, done.failed) == (2, 1)
    assert any("capital of France?" in m[-1]["content"] for m in asked)

    (note,) = [f for f in tracing.feedback.list_feedback(good) if f.name == "judge"]
    assert note.value == 0.75
    assert note.source.value == "llm"
    assert note.comment == "[4/5] right, if terse"
    # the failing row keeps its other scores; its judge failure is in the rule's log
    assert [f.name for f in tracing.feedback.list_feedback(bad)] == ["length"]
    (failure,) = rules.scored(rule.name, failed=True)
    assert failure.trace_id == bad
    assert failure.scores == {"length": 4.0}
    assert failure.error is not None and "judge: judge reply has no score" in failure.error
    assert rules.stats(rule.name).failed == 1


def test_a_judge_that_cannot_open_fails_the_pass_and_takes_no_trace(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    make_rule(rules, prompts, scorers=[ScorerRef(name="judge")], judge="nowhere")

    def refuse(rule: Any) -> JudgeModel:
        raise NotFound("no endpoint named 'nowhere'")

    trace_id = chat_trace(tracing, "q", "a")
    online = OnlineScorer(rules, tracing, prompts, refuse, settle=timedelta(0))
    (done,) = online.run()
    assert (done.read, done.scored) == (0, 0)
    assert (
        done.error == "NotFound: judge 'nowhere' could not be opened: no endpoint named 'nowhere'"
    )
    assert rules.scored("quality") == []
    assert rules.get("quality").last_error == done.error

    # once the judge can be reached, the trace is still there to score
    judge = JudgeModel(lambda messages: '{"score": 5}', lambda: None, "stand-in")
    (done,) = scorer(rules, tracing, prompts, judge).run()
    assert (done.scored, done.failed) == (1, 0)
    assert [f.value for f in tracing.feedback.list_feedback(trace_id)] == [1.0]
    assert rules.get("quality").last_error is None


def test_a_pass_that_fails_midway_gives_its_traces_back(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore, engine: Engine
) -> None:
    make_rule(rules, prompts, scorers=[ScorerRef(name="length")])
    ids = [chat_trace(tracing, "q", "abc") for _ in range(3)]

    class Broken(OnlineScorer):
        def _score(self, *args: Any) -> int:
            raise ConnectionError("the store went away")

    (done,) = Broken(rules, tracing, prompts, settle=timedelta(0)).run()
    assert done.error == "ConnectionError: the store went away"
    assert rules.stats("quality").in_progress == 0
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 3
    assert {s.trace_id for s in rules.scored("quality", failed=False)} == set(ids)

    # A process that died mid-scoring leaves claims behind: after the lease they are retaken.
    other = chat_trace(tracing, "q", "abcd")
    rule = rules.get("quality")
    assert rules.claim(rule.id, [other]) == [other]  # taken by a process that then died
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 0
    assert rules.stats("quality").in_progress == 1
    with engine.begin() as conn:
        conn.execute(
            online_scored.update()
            .where(online_scored.c.trace_id == other)
            .values(claimed_at=utcnow() - LEASE - timedelta(seconds=1))
        )
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 1
    assert rules.stats("quality").in_progress == 0
    assert [f.value for f in tracing.feedback.list_feedback(other)] == [4.0]


def test_a_trace_waits_for_its_root_and_a_late_write_is_still_read(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore, engine: Engine
) -> None:
    make_rule(rules, prompts, scorers=[ScorerRef(name="length")])
    trace_id, begun = new_id(), utcnow()
    root_id = new_id()[:16]
    child = Span.model_validate(
        {
            "trace_id": trace_id,
            "span_id": new_id()[:16],
            "parent_span_id": root_id,
            "name": "retrieve",
            "start_time": begun,
            "end_time": begun + timedelta(milliseconds=5),
            "outputs": "a retrieved passage",
        }
    )
    tracing.write_spans([child])  # the root is still running
    later = chat_trace(tracing, "q", "xy")
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 0  # the rootless trace holds the rule's place: `later` waits too
    assert rules.taken(rules.get("quality").id, [later]) == set()
    root = child.model_copy(
        update={
            "span_id": root_id,
            "parent_span_id": None,
            "name": "agent",
            "end_time": begun + timedelta(milliseconds=50),
            "outputs": "the whole answer",
        }
    )
    tracing.write_spans([root])
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 2
    assert [f.value for f in tracing.feedback.list_feedback(trace_id)] == [16.0]

    # A write stamped before the rule's place but committed after it is still read.
    late = chat_trace(tracing, "q", "abc")
    with engine.begin() as conn:
        conn.execute(
            traces.update()
            .where(traces.c.trace_id == late)
            .values(updated_at=rules.get("quality").watermark_at - timedelta(seconds=5))
        )
    (done,) = scorer(rules, tracing, prompts).run()
    assert done.scored == 1
    assert [f.value for f in tracing.feedback.list_feedback(late)] == [3.0]


def test_traces_of_judge_calls_and_older_traces_are_left_alone(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    old = chat_trace(tracing, "q", "a", start=utcnow() - timedelta(days=1))
    spec = RuleSpec(scorers=[ScorerRef(name="length")])
    rules.create("from-now", spec)  # starts from now: the older trace stays unscored
    judged = chat_trace(tracing, "grade this", "4", tags={SKIP_TAG: "other-rule"})
    fresh = chat_trace(tracing, "q", "a")
    scorer(rules, tracing, prompts).run()
    assert {s.trace_id for s in rules.scored("from-now")} == {fresh}
    assert tracing.feedback.list_feedback(judged) == []
    assert tracing.feedback.list_feedback(old) == []


def test_feedback_a_config_refuses_is_a_row_failure(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    tracing.feedback.set_config(
        FeedbackConfig(name="length", kind=FeedbackKind.NUMERIC, min_value=0, max_value=3)
    )
    make_rule(rules, prompts, scorers=[ScorerRef(name="length")])
    chat_trace(tracing, "q", "a much longer answer")
    assert scorer(rules, tracing, prompts).run()[0].failed == 1
    (failure,) = rules.scored("quality")
    assert failure.error == "length: feedback refused: length is at most 3.0"


def test_disabled_rules_and_other_projects(
    rules: RuleStore, tracing: TracingStore, prompts: PromptStore
) -> None:
    make_rule(rules, prompts, enabled=False)
    other_rules = rules.in_project("research")
    other_rules.create(
        "quality", RuleSpec(scorers=[ScorerRef(name="length")]), since=utcnow() - timedelta(1)
    )
    mine = chat_trace(tracing, "q", "a")
    theirs = chat_trace(tracing.in_project("research"), "q", "abc")
    passes = scorer(rules, tracing, prompts).run()
    assert [(p.project, p.scored) for p in passes] == [("research", 1)]
    assert tracing.feedback.list_feedback(mine) == []
    (note,) = tracing.in_project("research").feedback.list_feedback(theirs)
    assert note.value == 3.0


def test_rules_are_checked_when_made(rules: RuleStore, prompts: PromptStore) -> None:
    def refused(**spec: Any) -> InvalidInput:
        with pytest.raises(InvalidInput) as caught:
            check_rule(RuleSpec(**spec), prompts)
        return caught.value

    assert refused(scorers=[ScorerRef(name="nope")]).field == "scorers[0]"
    needs = refused(scorers=[ScorerRef(name="length"), ScorerRef(name="rougeL")])
    assert needs.field == "scorers[1]"
    assert "needs an expected answer" in needs.message
    assert "a trace has one" in refused(scorers=[ScorerRef(name="pairwise_judge")]).message
    assert refused(scorers=[ScorerRef(name="judge")]).field == "judge"
    assert refused(scorers=[ScorerRef(name="length")], judge="j").field == "judge"
    bad_option = refused(scorers=[ScorerRef(name="regex", options={"pattern": "("})])
    assert "bad regular expression" in bad_option.message
    assert (
        "takes no arguments"
        in refused(scorers=[ScorerRef(name="length", options={"x": 1})]).message
    )
    with pytest.raises(NotFound):
        check_rule(
            RuleSpec(scorers=[ScorerRef(name="judge")], judge="j", judge_rubric="prompts:/no/1"),
            prompts,
        )
    with pytest.raises(ValueError, match="same feedback name"):
        RuleSpec(scorers=[ScorerRef(name="length"), ScorerRef(name="length")])
    with pytest.raises(ValueError, match="greater than 0"):
        RuleSpec(scorers=[ScorerRef(name="length")], sample_rate=0)

    spec = RuleSpec(scorers=[ScorerRef(name="length")])
    rules.create("once", spec)
    with pytest.raises(Conflict):
        rules.create("once", spec)
    updated = rules.update("once", spec.model_copy(update={"sample_rate": 0.5}))
    assert updated.sample_rate == 0.5
    rules.delete("once")
    with pytest.raises(NotFound):
        rules.get("once")
