"""The login throttle: a few failures per user and address, then a wait that ends."""

from __future__ import annotations

import time

from lmops.server.throttle import LoginThrottle


def test_failures_past_the_limit_wait_out_the_window() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=0.2)
    for _ in range(3):
        assert throttle.wait_s("ann", "10.0.0.1") == 0
        throttle.failed("ann", "10.0.0.1")
    assert 0 < throttle.wait_s("ann", "10.0.0.1") <= 0.2
    assert throttle.wait_s("ann", "10.0.0.2") == 0  # another address
    assert throttle.wait_s("bob", "10.0.0.1") == 0  # another user
    time.sleep(0.25)
    assert throttle.wait_s("ann", "10.0.0.1") == 0


def test_a_success_forgets_the_failures() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=60)
    throttle.failed("ann", "a")
    throttle.succeeded("ann", "a")
    throttle.failed("ann", "a")
    assert throttle.wait_s("ann", "a") == 0
