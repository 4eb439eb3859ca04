"""Online scoring: rules that score a sampled share of a project's traces as they come in,
and attach each result to its trace as feedback.

A rule names scorers (any registered scorer that needs no expected answer, or the `judge`
with a judge model), a sample rate, and a filter on traces (endpoint, model or prompt
version, name, user, tags, status). A pass reads the project's finished traces in the
order they were written, keeps the sampled ones, scores them, and writes one piece of
feedback per score: named after the scorer, source `llm` for judges and `code` for the
rest, author `rule:<name>`, the rationale as its comment. A score that fails is recorded
against the trace in the rule's log, so the rule's page says how many failed and why.

Sampling is a hash of (rule, trace): the same trace is always in or out for a rule, in any
process. The judge's own calls carry the tag `lmops.online_rule` and are never scored, or a
rule over every trace would judge its own judge.

The server runs a pass every `LMOPS_ONLINE_SCORING_INTERVAL_S` seconds; `lmops eval
online run` runs one from the command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lmops.core.errors import InvalidInput, LmopsError, NotFound
from lmops.core.ids import utcnow
from lmops.core.text import check_text
from lmops.evaluation.catalog import get_scorer, scorer_names
from lmops.evaluation.entities import OnlineRule, RuleSpec, ScorerRef, TraceFilter
from lmops.evaluation.judges import Judge
from lmops.evaluation.judging import JudgeModel
from lmops.evaluation.rules import RuleStore
from lmops.evaluation.scoring import Example, Score, Scorer, as_text, describe
from lmops.prompts.store import PromptStore
from lmops.tracing.entities import FeedbackSource, Span, SpanStatus, TraceDetail, TraceQuery
from lmops.tracing.store import TracingStore

log = logging.getLogger(__name__)

SKIP_TAG = "lmops.online_rule"
SETTLE = timedelta(seconds=2)  # a trace last written this recently may still grow
# A trace without its root span may be children whose parent still runs: wait for the root
# this long (a trace whose root lives in another service never gets one here).
ROOTLESS_WAIT = timedelta(seconds=60)
# Each pass reads again this far behind its place: a write stamped earlier may commit later.
OVERLAP = timedelta(seconds=10)
PAGE = 200
PAGES_PER_PASS = 10  # a rule far behind catches up over several passes

JudgeOpener = Callable[[OnlineRule], JudgeModel]
Complete = Callable[[list[dict[str, Any]]], str]


@dataclass
class RulePass:
    """What one pass of one rule did."""

    rule: str
    project: str
    read: int = 0
    sampled: int = 0
    scored: int = 0
    failed: int = 0
    error: str | None = None


def check_rule(spec: RuleSpec, prompts: PromptStore) -> None:
    """Refuse, when the rule is made, what could never score a production trace (and text
    a store cannot keep)."""
    _check_texts(spec)
    known = scorer_names()
    for i, ref in enumerate(spec.scorers):
        where = f"scorers[{i}]"
        if ref.name not in known:
            raise InvalidInput(
                f"unknown scorer {ref.name!r}; known: {', '.join(known)}", field=where
            )
        if ref.name == "pairwise_judge":
            raise InvalidInput(
                "pairwise_judge compares two answers, and a trace has one: use judge",
                field=where,
            )
        try:
            scorer = _build(ref, _no_judge, None)
        except LmopsError as exc:
            raise InvalidInput(f"{ref.name}: {exc.message}", field=where) from exc
        except Exception as exc:
            raise InvalidInput(f"{ref.name}: {describe(exc)}", field=where) from exc
        if scorer.needs_expected:
            raise InvalidInput(
                f"{ref.name} needs an expected answer, which production traces do not have",
                field=where,
            )
    judged = [ref.name for ref in spec.scorers if ref.name == "judge"]
    if judged and spec.judge is None:
        raise InvalidInput(
            "the judge scorer needs a judge model: set judge (a gateway endpoint's name, a "
            "models:/ URI, or an http(s) URL with judge_model)",
            field="judge",
        )
    if not judged and (spec.judge or spec.judge_rubric):
        raise InvalidInput("judge and judge_rubric need the judge scorer", field="judge")
    if spec.judge_rubric is not None:
        prompts.get_version(spec.judge_rubric)  # NotFound names it
    query_of(spec.filter)  # a bad filter value fails now, not on every pass


def _check_texts(spec: RuleSpec) -> None:
    check_text(spec.description, "description")
    for name in ("judge", "judge_model", "judge_rubric"):
        value = getattr(spec, name)
        if value is not None:
            check_text(value, name)
    for i, ref in enumerate(spec.scorers):
        check_text(ref.name, f"scorers[{i}].name")
        if ref.feedback_name is not None:
            check_text(ref.feedback_name, f"scorers[{i}].feedback_name")
        _check_values(ref.options, f"scorers[{i}].options")
    _check_values(spec.filter.model_dump(exclude_defaults=True), "filter")


def _check_values(value: Any, field: str) -> None:
    """Every text in a JSON value, keys too, as a store can keep it."""
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), field)
            _check_values(item, f"{field}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_values(item, field)


def query_of(found: TraceFilter) -> TraceQuery:
    values: dict[str, Any] = found.model_dump(exclude_defaults=True)
    if "status" in values:
        values["status"] = SpanStatus(values["status"])
    return TraceQuery(**values)


def sampled(rule_id: str, trace_id: str, rate: float) -> bool:
    """Whether the rule scores this trace: a stable draw from (rule, trace)."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{rule_id}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def example_of(trace: TraceDetail) -> Example:
    """A trace as a row to score: its top span's input and output, and its totals."""
    root = _root(trace.spans)
    return Example(
        inputs=_inputs(root.inputs if root else None),
        output=_output(root.outputs if root else None),
        latency_ms=trace.latency_ms,
        cost=trace.cost,
        input_tokens=trace.input_tokens or None,
        output_tokens=trace.output_tokens or None,
    )


