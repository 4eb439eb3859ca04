"""The continuous batcher on the tiny model: what it generates is what `model.generate` would,
whichever rows share its batch, join it mid-flight or leave it early.

The tiny model as built is so close to uniform that greedy decoding repeats one token, which
a batch with shifted positions or a wrong mask would repeat just as well. These tests redraw
its matrices with a larger spread, so each step's choice depends on what came before it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

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
from lmops.serving.text import TextStream

EOS = 2  # <|im_end|>, the tiny model's end of sequence
WAIT_S = 120  # generous: the machines are shared

PROMPTS = [
    "Ada found a book",
    "What is the capital of France? The capital of France is",
    "Hi",
    "The quick brown fox jumps over the lazy dog. Water boils at 100 degrees Celsius at",
    "Can you help me write an email to my team about the new schedule?",
    "Norway is a country",
    "How much is 3 plus 5?",
]


@dataclass
class Row:
    """One submitted sequence and the events the model thread sent it."""

    seq: Sequence
    events: list[Event] = field(default_factory=list)
    over: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> Event:
        assert self.over.wait(WAIT_S), f"no Finished/Failed after {WAIT_S} s: {self.events}"
        return self.events[-1]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, Delta | Finished))

    @property
    def finished(self) -> Finished:
        last = self.wait()
        assert isinstance(last, Finished), last
        return last


class Rows:
    """Submits sequences to a batcher; keeps one log of every event in the order sent."""

    def __init__(self, batcher: Batcher, tokenizer: Any) -> None:
        self.batcher = batcher
        self.tokenizer = tokenizer
        self.log: list[tuple[int, Event]] = []

    def make(
        self,
        prompt: list[int],
        sampling: Sampling,
        *,
        stops: list[str] | None = None,
        then: Callable[[Row, Event], None] | None = None,
    ) -> Row:
        def on_event(event: Event) -> None:
            row.events.append(event)
            self.log.append((id(row), event))
            if then is not None:
                then(row, event)
            if isinstance(event, Finished | Failed):
                row.over.set()

        row = Row(Sequence(prompt, sampling, TextStream(self.tokenizer, stops or []), on_event))
        return row

    def submit(self, prompt: list[int], sampling: Sampling, **options: Any) -> Row:
        row = self.make(prompt, sampling, **options)
        self.batcher.submit(row.seq)
        return row

    def first_event(self, row: Row) -> int:
        return next(i for i, (who, _) in enumerate(self.log) if who == id(row))

    def last_event(self, row: Row) -> int:
        return max(i for i, (who, _) in enumerate(self.log) if who == id(row))


@pytest.fixture(scope="module")
def varied(tiny: tuple[Any, Any]) -> tuple[Any, Any]:
    """The tiny model with its matrices redrawn from N(0, 0.1), and its tokenizer."""
    model, tokenizer = tiny
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weights in model.parameters():
            if weights.dim() == 2:
                weights.copy_(torch.randn(weights.shape, generator=generator) * 0.1)
    return model, tokenizer


@pytest.fixture
def batcher(varied: tuple[Any, Any]) -> Iterator[Callable[..., Batcher]]:
    """Make batchers over the varied tiny model; each is closed after the test."""
    model, tokenizer = varied
    made: list[Batcher] = []

    def make(**options: Any) -> Batcher:
        options.setdefault("eos_ids", {EOS})
        made.append(Batcher(model, pad_id=tokenizer.pad_token_id, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def rows(batcher: Callable[..., Batcher], tokenizer: Any) -> Callable[..., Rows]:
    return lambda **options: Rows(batcher(**options), tokenizer)


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text)["input_ids"])


def greedy(model: Any, prompt: list[int], max_new: int, eos: set[int] | None = None) -> list[int]:
    """`model.generate(do_sample=False)`'s new tokens, up to (not including) an eos."""
    eos = {EOS} if eos is None else eos
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=sorted(eos),
            pad_token_id=0,
        )
    new: list[int] = out[0, len(prompt) :].tolist()
    ends = [i for i, token in enumerate(new) if token in eos]
    return new[: ends[0]] if ends else new


