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

from lmops.core.errors import LmopsError, Unavailable
from lmops.tracing.rows import SpanRow

log = logging.getLogger(__name__)
WriteSpans = Callable[[Sequence[SpanRow]], object]
_MAX_BACKOFF_S = 5.0


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
            except Unavailable as exc:
                log.debug("lmops: store unavailable, retrying spans: %s", exc)
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
                    self.write(batch)
                except Unavailable:
                    self._retry = batch  # kept outside the queue: retried first
                    raise
                except Exception as exc:  # retrying cannot help
                    self.stats.failed += len(batch)
                    reason = exc.message if isinstance(exc, LmopsError) else repr(exc)
                    log.error("lmops: %d spans were refused: %s", len(batch), reason)
                    continue
                self.stats.exported += len(batch)
