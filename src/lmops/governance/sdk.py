"""Model cards from the SDK: generate, read and edit a version's card (in-process)."""

from __future__ import annotations

from lmops.core.settings import Settings, current
from lmops.governance.cards import Stores, edit_card, generate_card
from lmops.registry.entities import ModelCard


def open_stores(settings: Settings) -> Stores:
    """Every store the governance views read, over the store the settings name."""
    from lmops.data.sdk import open_data_store
    from lmops.registry.sdk import open_registry
    from lmops.tracking.store import TrackingStore

    registry = open_registry(settings)
    return Stores(
        registry=registry,
        tracking=TrackingStore(registry.engine, registry.artifacts, registry.project),
        data=open_data_store(settings),
    )


def generate_model_card(uri: str) -> ModelCard:
    """Write the card of version `uri` from its lineage; saved as its next revision."""
    return generate_card(open_stores(current()), uri)


def get_model_card(uri: str, revision: int | None = None) -> ModelCard | None:
    """The card of version `uri` (its latest revision by default), or None."""
    stores = open_stores(current())
    return stores.registry.get_card(stores.registry.get_version(uri).id, revision)


def set_model_card(uri: str, markdown: str) -> ModelCard:
    """Save edited markdown as the next revision of the card of version `uri`."""
    registry = open_stores(current()).registry
    return edit_card(registry, registry.get_version(uri).id, markdown)