def test_greedy_rows_match_generate_while_joining_a_running_batch(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    steps: list[int] = []
    batch = rows(max_batch=3, on_step=steps.append)
    prompts = [prompt_ids(tokenizer, p) for p in PROMPTS]
    assert len({len(p) for p in prompts}) == len(prompts)  # every prompt its own length
    limits = [6 + 5 * i for i in range(len(prompts))]  # they finish at different steps

    submitted = [
        batch.submit(p, Sampling(n, temperature=0)) for p, n in zip(prompts, limits, strict=True)
    ]

    for row, prompt, limit in zip(submitted, prompts, limits, strict=True):
        expected = greedy(model, prompt, limit)
        end = row.finished
        assert row.seq.generated == expected
        assert end.reason == ("length" if len(expected) == limit else "stop")
        assert (end.prompt_tokens, end.completion_tokens) == (len(prompt), len(expected))
        assert row.text == tokenizer.decode(expected, skip_special_tokens=True)
    assert max(steps) == 3  # the batch filled up, and never past max_batch
    # some row started while another was running: it joined that batch mid-flight
    spans = [(batch.first_event(r), batch.last_event(r)) for r in submitted]
    assert any(a[0] < b[0] < a[1] for a in spans for b in spans if a is not b)


def test_a_cancelled_row_leaves_and_the_rest_still_match(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    steps: list[int] = []
    batch = rows(max_batch=3, on_step=steps.append)
    prompts = [prompt_ids(tokenizer, p) for p in PROMPTS[:4]]
    cancelled_at: list[int] = []

    def cancel_after_three(row: Row, event: Event) -> None:
        if isinstance(event, Delta) and event.tokens >= 3 and not cancelled_at:
            cancelled_at.append(event.tokens)
            row.seq.cancel()  # on the model thread, between two steps

    leaving = batch.submit(prompts[0], Sampling(60, temperature=0), then=cancel_after_three)
    staying = [batch.submit(p, Sampling(30, temperature=0)) for p in prompts[1:]]

    for row, prompt in zip(staying, prompts[1:], strict=True):
        row.finished  # noqa: B018
        assert row.seq.generated == greedy(model, prompt, 30)
    assert not leaving.over.is_set()  # a cancelled row is never finished, only dropped
    assert len(leaving.seq.generated) == cancelled_at[0]  # no token after the cancel
    assert leaving.seq.generated == greedy(model, prompts[0], cancelled_at[0])
    assert not any(isinstance(e, Finished | Failed) for e in leaving.events)
    assert len(steps) < 50  # its 60 tokens were not waited for


def test_a_row_cancelled_while_waiting_never_starts(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    batch = rows(max_batch=1)
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    waiting: list[Row] = []

    def cancel_the_waiting_row(row: Row, event: Event) -> None:
        if waiting and not waiting[0].seq.cancelled:
            waiting[0].seq.cancel()

    first = batch.make(prompt, Sampling(20, temperature=0), then=cancel_the_waiting_row)
    waiting.append(batch.make(prompt, Sampling(20, temperature=0)))
    batch.batcher.submit(first.seq)
    batch.batcher.submit(waiting[0].seq)
    first.finished  # noqa: B018
    after = batch.submit(prompt, Sampling(20, temperature=0))
    assert after.finished.completion_tokens == 20  # the batcher went on
    assert after.seq.generated == greedy(model, prompt, 20)
    assert waiting[0].events == [] and waiting[0].seq.generated == []


def test_seeded_sampling_is_reproducible_in_any_company(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    _, tokenizer = varied
    batch = rows(max_batch=4)
    prompt = prompt_ids(tokenizer, PROMPTS[1])
    seeded = Sampling(24, temperature=1.0, top_p=0.95, seed=7)

    alone = batch.submit(prompt, seeded)
    alone.finished  # noqa: B018
    crowd = [
        batch.submit(prompt_ids(tokenizer, p), Sampling(24, seed=i))
        for i, p in enumerate(PROMPTS[:3])
    ]
    again = batch.submit(prompt, seeded)
    other_seed = batch.submit(prompt, Sampling(24, temperature=1.0, top_p=0.95, seed=8))
    for row in [*crowd, again, other_seed]:
        row.finished  # noqa: B018

    assert again.seq.generated == alone.seq.generated
    assert again.text == alone.text
    assert other_seed.seq.generated != alone.seq.generated


def test_a_tiny_top_p_or_temperature_is_greedy(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    batch = rows(max_batch=4)
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    nucleus = batch.submit(prompt, Sampling(20, temperature=1.5, top_p=1e-9, seed=1))
    # a temperature this small overflows the logits if they are divided by it
    cold = batch.submit(prompt, Sampling(20, temperature=1e-40, seed=1))
    expected = greedy(model, prompt, 20)
    assert nucleus.finished.completion_tokens == len(expected)
    assert nucleus.seq.generated == expected
    assert cold.finished.completion_tokens == len(expected)
    assert cold.seq.generated == expected


def test_eos_ends_a_row_with_stop_and_max_tokens_with_length(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[3])
    expected = greedy(model, prompt, 12, eos=set())
    # call a token it says for the first time after six others its end of sequence
    end = next(i for i, token in enumerate(expected) if token not in expected[:i] and i >= 6)
    batch = rows(max_batch=4, eos_ids={expected[end]})

    stopped = batch.submit(prompt, Sampling(12, temperature=0))
    cut = batch.submit(prompt, Sampling(5, temperature=0))
    one = batch.submit(prompt, Sampling(1, temperature=0))

    assert stopped.finished.reason == "stop"
    assert stopped.seq.generated == expected[:end]  # the eos itself is not part of the text
    assert stopped.finished.completion_tokens == end
    assert stopped.text == tokenizer.decode(expected[:end], skip_special_tokens=True)
    assert (cut.finished.reason, cut.finished.completion_tokens) == ("length", 5)
    assert cut.seq.generated == expected[:5]
    assert (one.finished.reason, one.seq.generated) == ("length", expected[:1])


def test_an_eos_first_token_finishes_with_nothing(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    first = greedy(model, prompt, 1, eos=set())[0]
    row = rows(eos_ids={first}).submit(prompt, Sampling(10, temperature=0))
    assert row.finished == Finished("stop", len(prompt), 0, "")
    assert row.events == [row.finished]


def test_a_stop_string_ends_the_row_before_it(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[2])
    text = tokenizer.decode(greedy(model, prompt, 40), skip_special_tokens=True)
    stop = text.strip()[len(text.strip()) // 2 :][:3]
    assert len(stop) == 3, text
    row = rows().submit(prompt, Sampling(40, temperature=0), stops=[stop])
    assert row.finished.reason == "stop"
    assert row.text == text[: text.index(stop)]
    assert stop not in "".join(e.text for e in row.events if isinstance(e, Delta))


def test_events_arrive_in_order_and_end_with_finished(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[1])
    row = rows().submit(prompt, Sampling(30, temperature=0))
    end = row.finished
    *deltas, last = row.events
    assert last is end and all(isinstance(e, Delta) for e in deltas)
    counts = [e.tokens for e in deltas]
    assert counts == sorted(set(counts))  # strictly rising
    assert all(0 < c <= end.completion_tokens for c in counts)
    assert all(e.text for e in deltas)  # an empty piece is never sent
    assert end.completion_tokens == len(row.seq.generated) == 30
    assert row.text == tokenizer.decode(greedy(model, prompt, 30), skip_special_tokens=True)


def test_the_queue_bound_raises_queue_full(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    _, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    batch = rows(max_batch=1, max_queue=1)
    refused: list[QueueFull] = []
    queued: list[Row] = []

    def fill_the_queue(row: Row, event: Event) -> None:
        if queued:
            return
        queued.append(batch.submit(prompt, Sampling(5, temperature=0)))  # waits for the slot
        try:
            batch.submit(prompt, Sampling(5, temperature=0))
        except QueueFull as exc:
            refused.append(exc)

    running = batch.submit(prompt, Sampling(10, temperature=0), then=fill_the_queue)
    assert running.finished.completion_tokens == 10
    assert queued[0].finished.completion_tokens == 5  # the one that waited ran next
    [exc] = refused
    assert exc.retry_after >= 1
    assert "queue is full" in str(exc)


def test_no_queue_still_admits_into_a_free_slot(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    _, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    batch = rows(max_batch=1, max_queue=0)
    refused: list[QueueFull] = []

    def try_another(row: Row, event: Event) -> None:
        if not refused:
            try:
                batch.submit(prompt, Sampling(5, temperature=0))
            except QueueFull as exc:
                refused.append(exc)

    running = batch.submit(prompt, Sampling(8, temperature=0), then=try_another)
    assert running.finished.completion_tokens == 8
    assert len(refused) == 1  # the slot was taken and nothing may wait
    assert batch.submit(prompt, Sampling(3, temperature=0)).finished.completion_tokens == 3


def test_a_closed_batcher_refuses_work(rows: Callable[..., Rows], tokenizer: Any) -> None:
    batch = rows()
    batch.batcher.close()
    with pytest.raises(QueueFull):
        batch.submit(prompt_ids(tokenizer, "Hi"), Sampling(3))


def test_a_failing_step_fails_its_rows_and_the_batcher_serves_on(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    model, tokenizer = varied
    batch = rows(max_batch=4)
    good = prompt_ids(tokenizer, PROMPTS[0])
    broken = batch.submit([*good, len(tokenizer) + 1000], Sampling(5, temperature=0))
    failed = broken.wait()
    assert isinstance(failed, Failed) and "generation failed" in failed.message
    after = batch.submit(good, Sampling(10, temperature=0))
    assert after.finished.completion_tokens == len(after.seq.generated)
    assert after.seq.generated == greedy(model, good, 10)


def test_a_row_cancelled_while_waiting_gives_its_place_back(
    varied: tuple[Any, Any], rows: Callable[..., Rows]
) -> None:
    _, tokenizer = varied
    prompt = prompt_ids(tokenizer, PROMPTS[0])
    batch = rows(max_batch=1, max_queue=1)
    refused: list[QueueFull] = []
    queued: list[Row] = []

    def queue_leave_and_queue_again(row: Row, event: Event) -> None:
        if queued:
            return
        left = batch.submit(prompt, Sampling(5, temperature=0))
        left.seq.cancel()  # its caller went away while it waited
        try:
            queued.append(batch.submit(prompt, Sampling(5, temperature=0)))
        except QueueFull as exc:
            refused.append(exc)

    running = batch.submit(prompt, Sampling(10, temperature=0), then=queue_leave_and_queue_again)
    assert running.finished.completion_tokens == 10
    assert refused == []
    assert queued[0].finished.completion_tokens == 5
