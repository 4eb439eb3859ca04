"""Dependencies routers declare: the stores and settings the app was built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.settings import Settings
from lmops.tracing.store import TracingStore
from lmops.tracking.store import TrackingStore


@dataclass
class Services:
    """What one app instance holds: built once in create_app, never at import time."""

    settings: Settings
    engine: Engine
    artifacts: ArtifactStore
    tracking: TrackingStore
    tracing: TracingStore


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def tracking_store(request: Request) -> TrackingStore:
    return services(request).tracking


def tracing_store(request: Request) -> TracingStore:
    return services(request).tracing


def artifact_store(request: Request) -> ArtifactStore:
    return services(request).artifacts


ServicesDep = Annotated[Services, Depends(services)]
TrackingDep = Annotated[TrackingStore, Depends(tracking_store)]
TracingDep = Annotated[TracingStore, Depends(tracing_store)]
ArtifactsDep = Annotated[ArtifactStore, Depends(artifact_store)]
