"""The tiny model builder: a real HF directory that reloads offline, generates and trains."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lmops.tuning
from lmops.core.errors import InvalidInput
from lmops.tuning import TinyModel, build_tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_import_stays_light_and_all_is_honest() -> None:
    code = (
        "import sys, lmops.tuning; "
        "print([m for m in ('torch', 'transformers', 'tokenizers', 'gguf') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in lmops.tuning.__all__:
        assert getattr(lmops.tuning, name) is not None, name
    with pytest.raises(AttributeError):
        _ = lmops.tuning.no_such_name


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _load(path: Path) -> tuple[Any, Any]:
    # local_files_only: a hub lookup would mean the directory is not self-contained
    model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


def test_builds_a_million_parameter_llama(tiny: TinyModel) -> None:
    assert 500_000 <= tiny.parameter_count <= 2_000_000
    assert tiny.vocab_size == 512
    assert (tiny.path / "model.safetensors").is_file()
    assert (tiny.path / "tokenizer.json").is_file()
    assert (tiny.path / "generation_config.json").is_file()


def test_reloads_offline_and_generates(tiny: TinyModel) -> None:
    model, tokenizer = _load(tiny.path)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == tiny.parameter_count
    assert len(tokenizer) == model.config.vocab_size
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    assert inputs["input_ids"][0, 0].item() == tokenizer.bos_token_id
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_tokenizer_round_trips_any_text(tiny: TinyModel) -> None:
    _, tokenizer = _load(tiny.path)
    text = "Zoë paid 12€ for 🍕 — naïve!"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token} == {
        "<|endoftext|>",
        "<|im_end|>",
        "<|pad|>",
    }


def test_chat_template_is_chatml_and_marks_the_assistant(tiny: TinyModel) -> None:
    _, tokenizer = _load(tiny.path)
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    text = tokenizer.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    encoded = tokenizer.apply_chat_template(
        chat, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    said = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert said == "Hello<|im_end|>"


def test_a_training_step_runs_and_changes_the_weights(tiny: TinyModel) -> None:
    model, tokenizer = _load(tiny.path)
    model.train()
    batch = tokenizer(
        ["Ada found a map at the park.", "What is the capital of Peru?"],
        padding=True,
        return_tensors="pt",
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    before = model.model.embed_tokens.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(**batch, labels=labels).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, model.model.embed_tokens.weight)


def _bytes(model: TinyModel, name: str) -> bytes:
    return (model.path / name).read_bytes()


def test_same_arguments_give_the_same_bytes(tmp_path: Path) -> None:
    texts = ["one small text", "another small text", "and a third one"] * 10
    first = build_tiny_model(tmp_path / "a", texts=texts, vocab_size=300, seed=7)
    second = build_tiny_model(tmp_path / "b", texts=iter(texts), vocab_size=300, seed=7)
    other_seed = build_tiny_model(tmp_path / "c", texts=texts, vocab_size=300, seed=8)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _bytes(first, name) == _bytes(second, name)
    assert _bytes(first, "tokenizer.json") == _bytes(other_seed, "tokenizer.json")
    assert _bytes(first, "model.safetensors") != _bytes(other_seed, "model.safetensors")


def test_the_default_build_is_repeatable(tiny: TinyModel, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again")
    assert again == dataclasses.replace(tiny, path=again.path)
    for name in ("model.safetensors", "tokenizer.json"):
        assert _bytes(tiny, name) == _bytes(again, name)


def test_a_small_corpus_gives_a_smaller_vocabulary(tmp_path: Path) -> None:
    built = build_tiny_model(tmp_path / "m", texts=["ab ab ab"], vocab_size=1000, layers=1)
    _, tokenizer = _load(built.path)
    assert built.vocab_size == len(tokenizer) < 1000


def test_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "m", texts=["some text"], layers=1)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hidden_size": 66, "heads": 4}, "hidden_size"),
        ({"hidden_size": 12, "heads": 4}, "heads"),
        ({"layers": 0}, "layers"),
        ({"heads": 0}, "heads"),
        ({"max_positions": 0}, "max_positions"),
        ({"hidden_size": -8}, "hidden_size"),
        ({"vocab_size": 299}, "vocab_size"),
        ({"texts": []}, "texts"),
        ({"texts": ["", "   "]}, "texts"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build_tiny_model(tmp_path / "m", **kwargs)
    assert info.value.field == field
    assert not (tmp_path / "m").exists()
