"""A transformers model loaded in this process, answering OpenAI requests through the batcher.

The chat template comes from the tokenizer. Adapters registered against the loaded base are
served from the same weights: each request's `model` picks its adapter, and rows with
different adapters share a batch (PEFT's mixed-adapter forward).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from lmops.serving.backends import Answer, ServedModel
from lmops.serving.batching import (
    Batcher,
    Delta,
    Event,
    Failed,
    Finished,
    QueueFull,
    Sampling,
    Sequence,
)
from lmops.serving.metrics import ServingMetrics
from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIError,
    model_not_found,
    overloaded,
)
from lmops.serving.text import TextStream

_EMBED_BATCH = 32


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter loaded onto the base under `name` (its model id)."""

    name: str
    version: str


class LocalModel:
    """One loaded base model (and its adapters) behind one batcher."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        version: str | None = None,
        adapters: list[Adapter] | None = None,
        aliases: list[str] | None = None,
        max_batch: int = 32,
        max_queue: int = 256,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.name = name
        self.version = version
        self._adapters = {a.name: a for a in adapters or []}
        self._names = {name, *(aliases or [])}
        self._metrics = metrics or ServingMetrics()
        self._created = int(time.time())
        self.context_window = _context_window(model, tokenizer)
        self._batcher = Batcher(
            model,
            eos_ids=_eos_ids(model, tokenizer),
            pad_id=_pad_id(tokenizer),
            max_batch=max_batch,
            max_queue=max_queue,
            on_step=self._metrics.batch_size.observe,
        )
        self._metrics.watch_queue(version or name, lambda: self._batcher.waiting)

    # -- the Backend face ---------------------------------------------------------------

    def models(self) -> list[ServedModel]:
        served = [ServedModel(self.name, version=self.version, created=self._created)]
        served += [
            ServedModel(a.name, version=a.version, created=self._created)
            for a in self._adapters.values()
        ]
        return served

    async def chat(self, request: ChatRequest) -> Answer:
        adapter = self._adapter_for(request.model)
        if not getattr(self._tokenizer, "chat_template", None):
            raise OpenAIError(
                400,
                f"The model '{request.model}' has no chat template; "
                "use /v1/completions with a plain prompt",
                param="messages",
            )
        if not all(m.only_text() for m in request.messages):
            raise OpenAIError(
                400,
                f"The model '{request.model}' reads text only: send content as text parts",
                param="messages",
            )
        messages = [{"role": m.role, "content": m.text()} for m in request.messages]
        try:
            ids = self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        except TemplateError as exc:  # the template's own check, e.g. roles that must alternate
            raise OpenAIError(
                400, f"The model's chat template refused the messages: {exc}", param="messages"
            ) from exc
        prompt = [int(i) for i in (ids["input_ids"] if isinstance(ids, dict) else ids)]
        run = self._start(prompt, request, request.output_limit(), adapter, "messages")
        shape = _Shape("chat", request.model)
        if request.stream:
            return shape.stream(run)
        return await shape.collect(run)

    async def complete(self, request: CompletionRequest) -> Answer:
        adapter = self._adapter_for(request.model)
        prompt = [int(i) for i in self._tokenizer(request.text())["input_ids"]]
        if not prompt:
            raise OpenAIError(400, "The prompt must not be empty", param="prompt")
        run = self._start(prompt, request, request.output_limit(), adapter, "prompt")
        shape = _Shape("completion", request.model, echo=request.text() if request.echo else "")
        if request.stream:
            return shape.stream(run)
        return await shape.collect(run)

    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]:
        adapter = self._adapter_for(request.model)
        texts = request.texts()
        if any(not t for t in texts):
            raise OpenAIError(400, "An input must not be empty", param="input")
        vectors, tokens = await asyncio.to_thread(self._embed, texts, request.dimensions, adapter)
        return {
            "object": "list",
            "model": request.model,
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": _encode(v, request.encoding_format),
                }
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def close(self) -> None:
        self._batcher.close()

    # -- generation ---------------------------------------------------------------------

    def _adapter_for(self, model: str) -> str | None:
        if model in self._names:
            return None
        if model in self._adapters:
            return model
        raise model_not_found(model)

    def _start(
        self,
        prompt: list[int],
        request: ChatRequest | CompletionRequest,
        limit: int | None,
        adapter: str | None,
        field: str,
    ) -> _Run:
        room = self.context_window - len(prompt)
        if limit is None:
            limit = room
        if room < 1 or len(prompt) + limit > self.context_window:
            raise OpenAIError(
                400,
                f"This model's maximum context length is {self.context_window} tokens. "
                f"However, you requested {len(prompt) + limit} tokens "
                f"({len(prompt)} in the {field}, {limit} for the completion). "
                f"Please reduce the length of the {field} or completion.",
                param=field,
                code="context_length_exceeded",
            )
        loop = asyncio.get_running_loop()
        run = _Run(loop, request.n, len(prompt))
        sequences = []
        for index in range(request.n):
            seed = None if request.seed is None else request.seed + index
            sequences.append(
                Sequence(
                    prompt_ids=prompt,
                    sampling=Sampling(limit, request.temperature, request.top_p, seed),
                    stream=TextStream(self._tokenizer, request.stops()),
                    on_event=run.listener(index),
                    adapter=adapter,
                )
            )
        run.sequences = sequences
        try:
            for seq in sequences:
                self._batcher.submit(seq)
        except QueueFull as exc:
            run.cancel()
            raise overloaded(
                f"The model '{request.model}' is overloaded: {exc}. Retry later.",
                exc.retry_after,
            ) from exc
        return run

    def _embed(
        self, texts: list[str], dimensions: int | None, adapter: str | None
    ) -> tuple[list[list[float]], int]:
        import torch

        vectors: list[list[float]] = []
        tokens = 0
        device = next(self._model.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(texts), _EMBED_BATCH):
                batch = self._tokenizer(
                    texts[start : start + _EMBED_BATCH], padding=True, return_tensors="pt"
                )
                lengths = batch["attention_mask"].sum(-1)
                too_long = [i for i, n in enumerate(lengths.tolist()) if n > self.context_window]
                if too_long:
                    raise OpenAIError(
                        400,
                        f"Input {start + too_long[0]} is longer than the model's maximum "
                        f"context length of {self.context_window} tokens",
                        param="input",
                        code="context_length_exceeded",
                    )
                tokens += int(lengths.sum())
                batch = {k: v.to(device) for k, v in batch.items()}
                if self._adapters:  # a PEFT model: name the adapter (or the base) per row
                    rows = len(batch["input_ids"])
                    batch["adapter_names"] = [adapter or "__base__"] * rows
                out = self._model(**batch, output_hidden_states=True)
                hidden = out.hidden_states[-1].float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                if dimensions is not None:
                    pooled = pooled[:, :dimensions]
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                vectors.extend(pooled.cpu().tolist())
        return vectors, tokens


class _Run:
    """The sequences of one request (one per `n`) and the events they send back, moved from
    the model thread onto the request's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int, prompt_tokens: int) -> None:
        self._loop = loop
        self.n = n
        self.prompt_tokens = prompt_tokens
        self.queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self.sequences: list[Sequence] = []

    def listener(self, index: int) -> Any:
        def deliver(event: Event) -> None:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, (index, event))

        return deliver

    def cancel(self) -> None:
        for seq in self.sequences:
            seq.cancel()

    async def events(self) -> AsyncIterator[tuple[int, Event]]:
        """Every event until each sequence finished; cancels them if the caller leaves."""
        open_ = self.n
        try:
            while open_:
                index, event = await self.queue.get()
                if isinstance(event, Failed):
                    raise OpenAIError(503, event.message, type="server_error")
                if isinstance(event, Finished):
                    open_ -= 1
                yield index, event
        finally:
            self.cancel()


