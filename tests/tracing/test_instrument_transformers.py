"""`lmops.instrument("transformers")`: a tiny causal LM built here (no hub), run through
`pipeline("text-generation")` and `generate`, recorded into the in-process store."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    GenerationMixin,
    LlamaConfig,
    LlamaForCausalLM,
    LogitsProcessor,
    LogitsProcessorList,
    Pipeline,
    PreTrainedTokenizerFast,
    TextGenerationPipeline,
    pipeline,
)

import lmops
from lmops.core.errors import MissingExtra
from lmops.core.ids import new_id
from lmops.fluent import tracking
from lmops.fluent.instrument import instrument, instrumented, uninstrument
from lmops.tracing.entities import Span, SpanStatus, SpanType, TraceDetail
from lmops.tracing.live import LiveSpan

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "hello world how are you",
    "the quick brown fox jumps over the lazy dog",
    "user assistant system",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant{% endif %}"
)
GENERATE_SPAN = "transformers.generate"
# The library's own methods, taken before any test instruments it.
GENERATE = GenerationMixin.__dict__["generate"]
PIPELINE_CALL = TextGenerationPipeline.__dict__["__call__"]


# --- the tiny model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A word-level tokenizer trained on SENTENCES and a random two-layer Llama, saved."""
    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    special = ["<pad>", "<unk>", "<s>", "</s>"]
    words.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=special))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any request to the hub would fail the test: everything is loaded from model_dir."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[None]:
    lmops.configure(home=tmp_path / "home", uri="")
    instrument("transformers")
    yield
    uninstrument("transformers")
    tracking.reset()


@pytest.fixture
def generator(model_dir: Path, traced: None) -> Pipeline:
    return pipeline("text-generation", model=str(model_dir), tokenizer=str(model_dir))


@pytest.fixture
def tokenizer(model_dir: Path) -> Any:
    return PreTrainedTokenizerFast.from_pretrained(model_dir)


# --- helpers --------------------------------------------------------------------------------


@contextmanager
def _app_span(tag: str) -> Iterator[LiveSpan]:
    with lmops.span("app", type=SpanType.CHAIN) as live:
        lmops.update_current_trace(tags={"test": tag})
        yield live


def _tagged_trace(tag: str) -> TraceDetail:
    page = lmops.search_traces(tags={"test": tag})
    assert len(page.traces) == 1, page.traces
    return lmops.get_trace(page.traces[0].trace_id)


def _chain(trace: TraceDetail) -> list[Span]:
    """The trace's spans from the root down, each the only child of the one before."""
    by_parent = {s.parent_span_id: s for s in trace.spans}
    assert len(by_parent) == len(trace.spans), "expected one chain of spans"
    chain = [by_parent[None]]
    while chain[-1].span_id in by_parent:
        chain.append(by_parent[chain[-1].span_id])
    assert len(chain) == len(trace.spans)
    return chain


def _prompt_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


class _Script(LogitsProcessor):
    """Make each row of a batch say the token ids written for it, one per step."""

    def __init__(self, rows: list[list[int]]) -> None:
        self.rows = rows
        self.step = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        forced = torch.full_like(scores, float("-inf"))
        for row, script in enumerate(self.rows):
            forced[row, script[min(self.step, len(script) - 1)]] = 0.0
        self.step += 1
        return forced


# --- tests ----------------------------------------------------------------------------------


def test_a_pipeline_call_holds_its_generate_call_under_the_caller(
    generator: Pipeline, tokenizer: Any, model_dir: Path
) -> None:
    tag = new_id()
    with _app_span(tag):
        result = generator("the cat sat", max_new_tokens=4, min_new_tokens=4, do_sample=False)

    app, pipe, gen = _chain(_tagged_trace(tag))
    assert [s.name for s in (app, pipe, gen)] == ["app", "transformers.pipeline", GENERATE_SPAN]
    assert (pipe.span_type, gen.span_type) == (SpanType.LLM, SpanType.LLM)
    assert {pipe.status, gen.status} == {SpanStatus.OK}
    prompt_tokens = _prompt_tokens(tokenizer, "the cat sat")
    for span in (pipe, gen):
        assert (span.input_tokens, span.output_tokens) == (prompt_tokens, 4)
        assert (span.model, span.provider) == (str(model_dir), "transformers")
        assert span.attributes["gen_ai.request.max_tokens"] == 4
    assert pipe.inputs == {
        "prompt": "the cat sat",
        "max_new_tokens": 4,
        "min_new_tokens": 4,
        "do_sample": False,
    }
    assert pipe.outputs == result[0]["generated_text"]
    assert pipe.attributes["lmops.transformers.task"] == "text-generation"
    assert gen.inputs["prompt"] == "the cat sat"
    assert gen.inputs["prompt_tokens"] == prompt_tokens
    assert (gen.inputs["max_new_tokens"], gen.inputs["do_sample"]) == (4, False)
    # generate's output is the answer alone; the pipeline returns prompt and answer.
    assert result[0]["generated_text"] == "the cat sat" + gen.outputs


