"""Per-key rate limits (requests and tokens per minute) and monthly budgets for the gateway.

Windows are kept in memory per process, over the last 60 seconds. What a key spent is added
to the store by a background thread about once a second, and each key's stored month is
re-read every few seconds, so several server processes together may overshoot a budget by
what they spend in that time.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lmops.serving.entities import KeyLimits, KeyUsage
from lmops.serving.protocol import OpenAIError
from lmops.serving.store import LimitStore

log = logging.getLogger(__name__)
WINDOW = 60.0


@dataclass
class _Key:
    limits: KeyLimits
    read_at: float
    spent: float = 0.0  # stored cost this month, as last read
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    pending: KeyUsage | None = None


class Limiter:
    def __init__(
        self,
        store: LimitStore,
        *,
        refresh_s: float = 5.0,
        flush_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh = refresh_s
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, args=(flush_s,), name="lmops-usage", daemon=True
        )
        self._flusher.start()

    def admit(self, key_id: str) -> None:
        """Count a request against the key, or raise 429 saying which limit and for how long."""
        now = self._clock()
        state = self._state(key_id, now)
        limits = state.limits
        with self._lock:
            _trim(state, now)
            rpm = limits.requests_per_minute
            if rpm is not None and len(state.requests) >= rpm:
                raise _too_many(
                    f"Rate limit reached: {rpm} requests per minute for this key",
                    WINDOW - (now - state.requests[0]),
                )
            if limits.tokens_per_minute is not None:
                used = sum(n for _, n in state.tokens)
                if used >= limits.tokens_per_minute:
                    wait = WINDOW - (now - state.tokens[0][0]) if state.tokens else 1.0
                    raise _too_many(
                        f"Rate limit reached: {limits.tokens_per_minute} tokens per minute "
                        f"for this key ({used} used in the last minute)",
                        wait,
                    )
            if limits.monthly_budget is not None:
                pending = state.pending.cost if state.pending else 0.0
                if state.spent + pending >= limits.monthly_budget:
                    raise _too_many(
                        f"Budget exhausted: this key's ${limits.monthly_budget:.2f} for "
                        f"{current_period()} is spent",
                        _seconds_to_next_month(),
                        code="budget_exceeded",
                    )
            state.requests.append(now)

    def charge(self, key_id: str, input_tokens: int, output_tokens: int, cost: float) -> None:
        """What a finished request used."""
        now = self._clock()
        state = self._state(key_id, now)
        with self._lock:
            state.tokens.append((now, input_tokens + output_tokens))
            period = current_period()
            if state.pending is None or state.pending.period != period:
                if state.pending is not None:
                    self._write(state.pending)
                state.pending = KeyUsage(key_id=key_id, period=period)
            p = state.pending
            p.requests += 1
            p.input_tokens += input_tokens
            p.output_tokens += output_tokens
            p.cost += cost

    def forget(self, key_id: str) -> None:
        """Re-read the key's limits at its next request (they were just changed)."""
        with self._lock:
            state = self._keys.get(key_id)
            if state is not None:
                state.read_at = float("-inf")

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(5)
        self.flush()

    def flush(self) -> None:
        with self._lock:
            batch = [s.pending for s in self._keys.values() if s.pending is not None]
            for state in self._keys.values():
                if state.pending is not None:
                    state.spent += state.pending.cost
                    state.pending = None
        for usage in batch:
            self._write(usage)

    def _write(self, usage: KeyUsage) -> None:
        try:
            self._store.add_usage(usage)
        except Exception:  # the store is down: the counts of this batch are lost, say so
            log.exception("could not record gateway usage for key %s", usage.key_id)

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self.flush()

    def _state(self, key_id: str, now: float) -> _Key:
        state = self._keys.get(key_id)
        if state is not None and now - state.read_at < self._refresh:
            return state
        limits = self._store.get_limits(key_id)
        spent = self._store.get_usage(key_id, current_period()).cost
        with self._lock:
            state = self._keys.get(key_id)
            if state is None:
                state = self._keys[key_id] = _Key(limits, now, spent)
            state.limits, state.read_at, state.spent = limits, now, spent
        return state


def _trim(state: _Key, now: float) -> None:
    while state.requests and now - state.requests[0] >= WINDOW:
        state.requests.popleft()
    while state.tokens and now - state.tokens[0][0] >= WINDOW:
        state.tokens.popleft()


def _too_many(message: str, wait: float, code: str = "rate_limit_exceeded") -> OpenAIError:
    return OpenAIError(429, message, type="rate_limit_error", code=code, retry_after=max(1.0, wait))


def current_period(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m")


def _seconds_to_next_month() -> float:
    now = datetime.now(UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    end = now.replace(day=days, hour=23, minute=59, second=59)
    return (end - now).total_seconds() + 1
