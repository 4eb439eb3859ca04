"""Trace retention: with LMOPS_TRACE_RETENTION_DAYS set, the server deletes older traces
(spans and feedback with them) when it starts and every hour after.

Retention is the server's policy, so the sweep covers every project at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from lmops.core.ids import utcnow
from lmops.server.deps import Services

log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 3600.0


def sweep(services: Services) -> int:
    """Delete the traces older than the retention window; return how many."""
    days = services.settings.trace_retention_days
    if days is None:
        return 0
    deleted = services.tracing.delete_traces_before(
        utcnow() - timedelta(days=days), every_project=True
    )
    if deleted:
        log.info("retention: deleted %d traces older than %d days", deleted, days)
    return deleted


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    if services.settings.trace_retention_days is None:
        yield
        return
    await run_in_threadpool(sweep, services)

    async def every_hour() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await run_in_threadpool(sweep, services)
            except Exception as exc:  # the store may be away for a while; try next hour
                log.warning("retention sweep failed: %s", exc)

    task = asyncio.create_task(every_hour())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
