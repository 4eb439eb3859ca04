"""Record Hugging Face `transformers` generation as GenAI spans.

`patch()` wraps `GenerationMixin.generate` (one LLM span per call: prompt, generation
parameters, completions, token counts) and `__call__` of the text-generation pipelines (one
span per call, CHAT_MODEL for chat messages, that holds the spans of the generate calls it
makes). `generate` alone sees only token ids: it decodes them with the tokenizer passed to it
or with the enclosing pipeline's, and otherwise keeps counts only. `unpatch()` puts the
library's own methods back.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from lmops.core.errors import MissingExtra
from lmops.fluent.tracing import span
from lmops.tracing.entities import SpanType
from lmops.tracing.live import LiveSpan, current_span

try:
    import torch
    from transformers import GenerationMixin, pipelines
except ImportError as exc:  # pragma: no cover - the dev install has the tune extra
    raise MissingExtra("lmops.instrument('transformers')", "tune") from exc

T = TypeVar("T")
PROVIDER = "transformers"
# Pipeline classes by name: Text2TextGenerationPipeline is gone from transformers 5.
_PIPELINES = ("TextGenerationPipeline", "Text2TextGenerationPipeline")
_PARAM_TYPES = (bool, int, float, str)
_INPUT_NAMES = frozenset({"text_inputs", "inputs"})


@dataclass
class _PipelineCall:
    """The pipeline call being recorded: lends its tokenizer to, and sums the tokens of,
    the generate calls it makes."""

    live: LiveSpan
    tokenizer: Any
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.calls += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens


_pipeline_call: contextvars.ContextVar[_PipelineCall | None] = contextvars.ContextVar(
    "lmops_transformers_pipeline", default=None
)
_originals: dict[tuple[type[Any], str], Callable[..., Any]] = {}


def patch() -> None:
    """Wrap `generate` and the text-generation pipelines' `__call__` (idempotent)."""
    targets: list[tuple[type[Any], Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
        (GenerationMixin, _wrap_generate)
    ]
    targets += [(cls, _wrap_pipeline) for cls in _pipeline_classes()]
    for cls, wrap in targets:
        attr = "generate" if cls is GenerationMixin else "__call__"
        if (cls, attr) not in _originals:
            original = cls.__dict__[attr]
            _originals[(cls, attr)] = original
            setattr(cls, attr, wrap(original))


def unpatch() -> None:
    """Put the library's own methods back."""
    while _originals:
        (cls, attr), original = _originals.popitem()
        setattr(cls, attr, original)


def _pipeline_classes() -> list[type[Any]]:
    found = (getattr(pipelines, name, None) for name in _PIPELINES)
    return [cls for cls in found if isinstance(cls, type) and "__call__" in cls.__dict__]


@contextmanager
def _recorded(name: str, span_type: SpanType, model: Any) -> Iterator[LiveSpan]:
    with span(name, span_type) as live:  # records an exception and ends the span
        config = getattr(model, "config", None)
        model_name = getattr(config, "_name_or_path", None) or getattr(model, "name_or_path", None)
        live.set_model(str(model_name) if model_name else None, PROVIDER)
        if model_name:
            live.set_attribute("gen_ai.request.model", str(model_name))
        yield live


def _wrap_generate(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _pipeline_call.get()
        if call is not None and call.live is not current_span():
            call = None  # a generate inside generate (an assistant model): not the pipeline's
        tokenizer = kwargs.get("tokenizer")
        if tokenizer is None and call is not None:
            tokenizer = call.tokenizer
        with _recorded("transformers.generate", SpanType.LLM, self) as live:
            live.set_attribute("gen_ai.operation.name", "text_completion")
            prompt = _guarded(live, lambda: _Prompt.of(self, args, kwargs))
            if prompt is not None:
                _guarded(live, lambda: prompt.record_request(live, tokenizer, kwargs))
            output = original(self, *args, **kwargs)
            if prompt is not None:
                generated = _guarded(live, lambda: prompt.record_output(live, tokenizer, output))
                if call is not None and generated is not None:
                    call.add(prompt.tokens, generated)
            return output

    return generate


@dataclass
class _Prompt:
    """What `generate` was asked: prompt ids (none for embeddings), where its answer starts in
    the returned rows, and the ids that end a sequence."""

    ids: torch.Tensor | None
    tokens: int
    start: int
    eos: set[int]

    @classmethod
    def of(cls, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Prompt:
        ids = args[0] if args else kwargs.get("inputs")
        ids = kwargs.get("input_ids") if ids is None else ids
        ids = ids if isinstance(ids, torch.Tensor) and ids.ndim == 2 else None
        embeds, mask = kwargs.get("inputs_embeds"), kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            tokens = int(mask.sum())
        elif ids is not None:
            tokens = ids.numel()
        else:
            tokens = embeds.shape[0] * embeds.shape[1] if isinstance(embeds, torch.Tensor) else 0
        if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
            decoder_ids = kwargs.get("decoder_input_ids")
            start = decoder_ids.shape[1] if isinstance(decoder_ids, torch.Tensor) else 1
        else:
            # Decoder-only models return prompt and answer, or the answer alone for embeddings.
            start = ids.shape[1] if ids is not None else 0
        config = kwargs.get("generation_config")
        config = getattr(model, "generation_config", None) if config is None else config
        eos = kwargs.get("eos_token_id", getattr(config, "eos_token_id", None))
        eos_ids = {eos} if isinstance(eos, int) else {int(e) for e in eos or ()}
        return cls(ids, tokens, start, eos_ids)

    def record_request(self, live: LiveSpan, tokenizer: Any, kwargs: dict[str, Any]) -> None:
        params = _params(kwargs)
        config = kwargs.get("generation_config")
        if config is not None:
            params = {**_params(config.to_diff_dict()), **params}
            params.pop("transformers_version", None)
        inputs: dict[str, Any] = {"prompt_tokens": self.tokens, **params}
        if tokenizer is not None and self.ids is not None:
            texts = tokenizer.batch_decode(self.ids, skip_special_tokens=True)
            inputs = {"prompt": texts[0] if len(texts) == 1 else texts, **inputs}
        live.set_inputs(inputs)
        live.set_attributes(_request_attributes(params))

    def record_output(self, live: LiveSpan, tokenizer: Any, output: Any) -> int:
        """Record the answers and tokens of `generate`'s output; return the tokens generated."""
        sequences = getattr(output, "sequences", output)
        answers = [self._answer(row) for row in sequences[:, self.start :].tolist()]
        if tokenizer is not None:
            texts = tokenizer.batch_decode([ids for ids, _ in answers], skip_special_tokens=True)
            live.set_outputs(texts[0] if len(texts) == 1 else texts)
        else:
            live.set_outputs({"generated_tokens": [len(ids) for ids, _ in answers]})
        reasons = ["stop" if stopped else "length" for _, stopped in answers]
        live.set_attribute("gen_ai.response.finish_reasons", reasons)
        generated = sum(len(ids) for ids, _ in answers)
        live.set_usage(input=self.tokens, output=generated)
        return generated

    def _answer(self, row: list[int]) -> tuple[list[int], bool]:
        """The ids up to and with the first end of sequence (the rest is padding), and whether
        there was one."""
        for index, token in enumerate(row):
            if token in self.eos:
                return row[: index + 1], True
        return row, False


def _params(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The scalar arguments of a call: generation settings, not tensors, callbacks or objects."""
    return {k: v for k, v in kwargs.items() if isinstance(v, _PARAM_TYPES) and k != "tokenizer"}


def _request_attributes(params: dict[str, Any]) -> dict[str, Any]:
    names = {
        "max_new_tokens": "gen_ai.request.max_tokens",
        "temperature": "gen_ai.request.temperature",
        "top_p": "gen_ai.request.top_p",
        "top_k": "gen_ai.request.top_k",
        "num_return_sequences": "gen_ai.request.choice.count",
    }
    return {attribute: params[key] for key, attribute in names.items() if key in params}


def _wrap_pipeline(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        inputs = args[0] if args else kwargs.get("text_inputs", kwargs.get("inputs"))
        if not isinstance(inputs, str | list | tuple | dict):
            # A generator or dataset: the pipeline answers lazily, after this call returned.
            return original(self, *args, **kwargs)
        chat = _is_chat(inputs)
        span_type = SpanType.CHAT_MODEL if chat else SpanType.LLM
        with _recorded("transformers.pipeline", span_type, self.model) as live:
            params = {k: v for k, v in _params(kwargs).items() if k not in _INPUT_NAMES}
            live.set_inputs({"messages" if chat else "prompt": inputs, **params})
            live.set_attributes(_request_attributes(params))
            live.set_attribute("gen_ai.operation.name", "chat" if chat else "text_completion")
            live.set_attribute("lmops.transformers.task", getattr(self, "task", None))
            state = _PipelineCall(live, getattr(self, "tokenizer", None))
            token = _pipeline_call.set(state)
            try:
                result = original(self, *args, **kwargs)
            finally:
                _pipeline_call.reset(token)
                if state.calls:
                    live.set_usage(input=state.input_tokens, output=state.output_tokens)
            _guarded(live, lambda: live.set_outputs(_answers(result)))
            return result

    return call


def _is_chat(inputs: Any) -> bool:
    first = inputs[0] if isinstance(inputs, list | tuple) and inputs else inputs
    if isinstance(first, list | tuple) and first:
        first = first[0]
    return isinstance(first, dict) and "role" in first


def _answers(result: Any) -> Any:
    """The generated text of each record, the assistant message alone for a chat."""
    if isinstance(result, list):
        answers = [_answers(item) for item in result]
        return answers[0] if len(answers) == 1 else answers
    if isinstance(result, dict) and "generated_text" in result:
        text = result["generated_text"]
        return text[-1] if isinstance(text, list) and text else text
    if isinstance(result, dict) and "generated_token_ids" in result:
        return {"generated_tokens": len(result["generated_token_ids"])}
    return result


def _guarded(live: LiveSpan, record: Callable[[], T]) -> T | None:
    """Record, but never let an input or output we did not foresee fail the caller's call."""
    try:
        return record()
    except Exception as exc:
        live.set_attribute("lmops.instrument.error", f"{type(exc).__name__}: {exc}")
        return None
