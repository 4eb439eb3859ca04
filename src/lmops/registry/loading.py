"""Give a version back: its files in a local cache directory, or a loaded transformers model."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lmops.core.errors import InvalidInput, MissingExtra
from lmops.registry.entities import ModelVersion
from lmops.registry.store import RegistryStore


def local_files(store: RegistryStore, version: ModelVersion, cache: Path) -> Path:
    """The version's directory under `cache`, named by its digest; fetched once, then reused.

    The files are fetched into a temporary directory beside the target and renamed into
    place, so a crash never leaves a half-filled directory that looks complete.
    """
    if version.digest is None:
        raise InvalidInput(
            f"{version.uri} is an external endpoint ({version.source.endpoint_url}); "
            "it has no files to load",
            field="uri",
        )
    target = cache / version.digest
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        fetched = store.artifacts.get_dir(version.digest, Path(tmp) / "files")
        try:
            os.rename(fetched, target)
        except OSError:
            if not target.is_dir():  # not a concurrent fetch that won: a real failure
                raise
            shutil.rmtree(fetched, ignore_errors=True)
    return target


def load_transformers(store: RegistryStore, version: ModelVersion, cache: Path) -> Any:
    """(model, tokenizer) from transformers; an adapter is loaded onto its base with PEFT."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingExtra("Loading a model with transformers", "tune") from exc
    path = local_files(store, version, cache)
    if version.format.kind == "adapter":
        if version.base_version_id is None:
            raise InvalidInput(f"{version.uri} is an adapter without a base version")
        base = store.get_version_by_id(version.base_version_id)
        model, tokenizer = load_transformers(store, base, cache)
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise MissingExtra("Loading a PEFT adapter", "tune") from exc
        return PeftModel.from_pretrained(model, str(path)), tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path)) if version.format.tokenizer else None
    return model, tokenizer
