"""Edge cases of the preparation steps: names, types, empty inputs, nulls, determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

import lmops.data
from lmops.core.errors import InvalidInput
from lmops.data import querying
from lmops.data.browse import browse
from lmops.data.loading import read_table
from lmops.data.profiling import Options, profile_version
from lmops.data.reproducing import reproduce
from lmops.data.steps import apply
from lmops.data.store import DataStore
from lmops.data.tables import dataset_jobs
from tests.data.conftest import make_version


def rows_of(store: DataStore, uri: str) -> list[dict[str, Any]]:
    return read_table(store, store.get_version(uri)).to_pylist()


def test_no_step_registers_repeated_column_names(store: DataStore) -> None:
    make_version(store, "left", [{"id": 1, "a": "x", "a_right": "y"}])
    make_version(store, "right", [{"id": 1, "a": "z"}])
    with pytest.raises(InvalidInput, match="would repeat a name"):
        apply(store, "datasets:/left/1", "join", {"other": "datasets:/right/1", "on": ["id"]})
    with pytest.raises(InvalidInput, match="more than one column named 'id'"):
        apply(
            store,
            "datasets:/left/1",
            "aggregate",
            {"group_by": ["id"], "aggregates": {"id": "count(*)"}},
        )
    with pytest.raises(InvalidInput, match="more than one column named 'id'"):
        querying.save(store, "select id, id from 'datasets:/left/1'", "twice")
    assert [d.name for d in store.list_datasets()] == ["left", "right"]


def test_filter_and_select_keep_exact_column_types(store: DataStore) -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    table = pa.table(
        {
            "at": pa.array([when, when + timedelta(days=1)], pa.timestamp("us", "Europe/Paris")),
            "took": pa.array([timedelta(seconds=1), timedelta(seconds=2)], pa.duration("ms")),
            "n": [1, 2],
        }
    )
    source = lmops_import(store, table)
    kept = apply(store, source.uri, "filter", {"where": "n > 1"})
    assert kept.columns == source.columns and kept.row_count == 1
    chosen = apply(store, source.uri, "select", {"columns": ["took", "at"]})
    assert [c.type for c in chosen.columns] == ["duration[ms]", "timestamp[us, tz=Europe/Paris]"]


def lmops_import(store: DataStore, table: pa.Table) -> Any:
    from lmops.data.importing import import_source

    return import_source(store, "typed", table)


def test_wrong_parameter_types_are_clear_errors(store: DataStore) -> None:
    make_version(store, "t", [{"id": i, "text": f"t{i}"} for i in range(5)])
    cases = [
        ("sample", {"n": 2.5}, "parameter n: Input should be a valid integer"),
        ("sample", {"fraction": 0}, "parameter fraction: Input should be greater than 0"),
        ("sample", {"n": 2, "seed": -1}, "parameter seed: Input should be greater than or equal"),
        ("split", {"key": "id", "fractions": "x"}, "parameter fractions"),
        ("split", {"key": "id", "check_column": "nope"}, "has no column 'nope'"),
        ("select", {"rename": ["id"]}, "parameter rename"),
        ("aggregate", {"group_by": None, "aggregates": {}}, "parameter group_by"),
        ("dedup_near", {"num_perm": 4096}, "parameter num_perm"),
        ("dedup_near", {"keep": "middle"}, "parameter keep"),
        ("convert", {"to": "yaml"}, "parameter to"),
        ("join", {"other": "datasets:/t/1", "on": ["id"], "how": "sideways"}, "parameter how"),
    ]
    for op, params, message in cases:
        with pytest.raises(InvalidInput, match=message):
            apply(store, "datasets:/t/1", op, params)
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        apply(store, "datasets:/t/1", "sample", {"n": 1}, into="bad name/!")
    assert store.list_jobs("bad name/!") == [] and len(store.list_versions("t")) == 1


def test_sampling_everything_and_numbers_in_strings(store: DataStore) -> None:
    make_version(store, "t", [{"id": i} for i in range(50)])
    assert apply(store, "datasets:/t/1", "sample", {"fraction": 1}).row_count == 50
    assert apply(store, "datasets:/t/1", "sample", {"n": "7"}).row_count == 7


def test_an_empty_version_goes_through_every_step(store: DataStore) -> None:
    make_version(store, "t", [{"id": 1, "text": "a", "answer": "b"}])
    empty = apply(store, "datasets:/t/1", "filter", {"where": "false"})
    assert empty.row_count == 0
    for op, params in [
        ("dedup_near", {"keep": "longest"}),
        ("dedup_exact", {}),
        ("split", {"key": "id", "check_column": "text"}),
        ("convert", {"to": "chat", "prompt": "text", "completion": "answer"}),
        ("sample", {"n": 3}),
        ("redact_pii", {}),
    ]:
        assert apply(store, empty.uri, op, params).row_count == 0, op
    assert profile_version(store, empty).row_count == 0


def test_exact_dedup_over_columns_with_nulls(store: DataStore) -> None:
    rows = [
        {"prompt": "what is 2+2", "completion": None},
        {"prompt": "capital of France?", "completion": None},
        {"prompt": "What is 2+2", "completion": None},
        {"prompt": "a\x1fb", "completion": "c"},
        {"prompt": "a", "completion": "b\x1fc"},
    ]
    make_version(store, "pairs", rows)
    out = apply(store, "datasets:/pairs/1", "dedup_exact", {"columns": ["prompt", "completion"]})
    assert [r["prompt"] for r in rows_of(store, out.uri)] == [
        "what is 2+2",
        "capital of France?",
        "a\x1fb",
        "a",
    ]


def test_leakage_ignores_empty_texts_and_counts_each_row_once(store: DataStore) -> None:
    rows = [{"text": t, "split": s} for t, s in [("same", "train"), ("same", "test")]]
    rows += [{"text": "", "split": s} for s in ("train", "validation", "test")]
    rows += [{"text": None, "split": s} for s in ("train", "test")]
    rows += [{"text": "same", "split": "validation"}]
    make_version(store, "s", rows)
    from lmops.data.dedup import leakage
    from lmops.data.files import local_parquet

    version = store.get_version("datasets:/s/1")
    with local_parquet(store, version) as path:
        found = leakage(path, "text", "split")
    # the test row matches train and validation; it counts once, under train
    assert found["exact"] == {"test": {"train": 1}, "validation": {"train": 1}}
    assert found["exact_rows"] == 2


def test_map_unifies_types_across_batches_and_refuses_an_empty_result(store: DataStore) -> None:
    @lmops.data.map_function("late_float")
    def late_float(row: dict[str, Any]) -> dict[str, Any]:
        value = 1.5 if row["id"] >= 20_000 else (None if row["id"] < 10 else 1)
        return {"id": row["id"], "value": value}

    @lmops.data.map_function("drop_all")
    def drop_all(row: dict[str, Any]) -> None:
        return None

    make_version(store, "m", [{"id": i} for i in range(20_005)])
    out = apply(store, "datasets:/m/1", "map", {"function": "late_float"})
    values = read_table(store, out).column("value").to_pylist()
    assert values[:11] == [None] * 10 + [1.0] and values[-1] == 1.5
    assert [c.type for c in out.columns] == ["int64", "double"]
    with pytest.raises(InvalidInput, match="dropped every row"):
        apply(store, "datasets:/m/1", "map", {"function": "drop_all"})


def test_profile_takes_big_integers_and_content_parts(store: DataStore) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    version = make_version(store, "odd", [{"id": 2**63 - 1, "messages": parts}, {"id": 2**53 + 1}])
    profile = profile_version(store, version, Options(near_duplicates=False))
    ids, messages = profile.columns
    assert ids.distinct == 2 and ids.numbers is not None
    assert messages.kind == "other"  # content that is not text is not read as chat


def test_convert_keeps_message_lists_and_refuses_to_overwrite(store: DataStore) -> None:
    msg = [{"role": "assistant", "content": "4"}]
    make_version(store, "p", [{"prompt": "2+2?", "chosen": msg, "rejected": msg, "x": 1}])
    out = apply(store, "datasets:/p/1", "convert", {"to": "preference"})
    assert rows_of(store, out.uri)[0]["chosen"] == msg
    with pytest.raises(InvalidInput, match="would overwrite"):
        apply(store, "datasets:/p/1", "convert", {"to": "preference", "keep": ["prompt"]})


def test_sorted_pages_neither_skip_nor_repeat_rows(store: DataStore) -> None:
    version = make_version(store, "b", [{"id": i, "label": i % 3} for i in range(3_000)])
    seen = []
    for offset in range(0, 3_000, 500):
        page = browse(store, version, order_by="label", offset=offset, limit=500)
        seen += [r["id"] for r in page.rows]
    assert sorted(seen) == list(range(3_000))
    assert seen[:3] == [0, 3, 6]  # ties keep file order


def test_reproduce_of_a_root_version_says_so(store: DataStore) -> None:
    version = make_version(store, "root", [{"a": 1}])
    result = reproduce(store, version.uri)
    assert result.ok and result.steps == [] and result.digest == version.digest


def test_a_job_whose_heartbeat_stopped_shows_as_abandoned(store: DataStore) -> None:
    from sqlalchemy import update

    job = store.start_job("x", "profile", 10)
    assert store.list_jobs("x")[0].status == "running"
    with store.engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(minutes=5)
        conn.execute(update(dataset_jobs).where(dataset_jobs.c.id == job.id).values(updated_at=old))
    assert store.list_jobs("x")[0].status == "abandoned"