def test_a_chat_is_a_chat_span_with_the_assistant_message_out(
    generator: Pipeline, tokenizer: Any
) -> None:
    tag = new_id()
    messages = [{"role": "user", "content": "hello world"}]
    with _app_span(tag):
        result = generator(messages, max_new_tokens=3, min_new_tokens=3)

    _, pipe, gen = _chain(_tagged_trace(tag))
    assert pipe.span_type == SpanType.CHAT_MODEL
    assert pipe.attributes["gen_ai.operation.name"] == "chat"
    assert pipe.inputs["messages"] == messages
    answer = result[0]["generated_text"][-1]
    assert answer["role"] == "assistant"
    assert pipe.outputs == answer
    chat_prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    assert gen.inputs["prompt"] == chat_prompt
    assert (pipe.input_tokens, pipe.output_tokens) == (_prompt_tokens(tokenizer, chat_prompt), 3)
    assert (gen.input_tokens, gen.output_tokens) == (pipe.input_tokens, 3)


def test_a_padded_batch_counts_real_tokens(generator: Pipeline, tokenizer: Any) -> None:
    tag = new_id()
    prompts = ["the cat", "a dog ran in the"]
    with _app_span(tag):
        result = generator(prompts, max_new_tokens=2, min_new_tokens=2, batch_size=2)

    _, pipe, gen = _chain(_tagged_trace(tag))  # one generate call for the batch of two
    prompt_tokens = sum(_prompt_tokens(tokenizer, p) for p in prompts)
    assert (gen.input_tokens, gen.output_tokens) == (prompt_tokens, 4)
    assert (pipe.input_tokens, pipe.output_tokens) == (prompt_tokens, 4)
    assert gen.inputs["prompt"] == prompts  # decoded without the padding
    assert pipe.outputs == [r[0]["generated_text"] for r in result]


def test_generate_without_a_tokenizer_counts_tokens_up_to_each_end(
    model_dir: Path, tokenizer: Any, traced: None
) -> None:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    batch = tokenizer(["the cat", "a dog ran"], return_tensors="pt", padding=True)
    cat, dog, eos = tokenizer.convert_tokens_to_ids(["cat", "dog", "</s>"])
    tag = new_id()
    with _app_span(tag):
        # The first row ends after two tokens; the rest of it is padding, not output.
        output = model.generate(
            **batch,
            max_new_tokens=4,
            do_sample=False,
            logits_processor=LogitsProcessorList([_Script([[cat, eos], [dog]])]),
        )

    app, gen = _chain(_tagged_trace(tag))
    assert output.shape == (2, batch["input_ids"].shape[1] + 4)
    assert (gen.name, gen.span_type, gen.parent_span_id) == (
        GENERATE_SPAN,
        SpanType.LLM,
        app.span_id,
    )
    assert (gen.input_tokens, gen.output_tokens) == (2 + 3, 2 + 4)
    assert gen.inputs == {"prompt_tokens": 5, "max_new_tokens": 4, "do_sample": False}
    assert gen.outputs == {"generated_tokens": [2, 4]}
    assert gen.attributes["gen_ai.response.finish_reasons"] == ["stop", "length"]
    assert gen.model == str(model_dir)


def test_generate_decodes_with_the_tokenizer_it_is_given(
    model_dir: Path, tokenizer: Any, traced: None
) -> None:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    batch = tokenizer("hello world", return_tensors="pt")
    cat, dog = tokenizer.convert_tokens_to_ids(["cat", "dog"])
    tag = new_id()
    with _app_span(tag):
        model.generate(
            **batch,
            max_new_tokens=2,
            tokenizer=tokenizer,
            logits_processor=LogitsProcessorList([_Script([[cat, dog]])]),
        )

    _, gen = _chain(_tagged_trace(tag))
    assert (gen.inputs["prompt"], gen.outputs) == ("hello world", "cat dog")
    assert "tokenizer" not in gen.inputs


def test_a_failing_generate_fails_both_spans_and_reaches_the_caller(generator: Pipeline) -> None:
    tag = new_id()
    with _app_span(tag), pytest.raises(ValueError, match="not_a_generate_argument"):
        generator("the cat", max_new_tokens=2, not_a_generate_argument=1)

    app, pipe, gen = _chain(_tagged_trace(tag))
    assert app.status == SpanStatus.OK  # pytest.raises caught it inside the app span
    assert (pipe.status, gen.status) == (SpanStatus.ERROR, SpanStatus.ERROR)
    assert "not_a_generate_argument" in (gen.status_message or "")
    assert gen.events[0].name == "exception"
    assert pipe.input_tokens is None


def test_uninstrument_restores_the_library(model_dir: Path, traced: None) -> None:
    assert "transformers" in instrumented()
    uninstrument("transformers")
    assert "transformers" not in instrumented()
    assert GenerationMixin.__dict__["generate"] is GENERATE
    assert TextGenerationPipeline.__dict__["__call__"] is PIPELINE_CALL
    generator = pipeline("text-generation", model=str(model_dir), tokenizer=str(model_dir))
    generator("the cat", max_new_tokens=1)
    assert lmops.search_traces().traces == []
    instrument("transformers")  # the fixture's uninstrument expects it on


def test_without_transformers_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "lmops.fluent.instrument.transformers", raising=False)
    with pytest.raises(MissingExtra, match=r"lmops\[tune\]"):
        importlib.import_module("lmops.fluent.instrument.transformers")
