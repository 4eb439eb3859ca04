"""Registered versions to a served model: the base weights once, its adapters on top."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops.core.errors import InvalidInput, MissingExtra
from lmops.registry.entities import ModelVersion
from lmops.registry.loading import local_files
from lmops.registry.store import RegistryStore
from lmops.serving.backends import Backend
from lmops.serving.local import Adapter, LocalModel
from lmops.serving.metrics import ServingMetrics

DEVICES = ("cpu", "cuda")


def open_local(
    store: RegistryStore,
    uri: str,
    cache: Path,
    *,
    adapters: list[str] | None = None,
    device: str = "cpu",
    max_batch: int = 32,
    max_queue: int = 256,
    metrics: ServingMetrics | None = None,
) -> LocalModel:
    """Load `uri` (a model, or an adapter with its base) plus `adapters` over the same base.

    The served model ids are the registered names: the base's, and each adapter's.
    """
    return load_local(
        store,
        store.get_version(uri),
        cache,
        adapters=[store.get_version(a) for a in adapters or []],
        device=device,
        max_batch=max_batch,
        max_queue=max_queue,
        metrics=metrics,
    )


def load_local(
    store: RegistryStore,
    version: ModelVersion,
    cache: Path,
    *,
    adapters: list[ModelVersion] | None = None,
    device: str = "cpu",
    max_batch: int = 32,
    max_queue: int = 256,
    metrics: ServingMetrics | None = None,
) -> LocalModel:
    """`open_local` for versions already looked up."""
    if device not in DEVICES:
        raise InvalidInput(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    adapter_versions = list(adapters or [])
    base = version
    if version.format.kind == "adapter":
        adapter_versions.insert(0, version)
        base = _base_of(store, version)
    if base.format.kind != "model":
        raise InvalidInput(
            f"{base.uri} is {base.format.kind}, not a model with weights to serve", field="uri"
        )
    for adapter in adapter_versions:
        if adapter.format.kind != "adapter" or adapter.base_version_id != base.id:
            raise InvalidInput(
                f"{adapter.uri} is not an adapter registered against {base.uri}", field="adapter"
            )
    model, tokenizer = _load(local_files(store, base, cache), device)
    served: list[Adapter] = []
    if adapter_versions:
        model = _attach(model, [(a, local_files(store, a, cache)) for a in adapter_versions])
        served = [Adapter(a.model_name, a.uri) for a in adapter_versions]
    return LocalModel(
        model,
        tokenizer,
        name=base.model_name,
        version=base.uri,
        adapters=served,
        max_batch=max_batch,
        max_queue=max_queue,
        metrics=metrics,
    )


def load_backend(
    store: RegistryStore,
    version: ModelVersion,
    cache: Path,
    *,
    metrics: ServingMetrics | None = None,
    device: str = "cpu",
) -> Backend:
    """What answers for `version`: its weights loaded here, or its upstream when external."""
    if version.format.kind == "external":
        from lmops.serving.upstream import UpstreamBackend

        return UpstreamBackend.from_versions(store, version)
    return load_local(store, version, cache, metrics=metrics, device=device)


def _base_of(store: RegistryStore, adapter: ModelVersion) -> ModelVersion:
    if adapter.base_version_id is None:
        raise InvalidInput(f"{adapter.uri} is an adapter without a base version", field="uri")
    return store.get_version_by_id(adapter.base_version_id)


def _load(path: Path, device: str) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingExtra("Serving a model", "tune") from exc
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("--device cuda, but torch sees no CUDA device", field="device")
    options: dict[str, Any] = {}
    if device == "cuda":
        options = {"dtype": torch.bfloat16, "attn_implementation": "sdpa"}
    model: Any = AutoModelForCausalLM.from_pretrained(str(path), **options)
    model.eval().to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _attach(model: Any, adapters: list[tuple[ModelVersion, Path]]) -> Any:
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise MissingExtra("Serving a PEFT adapter", "tune") from exc
    (first, first_path), *rest = adapters
    peft_model = PeftModel.from_pretrained(model, str(first_path), adapter_name=first.model_name)
    for version, path in rest:
        peft_model.load_adapter(str(path), adapter_name=version.model_name)
    return peft_model.eval()