class OnlineScorer:
    """Runs rules over the traces that settled since their last pass.

    `open_judge` gives the judge model of a rule that has one; judges stay open between
    passes (one per rule) until `close`.
    """

    def __init__(
        self,
        rules: RuleStore,
        tracing: TracingStore,
        prompts: PromptStore,
        open_judge: JudgeOpener | None = None,
        *,
        settle: timedelta = SETTLE,
        page: int = PAGE,
    ) -> None:
        self.rules = rules
        self.tracing = tracing
        self.prompts = prompts
        self.open_judge = open_judge
        self.settle = settle
        self.page = page
        self._judges: dict[tuple[str, str, str, str | None], JudgeModel] = {}

    def run(self, rules: Iterable[OnlineRule] | None = None) -> list[RulePass]:
        """One pass of each rule (every enabled rule of every project by default); a rule
        that fails is reported in its RulePass and the others still run."""
        chosen = list(self.rules.enabled(every_project=True) if rules is None else rules)
        passes = []
        for rule in chosen:
            try:
                done = self.run_rule(rule)
            except Exception as exc:  # a store error, a judge that cannot open: next rule
                log.warning("online scoring rule %r failed: %s", rule.name, describe(exc))
                done = RulePass(rule.name, rule.project, error=describe(exc))
            passes.append(done)
            with contextlib.suppress(Exception):  # the store may be what failed
                self.rules.passed(rule.id, done.error)
        return passes

    def run_rule(self, rule: OnlineRule) -> RulePass:
        """Score what settled since the rule's last pass. A judge that cannot be opened
        fails the pass before any trace is taken; a pass that fails midway gives back the
        traces it had taken, and the next one reads them again."""
        done = RulePass(rule.name, rule.project)
        tracing = self.tracing.in_project(rule.project)
        query = query_of(rule.filter)
        complete = self._complete(rule)
        retaken = self.rules.retake(rule.id, self.page)
        if retaken:
            done.failed += self._scored(rule, tracing, retaken, complete)
            done.scored += len(retaken)
        now = utcnow()
        place = self.rules.position(rule.id)
        cursor = (max(place[0] - OVERLAP, rule.scores_from), "")
        for _ in range(PAGES_PER_PASS):
            read = tracing.settled(
                query, after=cursor, before=now - self.settle, limit=self.page, skip_tag=SKIP_TAG
            )
            ready = []
            for found in read:
                if not found.rooted and found.updated_at > now - ROOTLESS_WAIT:
                    break  # its root may still come: read on from here next time
                ready.append(found)
            if not ready:
                break
            ids = [f.trace.trace_id for f in ready]
            taken = self.rules.taken(rule.id, ids)
            fresh = [f for f in ready if (f.updated_at, f.trace.trace_id) > place]
            drawn = {i for i in ids if sampled(rule.id, i, rule.sample_rate)}
            picked = [i for i in ids if i in drawn and i not in taken]
            claimed = self.rules.claim(rule.id, picked)
            if claimed:
                done.failed += self._scored(rule, tracing, claimed, complete)
            last = ready[-1]
            self.rules.advance(rule.id, last.updated_at, last.trace.trace_id)
            cursor = (last.updated_at, last.trace.trace_id)
            done.read += len(fresh)
            done.sampled += sum(f.trace.trace_id in drawn for f in fresh)
            done.scored += len(claimed)
            if len(ready) < len(read) or len(read) < self.page:
                break
        return done

    def close(self) -> None:
        for judge in self._judges.values():
            try:
                judge.close()
            except Exception as exc:  # closing one judge must not keep the others open
                log.warning("closing judge %s failed: %s", judge.description, describe(exc))
        self._judges.clear()

    # -- scoring -------------------------------------------------------------------------

    def _scored(
        self, rule: OnlineRule, tracing: TracingStore, trace_ids: list[str], complete: Complete
    ) -> int:
        """Score the claimed traces; on any failure give back those not finished."""
        try:
            return self._score(rule, tracing, trace_ids, complete)
        except BaseException:
            self.rules.release(rule.id, trace_ids)  # only the unfinished ones go back
            raise

    def _score(
        self, rule: OnlineRule, tracing: TracingStore, trace_ids: list[str], complete: Complete
    ) -> int:
        """Score the claimed traces, write their feedback and outcomes; return the failures."""
        details: list[TraceDetail] = []
        for trace_id in trace_ids:
            try:
                details.append(tracing.get_trace(trace_id))
            except NotFound:  # deleted since it was read
                self.rules.finish(rule.id, trace_id, {}, "the trace was deleted")
        examples = [example_of(d) for d in details]
        rubric = (
            self.prompts.in_project(rule.project).get_version(rule.judge_rubric)
            if rule.judge_rubric
            else None
        )
        results: list[dict[str, Score]] = [{} for _ in details]
        for ref in rule.scorers:
            scorer = _build(ref, complete, rubric)
            for found, score in zip(results, scorer.score_many(examples), strict=True):
                found[ref.label] = score
        source = {ref.label: _source(ref) for ref in rule.scorers}
        failed = 0
        for detail, found in zip(details, results, strict=True):
            values, errors = self._write(rule, tracing, detail.trace_id, found, source)
            failed += bool(errors)
            self.rules.finish(rule.id, detail.trace_id, values, "; ".join(errors) or None)
        return failed

    def _write(
        self,
        rule: OnlineRule,
        tracing: TracingStore,
        trace_id: str,
        scores: dict[str, Score],
        source: dict[str, FeedbackSource],
    ) -> tuple[dict[str, float], list[str]]:
        values: dict[str, float] = {}
        errors: list[str] = []
        for label, score in scores.items():
            if score.value is None:
                errors.append(f"{label}: {score.error or 'no score'}")
                continue
            try:
                tracing.feedback.log_feedback(
                    trace_id,
                    label,
                    score.value,
                    source=source[label],
                    comment=score.rationale,
                    author=f"rule:{rule.name}",
                )
            except LmopsError as exc:  # a feedback config that takes other values
                errors.append(f"{label}: feedback refused: {exc.message}")
                continue
            values[label] = score.value
        return values, errors

    def _complete(self, rule: OnlineRule) -> Complete:
        """The rule's judge model as `complete(messages)`, opened once per rule; raises
        when it cannot be opened (the pass then takes no trace)."""
        if rule.judge is None:
            return _no_judge
        key = (rule.project, rule.name, rule.judge, rule.judge_model)
        judge = self._judges.get(key)
        if judge is None:
            if self.open_judge is None:
                raise InvalidInput("this scorer cannot open judges: run the rule on the server")
            try:
                judge = self._judges[key] = self.open_judge(rule)
            except LmopsError as exc:
                raise type(exc)(f"judge {rule.judge!r} could not be opened: {exc.message}") from exc
        return judge.complete


