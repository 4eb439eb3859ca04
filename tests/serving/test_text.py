"""`TextStream` with the tiny model's byte-level BPE tokenizer: a character split across
tokens is sent whole, stop sequences end the text and are never sent in part, and `finish`
hands out whatever was held back."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lmops.serving.text import TextStream

REPLACEMENT = "\ufffd"


def ids_of(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def feed(tokenizer: Any, ids: list[int], stops: list[str] | None = None) -> tuple[list[str], str]:
    """What each push answered, and what `finish` answered after the last."""
    stream = TextStream(tokenizer, stops or [])
    pieces = [stream.push(i) for i in ids]
    return pieces, stream.finish()


def test_a_character_split_across_tokens_is_sent_whole(tokenizer: Any) -> None:
    text = "naïve café, 日本語 and 😀!"
    ids = ids_of(tokenizer, text)
    # the tokenizer really splits these characters into byte tokens
    assert [tokenizer.decode([i]) for i in ids_of(tokenizer, "é")] == [REPLACEMENT] * 2
    assert len(ids_of(tokenizer, "😀")) == 4

    pieces, tail = feed(tokenizer, ids)

    assert not any(REPLACEMENT in piece for piece in pieces)
    assert "".join(pieces) == text
    assert tail == ""  # without stop sequences nothing complete is held back
    assert "" in pieces  # the pushes of a character's first bytes answered nothing


def test_pieces_add_up_to_what_the_tokenizer_decodes(tokenizer: Any) -> None:
    """Any ids, including bytes that never make a character and special tokens."""
    rng = random.Random(0)
    vocab = len(tokenizer)
    for _ in range(300):
        ids = [rng.randrange(vocab) for _ in range(rng.randint(1, 24))]
        pieces, tail = feed(tokenizer, ids)
        assert "".join(pieces) + tail == tokenizer.decode(ids, skip_special_tokens=True), ids


def test_finish_sends_the_bytes_of_a_character_that_never_completed(tokenizer: Any) -> None:
    first_byte_of_e_acute = ids_of(tokenizer, "é")[0]
    pieces, tail = feed(tokenizer, [*ids_of(tokenizer, "caf"), first_byte_of_e_acute])
    assert pieces[-1] == ""
    assert "".join(pieces) == "caf"
    assert tail == REPLACEMENT  # what `tokenizer.decode` makes of it, not silently dropped


def test_special_tokens_are_skipped(tokenizer: Any) -> None:
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    ids = [*ids_of(tokenizer, "Hello"), start, *ids_of(tokenizer, " world")]
    pieces, tail = feed(tokenizer, ids)
    assert "".join(pieces) + tail == "Hello world"


TEXT = "The capital of France is Paris. Next question"


@pytest.mark.parametrize(
    ("stop", "before"),
    [
        ("Paris", "The capital of France is "),  # " P" + "aris"
        ("e is P", "The capital of Franc"),  # across three tokens
        (". N", "The capital of France is Paris"),
        ("aris", "The capital of France is P"),  # a whole token
        ("tion", "The capital of France is Paris. Next ques"),  # the last tokens
    ],
)
def test_a_stop_sequence_ends_the_text_before_it(tokenizer: Any, stop: str, before: str) -> None:
    stream = TextStream(tokenizer, [stop])
    pieces = []
    for token in ids_of(tokenizer, TEXT):
        pieces.append(stream.push(token))
        # every piece so far is a prefix of the text before the stop: nothing of it leaked
        assert before.startswith("".join(pieces))
        if stream.stopped:
            break
    assert stream.stopped
    assert "".join(pieces) == before
    assert stream.finish() == ""
    assert stream.push(ids_of(tokenizer, "x")[0]) == ""  # nothing after the stop


def test_the_stop_examples_split_paris_across_tokens(tokenizer: Any) -> None:
    tokens = [tokenizer.decode([i]) for i in ids_of(tokenizer, TEXT)]
    assert " P" in tokens and "aris" in tokens  # "Paris" is two tokens here


def test_the_earliest_of_several_stop_sequences_wins(tokenizer: Any) -> None:
    pieces, tail = feed(tokenizer, ids_of(tokenizer, TEXT), ["Next", "France", "Paris"])
    assert "".join(pieces) == "The capital of "
    assert tail == ""


def test_a_stop_sequence_inside_a_split_character(tokenizer: Any) -> None:
    text = "un café, deux cafés"
    pieces, tail = feed(tokenizer, ids_of(tokenizer, text), ["é,"])
    assert "".join(pieces) == "un caf"
    assert tail == ""
    assert not any(REPLACEMENT in piece for piece in pieces)


def test_text_that_only_looked_like_a_stop_is_sent_on(tokenizer: Any) -> None:
    """ "Par" of "Paradise" is held while it could become "Paris.", then sent; the final
    "Paris" is held to the end and `finish` hands it out."""
    stream = TextStream(tokenizer, ["Paris."])
    sent = ""
    for token in ids_of(tokenizer, "Paradise is not Paris"):
        sent += stream.push(token)
        assert not sent.endswith("P")  # a possible start of the stop is never sent early
    assert sent == "Paradise is not "
    assert not stream.stopped
    assert stream.finish() == "Paris"
    assert stream.finish() == ""


def test_no_stops_hold_nothing_back(tokenizer: Any) -> None:
    ids = ids_of(tokenizer, TEXT)
    pieces, tail = feed(tokenizer, ids)
    assert "".join(pieces) == TEXT
    assert tail == ""
    assert all(pieces)  # plain ASCII: every token's text goes out with its push
