"""Read what a model directory holds, from its files alone (no torch, no transformers).

A Hugging Face model directory has `config.json` (architecture, dtype) and weights in
`*.safetensors`, whose header lists every tensor's dtype and shape, so the parameter count
is exact without loading anything. A PEFT adapter has `adapter_config.json` naming its
base model. The tokenizer and its chat template live in `tokenizer.json`,
`tokenizer_config.json` or `chat_template.jinja`.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput
from lmops.registry.entities import ModelFormat

_HEADER_LIMIT = 100 * 1024 * 1024  # a safetensors header larger than this is not one
_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


class Files(Protocol):
    """The files of a model, wherever they are: a local directory or the artifact store."""

    def names(self) -> list[str]: ...

    def size(self, name: str) -> int: ...

    def open(self, name: str) -> IO[bytes]: ...


@dataclass(frozen=True)
class LocalFiles:
    root: Path

    def names(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size

    def open(self, name: str) -> IO[bytes]:
        return open(self.root / name, "rb")


@dataclass(frozen=True)
class StoredFiles:
    """A directory manifest in the artifact store: only the small files and the safetensors
    headers are read to inspect it, never the weights."""

    artifacts: ArtifactStore
    manifest: dict[str, str]

    def names(self) -> list[str]:
        return sorted(self.manifest)

    def size(self, name: str) -> int:
        return self.artifacts.size(self.manifest[name])

    def open(self, name: str) -> IO[bytes]:
        return self.artifacts.open(self.manifest[name])


def inspect_directory(path: Path, license: str | None = None) -> ModelFormat:
    """The format record of the model or adapter directory at `path`."""
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a directory", field="path")
    return inspect_files(LocalFiles(path), str(path), license)


def inspect_files(files: Files, label: str, license: str | None = None) -> ModelFormat:
    """The format record of a model's files (`label` names them in errors)."""
    names = files.names()
    config = _json(files, "config.json", names)
    adapter = _json(files, "adapter_config.json", names)
    if not config and not adapter:
        raise InvalidInput(
            f"{label} is not a Hugging Face model directory: it has neither config.json "
            "nor adapter_config.json",
            field="path",
        )
    weights = [n for n in names if "/" not in n and n.endswith(".safetensors")]
    count, dtypes = _tensors(files, weights)
    architecture = (config.get("architectures") or [None])[0]
    tokenizer_config = _json(files, "tokenizer_config.json", names)
    return ModelFormat(
        kind="adapter" if adapter else "model",
        task=_task(architecture, adapter),
        architecture=architecture,
        base_model=adapter.get("base_model_name_or_path") or config.get("_name_or_path") or None,
        tokenizer=bool({"tokenizer.json", "tokenizer_config.json"} & set(names)),
        chat_template=bool(
            {"chat_template.jinja", "chat_template.json"} & set(names)
            or tokenizer_config.get("chat_template")
        ),
        parameter_count=count or None,
        dtype=_dtype(config, dtypes),
        size_bytes=sum(files.size(n) for n in names),
        license=license,
    )


def _json(files: Files, name: str, names: list[str]) -> dict[str, Any]:
    if name not in names:
        return {}
    with files.open(name) as f:
        raw = f.read()
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc}", field="path") from None
    return value if isinstance(value, dict) else {}


def _tensors(files: Files, weights: list[str]) -> tuple[int, set[str]]:
    """Parameters and dtypes over safetensors files, from their headers only."""
    count, dtypes = 0, set()
    for name in weights:
        with files.open(name) as f:
            (size,) = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))
            if not 0 < size < _HEADER_LIMIT:
                raise InvalidInput(f"{name} is not a safetensors file", field="path")
            header = json.loads(f.read(size))
        for key, tensor in header.items():
            if key != "__metadata__":
                count += math.prod(tensor["shape"])
                dtypes.add(_DTYPES.get(tensor["dtype"], tensor["dtype"].lower()))
    return count, dtypes


def _task(architecture: str | None, adapter: dict[str, Any]) -> str | None:
    if adapter.get("task_type") == "CAUSAL_LM" or (architecture or "").endswith("ForCausalLM"):
        return "text-generation"
    if architecture and architecture.endswith(("Model", "ForMaskedLM")):
        return "feature-extraction"
    return None


def _dtype(config: dict[str, Any], found: set[str]) -> str | None:
    if len(found) == 1:
        return next(iter(found))
    declared = config.get("dtype") or config.get("torch_dtype")
    return str(declared) if declared else None