# -- scorers -------------------------------------------------------------------------------


def _build(ref: ScorerRef, complete: Callable[..., str], rubric: Any) -> Scorer:
    options = dict(ref.options)
    if ref.name == "judge":
        if rubric is not None:
            options["rubric"] = rubric
        return Judge(complete, **options)
    return get_scorer(ref.name, **options)


def _source(ref: ScorerRef) -> FeedbackSource:
    return FeedbackSource.LLM if ref.name == "judge" else FeedbackSource.CODE


def _no_judge(messages: list[dict[str, Any]]) -> str:
    raise RuntimeError("no judge model is set on this rule")


# -- traces as rows ------------------------------------------------------------------------


def _root(spans: list[Span]) -> Span | None:
    """The trace's top span: the earliest with no parent in the trace."""
    ids = {s.span_id for s in spans}
    tops = [s for s in spans if s.parent_span_id is None or s.parent_span_id not in ids]
    return min(tops, key=lambda s: s.start_time) if tops else None


def _inputs(value: Any) -> dict[str, Any]:
    """A span's input as a row's inputs; a chat's messages become one `input` text."""
    if isinstance(value, dict):
        messages = value.get("messages")
        if len(value) == 1 and isinstance(messages, list):
            return {"input": _conversation(messages)}
        return dict(value)
    if value is None:
        return {}
    return {"input": value}


def _conversation(messages: list[Any]) -> str:
    """The user's message alone, or the whole exchange as `role: text` lines."""
    turns = [m for m in messages if isinstance(m, dict)]
    if len(turns) == 1 and turns[0].get("role") == "user":
        return _content(turns[0].get("content"))
    return "\n".join(f"{m.get('role', 'user')}: {_content(m.get('content'))}" for m in turns)


def _content(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return "" if content is None else as_text(content)


def _output(value: Any) -> Any:
    """A span's output: an OpenAI response becomes its first choice's text."""
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        choice = value["choices"][0]
        if isinstance(choice, dict):
            message = choice.get("message")
            if isinstance(message, dict):
                return _content(message.get("content"))
            if "text" in choice:
                return choice["text"]
    return value
