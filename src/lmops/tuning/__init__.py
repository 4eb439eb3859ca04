"""Fine-tuning and the models it starts from: a tiny model built from nothing, GGUF imports.

`import lmops.tuning` stays light: torch, transformers and gguf load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmops.tuning.gguf import ConvertedModel, find_demo_gguf, gguf_to_hf
    from lmops.tuning.register import register_demo_model, register_gguf, register_tiny_model
    from lmops.tuning.tiny import TinyModel, build_tiny_model

__all__ = [
    "ConvertedModel",
    "TinyModel",
    "build_tiny_model",
    "find_demo_gguf",
    "gguf_to_hf",
    "register_demo_model",
    "register_gguf",
    "register_tiny_model",
]

_MODULES = {
    "TinyModel": "tiny",
    "build_tiny_model": "tiny",
    "ConvertedModel": "gguf",
    "find_demo_gguf": "gguf",
    "gguf_to_hf": "gguf",
    "register_demo_model": "register",
    "register_gguf": "register",
    "register_tiny_model": "register",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'lmops.tuning' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"lmops.tuning.{module}"), name)
