"""Metric points leave the training loop through a queue and reach the store in batches.

`log_metric` only appends to a deque (thread-safe, no lock). A daemon thread wakes every
`interval` seconds, or as soon as a batch is full, and writes what is queued, one
transaction per run. `flush()` returns once every point queued before it is durable.

What happens when a write fails depends on whether retrying can help:
- Unavailable (the server is down, the database locked or unreachable): the points go back
  to the front of the queue and the thread retries with backoff; nothing is lost and no
  error is kept. `flush()` raises Unavailable while it cannot get them written.
- anything else (the run was deleted, the server refused the batch): retrying cannot help;
  those points are dropped, and the next `flush()` raises an error saying how many.
The queue is bounded: past `max_pending` points the caller writes a batch itself
(back-pressure), so memory stays bounded while the store is away.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from multiprocessing import util as mp_util

from lmops.core.errors import LmopsError, Unavailable
from lmops.tracking.entities import MetricRow

log = logging.getLogger(__name__)

Point = tuple[str, str, float, int, int]  # run_id, key, value, step, timestamp
WriteBatch = Callable[[str, Sequence[MetricRow]], None]
_MAX_BACKOFF_S = 5.0


class MetricFlusher:
    """Batches queued metric points into `write(run_id, rows)` calls off the caller's thread."""

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
        self._lost: list[str] = []
        self._lost_points = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lmops-metric-flusher", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        # A multiprocessing child ends with os._exit, which skips atexit; this still runs.
        mp_util.Finalize(self, self.close, exitpriority=100)

    def put(self, point: Point) -> None:
        self._queue.append(point)
        pending = len(self._queue)
        if pending >= self.batch_size:
            if not self._wake.is_set():
                self._wake.set()
            if pending >= self.max_pending:
                self._drain(limit=self.batch_size)

    def flush(self) -> None:
        """Write everything queued so far; raise if points could not be written or were lost."""
        self._drain(limit=None)
        if self._lost:
            reasons, count = self._lost, self._lost_points
            self._lost, self._lost_points = [], 0
            raise LmopsError(f"{count} metric points were not written: {'; '.join(reasons[:3])}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        try:
            self.flush()
        except LmopsError as exc:
            log.error("lmops: at exit, %s", exc)

    def abandon(self) -> None:
        """Drop the queue without writing it: in a forked child, the parent writes it."""
        self._closed = True
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _loop(self) -> None:
        backoff = self.interval
        while not self._closed:
            self._wake.wait(backoff)
            self._wake.clear()
            try:
                self._drain(limit=None)
                backoff = self.interval
            except Unavailable as exc:  # points are back in the queue; try again later
                log.debug("lmops: store unavailable, retrying metric points: %s", exc)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _drain(self, limit: int | None) -> None:
        with self._write_lock:
            while self._queue:
                n = len(self._queue) if limit is None else min(limit, len(self._queue))
                self._write([self._queue.popleft() for _ in range(min(n, self.batch_size))])
                if limit is not None:
                    return

    def _write(self, batch: list[Point]) -> None:
        by_run: dict[str, list[MetricRow]] = defaultdict(list)
        for run_id, key, value, step, ts in batch:
            by_run[run_id].append((key, value, step, ts))
        runs = list(by_run.items())
        for i, (run_id, rows) in enumerate(runs):
            try:
                self.write(run_id, rows)
            except Unavailable:
                # Put back what was not written, in order, for the next try.
                for unsent_run, unsent in reversed(runs[i:]):
                    self._queue.extendleft((unsent_run, *row) for row in reversed(unsent))
                raise
            except Exception as exc:  # retrying cannot help: keep the reason, go on
                reason = exc.message if isinstance(exc, LmopsError) else repr(exc)
                self._lost.append(f"run {run_id}: {reason}")
                self._lost_points += len(rows)
                log.error(
                    "lmops: dropped %d metric points of run %s: %s", len(rows), run_id, reason
                )
