"""Dependencies routers declare: the stores and settings the app was built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput, NotFound
from lmops.core.settings import Settings
from lmops.core.uris import VersionRef, check_name
from lmops.data.entities import DatasetVersion
from lmops.data.store import LATEST, DataStore
from lmops.evaluation.rules import RuleStore
from lmops.evaluation.store import EvaluationStore
from lmops.governance.access import AccessStore
from lmops.governance.cards import Stores
from lmops.prompts.store import PromptStore
from lmops.registry.entities import ModelCard, ModelVersion
from lmops.registry.store import RegistryStore
from lmops.server.auth import Principal
from lmops.serving.store import EndpointStore
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
    data: DataStore
    registry: RegistryStore
    prompts: PromptStore
    access: AccessStore
    endpoints: EndpointStore
    evaluations: EvaluationStore
    rules: RuleStore
    auth: bool
    """Whether callers must authenticate (LMOPS_AUTH=on, or `lmops server` beyond loopback)."""

    def stores(self, project: str) -> Stores:
        """The stores the cross-stage views read (lineage, cards), working in `project`."""
        return Stores(
            registry=self.registry.in_project(project),
            tracking=self.tracking.in_project(project),
            data=self.data.in_project(project),
        )


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def project(request: Request) -> str:
    """The project the caller works in (set before routing by `lmops.server.actor`)."""
    principal: Principal = request.state.principal
    return principal.project


def tracking_store(request: Request) -> TrackingStore:
    return services(request).tracking.in_project(project(request))


def tracing_store(request: Request) -> TracingStore:
    return services(request).tracing.in_project(project(request))


def artifact_store(request: Request) -> ArtifactStore:
    return services(request).artifacts


def data_store(request: Request) -> DataStore:
    return services(request).data.in_project(project(request))


def registry_store(request: Request) -> RegistryStore:
    return services(request).registry.in_project(project(request))


def prompt_store(request: Request) -> PromptStore:
    return services(request).prompts.in_project(project(request))


def project_stores(request: Request) -> Stores:
    return services(request).stores(project(request))


def version_ref(kind: str, name: str, version: str) -> VersionRef:
    """`kind:/name/<version>` from a path's version: a number or "latest"; else 400."""
    if version == LATEST:
        return VersionRef(kind, name, alias=LATEST)
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise InvalidInput(
            f"version must be a version number or {LATEST}, not {version[:100]!r}",
            field="version",
        )
    return VersionRef(kind, name, int(version))


def resolve_version(store: DataStore, name: str, version: str) -> DatasetVersion:
    """Version `version` (a number or "latest") of dataset `name`; 404 names what is missing."""
    dataset = store.get_dataset(name)  # validates the name; 404 for an unknown dataset
    return store.get_version(version_ref("datasets", dataset.name, version))


def dataset_version(name: str, version: str, request: Request) -> DatasetVersion:
    """The version a path's {name} and {version} name."""
    return resolve_version(data_store(request), name, version)


def resolve_model_version(store: RegistryStore, name: str, version: str) -> ModelVersion:
    """Version `version` (a number or "latest") of model `name`; 404 names what is missing."""
    model = store.get_model(name)  # 404 for an unknown model, before judging the version
    return store.get_version(version_ref("models", model.name, version))


def resolve_model_alias(store: RegistryStore, name: str, alias: str) -> ModelVersion:
    """The version `alias` of model `name` points at ("latest" too); 400 for a bad alias."""
    model = store.get_model(name)
    check_name(alias, "alias", field="alias")
    return store.get_version(VersionRef("models", model.name, alias=alias))


def resolve_model_card(
    store: RegistryStore, version: ModelVersion, revision: int | None = None
) -> ModelCard:
    """Revision `revision` of the card of `version` (the latest by default); 404 says how to
    write one when it has none."""
    found = store.get_card(version.id, revision)
    if found is not None:
        return found
    latest = store.get_card(version.id) if revision is not None else None
    if latest is not None:
        raise NotFound(
            f"the card of {version.uri} has no revision {revision} "
            f"(the latest is {latest.revision})"
        )
    api = f"/api/v1/models/{version.model_name}/versions/{version.version}/card"
    raise NotFound(
        f"{version.uri} has no model card yet: generate one from its lineage with "
        f"POST {api}/generate or `lmops models card {version.uri} --generate`, "
        f"or write one with PUT {api}"
    )


def model_version(name: str, version: str, request: Request) -> ModelVersion:
    """The model version a path's {name} and {version} name."""
    return resolve_model_version(registry_store(request), name, version)


ServicesDep = Annotated[Services, Depends(services)]
TrackingDep = Annotated[TrackingStore, Depends(tracking_store)]
TracingDep = Annotated[TracingStore, Depends(tracing_store)]
ArtifactsDep = Annotated[ArtifactStore, Depends(artifact_store)]
DataDep = Annotated[DataStore, Depends(data_store)]
VersionDep = Annotated[DatasetVersion, Depends(dataset_version)]
RegistryDep = Annotated[RegistryStore, Depends(registry_store)]
PromptDep = Annotated[PromptStore, Depends(prompt_store)]
StoresDep = Annotated[Stores, Depends(project_stores)]
ModelVersionDep = Annotated[ModelVersion, Depends(model_version)]
CardRevisionParam = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def endpoint_store(request: Request) -> EndpointStore:
    return services(request).endpoints.in_project(project(request))


def evaluation_store(request: Request) -> EvaluationStore:
    return services(request).evaluations.in_project(project(request))


def rule_store(request: Request) -> RuleStore:
    return services(request).rules.in_project(project(request))
