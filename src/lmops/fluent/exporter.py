"""Finished spans leave the app's thread through a bounded queue.

The app's thread only enqueues. When the queue is full the span is dropped and counted: the
app is never blocked for long and never fails because tracing is slow. A daemon thread
writes batches to the store or server; when that is away (Unavailable) it keeps the batch
and retries with backoff. `flush()` writes everything queued before it.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import util as mp_util

from lmops.core.errors import LmopsError, RemoteError, Unavailable
from lmops.tracing.rows import SpanRow

log = logging.getLogger(__name__)
WriteSpans = Callable[[Sequence[SpanRow]], object]
_MAX_BACKOFF_S = 5.0
_REMOTE_RETRIES = 3


@dataclass
class ExportStats:
    """Counters an app can check (`lmops.tracing_stats()`)."""

    queued: int = 0
    exported: int = 0
    dropped: int = 0
    failed: int = 0


class SpanExporter:
    def __init__(
        self,
        write: WriteSpans,
        *,
        max_queue: int = 20_000,
        batch_size: int = 1000,
        interval: float = 0.5,
    ) -> None:
        self.write = write
        self.batch_size = batch_size
        self.interval = interval
        self.stats = ExportStats()
        self._queue: queue.SimpleQueue[SpanRow] = queue.SimpleQueue()
        self._max_queue = max_queue
        self._retry: list[SpanRow] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._warned = False
        self._failures = 0
        self._thread = threading.Thread(target=self._loop, name="lmops-span-exporter", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        mp_util.Finalize(self, self.close, exitpriority=100)

    def put(self, span: SpanRow) -> None:
        """Queue a finished span; never blocks (a full queue drops and counts)."""
        if self._queue.qsize() >= self._max_queue:
            self.stats.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning(
                    "lmops: span queue full (%d); dropping spans, see lmops.tracing_stats()",
                    self._max_queue,
                )
            return
        self._queue.put(span)
        self.stats.queued += 1
        if self._queue.qsize() >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self) -> None:
        """Write every span queued so far; raise Unavailable if the store is away."""
        self._drain()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        try:
            self._drain()
        except LmopsError as exc:
            log.error(
                "lmops: at exit, %d spans could not be written: %s",
                len(self._retry) + self._queue.qsize(),
                exc,
            )

    def abandon(self) -> None:
        """In a forked child: forget the parent's spans (the parent writes them)."""
        self._closed = True
        self._retry = []
        while not self._queue.empty():
            self._queue.get_nowait()

    def _loop(self) -> None:
        backoff = self.interval
        while not self._closed:
            self._wake.wait(backoff)
            self._wake.clear()
            try:
                self._drain()
                backoff = self.interval
            except (Unavailable, RemoteError) as exc:
                log.debug("lmops: spans not written yet, retrying: %s", exc)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _drain(self) -> None:
        with self._lock:
            while True:
                batch, self._retry = self._retry, []
                while len(batch) < self.batch_size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                if not batch:
                    return
                try:
                    self._write(batch)
                except (Unavailable, RemoteError):
                    self._retry = batch  # kept outside the queue: retried first
                    raise
                self._failures = 0

    def _write(self, batch: list[SpanRow]) -> None:
        """Write a batch; when it is refused, halve it until only the bad spans are left.

        Span writes are idempotent (by trace and span id), so a batch whose answer was
        lost (a dropped connection, a 500) is sent again, a few times, before it is split.
        """
        try:
            self.write(batch)
        except Unavailable:
            raise
        except RemoteError:
            self._failures += 1
            if self._failures < _REMOTE_RETRIES:
                raise
            self._failures = 0
            self._split(batch)
        except Exception:
            self._split(batch)
        else:
            self.stats.exported += len(batch)

    def _split(self, batch: list[SpanRow]) -> None:
        if len(batch) == 1:
            self.stats.failed += 1
            log.error(
                "lmops: span %s of trace %s was refused",
                batch[0].get("span_id"),
                batch[0].get("trace_id"),
            )
            return
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            try:
                self.write(part)
            except Unavailable:
                raise  # the whole batch is retried; spans already written are overwritten
            except Exception:
                self._split(part)
            else:
                self.stats.exported += len(part)
