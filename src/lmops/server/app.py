"""Build the FastAPI app from Settings. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from lmops._version import __version__
from lmops.artifacts import open_artifact_store
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.data.store import DataStore
from lmops.evaluation.rules import RuleStore
from lmops.evaluation.store import EvaluationStore
from lmops.governance.access import AccessStore
from lmops.prompts.store import PromptStore
from lmops.registry.store import RegistryStore
from lmops.server import actor, gateway, online_worker, retention, webhook_worker
from lmops.server.auth import authorize
from lmops.server.deps import Services
from lmops.server.errors import install_error_handlers
from lmops.server.routers import (
    access,
    audit,
    data,
    endpoints,
    evaluations,
    models,
    online_rules,
    openai,
    otlp,
    prompts,
    system,
    tracing,
    tracking,
    transitions,
    webhooks,
)
from lmops.server.throttle import LoginThrottle
from lmops.server.ui import pages
from lmops.serving.store import EndpointStore, LimitStore
from lmops.store import open_engine
from lmops.tracing.prices import PriceStore
from lmops.tracing.store import TracingStore
from lmops.tracking.store import TrackingStore


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The background tasks that run while the app serves: retention, webhooks and online
    scoring (stopped before the gateway its judges may call)."""
    async with retention.lifespan(app), webhook_worker.lifespan(app):
        try:
            async with online_worker.lifespan(app):
                yield
        finally:
            app.state.openai.close()
            app.state.gateway_spans.flush()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the platform server over the store `settings.uri` names (migrated on open).

    Callers must authenticate unless `settings.auth` is "off": an app built elsewhere (under
    gunicorn, or `uvicorn --factory`) cannot tell where it is bound, so "auto" means on here.
    `lmops server` resolves "auto" itself: off on loopback, on beyond it.
    """
    settings = settings or Settings()
    if settings.is_remote:
        raise InvalidInput(
            "the server needs a database URI (sqlite:/// or postgresql+psycopg://"
            f"), not another server: LMOPS_URI={settings.uri}",
            field="uri",
        )
    engine = open_engine(settings.uri)
    artifacts = open_artifact_store(settings)
    app = FastAPI(
        title="lmops",
        version=__version__,
        description="Self-hosted LLMOps platform: REST API under /api/v1.",
        lifespan=_lifespan,
    )
    app.state.services = Services(
        settings=settings,
        engine=engine,
        artifacts=artifacts,
        tracking=TrackingStore(engine, artifacts),
        tracing=TracingStore(engine),
        data=DataStore(engine, artifacts),
        registry=RegistryStore(engine, artifacts),
        prompts=PromptStore(engine),
        access=AccessStore(engine),
        endpoints=EndpointStore(engine),
        evaluations=EvaluationStore(engine),
        rules=RuleStore(engine),
        auth=settings.auth != "off",
    )
    app.state.login_throttle = LoginThrottle()
    install_error_handlers(app)
    system.install_request_metrics(app)
    app.state.gateway_spans = gateway.ProjectSpans(app.state.services.tracing)
    app.state.openai = gateway.build(
        settings,
        app.state.services.registry,
        app.state.gateway_spans,
        app.state.services.endpoints,
        LimitStore(engine),
        PriceStore(engine),
        app.state.prometheus,
    )
    actor.install(app)
    # First: the gateway's routes are the hot path, and routes are matched in order.
    app.include_router(openai.router, dependencies=[Depends(authorize)])
    openai.install_openai_errors(app)
    app.include_router(system.health_router)
    app.include_router(system.metrics_router)
    app.include_router(tracking.router)
    app.include_router(tracing.router)
    app.include_router(tracing.token_router)
    app.include_router(otlp.router)
    app.include_router(data.router)
    app.include_router(models.router)
    app.include_router(prompts.router)
    app.include_router(audit.router)
    app.include_router(access.router)
    app.include_router(webhooks.router)
    app.include_router(transitions.router)
    app.include_router(endpoints.router)
    app.include_router(evaluations.router)
    app.include_router(online_rules.router)
    pages.install(app)
    return app
