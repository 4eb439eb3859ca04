"""Preparation steps on SQLite and PostgreSQL: what each keeps, its recipe, report and lineage."""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import func, select

import lmops.data
from lmops.core.errors import InvalidInput, NotFound
from lmops.data.loading import read_table
from lmops.data.steps import apply
from lmops.data.store import DataStore
from lmops.data.tables import dataset_versions
from lmops.store.lineage import edges
from tests.data.conftest import make_version

ROWS = [
    {"id": i, "text": f"question {i} about topic {i % 4}", "answer": f"answer {i}", "n": i % 3}
    for i in range(60)
]


def rows_of(store: DataStore, uri: str) -> list[dict[str, Any]]:
    return read_table(store, store.get_version(uri)).to_pylist()


def version_count(store: DataStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(dataset_versions)).scalar_one())


def test_filter_keeps_matching_rows_in_order_and_records_its_recipe(store: DataStore) -> None:
    source = make_version(store, "qa", ROWS)
    out = apply(store, "datasets:/qa@latest", "filter", {"where": "n = 1 AND id < 30"})
    assert [r["id"] for r in rows_of(store, out.uri)] == [i for i in range(30) if i % 3 == 1]
    assert out.uri == "datasets:/qa/2" and out.parent_version_id == source.id
    assert out.recipe == {"op": "filter", "params": {"where": "n = 1 AND id < 30"}}
    assert out.report == {"rows_in": 60, "rows_out": 10}
    upstream = edges(store.engine, "dataset_version", out.id, direction="upstream")
    assert [(e.from_id, e.relation) for e in upstream] == [(source.id, "derived_from")]
    jobs = store.list_jobs("qa")
    assert jobs[0].op == "filter" and jobs[0].status == "succeeded"
    assert jobs[0].output_version_id == out.id


def test_select_and_rename(store: DataStore) -> None:
    make_version(store, "qa", ROWS)
    out = apply(
        store, "datasets:/qa/1", "select", {"columns": ["answer", "id"], "rename": {"id": "key"}}
    )
    assert [c.name for c in out.columns] == ["answer", "key"]
    assert rows_of(store, out.uri)[0] == {"answer": "answer 0", "key": 0}


def test_aggregate_groups_in_a_stable_order(store: DataStore) -> None:
    make_version(store, "qa", ROWS)
    out = apply(
        store,
        "datasets:/qa/1",
        "aggregate",
        {"group_by": ["n"], "aggregates": {"rows": "count(*)", "top": "max(id)"}},
    )
    assert rows_of(store, out.uri) == [
        {"n": 0, "rows": 20, "top": 57},
        {"n": 1, "rows": 20, "top": 58},
        {"n": 2, "rows": 20, "top": 59},
    ]


def test_join_pins_the_other_version_and_links_both_parents(store: DataStore) -> None:
    left = make_version(store, "qa", ROWS[:5])
    right = make_version(store, "labels", [{"id": 1, "label": "a"}, {"id": 3, "label": "b"}])
    out = apply(
        store,
        left.uri,
        "join",
        {"other": "datasets:/labels@latest", "on": ["id"], "how": "left"},
        into="qa_labelled",
    )
    assert out.recipe["params"]["other"] == "datasets:/labels/1"
    got = [(r["id"], r["label"]) for r in rows_of(store, out.uri)]
    assert got == [(0, None), (1, "a"), (2, None), (3, "b"), (4, None)]
    parents = {
        e.from_id for e in edges(store.engine, "dataset_version", out.id, direction="upstream")
    }
    assert parents == {left.id, right.id}
    semi = apply(store, left.uri, "join", {"other": right.uri, "on": ["id"], "how": "semi"})
    assert [r["id"] for r in rows_of(store, semi.uri)] == [1, 3]


