"""The server's webhook worker: a thread that scans the audit log and POSTs due deliveries
every `LMOPS_WEBHOOK_INTERVAL_S` seconds (1 by default).

It has its own thread and HTTP client, not the request thread pool: requests only write
audit entries, and a receiver that hangs holds up this thread alone, never a request.
Several server processes may each run one; a delivery is claimed before it is sent.
One worker serves every project: each webhook is sent its own project's entries only
(`lmops.governance.webhooks.scan` queues no other).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from lmops.governance.delivery import TIMEOUT_S
from lmops.governance.webhooks import dispatch
from lmops.server.deps import Services

log = logging.getLogger(__name__)


class WebhookWorker:
    """Runs `dispatch` every `interval_s` seconds on a daemon thread until stopped."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmops-webhooks", daemon=True)
        self._last_error = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for the pass in progress (at most one POST timeout)."""
        self._stop.set()
        self._thread.join(timeout=TIMEOUT_S * 2 + 5)

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            while not self._stop.is_set():
                self._pass(client)
                self._stop.wait(self.interval_s)

    def _pass(self, client: httpx.Client) -> None:
        try:
            dispatch(self.engine, client)
            self._last_error = ""
        except Exception as exc:  # the store may be away a while; keep trying, log once
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                log.warning("webhook delivery pass failed: %s", message)
            self._last_error = message


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the worker while the app serves."""
    services: Services = app.state.services
    worker = WebhookWorker(services.engine, services.settings.webhook_interval_s)
    worker.start()
    try:
        yield
    finally:
        await run_in_threadpool(worker.stop)
