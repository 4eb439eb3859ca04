"""Feedback on traces: values people, judges and code attach; configs; end-user tokens.

Feedback and tokens work in the store's project: only its traces take feedback or get a
token. A token, once made, is the credential: redeeming it needs no project and writes to
the trace it was made for, whichever project that is in. Configs are server-wide.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, select
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import Forbidden, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.store.engine import writing
from lmops.tracing.entities import (
    Feedback,
    FeedbackConfig,
    FeedbackKind,
    FeedbackSource,
)
from lmops.tracing.limits import truncate_values
from lmops.tracing.tables import feedback, feedback_configs, feedback_tokens, traces

MAX_TOKEN_TTL = timedelta(days=90)


class FeedbackStore(InProject):
    """Feedback, its configs, and tokens that let an end user rate one trace."""

    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project

    def log_feedback(
        self,
        trace_id: str,
        name: str,
        value: float | bool | str | None = None,
        *,
        source: FeedbackSource | str = FeedbackSource.HUMAN,
        kind: FeedbackKind | str | None = None,
        comment: str | None = None,
        correction: Any = None,
        span_id: str | None = None,
        author: str | None = None,
    ) -> Feedback:
        """Attach one piece of feedback to a trace (or one of its spans)."""
        check_text(name, "name", max_length=250)
        resolved_source: FeedbackSource = _enum(FeedbackSource, source, "source")
        config = self._config(name)
        resolved = (
            _enum(FeedbackKind, kind, "kind")
            if kind is not None
            else _infer_kind(value, correction, config)
        )
        _check_value(resolved, value, correction, config)
        row = {
            "id": new_id(),
            "trace_id": trace_id,
            "span_id": span_id,
            "name": name,
            "kind": resolved.value,
            "value": value,
            "numeric_value": _numeric(value),
            "correction": truncate_values(correction),
            "source": resolved_source.value,
            "comment": check_text(comment, "comment", max_length=10_000) if comment else None,
            "author": check_text(author, "author", max_length=255) if author else None,
            "created_at": utcnow(),
        }
        with writing(self.engine) as conn:
            # One atomic increment: concurrent feedback must not lose counts.
            counted = conn.execute(
                traces.update()
                .where(self._trace(trace_id))
                .values(feedback_count=traces.c.feedback_count + 1)
            )
            if counted.rowcount == 0:
                raise NotFound(f"no trace with id {trace_id!r}")
            conn.execute(feedback.insert(), row)
        return Feedback.model_validate(row)

    def list_feedback(self, trace_id: str) -> list[Feedback]:
        """The feedback on a trace of this project, oldest first (none for any other id)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(feedback)
                .join(traces, traces.c.trace_id == feedback.c.trace_id)
                .where(self._trace(trace_id))
                .order_by(feedback.c.created_at)
            ).mappings()
            return [Feedback.model_validate(dict(r)) for r in rows]

    # -- configs -------------------------------------------------------------------------

    def set_config(self, config: FeedbackConfig) -> FeedbackConfig:
        check_text(config.name, "name")
        check_text(config.description, "description")
        for value in config.allowed_values or []:
            check_text(value, "allowed_values")
        if config.kind == FeedbackKind.CATEGORICAL and not config.allowed_values:
            raise InvalidInput("a categorical config needs allowed_values", field="allowed_values")
        with writing(self.engine) as conn:
            conn.execute(feedback_configs.delete().where(feedback_configs.c.name == config.name))
            conn.execute(feedback_configs.insert(), config.model_dump(mode="json"))
        return config

    def list_configs(self) -> list[FeedbackConfig]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feedback_configs).order_by(feedback_configs.c.name))
            return [FeedbackConfig.model_validate(dict(r._mapping)) for r in rows]

    def _config(self, name: str) -> FeedbackConfig | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(feedback_configs).where(feedback_configs.c.name == name))
                .mappings()
                .first()
            )
        return FeedbackConfig.model_validate(dict(row)) if row else None

    # -- end-user tokens -----------------------------------------------------------------

    def create_token(self, trace_id: str, ttl: timedelta = timedelta(days=7)) -> str:
        """A secret an app hands its end user to rate this one trace, without an API key."""
        if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
            raise InvalidInput(
                f"ttl must be positive and at most {MAX_TOKEN_TTL.days} days", field="ttl"
            )
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with writing(self.engine) as conn:
            if conn.execute(select(traces.c.trace_id).where(self._trace(trace_id))).first() is None:
                raise NotFound(f"no trace with id {trace_id!r}")
            conn.execute(
                feedback_tokens.insert(),
                {
                    "token_hash": _hash(token),
                    "trace_id": trace_id,
                    "expires_at": now + ttl,
                    "created_at": now,
                },
            )
        return token

    def log_with_token(
        self,
        token: str,
        name: str,
        value: float | bool | str | None = None,
        *,
        comment: str | None = None,
        correction: Any = None,
    ) -> Feedback:
        """Record an end user's feedback on the trace the token was made for, in that
        trace's project (whatever project this store works in: the token decides)."""
        t = feedback_tokens.c
        query = (
            select(t.trace_id, t.expires_at, traces.c.project)
            .join(traces, traces.c.trace_id == t.trace_id)
            .where(t.token_hash == _hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["expires_at"] < utcnow():
            raise Forbidden("this feedback token is unknown or has expired")
        return self.in_project(row["project"]).log_feedback(
            row["trace_id"],
            name,
            value,
            source=FeedbackSource.HUMAN,
            comment=comment,
            correction=correction,
            author="end-user",
        )

    def _trace(self, trace_id: str) -> ColumnElement[bool]:
        """The WHERE clause naming trace `trace_id` if it is in this project."""
        return and_(traces.c.trace_id == trace_id, traces.c.project == self.project)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _enum(cls: Any, value: Any, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidInput(
            f"invalid {field} {value!r}; use one of {allowed}", field=field
        ) from None


def _infer_kind(value: Any, correction: Any, config: FeedbackConfig | None) -> FeedbackKind:
    if config is not None:
        return config.kind
    if correction is not None:
        return FeedbackKind.CORRECTION
    if isinstance(value, bool):
        return FeedbackKind.BOOLEAN
    if isinstance(value, int | float):
        return FeedbackKind.NUMERIC
    return FeedbackKind.TEXT


def _check_value(
    kind: FeedbackKind, value: Any, correction: Any, config: FeedbackConfig | None
) -> None:
    expected: Callable[[Any], bool] = {
        FeedbackKind.NUMERIC: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        FeedbackKind.BOOLEAN: lambda v: isinstance(v, bool),
        FeedbackKind.CATEGORICAL: lambda v: isinstance(v, str),
        FeedbackKind.TEXT: lambda v: isinstance(v, str),
        FeedbackKind.CORRECTION: lambda v: v is None or isinstance(v, str | int | float),
    }[kind]
    if not expected(value):
        raise InvalidInput(f"{kind.value} feedback cannot take value {value!r}", field="value")
    if isinstance(value, str):
        check_text(value, "value", max_length=10_000)
    if kind == FeedbackKind.CORRECTION and correction is None:
        raise InvalidInput("correction feedback needs the corrected output", field="correction")
    if config is None:
        return
    if config.allowed_values is not None and str(value) not in config.allowed_values:
        raise InvalidInput(
            f"{config.name} takes one of {config.allowed_values}, not {value!r}", field="value"
        )
    number = _numeric(value)
    if number is not None and config.min_value is not None and number < config.min_value:
        raise InvalidInput(f"{config.name} is at least {config.min_value}", field="value")
    if number is not None and config.max_value is not None and number > config.max_value:
        raise InvalidInput(f"{config.name} is at most {config.max_value}", field="value")


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None
