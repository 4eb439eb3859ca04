"""The row browser: search, typed filters, sort and pages over a version, on both dialects."""

from __future__ import annotations

import math
from datetime import datetime

import pyarrow as pa
import pytest

from lmops.core.errors import InvalidInput
from lmops.data.browse import MAX_LIMIT, Filter, browse, jsonable
from lmops.data.entities import DatasetVersion
from lmops.data.importing import import_source
from lmops.data.store import DataStore

CHATS = [
    [{"role": "user", "content": "Where is my REFUND?"}, {"role": "assistant", "content": "Here."}],
    [{"role": "user", "content": "hi"}],
    None,
    [],
    [{"role": "user", "content": "100% sure_thing"}],
]
ROWS = {
    "text": ["Hello world", "refund please", None, 'it\'s 100% "quoted"', "HELLO again"],
    "label": ["greet", "refund", "other", "other", "greet"],
    "n": [3, 1, 4, None, 5],
    "score": [0.5, math.nan, 0.25, 1.0, None],
    "ok": [True, False, None, True, False],
    "chat": CHATS,
}


@pytest.fixture
def version(store: DataStore) -> DatasetVersion:
    return import_source(store, "rows", pa.table(ROWS))


def texts(page_rows: list[dict[str, object]]) -> list[object]:
    return [r["text"] for r in page_rows]


def test_a_page_of_every_row_in_file_order(store: DataStore, version: DatasetVersion) -> None:
    page = browse(store, version)
    assert page.total_matching == 5 and page.offset == 0 and page.limit == 50
    assert [c.name for c in page.columns] == list(ROWS)
    assert texts(page.rows) == ROWS["text"]
    assert page.rows[0]["chat"] == CHATS[0]
    assert page.rows[1]["score"] == "NaN"  # JSON cannot carry NaN: it travels as text
    assert page.rows[3]["n"] is None and page.rows[0]["ok"] is True


def test_search_is_a_case_insensitive_substring_of_text_and_chat_contents(
    store: DataStore, version: DatasetVersion
) -> None:
    assert texts(browse(store, version, search="hello").rows) == ["Hello world", "HELLO again"]
    # found only in a chat message's content
    assert browse(store, version, search="refund").total_matching == 2
    # LIKE wildcards and quotes are plain characters
    assert texts(browse(store, version, search="100%").rows) == [ROWS["text"][3], "HELLO again"]
    assert texts(browse(store, version, search="sure_thing").rows) == ["HELLO again"]
    assert browse(store, version, search="e_l").total_matching == 0
    assert browse(store, version, search="'quoted").total_matching == 0
    assert browse(store, version, search='"quoted"').total_matching == 1
    assert browse(store, version, search="no such text").rows == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n:=:4", [None]),
        ("n:!=:4", ["Hello world", "refund please", "HELLO again"]),
        ("n:<:3", ["refund please"]),
        ("n:<=:3", ["Hello world", "refund please"]),
        ("n:>:3", [None, "HELLO again"]),
        ("n:>=:5", ["HELLO again"]),
        ("n:is_null", ['it\'s 100% "quoted"']),
        ("text:is_null", [None]),
        ("text:not_null", ["Hello world", "refund please", 'it\'s 100% "quoted"', "HELLO again"]),
        ("text:contains:LLO", ["Hello world", "HELLO again"]),
        ("label:=:other", [None, 'it\'s 100% "quoted"']),
        ("label:>:other", ["refund please"]),
        ("ok:=:true", ["Hello world", 'it\'s 100% "quoted"']),
        ("score:<:0.5", [None]),
        ("chat:contains:assistant", ["Hello world"]),
        ("chat:not_null", ["Hello world", "refund please", 'it\'s 100% "quoted"', "HELLO again"]),
        ("text:=:x' OR '1'='1", []),
    ],
)
def test_each_filter_op(
    store: DataStore, version: DatasetVersion, text: str, expected: list[object]
) -> None:
    page = browse(store, version, filters=[Filter.parse(text)])
    assert texts(page.rows) == expected
    assert page.total_matching == len(expected)


