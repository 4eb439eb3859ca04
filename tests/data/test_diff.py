"""Version diffs: whole rows as multisets, schema changes, profile deltas, on both dialects."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lmops.core.errors import InvalidInput
from lmops.data.diff import diff_versions
from lmops.data.entities import ColumnProfile, DatasetVersion
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from tests.factories import derive, profile_of, text_profile

ROWS = [{"text": t, "n": i} for i, t in enumerate(["a", "b", "c", "c", "d"])]


@pytest.fixture
def base(store: DataStore) -> DatasetVersion:
    return import_source(store, "d", pa.Table.from_pylist(ROWS))


def sorted_rows(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(tuple(r.values()) for r in rows)


def test_the_same_content_is_all_unchanged(store: DataStore, base: DatasetVersion) -> None:
    again = import_source(store, "d", pa.Table.from_pylist(ROWS))
    assert again.digest == base.digest
    diff = diff_versions(store, base, again)
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (0, 0, 5)
    assert diff.added_sample == [] and diff.note is None and diff.profile_deltas is None


def test_rows_are_compared_as_a_multiset(store: DataStore, base: DatasetVersion) -> None:
    # drop "a" and the second "c"; add "e" and a second copy of "d"
    rows = [ROWS[1], ROWS[2], ROWS[4], ROWS[4], {"text": "e", "n": 9}]
    new = derive(store, base, rows, "filter", where="n > 0")
    diff = diff_versions(store, base, new)
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (2, 2, 3)
    assert sorted_rows(diff.added_sample) == [("d", 4), ("e", 9)]
    assert sorted_rows(diff.removed_sample) == [("a", 0), ("c", 3)]
    assert diff.compared_columns == ["text", "n"]
    assert diff.columns_added == diff.columns_removed == diff.columns_type_changed == []
    back = diff_versions(store, new, base)
    assert (back.rows_added, back.rows_removed, back.rows_unchanged) == (2, 2, 3)


def test_samples_are_capped(store: DataStore, base: DatasetVersion) -> None:
    new = derive(store, base, [{"text": str(i), "n": i} for i in range(50)], "map")
    diff = diff_versions(store, base, new, sample=3)
    assert (diff.rows_added, diff.rows_removed) == (50, 5)
    assert len(diff.added_sample) == 3 and len(diff.removed_sample) == 3
    assert diff_versions(store, base, new, sample=0).added_sample == []
    with pytest.raises(InvalidInput, match="sample"):
        diff_versions(store, base, new, sample=-1)


def test_an_added_column_compares_on_the_shared_ones(
    store: DataStore, base: DatasetVersion
) -> None:
    new = derive(store, base, [{**r, "lang": "en"} for r in ROWS[:4]], "add_column")
    diff = diff_versions(store, base, new)
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (0, 1, 4)
    assert [c.name for c in diff.columns_added] == ["lang"]
    assert diff.note == "rows are compared on the 2 columns both versions have"
    assert diff.removed_sample == [{"text": "d", "n": 4}]


def test_a_changed_type_compares_as_text(store: DataStore, base: DatasetVersion) -> None:
    rows = [{"text": r["text"], "n": str(r["n"])} for r in ROWS]
    rows[0]["n"] = "zero"
    new = derive(store, base, rows, "cast")
    diff = diff_versions(store, base, new)
    assert [(c.name, c.a, c.b) for c in diff.columns_type_changed] == [("n", "int64", "string")]
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (1, 1, 4)
    assert diff.added_sample == [{"text": "a", "n": "zero"}]
    assert diff.removed_sample == [{"text": "a", "n": "0"}]
    assert diff.note is not None and "compared as text" in diff.note


def test_no_shared_column(store: DataStore, base: DatasetVersion) -> None:
    other = import_source(store, "other", pa.table({"x": [1.5, 2.5]}))
    diff = diff_versions(store, base, other, sample=1)
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (2, 5, 0)
    assert diff.added_sample == [{"x": 1.5}] and len(diff.removed_sample) == 1
    assert diff.note is not None and "share no column" in diff.note


def test_nested_columns_compare_too(store: DataStore) -> None:
    chats = [[{"role": "user", "content": c}] for c in ("hi", "yo", "hi")]
    old = import_source(store, "chat", pa.table({"messages": chats}))
    new = derive(store, old, [{"messages": chats[0]}, {"messages": chats[1]}], "dedup")
    diff = diff_versions(store, old, new)
    assert (diff.rows_added, diff.rows_removed, diff.rows_unchanged) == (0, 1, 2)
    assert diff.removed_sample == [{"messages": [{"role": "user", "content": "hi"}]}]


def test_profile_deltas_when_both_are_profiled(store: DataStore, base: DatasetVersion) -> None:
    new = derive(store, base, [{**r, "lang": "en"} for r in ROWS[:3]], "dedup")
    texts = [str(r["text"]) for r in ROWS]
    store.save_profile(
        profile_of(
            base,
            [
                ColumnProfile(
                    name="text",
                    type="string",
                    kind="text",
                    nulls=0,
                    distinct=4,
                    text=text_profile(texts, near_duplicates=2),
                ),
                ColumnProfile(name="n", type="int64", kind="number", nulls=1, distinct=5),
            ],
        )
    )
    assert diff_versions(store, base, new).profile_deltas is None  # b is not profiled
    store.save_profile(
        profile_of(
            new,
            [
                ColumnProfile(
                    name="text",
                    type="string",
                    kind="text",
                    nulls=0,
                    distinct=3,
                    text=text_profile(texts[:3], near_duplicates=None),
                ),
                ColumnProfile(name="lang", type="string", kind="text", nulls=0, distinct=1),
            ],
        )
    )
    deltas = {d.name: d for d in diff_versions(store, base, new).profile_deltas or []}
    assert list(deltas) == ["text", "n", "lang"]
    text = deltas["text"]
    assert (text.distinct.a, text.distinct.b, text.distinct.delta) == (4, 3, -1)
    assert (text.exact_duplicates.a, text.exact_duplicates.b) == (1, 0)
    assert text.mean_chars.a == 1.0 and text.mean_chars.delta == 0
    assert (text.near_duplicates.a, text.near_duplicates.b, text.near_duplicates.delta) == (
        2,
        None,
        None,
    )
    assert text.pii.a == text.pii.b == 3
    assert (deltas["n"].nulls.a, deltas["n"].nulls.b) == (1, None)
    assert deltas["n"].mean_chars.a is None  # not a text column
    assert (deltas["lang"].distinct.a, deltas["lang"].distinct.b) == (None, 1)
