"""The model registry: registered models, immutable versions, aliases, `models:/` URIs.

`import lmops.registry` stays light: transformers loads only when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops.registry.entities import ModelFormat, ModelSource, ModelVersion, RegisteredModel

if TYPE_CHECKING:
    from lmops.registry.sdk import (
        delete_model_alias,
        get_model_version,
        list_model_versions,
        list_models,
        load_model,
        register_endpoint,
        register_model,
        set_model_alias,
    )

__all__ = [
    "ModelFormat",
    "ModelSource",
    "ModelVersion",
    "RegisteredModel",
    "delete_model_alias",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "register_endpoint",
    "register_model",
    "set_model_alias",
]

_SDK = {
    "delete_model_alias",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "register_endpoint",
    "register_model",
    "set_model_alias",
}


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from lmops.registry import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'lmops.registry' has no attribute {name!r}")
