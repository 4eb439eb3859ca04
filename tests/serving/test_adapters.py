"""Multi-LoRA: adapters registered against one base are served from that one loaded model,
each under its own name, and rows for different adapters share a batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import lmops
from lmops.serving.loading import open_local
from lmops.serving.protocol import ChatRequest, EmbeddingRequest, OpenAIError
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

# PEFT still reads a property transformers 5 deprecated; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter over `base` whose weights are random (not PEFT's zero init), so it
    changes what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    config = LoraConfig(
        r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture
def registry(tmp_path: Path) -> str:
    lmops.configure(home=tmp_path / "home", uri="")
    from lmops.tuning.register import register_tiny_model

    base = register_tiny_model("tiny")
    files = lmops.load_model(base.uri)
    for name, seed in (("lora-a", 1), ("lora-b", 2)):
        lmops.register_model(name, make_adapter(files, tmp_path / name, seed), base=base.uri)
    return base.uri


def answer(service: OpenAIService, model: str) -> str:
    request = ChatRequest(
        model=model,
        messages=[{"role": "user", "content": "hello there"}],
        max_tokens=12,
        temperature=0,
    )
    body = asyncio.run(service.generate(request, Caller()))
    assert isinstance(body, dict)
    return str(body["choices"][0]["message"]["content"])


def test_each_adapter_answers_as_itself_from_one_base(registry: str, tmp_path: Path) -> None:
    from lmops.core.settings import current
    from lmops.registry.sdk import open_registry

    store = open_registry(current())
    cache = tmp_path / "home" / "models"
    both = open_local(store, registry, cache, adapters=["models:/lora-a/1", "models:/lora-b/1"])
    service = OpenAIService([both])
    try:
        assert [m.id for m in service.models()] == ["tiny", "lora-a", "lora-b"]
        served = {m: answer(service, m) for m in ("tiny", "lora-a", "lora-b")}
        assert len(set(served.values())) == 3, served  # three different models speaking

        # Each adapter alone (loaded over its own base) says the same as in the shared one.
        for name in ("lora-a", "lora-b"):
            alone = OpenAIService([open_local(store, f"models:/{name}/1", cache)])
            try:
                assert answer(alone, name) == served[name]
            finally:
                alone.close()

        # Mixed rows in one batch: all three at once still answer as themselves.
        async def together() -> list[str]:
            requests = [
                ChatRequest(
                    model=m,
                    messages=[{"role": "user", "content": "hello there"}],
                    max_tokens=12,
                    temperature=0,
                )
                for m in ("tiny", "lora-a", "lora-b")
            ]
            bodies = await asyncio.gather(*(service.generate(r, Caller()) for r in requests))
            return [str(b["choices"][0]["message"]["content"]) for b in bodies]  # type: ignore[index]

        assert asyncio.run(together()) == [served["tiny"], served["lora-a"], served["lora-b"]]
        with pytest.raises(OpenAIError, match="does not exist"):
            answer(service, "lora-c")

        def embedding(model: str) -> list[float]:
            request = EmbeddingRequest(model=model, input="hello there")
            body = asyncio.run(service.embed(request, Caller()))
            return list(body["data"][0]["embedding"])

        assert embedding("tiny") != embedding("lora-a") != embedding("lora-b")
    finally:
        service.close()


def test_an_adapter_of_another_base_is_refused(registry: str, tmp_path: Path) -> None:
    from lmops.core.errors import InvalidInput
    from lmops.core.settings import current
    from lmops.registry.sdk import open_registry
    from lmops.tuning.register import register_tiny_model

    other = register_tiny_model("other")
    store = open_registry(current())
    with pytest.raises(InvalidInput, match="not an adapter registered against"):
        open_local(store, other.uri, tmp_path / "cache", adapters=["models:/lora-a/1"])
