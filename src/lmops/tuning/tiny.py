"""A tiny Llama-style model, built from nothing, for tests and demos that have no hub.

`build_tiny_model` trains a byte-level BPE tokenizer on a small corpus, initialises a
seeded `LlamaForCausalLM` of about a million parameters and saves both as an ordinary
Hugging Face directory. Its weights are random: it generates noise, but it loads, generates,
trains and serves like any real model, in seconds and offline. The same arguments always
give byte-identical files, so content-addressed artifacts of it deduplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops.core.errors import InvalidInput, require_modules

BOS, EOS, PAD = "<|endoftext|>", "<|im_end|>", "<|pad|>"
IM_START = "<|im_start|>"
SPECIAL_TOKENS = (BOS, IM_START, EOS, PAD)
# ChatML, as SmolLM2 and Qwen use it. `{% generation %}` marks what the assistant says, so
# `return_assistant_tokens_mask=True` (and TRL's assistant-only loss) can find it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# 256 byte symbols and the special tokens come before any merge.
MIN_VOCAB = 300


@dataclass(frozen=True)
class TinyModel:
    """Where a tiny model was saved and the shape it has."""

    path: Path
    parameter_count: int
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    max_positions: int


def build_tiny_model(
    out_dir: str | Path,
    *,
    texts: Iterable[str] | None = None,
    vocab_size: int = 512,
    hidden_size: int = 128,
    layers: int = 4,
    heads: int = 4,
    max_positions: int = 256,
    seed: int = 0,
) -> TinyModel:
    """Train a tokenizer on `texts`, build a seeded random model and save both to `out_dir`.

    Without `texts` the tokenizer learns from a built-in English corpus. The tokenizer may
    end up smaller than `vocab_size` when the texts offer too few merges; the model's
    embedding always matches the tokenizer.
    """
    _check_sizes(vocab_size, hidden_size, layers, heads, max_positions)
    corpus = list(default_corpus() if texts is None else texts)
    if not any(isinstance(t, str) and t.strip() for t in corpus):
        raise InvalidInput("texts holds no text to train the tokenizer on", field="texts")
    require_modules(("tokenizers", "torch", "transformers"), "The tiny model builder", "tune")
    tokenizer = _train_tokenizer([t for t in corpus if isinstance(t, str)], vocab_size)
    hf_tokenizer = _wrap_tokenizer(tokenizer, max_positions)
    model = _build_model(hf_tokenizer, hidden_size, layers, heads, max_positions, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    hf_tokenizer.save_pretrained(out)
    config = model.config
    return TinyModel(
        path=out,
        parameter_count=sum(p.numel() for p in model.parameters()),
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        max_positions=config.max_position_embeddings,
    )


def _check_sizes(vocab: int, hidden: int, layers: int, heads: int, positions: int) -> None:
    sizes = {"hidden_size": hidden, "layers": layers, "heads": heads, "max_positions": positions}
    for field, value in sizes.items():
        if value < 1:
            raise InvalidInput(f"{field} must be at least 1, got {value}", field=field)
    if vocab < MIN_VOCAB:
        raise InvalidInput(
            f"vocab_size must be at least {MIN_VOCAB} for a byte-level tokenizer "
            f"(256 bytes and {len(SPECIAL_TOKENS)} special tokens), got {vocab}",
            field="vocab_size",
        )
    if hidden % heads:
        raise InvalidInput(
            f"hidden_size {hidden} is not divisible by heads {heads}", field="hidden_size"
        )
    if (hidden // heads) % 2:
        # rotary embeddings rotate pairs of dimensions within each head
        raise InvalidInput(
            f"hidden_size / heads must be even for rotary embeddings, got {hidden // heads}",
            field="heads",
        )


def _train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` that puts BOS before each text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def _wrap_tokenizer(tokenizer: Any, max_positions: int) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=max_positions,
        chat_template=CHAT_TEMPLATE,
    )


def _build_model(
    tokenizer: Any, hidden: int, layers: int, heads: int, positions: int, seed: int
) -> Any:
    """A randomly initialised `LlamaForCausalLM`, seeded without touching the global RNG."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=positions,
        tie_word_embeddings=True,
        **ids,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(**ids)  # type: ignore[no-untyped-call]
    return model


def default_corpus() -> Iterator[str]:
    """A few hundred varied English sentences, made from templates so nothing is fetched."""
    names = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon")
    verbs = ("found", "bought", "forgot", "carried", "wanted", "shared", "painted")
    things = ("a book", "some bread", "a red umbrella", "the report", "a cup of tea", "a map")
    places = ("the library", "the market", "the station", "the park", "the office", "home")
    times = ("on Monday", "this morning", "after lunch", "last night", "at noon", "in May")
    for i in range(210):
        name, verb = names[i % len(names)], verbs[(i // 2) % len(verbs)]
        thing, place = things[(i // 3) % len(things)], places[(i * 5) % len(places)]
        yield f"{name} {verb} {thing} at {place} {times[(i * 7) % len(times)]}."
    capitals = (
        ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Egypt", "Cairo"),
        ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"),
    )  # fmt: skip
    for country, city in capitals:
        yield f"What is the capital of {country}? The capital of {country} is {city}."
        yield f"{city} is a large city in {country}, and many people visit it every year."
    for a in range(1, 9):
        for b in range(1, 9, 2):
            yield f"How much is {a} plus {b}? {a} plus {b} is {a + b}."
    yield from (
        "Hello! How are you today? I am well, thank you for asking.",
        "Can you help me write an email to my team about the new schedule?",
        "The quick brown fox jumps over the lazy dog.",
        "Water boils at 100 degrees Celsius at sea level.",
        "Please summarise this paragraph in one short sentence.",
        "Thank you! Let me know if there is anything else I can do.",
    )
