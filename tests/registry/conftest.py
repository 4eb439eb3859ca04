"""Fixtures for the registry: a store on SQLite and PostgreSQL, and real model directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.registry.store import RegistryStore


@pytest.fixture
def registry(engine: Engine, artifacts: ArtifactStore) -> RegistryStore:
    return RegistryStore(engine, artifacts)


def fake_model_dir(root: Path, *, params: int = 64, adapter: bool = False) -> Path:
    """A directory shaped like a Hugging Face model (or PEFT adapter) with real safetensors
    headers: enough to register and inspect, nothing to run."""
    root.mkdir(parents=True, exist_ok=True)
    if adapter:
        config = {"base_model_name_or_path": "tiny", "task_type": "CAUSAL_LM", "peft_type": "LORA"}
        (root / "adapter_config.json").write_text(json.dumps(config))
        save_file(
            {"lora_A": np.zeros((2, params // 2), np.float32)}, root / "adapter_model.safetensors"
        )
        return root
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "float32"}
    (root / "config.json").write_text(json.dumps(config))
    (root / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (root / "tokenizer.json").write_text("{}")
    save_file(
        {
            "embed": np.zeros((params // 4, 2), np.float32),
            "head": np.ones((2, params // 4), np.float32),
        },
        root / "model.safetensors",
    )
    return root


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, very small Llama causal LM with a byte-level tokenizer, saved offline."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(["the cat sat on the mat"] * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out
