"""REST API for the model registry: /api/v1/models, their versions, aliases, lineage, cards.

Registering a version over HTTP waits for file uploads; these routes read, retag, move
aliases and write model cards (each save a new revision; earlier ones stay readable). No
response carries an external endpoint's API key: `has_api_key` says one is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmops.core.errors import InvalidInput
from lmops.core.uris import check_name
from lmops.governance.cards import edit_card, generate_card
from lmops.governance.lineage import Lineage, describe_lineage
from lmops.registry.entities import CardRevision, ModelCard, ModelVersion, RegisteredModel
from lmops.registry.store import LATEST, MAX_CARD_CHARS
from lmops.server.auth import authorize
from lmops.server.deps import (
    CardRevisionParam,
    ModelVersionDep,
    RegistryDep,
    StoresDep,
    resolve_model_alias,
    resolve_model_card,
)

router = APIRouter(prefix="/api/v1", tags=["registry"], dependencies=[Depends(authorize)])

MAX_TAGS = 1000
# What a version is made of never changes; saying so beats "extra inputs are not permitted".
IMMUTABLE = ("files", "format", "digest", "source", "base_version_id", "version", "model_name")


class VersionChanges(BaseModel):
    """A PATCH: a new description, tags to set, tag names to remove."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    tags: dict[str, str] | None = Field(default=None, max_length=MAX_TAGS)
    remove_tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)

    @model_validator(mode="before")
    @classmethod
    def _only_what_may_change(cls, data: Any) -> Any:
        fixed = [k for k in IMMUTABLE if isinstance(data, dict) and k in data]
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change: a version's files and format are fixed "
                "when it is registered; register a new version instead"
            )
        return data

    @model_validator(mode="after")
    def _something_and_no_contradiction(self) -> VersionChanges:
        if self.description is None and self.tags is None and self.remove_tags is None:
            raise ValueError("nothing to change: give description, tags or remove_tags")
        both = sorted(set(self.tags or {}) & set(self.remove_tags or []))
        if both:
            raise ValueError(f"tags both set and removed: {', '.join(both)}")
        return self


class AliasTarget(BaseModel):
    """A PUT on an alias: the version it should point at."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


@router.get("/models")
def list_models(store: RegistryDep) -> list[RegisteredModel]:
    return store.list_models()


@router.get("/models/{name}")
def get_model(name: str, store: RegistryDep) -> RegisteredModel:
    return store.get_model(name)


@router.get("/models/{name}/versions")
def list_versions(name: str, store: RegistryDep) -> list[ModelVersion]:
    """The versions of `name`, oldest first."""
    return store.list_versions(name)


@router.get("/models/{name}/versions/{version}")
def get_version(version: ModelVersionDep) -> ModelVersion:
    """Version `version` of `name`: a number or `latest`."""
    return version


@router.patch("/models/{name}/versions/{version}")
def update_version(
    version: ModelVersionDep, changes: VersionChanges, store: RegistryDep
) -> ModelVersion:
    """Change a version's description or tags; its files and format never change."""
    return store.update_version(
        version.uri,
        description=changes.description,
        tags=changes.tags,
        remove_tags=changes.remove_tags,
    )


@router.get("/models/{name}/versions/{version}/lineage")
def get_lineage(version: ModelVersionDep, stores: StoresDep) -> Lineage:
    """The run that made the version, the base it adapts, and what was made from it."""
    return describe_lineage(stores, "model_version", version.id)


class CardText(BaseModel):
    """A PUT on a card: the markdown of its next revision."""

    model_config = ConfigDict(extra="forbid")

    markdown: str = Field(max_length=MAX_CARD_CHARS)


@router.get("/models/{name}/versions/{version}/card")
def get_card(
    version: ModelVersionDep, store: RegistryDep, revision: CardRevisionParam = None
) -> ModelCard:
    """The latest revision of the version's model card, or revision `revision`."""
    return resolve_model_card(store, version, revision)


@router.put("/models/{name}/versions/{version}/card")
def set_card(version: ModelVersionDep, text: CardText, store: RegistryDep) -> ModelCard:
    """Save edited markdown as the card's next revision (`generated` false)."""
    return edit_card(store, version.id, text.markdown)


@router.post("/models/{name}/versions/{version}/card/generate", status_code=201)
def generate_model_card(version: ModelVersionDep, stores: StoresDep) -> ModelCard:
    """Write the card from the version's lineage, results and format; its next revision."""
    return generate_card(stores, version.uri)


@router.get("/models/{name}/versions/{version}/card/revisions")
def list_card_revisions(version: ModelVersionDep, store: RegistryDep) -> list[CardRevision]:
    """Every revision of the version's card, newest first."""
    return store.list_cards(version.id)


@router.get("/models/{name}/aliases/{alias}")
def get_alias(name: str, alias: str, store: RegistryDep) -> ModelVersion:
    """The version `models:/name@alias` resolves to (`latest` is the highest version)."""
    return resolve_model_alias(store, name, alias)


@router.put("/models/{name}/aliases/{alias}")
def set_alias(name: str, alias: str, target: AliasTarget, store: RegistryDep) -> ModelVersion:
    """Point `alias` at `target.version`, moving it if it pointed elsewhere."""
    return store.set_alias(name, alias, target.version)


@router.delete("/models/{name}/aliases/{alias}", status_code=204)
def delete_alias(name: str, alias: str, store: RegistryDep) -> Response:
    check_name(alias, "alias", field="alias")
    if alias == LATEST:
        raise InvalidInput("@latest always means the highest version; it cannot be deleted")
    store.delete_alias(name, alias)
    return Response(status_code=204)
