"""Where long work runs: `local` processes now; a Ray executor registers the same way later."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from lmops.core.hookspecs import Register, hookimpl

T = TypeVar("T")


class Executor(Protocol):
    """Runs picklable functions somewhere else and hands back futures."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class LocalExecutor:
    """Run work in processes on this machine."""

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(max_workers=self.max_workers)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        return self._pool.map(fn, *iterables)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


@hookimpl
def register_executors(register: Register) -> None:
    register("local", LocalExecutor)


def map_bounded(
    executor: Executor, fn: Callable[..., T], items: Iterable[tuple[Any, ...]], window: int = 4
) -> Iterator[T]:
    """`fn(*item)` for each item on `executor`, results in order, with at most `window` tasks
    submitted and not yet consumed: finished results cannot pile up in memory faster than
    the caller takes them. Leaving early cancels what has not started."""
    pending: deque[Future[T]] = deque()
    try:
        for item in items:
            pending.append(executor.submit(fn, *item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def get_executor(name: str = "local", **options: Any) -> Executor:
    """Build the executor registered as `name` (through the plugin hooks)."""
    from lmops.core.plugins import lookup

    factory: Callable[..., Executor] = lookup("executors", name)
    return factory(**options)
