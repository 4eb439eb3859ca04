"""Profiles on SQLite and PostgreSQL: every statistic checked against numbers known up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from lmops.core.errors import InvalidInput
from lmops.data.entities import ColumnProfile
from lmops.data.profiling import CATEGORY_LIMIT, Options, distribution, profile_version
from lmops.data.store import DataStore
from tests.data.conftest import make_version


def column(profile_columns: list[ColumnProfile], name: str) -> ColumnProfile:
    return next(c for c in profile_columns if c.name == name)


ROWS = [
    {"text": "The cat sat on the mat.", "label": "pos", "score": 1.0},
    {"text": "the cat   sat on the mat.", "label": "neg", "score": 2.0},
    {"text": "Write to alice@example.com today", "label": "pos", "score": 3.0},
    {"text": "", "label": "pos", "score": None},
    {"text": "bell\x07 rings", "label": None, "score": 5.0},
    {"text": None, "label": "neg", "score": 6.0},
]


def test_profile_counts_what_is_there(store: DataStore) -> None:
    version = make_version(store, "mix", ROWS)
    profile = profile_version(store, version, Options(near_duplicates=True))
    assert store.get_profile(version.id) == profile
    assert profile.row_count == 6

    text = column(profile.columns, "text")
    assert (text.kind, text.nulls, text.distinct) == ("text", 1, 5)
    assert text.text is not None
    stats = text.text
    assert stats.empty == 2  # the empty string and the null
    assert stats.control_chars == 1
    assert stats.exact_duplicates == 1  # the two cat sentences differ only in case and spaces
    assert stats.near_duplicates == 1
    assert stats.pii["email"] == 1 and sum(stats.pii.values()) == 1
    assert stats.chars.count == 5 and stats.chars.max == len("Write to alice@example.com today")
    assert stats.chars.min == 0
    assert stats.ngrams["1"][0].value == "the" and stats.ngrams["1"][0].count == 4
    assert stats.ngrams["2"][0].value in {"cat sat", "the cat"}
    assert sum(stats.languages.values()) == stats.language_sample > 0

    label = column(profile.columns, "label")
    assert label.nulls == 1
    assert [(v.value, v.count) for v in label.top_values] == [("pos", 3), ("neg", 2)]

    score = column(profile.columns, "score")
    assert score.kind == "number" and score.nulls == 1 and score.numbers is not None
    assert (score.numbers.min, score.numbers.max, score.numbers.mean) == (1.0, 6.0, 3.4)


def test_chat_columns_give_turns_and_roles(store: DataStore) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ]
        },
        {"messages": [{"role": "user", "content": "Mail bob@example.org"}]},
    ]
    profile = profile_version(store, make_version(store, "chat", rows))
    messages = column(profile.columns, "messages")
    assert messages.kind == "chat" and messages.chat is not None
    assert messages.chat.roles == {"user": 2, "system": 1, "assistant": 1}
    assert (messages.chat.turns.min, messages.chat.turns.max) == (1, 3)
    assert messages.text is not None and messages.text.pii["email"] == 1


def test_many_distinct_values_get_no_category_distribution(store: DataStore) -> None:
    rows = [{"id": i, "flag": i % 2 == 0} for i in range(CATEGORY_LIMIT + 10)]
    profile = profile_version(store, make_version(store, "ids", rows))
    ids = column(profile.columns, "id")
    assert ids.distinct == CATEGORY_LIMIT + 10 and ids.top_values == []
    flag = column(profile.columns, "flag")
    assert flag.kind == "boolean"
    assert sorted((v.value, v.count) for v in flag.top_values) == [("False", 30), ("True", 30)]


def test_token_lengths_with_a_local_tokenizer_file(store: DataStore, tmp_path: Path) -> None:
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        ["the cat sat on the mat"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    rows = [{"text": "the cat sat"}, {"text": "the dog sat on the mat"}]
    version = make_version(store, "tok", rows)
    profile = profile_version(store, version, Options(tokenizer=str(tmp_path)))
    tokens = column(profile.columns, "text").text
    assert tokens is not None and tokens.tokens is not None
    assert (tokens.tokens.min, tokens.tokens.max) == (3, 6)
    with pytest.raises(InvalidInput, match="no tokenizer at"):
        profile_version(store, version, Options(tokenizer=str(tmp_path / "missing")))


def test_profile_through_the_local_executor_equals_in_process(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lmops.data.profiling.TASK_ROWS", 16_384)
    rows = [{"text": f"row {i % 5000} says hello", "k": i % 7} for i in range(40_000)]
    version = make_version(store, "big", rows)
    here = profile_version(store, version, Options(near_duplicates=False))
    there = profile_version(store, version, Options(near_duplicates=False), executor="local")
    assert here.columns == there.columns
    text = column(here.columns, "text").text
    assert text is not None and text.exact_duplicates == 35_000


def test_distribution_summarizes_values() -> None:
    import numpy as np

    d = distribution(np.arange(101, dtype=np.float64))
    assert (d.count, d.min, d.max, d.mean, d.p50, d.p90) == (101, 0, 100, 50, 50, 90)
    assert sum(d.counts) == 101 and len(d.edges) == len(d.counts) + 1
    empty = distribution(np.zeros(0))
    assert empty.count == 0 and empty.counts == [0]