def test_filters_and_search_combine(store: DataStore, version: DatasetVersion) -> None:
    filters = [Filter.parse("label:=:greet"), Filter.parse("n:>:3")]
    assert texts(browse(store, version, filters=filters).rows) == ["HELLO again"]
    assert browse(store, version, search="world", filters=filters).total_matching == 0


def test_sort_and_pages(store: DataStore, version: DatasetVersion) -> None:
    up = browse(store, version, order_by="n")
    assert [r["n"] for r in up.rows] == [1, 3, 4, 5, None]  # nulls last either way
    down = browse(store, version, order_by="n", descending=True)
    assert [r["n"] for r in down.rows] == [5, 4, 3, 1, None]
    pages = [browse(store, version, order_by="n", offset=o, limit=2) for o in (0, 2, 4, 6)]
    assert [[r["n"] for r in p.rows] for p in pages] == [[1, 3], [4, 5], [None], []]
    assert {p.total_matching for p in pages} == {5}
    assert browse(store, version, limit=10_000).limit == MAX_LIMIT


def test_unknown_columns_are_named_with_the_ones_that_exist(
    store: DataStore, version: DatasetVersion
) -> None:
    for call in (
        lambda: browse(store, version, filters=[Filter("nope", "=", "1")]),
        lambda: browse(store, version, order_by="nope"),
    ):
        with pytest.raises(InvalidInput, match="no column 'nope'") as info:
            call()
        assert "text, label, n, score, ok, chat" in info.value.message


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([Filter("n", ">", "abc")], "'abc' is not a BIGINT value, the type of column 'n'"),
        ([Filter("n", "=", "1e400")], "not a BIGINT"),
        ([Filter("ok", "=", "maybe")], "not a BOOLEAN"),
        ([Filter("chat", "<", "x")], "filter it with contains, is_null or not_null"),
        ([Filter("text", "=")], "needs a value"),
        ([Filter("text", "like", "x")], "unknown filter op"),
        ([Filter("text", "=", "a\x00b")], "NUL"),
        ([Filter("text", "contains", "\ud800")], "not valid Unicode"),
        ([Filter("text", "=", "x")] * 21, "at most 20 filters"),
    ],
)
def test_bad_filters_are_invalid_input(
    store: DataStore, version: DatasetVersion, filters: list[Filter], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        browse(store, version, filters=filters)


def test_bad_pages_and_search_are_invalid_input(store: DataStore, version: DatasetVersion) -> None:
    with pytest.raises(InvalidInput, match="offset"):
        browse(store, version, offset=-1)
    with pytest.raises(InvalidInput, match="limit"):
        browse(store, version, limit=0)
    with pytest.raises(InvalidInput, match="q contains a NUL"):
        browse(store, version, search="\x00")


def test_odd_column_names_are_quoted_not_pasted(store: DataStore) -> None:
    odd = 'a "b"; DROP TABLE x; --'
    version = import_source(store, "odd", pa.table({odd: ["x", "y"], "select": [1, 2]}))
    page = browse(store, version, filters=[Filter(odd, "=", "y")], order_by="select")
    assert page.rows == [{odd: "y", "select": 2}]


def test_a_table_without_text_columns_matches_no_search(store: DataStore) -> None:
    version = import_source(store, "nums", pa.table({"n": [1, 2]}))
    assert browse(store, version, search="1").total_matching == 0
    assert browse(store, version).total_matching == 2


def test_filter_parse() -> None:
    assert Filter.parse("n:>=:3") == Filter("n", ">=", "3")
    assert Filter.parse("a:b:contains:x:y") == Filter("a:b", "contains", "x:y")
    assert Filter.parse("text:is_null") == Filter("text", "is_null", None)
    assert Filter.parse("text:=:") == Filter("text", "=", "")
    assert str(Filter("a:b", "contains", "x:y")) == "a:b:contains:x:y"
    for bad in ("", "text", "text:like:x", "((", ":="):
        with pytest.raises(InvalidInput, match="column:op:value"):
            Filter.parse(bad)


def test_jsonable() -> None:
    assert jsonable(datetime(2024, 1, 2, 3, 4)) == "2024-01-02T03:04:00"
    assert jsonable(b"\x00\xff") == "base64:AP8="
    assert jsonable([math.inf, {"k": -math.inf}]) == ["Infinity", {"k": "-Infinity"}]
