"""map_bounded: results in order, never more than `window` tasks submitted and unconsumed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from lmops.core.executors import map_bounded


class CountingPool:
    """A real thread pool that records how many tasks were submitted but not yet consumed."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.submitted = 0
        self.consumed = 0
        self.most_in_flight = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        self.most_in_flight = max(self.most_in_flight, self.submitted - self.consumed)
        return self.pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        return self.pool.map(fn, *iterables)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


def square(x: int) -> int:
    return x * x


def test_results_come_in_order_with_a_bounded_window() -> None:
    counting = CountingPool()
    out = []
    for value in map_bounded(counting, square, ((i,) for i in range(50)), window=3):
        counting.consumed += 1
        out.append(value)
    assert out == [i * i for i in range(50)]
    assert counting.most_in_flight == 3
    counting.shutdown()