@lmops.data.map_function("shout")
def shout(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["n"] == 0:
        return None
    return {"id": row["id"], "text": row["text"].upper()}


@lmops.data.map_function("tag_batch", batched=True)
def tag_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.append_column("tag", pa.array(["x"] * batch.num_rows))


def test_map_applies_a_registered_function_and_records_its_module(store: DataStore) -> None:
    make_version(store, "qa", ROWS)
    out = apply(store, "datasets:/qa/1", "map", {"function": "shout"})
    assert out.recipe["params"] == {"function": "shout", "module": __name__}
    assert out.report == {"function": "shout", "rows_dropped": 20}
    assert rows_of(store, out.uri)[0] == {"id": 1, "text": "QUESTION 1 ABOUT TOPIC 1"}
    batched = apply(store, "datasets:/qa/1", "map", {"function": "tag_batch"})
    assert {r["tag"] for r in rows_of(store, batched.uri)} == {"x"}
    with pytest.raises(InvalidInput, match="no map function registered as 'nope'"):
        apply(store, "datasets:/qa/1", "map", {"function": "nope"})


def test_sample_is_seeded_and_exact_in_size(store: DataStore) -> None:
    make_version(store, "qa", ROWS)
    a = apply(store, "datasets:/qa/1", "sample", {"n": 10, "seed": 7})
    b = apply(store, "datasets:/qa/1", "sample", {"n": 10, "seed": 7})
    c = apply(store, "datasets:/qa/1", "sample", {"n": 10, "seed": 8})
    ids = [r["id"] for r in rows_of(store, a.uri)]
    assert len(ids) == 10 and ids == sorted(ids)
    assert a.digest == b.digest and a.digest != c.digest
    half = apply(store, "datasets:/qa/1", "sample", {"fraction": 0.5})
    assert 15 <= half.row_count <= 45
    with pytest.raises(InvalidInput, match="one of n"):
        apply(store, "datasets:/qa/1", "sample", {})


def test_split_by_key_is_deterministic_and_reports_counts(store: DataStore) -> None:
    rows = [{"user": f"u{i % 40}", "text": f"message {i} from user {i % 40}"} for i in range(400)]
    make_version(store, "chat", rows)
    out = apply(store, "datasets:/chat/1", "split", {"key": "user", "seed": 3})
    again = apply(store, "datasets:/chat/1", "split", {"key": "user", "seed": 3})
    assert out.digest == again.digest
    table = rows_of(store, out.uri)
    by_user: dict[str, set[str]] = {}
    for row in table:
        by_user.setdefault(row["user"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_user.values())
    counts = out.report["counts"]  # type: ignore[index]
    assert sum(counts.values()) == 400 and set(counts) == {"train", "validation", "test"}
    assert counts["train"] > counts["validation"]
    with pytest.raises(InvalidInput, match="add up to 1"):
        apply(store, "datasets:/chat/1", "split", {"key": "user", "fractions": {"a": 0.5}})


def test_convert_to_chat_prompt_completion_and_preference(store: DataStore) -> None:
    rows = [{"q": "What is 2+2?", "a": "4", "bad": "5", "split": "train"}]
    make_version(store, "qa", rows)
    chat = apply(
        store,
        "datasets:/qa/1",
        "convert",
        {"to": "chat", "prompt": "q", "completion": "a", "system": "Be brief.", "keep": ["split"]},
    )
    assert rows_of(store, chat.uri) == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"},
            ],
            "split": "train",
        }
    ]
    back = apply(store, chat.uri, "convert", {"to": "prompt_completion"})
    row = rows_of(store, back.uri)[0]
    assert row["completion"] == [{"role": "assistant", "content": "4"}]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    pref = apply(
        store,
        "datasets:/qa/1",
        "convert",
        {"to": "preference", "prompt": "q", "chosen": "a", "rejected": "bad"},
    )
    assert rows_of(store, pref.uri) == [{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}]