class _Shape:
    """Events to OpenAI bodies: a whole response, or chunks."""

    def __init__(self, kind: str, model: str, echo: str = "") -> None:
        self.kind = kind
        self.model = model
        self.echo = echo
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        self.id = f"{prefix}-{secrets.token_hex(12)}"
        self.created = int(time.time())

    async def collect(self, run: _Run) -> dict[str, Any]:
        texts = [self.echo] * run.n
        reasons = ["stop"] * run.n
        completion = 0
        async for index, event in run.events():
            if isinstance(event, Delta):
                texts[index] += event.text
            elif isinstance(event, Finished):
                texts[index] += event.text
                reasons[index] = event.reason
                completion += event.completion_tokens
        if self.kind == "chat":
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": texts[i]},
                    "finish_reason": reasons[i],
                    "logprobs": None,
                }
                for i in range(run.n)
            ]
        else:
            choices = [
                {"index": i, "text": texts[i], "finish_reason": reasons[i], "logprobs": None}
                for i in range(run.n)
            ]
        return {
            "id": self.id,
            "object": "chat.completion" if self.kind == "chat" else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": _usage(run.prompt_tokens, completion),
        }

    async def stream(self, run: _Run) -> AsyncIterator[dict[str, Any]]:
        completion = 0
        if self.kind == "chat":
            for i in range(run.n):
                yield self._chunk(i, {"role": "assistant", "content": ""}, None)
        elif self.echo:
            for i in range(run.n):
                yield self._chunk(i, self.echo, None)
        async for index, event in run.events():
            if isinstance(event, Delta) and event.text:
                yield self._chunk(index, self._piece(event.text), None)
            elif isinstance(event, Finished):
                completion += event.completion_tokens
                yield self._chunk(index, self._piece(event.text), event.reason)
        yield {**self._head(), "choices": [], "usage": _usage(run.prompt_tokens, completion)}

    def _piece(self, text: str) -> Any:
        return {"content": text} if self.kind == "chat" else text

    def _head(self) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def _chunk(self, index: int, piece: Any, reason: str | None) -> dict[str, Any]:
        key = "delta" if self.kind == "chat" else "text"
        choice = {"index": index, key: piece, "finish_reason": reason, "logprobs": None}
        return {**self._head(), "choices": [choice]}


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    """As OpenAI sends it: a list of floats, or base64 of little-endian float32s."""
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _context_window(model: Any, tokenizer: Any) -> int:
    config = getattr(model, "config", None)
    window = getattr(config, "max_position_embeddings", None)
    tok_max = getattr(tokenizer, "model_max_length", None)
    candidates = [w for w in (window, tok_max) if isinstance(w, int) and 0 < w < 10**7]
    return min(candidates) if candidates else 2048


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def _pad_id(tokenizer: Any) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if value is not None:
            return int(value)
    return 0
