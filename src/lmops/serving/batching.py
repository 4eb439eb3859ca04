"""Continuous batching: one thread runs the model; concurrent requests share its forward passes.

Each step, waiting sequences join the running batch (their prompts run through the model
together, then their key/value cache is padded on the left and stacked onto the batch's),
and every running sequence gets its next token from one decode pass. A sequence that ends
leaves the batch at once and frees its slot; the cache is trimmed of columns no row needs.

Transformers' own continuous batching (`generate_batch`) pages its cache for GPUs and, on
the CPU here, ran slower than this loop; it also cannot drop a sequence whose client left.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lmops.serving.text import TextStream

log = logging.getLogger(__name__)
_GREEDY_BELOW = 1e-5  # temperatures under this sample greedily


@dataclass(frozen=True)
class Sampling:
    """How one sequence picks its tokens."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Delta:
    """New text for a sequence (may be empty when only a token count moved)."""

    text: str
    tokens: int  # completion tokens so far


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    text: str = ""  # the last held-back text


@dataclass(frozen=True)
class Failed:
    message: str


Event = Delta | Finished | Failed


class QueueFull(Exception):
    """No room for another sequence now; `retry_after` is a fair guess in seconds."""

    def __init__(self, waiting: int, retry_after: float) -> None:
        super().__init__(f"the server's queue is full ({waiting} requests waiting)")
        self.retry_after = retry_after


@dataclass(eq=False)
class Sequence:
    """One generation: prompt ids in, events out through `on_event` (called on the model
    thread; it must not block)."""

    prompt_ids: list[int]
    sampling: Sampling
    stream: TextStream
    on_event: Callable[[Event], None]
    adapter: str | None = None
    generated: list[int] = field(default_factory=list)
    cancelled: bool = False
    generator: Any = None

    def cancel(self) -> None:
        """The caller is gone: the sequence leaves the batch at the next step."""
        self.cancelled = True


