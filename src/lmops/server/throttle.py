"""Slow down password guessing: after a few failed logins for one user from one address,
refuse further tries for a while (429 with Retry-After), whatever the password.

Kept in memory, per server process: a restart forgets it, and each worker counts its own.
That is enough to turn an online guessing run from thousands of tries a minute into a
handful; an account lockout that outlives restarts would let anyone lock anyone out.
"""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_FAILURES = 5
WINDOW_S = 300.0
MAX_TRACKED = 10_000  # (user, address) pairs remembered at once; the oldest go first


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, user: str, address: str) -> float:
        """Seconds before `user` may try again from `address` (0: now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent((user, address), now)
            if len(recent) < self.max_failures:
                return 0.0
            return max(0.0, recent[0] + self.window_s - now)

    def failed(self, user: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            key = (user, address)
            self._recent(key, now).append(now)
            if len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._failures.pop((user, address), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque(maxlen=self.max_failures))
        while found and found[0] <= now - self.window_s:
            found.popleft()
        return found
