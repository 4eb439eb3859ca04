"""The filters of the traces list as the URL carries them, parsed into a TraceQuery."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pydantic import ValidationError

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text
from lmops.tracing.entities import SpanStatus, TraceQuery

PAGE_SIZE = 50
MAX_TEXT = 1000  # TraceQuery.text allows no more
MAX_TAGS = 20
RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {"": "any time", "15m": "last 15 min", "1h": "last hour", "24h": "last 24 h",
                "7d": "last 7 days", "30d": "last 30 days"}  # fmt: skip
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True)
class TraceFilters:
    """What the URL of /traces asks for, kept as the user typed it (for the form and links)."""

    range: str = ""
    start: str = ""  # from (ISO date and time; without a zone it is UTC)
    end: str = ""  # to
    name: str = ""
    status: str = ""
    user: str = ""
    session: str = ""
    model: str = ""
    min_latency: str = ""  # milliseconds
    feedback: str = ""  # "", "yes" or "no"
    q: str = ""  # text in inputs and outputs
    tags: tuple[str, ...] = field(default_factory=tuple)  # "key=value"
    endpoint: str = ""  # the gateway endpoint that answered
    model_version: str = ""  # models:/name/3
    prompt_version: str = ""  # prompts:/name/2
    cursor: str = ""

    @property
    def active(self) -> bool:
        """True when any filter is set (the cursor is not a filter)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "cursor")

    def to_query(self, now: datetime | None = None) -> TraceQuery:
        """The store query; raises InvalidInput naming the filter that is wrong."""
        start_after = _moment(self.start, "from")
        if self.range:
            if self.range not in RANGES:
                choices = ", ".join(RANGES)
                raise InvalidInput(
                    f"range must be one of {choices}, not {self.range!r}", field="range"
                )
            since = (now or datetime.now(UTC)) - RANGES[self.range]
            start_after = max(start_after, since) if start_after else since
        if len(self.q) > MAX_TEXT:
            raise InvalidInput(f"search text is longer than {MAX_TEXT} characters", field="q")
        try:
            return TraceQuery(
                start_after=start_after,
                start_before=_moment(self.end, "to"),
                name=self.name or None,
                status=_status(self.status),
                user_id=self.user or None,
                session_id=self.session or None,
                tags=_tags(self.tags),
                model=self.model or None,
                endpoint=self.endpoint or None,
                model_version=self.model_version or None,
                prompt_version=self.prompt_version or None,
                min_latency_ms=_latency(self.min_latency),
                has_feedback=_has_feedback(self.feedback),
                text=self.q or None,
                limit=PAGE_SIZE,
                cursor=self.cursor or None,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"{where}: {first['msg']}", field=where) from None

    def link(self, **changes: object) -> str:
        """Query string of this view with `changes`; any change but the cursor starts over."""
        if "cursor" not in changes:
            changes["cursor"] = ""
        view = replace(self, **changes)  # type: ignore[arg-type]
        pairs: list[tuple[str, str]] = []
        for f in fields(view):
            value = getattr(view, f.name)
            if f.name == "tags":
                pairs.extend(("tag", t) for t in value)
            elif value:
                pairs.append((f.name, value))
        return "?" + urlencode(pairs) if pairs else "?"

    def without_tag(self, tag: str) -> str:
        return self.link(tags=tuple(t for t in self.tags if t != tag))

    def with_tag(self, key: str, value: str) -> str:
        tag = f"{key}={value}"
        return self.link(tags=self.tags if tag in self.tags else (*self.tags, tag))


def _moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{name}: {text!r} is not a date and time such as 2024-05-01T12:00 (UTC)", field=name
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _status(text: str) -> SpanStatus | None:
    if not text:
        return None
    try:
        return SpanStatus(text.upper())
    except ValueError:
        allowed = ", ".join(s.value.lower() for s in SpanStatus)
        raise InvalidInput(
            f"status must be one of {allowed}, not {text!r}", field="status"
        ) from None


def _latency(text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(
            f"min latency must be a number of milliseconds >= 0, not {text!r}", field="min_latency"
        )
    return value


def _has_feedback(text: str) -> bool | None:
    if not text:
        return None
    if text.lower() not in _YES:
        raise InvalidInput(f"feedback must be yes or no, not {text!r}", field="feedback")
    return _YES[text.lower()]


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    if len(pairs) > MAX_TAGS:
        raise InvalidInput(f"filter by at most {MAX_TAGS} tags", field="tag")
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"tag must be key=value, not {pair!r}", field="tag")
        key = check_text(key.strip(), "tag", max_length=1000)
        found[key] = check_text(value.strip(), "tag", max_length=4000)
    return found