class Batcher:
    """The model thread. `submit` queues a sequence; `close` stops the thread."""

    def __init__(
        self,
        model: Any,
        *,
        eos_ids: set[int],
        pad_id: int,
        max_batch: int = 32,
        max_queue: int = 256,
        on_step: Callable[[int], None] | None = None,
        name: str = "lmops-batcher",
    ) -> None:
        import torch

        self._torch = torch
        self._model = model
        self._device = next(model.parameters()).device
        self._eos = eos_ids
        self._pad = pad_id
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._on_step = on_step
        self._cache_arg = _cache_argument(model)
        self._peft = hasattr(model, "peft_config")
        self._waiting: deque[Sequence] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._active: list[Sequence] = []
        self._cache: Any = None
        self._mask: Any = None  # (rows, columns): 1 where the cache holds a real token
        self._next: Any = None  # (rows,): each row's token to feed at the next step
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._active)

    def submit(self, seq: Sequence) -> None:
        torch = self._torch
        seq.generator = torch.Generator(device="cpu")
        if seq.sampling.seed is not None:
            seq.generator.manual_seed(seq.sampling.seed)
        else:
            seq.generator.seed()
        with self._cond:
            if self._closed:
                raise QueueFull(len(self._waiting), retry_after=1.0)
            # A caller that left while waiting gives its place back now, not when it is reached.
            if any(waiting.cancelled for waiting in self._waiting):
                self._waiting = deque(w for w in self._waiting if not w.cancelled)
            # Only sequences beyond the free slots wait: max_queue 0 still admits into a free slot.
            free = max(0, self.max_batch - len(self._active))
            if len(self._waiting) >= self.max_queue + free:
                rounds = len(self._waiting) / self.max_batch + 1
                raise QueueFull(len(self._waiting), retry_after=max(1.0, rounds * 2))
            self._waiting.append(seq)
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- the model thread ---------------------------------------------------------------

    def _run(self) -> None:
        with self._torch.inference_mode():
            while True:
                with self._cond:
                    while not self._closed and not self._waiting and not self._active:
                        self._cond.wait()
                    if self._closed:
                        break
                    joining = self._take_joining()
                try:
                    if joining:
                        self._prefill(joining)
                    if self._active:
                        self._decode()
                except Exception as exc:  # a model failure ends the batch, not the server
                    log.exception("generation failed")
                    for seq in [*self._active, *joining]:
                        seq.on_event(Failed(f"generation failed: {type(exc).__name__}: {exc}"))
                    self._reset()
        for seq in [*self._active, *self._waiting]:
            seq.on_event(Failed("the server is shutting down"))
        self._reset()

    def _take_joining(self) -> list[Sequence]:
        room = self.max_batch - len(self._active)
        if self._active and not self._can_merge():
            room = 0  # this cache cannot take rows mid-flight: let the batch drain first
        joining: list[Sequence] = []
        while self._waiting and len(joining) < room:
            seq = self._waiting.popleft()
            if not seq.cancelled:
                joining.append(seq)
        return joining

    def _can_merge(self) -> bool:
        layers = getattr(self._cache, "layers", None)
        if layers is None:
            return False
        from transformers.cache_utils import DynamicLayer

        return all(type(layer) is DynamicLayer for layer in layers)

    def _reset(self) -> None:
        self._active, self._cache, self._mask, self._next = [], None, None, None

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any, adapters: Any) -> Any:
        kwargs: dict[str, Any] = {}
        if adapters is not None:
            kwargs["adapter_names"] = adapters
        out = self._model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: cache},
            **kwargs,
        )
        return out.logits[:, -1, :].float(), getattr(out, self._cache_arg)

    def _adapters(self, rows: list[Sequence]) -> list[str] | None:
        """Which adapter each row runs through; a PEFT model is told for every row (else it
        runs rows for the base through its active adapter)."""
        if not self._peft:
            return None
        return [seq.adapter or "__base__" for seq in rows]

    def _prefill(self, joining: list[Sequence]) -> None:
        torch = self._torch
        width = max(len(seq.prompt_ids) for seq in joining)
        ids = torch.full((len(joining), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(joining), width), dtype=torch.long)
        for row, seq in enumerate(joining):
            n = len(seq.prompt_ids)
            ids[row, width - n :] = torch.tensor(seq.prompt_ids, dtype=torch.long)
            mask[row, width - n :] = 1
        ids, mask = ids.to(self._device), mask.to(self._device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        from transformers import DynamicCache

        logits, cache = self._forward(ids, mask, positions, DynamicCache(), self._adapters(joining))
        chosen = self._sample(logits, joining)
        if self._active:
            self._merge(cache, mask)
        else:
            self._cache, self._mask = cache, mask
        first = len(self._active)
        self._next = chosen if self._next is None else torch.cat([self._next, chosen])
        self._active.extend(joining)
        self._after_step(first)

    def _merge(self, cache: Any, mask: Any) -> None:
        """Stack new rows' cache under the running batch's, padding the shorter on the left."""
        torch = self._torch
        old_width, new_width = self._mask.shape[1], mask.shape[1]
        width = max(old_width, new_width)
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)])
            old.values = torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)])
        self._mask = torch.cat([_pad_left(self._mask, width, dim=1), _pad_left(mask, width, dim=1)])

    def _decode(self) -> None:
        torch = self._torch
        rows = len(self._active)
        self._mask = torch.cat(
            [self._mask, torch.ones((rows, 1), dtype=self._mask.dtype, device=self._device)],
            dim=1,
        )
        positions = (self._mask.sum(-1, keepdim=True) - 1).to(self._device)
        ids = self._next.view(rows, 1).to(self._device)
        logits, self._cache = self._forward(
            ids, self._mask, positions, self._cache, self._adapters(self._active)
        )
        chosen = self._sample(logits, self._active)
        self._next = chosen
        if self._on_step is not None:
            self._on_step(rows)
        self._after_step(0)

    def _after_step(self, first: int) -> None:
        """Hand the running sequences from row `first` on their new token; drop the ones
        that ended (and any cancelled row)."""
        keep: list[int] = []
        tokens = self._next.tolist()
        for row, seq in enumerate(self._active):
            if row < first:
                if not seq.cancelled:
                    keep.append(row)
                continue
            if seq.cancelled:
                continue
            if tokens[row] in self._eos:
                self._finish(seq, "stop")
                continue
            seq.generated.append(tokens[row])
            text = seq.stream.push(tokens[row])
            if seq.stream.stopped:
                if text:
                    seq.on_event(Delta(text, len(seq.generated)))
                self._finish(seq, "stop")
            elif len(seq.generated) >= seq.sampling.max_tokens:
                self._finish(seq, "length", text)
            else:
                if text:
                    seq.on_event(Delta(text, len(seq.generated)))
                keep.append(row)
        if len(keep) < len(self._active):
            self._keep_rows(keep)

    def _finish(self, seq: Sequence, reason: str, text: str = "") -> None:
        tail = text + seq.stream.finish()
        seq.on_event(Finished(reason, len(seq.prompt_ids), len(seq.generated), tail))

    def _keep_rows(self, keep: list[int]) -> None:
        torch = self._torch
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, dtype=torch.long, device=self._device)
        self._active = [self._active[i] for i in keep]
        self._mask = self._mask[index]
        self._next = self._next[keep]  # kept on the CPU, as _sample returns it
        self._cache.batch_select_indices(index)
        # Columns that hold padding in every remaining row are dropped from the cache.
        used = self._mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0 and self._can_merge():
            self._mask = self._mask[:, first:]
            for layer in self._cache.layers:
                layer.keys = layer.keys[:, :, first:, :]
                layer.values = layer.values[:, :, first:, :]

    def _sample(self, logits: Any, rows: list[Sequence]) -> Any:
        """Each row's next token: greedy at temperature (near) 0, else drawn from its
        temperature and top-p, for the whole batch at once on the model's device. A seeded
        row draws from its own generator (on the CPU), so its tokens do not depend on its
        neighbours."""
        torch = self._torch
        chosen = logits.argmax(dim=-1)
        # as good as greedy below this, and dividing by it would overflow the logits
        drawn = [i for i, seq in enumerate(rows) if seq.sampling.temperature >= _GREEDY_BELOW]
        if drawn:
            device, dtype = logits.device, logits.dtype
            index = torch.tensor(drawn, device=device)
            temperature = torch.tensor(
                [rows[i].sampling.temperature for i in drawn], device=device, dtype=dtype
            )
            probs = torch.softmax(logits[index] / temperature.unsqueeze(1), dim=-1)
            top_p = [rows[i].sampling.top_p for i in drawn]
            if any(p < 1.0 for p in top_p):
                limit = torch.tensor(top_p, device=device, dtype=dtype).unsqueeze(1)
                ordered, order = probs.sort(dim=-1, descending=True)
                ordered = ordered.masked_fill(ordered.cumsum(-1) - ordered > limit, 0)
                probs = torch.zeros_like(probs).scatter(-1, order, ordered)
            picks = torch.empty(len(drawn), dtype=torch.long, device=device)
            free = [k for k, i in enumerate(drawn) if rows[i].sampling.seed is None]
            if free:
                picks[free] = torch.multinomial(probs[free], 1).squeeze(1)
            for k, i in enumerate(drawn):
                if rows[i].sampling.seed is not None:
                    draw = torch.multinomial(probs[k].cpu(), 1, generator=rows[i].generator)
                    picks[k] = draw[0]
            chosen[index] = picks
        return chosen.cpu()


def _cache_argument(model: Any) -> str:
    """What the model's forward calls its cache: `cache` since transformers 5.2x, before
    that `past_key_values` (a PEFT wrapper passes either through to its base)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _pad_left(tensor: Any, width: int, dim: int = 2) -> Any:
    import torch

    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