def test_redact_pii_replaces_and_counts(store: DataStore) -> None:
    rows = [
        {"text": "mail ann@example.org or call +44 20 7946 0958", "id": 1},
        {"text": "nothing here", "id": 2},
    ]
    make_version(store, "notes", rows)
    out = apply(store, "datasets:/notes/1", "redact_pii", {})
    texts = [r["text"] for r in rows_of(store, out.uri)]
    assert "ann@example.org" not in texts[0] and "[EMAIL]" in texts[0]
    assert "[PHONE]" in texts[0] and texts[1] == "nothing here"
    assert out.report["replaced"]["text"]["email"] == 1  # type: ignore[index]
    with pytest.raises(InvalidInput, match="string columns"):
        apply(store, "datasets:/notes/1", "redact_pii", {"columns": ["id"]})


def test_exact_dedup_normalizes_and_reports_examples(store: DataStore) -> None:
    rows = [
        {"text": "Hello   World"},
        {"text": "other"},
        {"text": "hello world"},
        {"text": "HELLO WORLD "},
        {"text": None},
    ]
    make_version(store, "docs", rows)
    out = apply(store, "datasets:/docs/1", "dedup_exact", {})
    assert [r["text"] for r in rows_of(store, out.uri)] == ["Hello   World", "other", None]
    report = out.report or {}
    assert report["rows_removed"] == 2 and report["groups"] == 1
    assert report["examples"][0]["kept"] == {"row": 0, "text": "Hello   World"}
    assert [r["row"] for r in report["examples"][0]["removed"]] == [2, 3]
    strict = apply(store, "datasets:/docs/1", "dedup_exact", {"normalize": False})
    assert strict.row_count == 5


def test_near_dedup_removes_planted_copies_and_keeps_by_policy(store: DataStore) -> None:
    rngs = [random.Random(i) for i in range(30)]
    base = [" ".join(f"w{rng.randrange(5000)}" for _ in range(60)) for rng in rngs]
    near = [text.replace(text.split()[5], "changed", 1) for text in base[:5]]
    longer = [base[5] + " extra words at the end"]
    rows = [{"text": t} for t in [*base, *near, *longer]]
    make_version(store, "docs", rows)
    out = apply(store, "datasets:/docs/1", "dedup_near", {"threshold": 0.7})
    kept = [r["text"] for r in rows_of(store, out.uri)]
    assert kept == base
    report = out.report or {}
    assert report["rows_removed"] == 6 and report["clusters"] == 6
    longest = apply(store, "datasets:/docs/1", "dedup_near", {"threshold": 0.7, "keep": "longest"})
    assert longer[0] in [r["text"] for r in rows_of(store, longest.uri)]
    assert base[5] not in [r["text"] for r in rows_of(store, longest.uri)]


def test_bad_input_gives_one_clear_error_and_registers_nothing(store: DataStore) -> None:
    make_version(store, "qa", ROWS)
    before = version_count(store)
    with pytest.raises(InvalidInput, match=r"has no column 'nope'; its columns are id, text"):
        apply(store, "datasets:/qa/1", "dedup_exact", {"columns": ["nope"]})
    with pytest.raises(InvalidInput, match="has no parameter colour"):
        apply(store, "datasets:/qa/1", "filter", {"where": "true", "colour": 1})
    with pytest.raises(InvalidInput, match="needs where"):
        apply(store, "datasets:/qa/1", "filter", {})
    with pytest.raises(InvalidInput, match="unknown step 'explode'"):
        apply(store, "datasets:/qa/1", "explode", {})
    with pytest.raises(InvalidInput, match="SQL error"):
        apply(store, "datasets:/qa/1", "filter", {"where": "no_such_column > 1"})
    with pytest.raises(InvalidInput, match="SQL error"):
        apply(
            store,
            "datasets:/qa/1",
            "filter",
            {"where": "(select count(*) from read_csv('/etc/passwd')) > 0"},
        )
    with pytest.raises(NotFound):
        apply(store, "datasets:/qa/9", "filter", {"where": "true"})
    assert version_count(store) == before
    failed = [j for j in store.list_jobs("qa") if j.status == "failed"]
    assert failed and "SQL error" in failed[0].message
