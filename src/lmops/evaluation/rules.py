"""The online rule store: the only code that runs SQL for online scoring rules and the
traces they scored.

A rule reads its project's traces in the order they settle (`updated_at`, then trace id)
and keeps its place in `watermark_at`/`watermark_trace`. Each sampled trace is claimed with
a row in `online_scored` before it is scored: the primary key (rule, trace) is the lock,
so two server processes, or a trace that changes after it was scored, never score twice.
A claim whose scoring failed is released; one whose process died is retaken after `LEASE`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.uris import check_name
from lmops.evaluation.entities import OnlineRule, RuleSpec, RuleStats, ScoredTrace
from lmops.evaluation.tables import online_rules, online_scored
from lmops.store.audit import record
from lmops.store.engine import writing

MEANS_OVER = 1000  # a rule's means are over its latest this many scored traces
LEASE = timedelta(minutes=30)  # a claim not finished by then is taken again


class RuleStore(InProject):
    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # -- rules ---------------------------------------------------------------------------

    def create(
        self,
        name: str,
        spec: RuleSpec,
        *,
        created_by: str | None = None,
        since: datetime | None = None,
    ) -> OnlineRule:
        """A new rule; it scores traces that settle from `since` on (now by default)."""
        check_name(name, "rule")
        if since is not None and since.tzinfo is None:
            raise InvalidInput("since needs a timezone", field="since")
        now = utcnow()
        row = {
            "id": new_id(),
            "project": self.project,
            "name": name,
            **_spec_row(spec),
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "scores_from": since or now,
            "watermark_at": since or now,
            "watermark_trace": "",
        }
        try:
            with writing(self.engine) as conn:
                conn.execute(online_rules.insert(), row)
                record(
                    conn,
                    "online_rule.created",
                    "online_rule",
                    row["id"],
                    name,
                    project=self.project,
                    after=spec.model_dump(mode="json"),
                )
        except IntegrityError as exc:
            raise Conflict(f"an online scoring rule named {name!r} already exists") from exc
        return _rule(row)

    def get(self, name: str) -> OnlineRule:
        check_name(name, "rule")
        query = select(online_rules).where(
            online_rules.c.project == self.project, online_rules.c.name == name
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no online scoring rule named {name!r}")
        return _rule(dict(row))

    def update(self, name: str, spec: RuleSpec) -> OnlineRule:
        """Replace what the rule does; it keeps its place among the traces."""
        current = self.get(name)
        values = {**_spec_row(spec), "updated_at": utcnow()}
        with writing(self.engine) as conn:
            conn.execute(online_rules.update().where(online_rules.c.id == current.id), values)
            record(
                conn,
                "online_rule.updated",
                "online_rule",
                current.id,
                name,
                project=self.project,
                before=current.spec().model_dump(mode="json"),
                after=spec.model_dump(mode="json"),
            )
        return self.get(name)

    def delete(self, name: str) -> None:
        """Delete the rule and its record of scored traces (the feedback it wrote stays)."""
        current = self.get(name)
        with writing(self.engine) as conn:
            conn.execute(online_scored.delete().where(online_scored.c.rule_id == current.id))
            conn.execute(online_rules.delete().where(online_rules.c.id == current.id))
            record(
                conn, "online_rule.deleted", "online_rule", current.id, name, project=self.project
            )

    def enabled(self, *, every_project: bool = False) -> list[OnlineRule]:
        """The enabled rules of this project, or of all projects (the server's worker)."""
        query = select(online_rules).where(online_rules.c.enabled.is_(True))
        if not every_project:
            query = query.where(online_rules.c.project == self.project)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(online_rules.c.created_at)).mappings()
            return [_rule(dict(r)) for r in rows]

    # -- progress ------------------------------------------------------------------------

    def position(self, rule_id: str) -> tuple[datetime, str]:
        """Where the rule is among its project's traces: (updated_at, trace id) read last."""
        query = select(online_rules.c.watermark_at, online_rules.c.watermark_trace).where(
            online_rules.c.id == rule_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no online scoring rule with id {rule_id!r}")
        return row[0], row[1]

    def advance(self, rule_id: str, at: datetime, trace_id: str) -> None:
        """Move the rule's place forward to (at, trace_id); never back (another process
        may have read further meanwhile)."""
        r = online_rules.c
        behind = or_(r.watermark_at < at, and_(r.watermark_at == at, r.watermark_trace < trace_id))
        with writing(self.engine) as conn:
            conn.execute(
                update(online_rules)
                .where(r.id == rule_id, behind)
                .values(watermark_at=at, watermark_trace=trace_id)
            )

    def passed(self, rule_id: str, error: str | None) -> None:
        """Note that a pass ran, and why it failed (None: it did not)."""
        with writing(self.engine) as conn:
            conn.execute(
                update(online_rules)
                .where(online_rules.c.id == rule_id)
                .values(last_pass_at=utcnow(), last_error=error and error[:10_000])
            )

    def claim(self, rule_id: str, trace_ids: list[str]) -> list[str]:
        """Take these traces for scoring; returns those no one had taken (in order)."""
        if not trace_ids:
            return []
        now = utcnow()
        won: list[str] = []
        with writing(self.engine) as conn:
            for trace_id in trace_ids:  # a trace another process holds already is left to it
                row = {
                    "rule_id": rule_id,
                    "trace_id": trace_id,
                    "claimed_at": now,
                    "scored_at": None,
                    "scores": {},
                    "error": None,
                }
                insert = self._insert(online_scored).on_conflict_do_nothing()
                if conn.execute(insert.returning(online_scored.c.trace_id), row).first():
                    won.append(trace_id)
        return won

    def taken(self, rule_id: str, trace_ids: list[str]) -> set[str]:
        """Which of these traces the rule has claimed already (scored or not)."""
        if not trace_ids:
            return set()
        s = online_scored.c
        query = select(s.trace_id).where(s.rule_id == rule_id, s.trace_id.in_(trace_ids))
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(query)}

    def release(self, rule_id: str, trace_ids: list[str]) -> None:
        """Give back claims whose scoring did not finish, for a later pass to take."""
        if not trace_ids:
            return
        s = online_scored.c
        with writing(self.engine) as conn:
            conn.execute(
                online_scored.delete().where(
                    s.rule_id == rule_id, s.trace_id.in_(trace_ids), s.scored_at.is_(None)
                )
            )

    def retake(self, rule_id: str, limit: int) -> list[str]:
        """Claim again traces whose claim is older than `LEASE` and never finished (the
        process scoring them died)."""
        s = online_scored.c
        now = utcnow()
        stale = select(s.trace_id).where(
            s.rule_id == rule_id, s.scored_at.is_(None), s.claimed_at < now - LEASE
        )
        with writing(self.engine) as conn:
            found = [r[0] for r in conn.execute(stale.limit(limit))]
            won = []
            for trace_id in found:  # each re-checked: another process may retake it first
                retaken = conn.execute(
                    update(online_scored)
                    .where(
                        s.rule_id == rule_id,
                        s.trace_id == trace_id,
                        s.scored_at.is_(None),
                        s.claimed_at < now - LEASE,
                    )
                    .values(claimed_at=now)
                    .returning(s.trace_id)
                ).first()
                if retaken:
                    won.append(trace_id)
        return won

    def finish(
        self, rule_id: str, trace_id: str, scores: dict[str, float], error: str | None
    ) -> None:
        """Write a claimed trace's outcome."""
        with writing(self.engine) as conn:
            conn.execute(
                update(online_scored)
                .where(online_scored.c.rule_id == rule_id, online_scored.c.trace_id == trace_id)
                .values(scores=scores, error=error, scored_at=utcnow())
            )

    # -- reading results -----------------------------------------------------------------

    def scored(
        self, name: str, *, limit: int = 50, failed: bool | None = None
    ) -> list[ScoredTrace]:
        """The traces the rule scored, newest first; `failed` keeps only failures (True)
        or only successes (False)."""
        rule = self.get(name)
        s = online_scored.c
        query = select(online_scored).where(s.rule_id == rule.id)
        if failed is not None:
            ok = and_(s.error.is_(None), s.scored_at.is_not(None))
            query = query.where(s.error.is_not(None) if failed else ok)
        query = query.order_by(s.claimed_at.desc(), s.trace_id).limit(max(1, min(limit, 1000)))
        with self.engine.connect() as conn:
            return [ScoredTrace.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def stats(self, name: str) -> RuleStats:
        rule = self.get(name)
        s = online_scored.c
        totals = select(
            func.count(s.scored_at),
            func.count(s.error),
            func.count() - func.count(s.scored_at),
            func.max(s.scored_at),
        ).where(s.rule_id == rule.id)
        latest = (
            select(s.scores)
            .where(s.rule_id == rule.id, s.scored_at.is_not(None), s.error.is_(None))
            .order_by(s.scored_at.desc())
            .limit(MEANS_OVER)
        )
        with self.engine.connect() as conn:
            count, failed, pending, last = conn.execute(totals).one()
            recent = [r[0] for r in conn.execute(latest)]
        sums: dict[str, list[float]] = {}
        for scores in recent:
            for key, value in (scores or {}).items():
                sums.setdefault(key, []).append(float(value))
        return RuleStats(
            scored=count,
            failed=failed,
            in_progress=pending,
            last_scored_at=last,
            means={k: math.fsum(v) / len(v) for k, v in sorted(sums.items())},
            recent=len(recent),
        )

    # `list` last: below it, `list` in an annotation would name this method
    def list(self) -> list[OnlineRule]:
        query = (
            select(online_rules)
            .where(online_rules.c.project == self.project)
            .order_by(online_rules.c.name)
        )
        with self.engine.connect() as conn:
            return [_rule(dict(r)) for r in conn.execute(query).mappings()]


def _spec_row(spec: RuleSpec) -> dict[str, Any]:
    return {
        "description": spec.description,
        "scorers": [s.model_dump(mode="json") for s in spec.scorers],
        "sample_rate": spec.sample_rate,
        "filter": spec.filter.model_dump(mode="json", exclude_defaults=True),
        "judge": spec.judge,
        "judge_model": spec.judge_model,
        "judge_rubric": spec.judge_rubric,
        "enabled": spec.enabled,
    }


def _rule(row: dict[str, Any]) -> OnlineRule:
    return OnlineRule.model_validate({k: v for k, v in row.items() if k != "watermark_trace"})
