"""Progress of long data operations: a job row for the UI, and a callback for the CLI's bar."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lmops.data.entities import Job
from lmops.data.store import DataStore

Echo = Callable[[str, int, int], None]  # (phase, done, total)
UPDATE_EVERY_S = 0.5
HEARTBEAT_S = 15.0


class Progress:
    """Report `done` out of `total` for one phase; the job row is written at most twice a second."""

    def __init__(self, store: DataStore | None, job: Job | None, echo: Echo | None) -> None:
        self.store, self.job, self.echo = store, job, echo
        self.phase, self.total, self.done = "", 0, 0
        self.output_version_id: str | None = None
        self._written = 0.0

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._report(force=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        self._report(force=done >= self.total)

    def advance(self, n: int) -> None:
        self(self.done + n)

    def _report(self, force: bool) -> None:
        if self.echo is not None:
            self.echo(self.phase, self.done, self.total)
        now = time.monotonic()
        if (
            self.store is None
            or self.job is None
            or (not force and now - self._written < UPDATE_EVERY_S)
        ):
            return
        self._written = now
        self.store.update_job(self.job.id, done=self.done, total=self.total, message=self.phase)


def silent() -> Progress:
    """Progress that goes nowhere (for work that is not a job, such as reproduce's reruns)."""
    return Progress(None, None, None)


@contextmanager
def job(
    store: DataStore,
    dataset_name: str,
    op: str,
    *,
    input_version_id: str | None = None,
    echo: Echo | None = None,
) -> Iterator[Progress]:
    """Run an operation as a job: running while inside, then succeeded or failed with the error.

    A heartbeat touches the job every HEARTBEAT_S seconds while it runs, so a job whose
    process died (killed, out of memory) shows as abandoned rather than running forever.
    Set `progress.output_version_id` when the operation made a version.
    """
    row = store.start_job(dataset_name, op, 0, input_version_id)
    progress = Progress(store, row, echo)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(store, row.id, stop), daemon=True)
    beat.start()
    try:
        yield progress
    except BaseException as exc:
        stop.set()
        beat.join()
        store.update_job(row.id, status="failed", message=str(exc)[:2000] or type(exc).__name__)
        raise
    stop.set()
    beat.join()
    store.update_job(
        row.id,
        status="succeeded",
        done=progress.total,
        total=progress.total,
        message="",
        output_version_id=progress.output_version_id,
    )


def _heartbeat(store: DataStore, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        store.update_job(job_id)
