"""Metric points leave the training loop through a queue and reach the store in batches.

`log_metric` only appends to a deque (thread-safe, no lock). A daemon thread wakes every
`interval` seconds, or as soon as a batch is full, and writes what is queued, one
transaction per run. `flush()` returns once every point queued before it is durable, and
re-raises a write error the thread met. The queue is bounded: past `max_pending` points the
caller writes a batch itself (back-pressure), so nothing is ever dropped.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from lmops.core.errors import LmopsError, NotFound, RemoteError
from lmops.tracking.entities import MetricRow

log = logging.getLogger(__name__)

Point = tuple[str, str, float, int, int]  # run_id, key, value, step, timestamp
WriteBatch = Callable[[str, Sequence[MetricRow]], None]


class MetricFlusher:
    """Batches queued metric points into `write(run_id, points)` calls off the caller's thread."""

    def __init__(
        self,
        write: WriteBatch,
        *,
        batch_size: int = 5000,
        interval: float = 0.5,
        max_pending: int = 1_000_000,
    ) -> None:
        self.write = write
        self.batch_size = batch_size
        self.interval = interval
        self.max_pending = max_pending
        self._queue: deque[Point] = deque()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()
        self._errors: list[LmopsError] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lmops-metric-flusher", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def put(self, point: Point) -> None:
        self._queue.append(point)
        pending = len(self._queue)
        if pending >= self.batch_size:
            if not self._wake.is_set():
                self._wake.set()
            if pending >= self.max_pending:
                self._drain(limit=self.batch_size)

    def flush(self) -> None:
        """Write everything queued so far; raise the first error a background write met."""
        self._drain(limit=None)
        if self._errors:
            errors, self._errors = self._errors, []
            raise errors[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        try:
            self._drain(limit=None)
        except LmopsError as exc:
            log.error("lmops: metric points could not be written at exit: %s", exc)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._drain(limit=None)
            except Exception as exc:  # the thread must outlive any one failed write
                self._errors.append(
                    exc
                    if isinstance(exc, LmopsError)
                    else LmopsError(f"writing metric points failed: {exc}")
                )
                del self._errors[:-10]
                time.sleep(self.interval)

    def _drain(self, limit: int | None) -> None:
        with self._write_lock:
            while self._queue:
                n = len(self._queue) if limit is None else min(limit, len(self._queue))
                self._write([self._queue.popleft() for _ in range(min(n, self.batch_size))])
                if limit is not None:
                    return

    def _write(self, batch: list[Point]) -> None:
        by_run: dict[str, list[Point]] = defaultdict(list)
        for point in batch:
            by_run[point[0]].append(point)
        lost: LmopsError | None = None
        runs = list(by_run.items())
        for i, (run_id, points) in enumerate(runs):
            try:
                self.write(run_id, [(k, v, s, t) for _, k, v, s, t in points])
            except NotFound as exc:
                lost = exc  # the run is gone: these points cannot land anywhere
            except RemoteError:
                # The server is away: put back what was not written, in order, for a retry.
                for _, unsent in reversed(runs[i:]):
                    self._queue.extendleft(reversed(unsent))
                raise
        if lost is not None:
            raise lost
