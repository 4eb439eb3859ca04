"""`lmops data sql` over versions, saved results, and reproduce on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from lmops.core.errors import InvalidInput, NotFound
from lmops.data import querying as sql
from lmops.data.loading import read_table
from lmops.data.reproducing import reproduce
from lmops.data.steps import apply
from lmops.data.store import DataStore
from tests.data.conftest import make_version

ROWS = [{"id": i, "text": f"text number {i % 10}", "label": ["a", "b"][i % 2]} for i in range(50)]


def test_query_reads_versions_by_uri(store: DataStore) -> None:
    make_version(store, "docs", ROWS)
    make_version(store, "labels", [{"label": "a", "name": "Alpha"}, {"label": "b", "name": "Beta"}])
    table = sql.query(
        store,
        "select l.name, count(*) as n from 'datasets:/docs@latest' d "
        "join 'datasets:/labels/1' l using (label) group by l.name order by l.name",
    )
    assert table.to_pylist() == [{"name": "Alpha", "n": 25}, {"name": "Beta", "n": 25}]
    assert sql.query(store, "select * from 'datasets:/docs/1'", limit=3).num_rows == 3


def test_saved_result_is_a_version_with_a_pinned_query_and_both_parents(store: DataStore) -> None:
    docs = make_version(store, "docs", ROWS)
    labels = make_version(store, "labels", [{"label": "a", "name": "Alpha"}])
    saved = sql.save(
        store,
        "select d.id, l.name from 'datasets:/docs@latest' d "
        "join 'datasets:/labels@latest' l using (label) order by d.id",
        "named",
    )
    assert saved.row_count == 25 and saved.uri == "datasets:/named/1"
    assert "'datasets:/docs/1'" in saved.recipe["params"]["query"]
    assert "@latest" not in saved.recipe["params"]["query"]
    assert saved.parent_version_id == docs.id
    assert (labels.id, saved.id) in store.lineage("named")
    assert read_table(store, saved).column("name").to_pylist() == ["Alpha"] * 25


def test_sql_refuses_files_and_explains_mistakes(store: DataStore) -> None:
    make_version(store, "docs", ROWS)
    with pytest.raises(InvalidInput, match="reads no dataset"):
        sql.query(store, "select 1")
    with pytest.raises(InvalidInput, match="SQL error"):
        sql.query(store, "select * from 'datasets:/docs/1', read_text('/etc/passwd')")
    with pytest.raises(InvalidInput, match="SQL error"):
        sql.query(store, "select nope from 'datasets:/docs/1'")
    with pytest.raises(NotFound):
        sql.query(store, "select * from 'datasets:/docs/7'")


def test_reproduce_rebuilds_a_chain_with_a_join_and_sql(store: DataStore) -> None:
    make_version(store, "docs", ROWS)
    make_version(store, "labels", [{"label": "a", "name": "Alpha"}, {"label": "b", "name": "Beta"}])
    apply(store, "datasets:/docs/1", "dedup_exact", {})
    apply(store, "datasets:/docs@latest", "split", {"key": "id", "seed": 1})
    apply(store, "datasets:/docs@latest", "join", {"other": "datasets:/labels/1", "on": ["label"]})
    apply(store, "datasets:/docs@latest", "sample", {"fraction": 0.5, "seed": 2})
    sql.save(
        store,
        "select split, count(*) n from 'datasets:/docs@latest' group by all order by all",
        "counts",
    )
    result = reproduce(store, "datasets:/counts/1")
    assert result.ok, result.steps
    assert [s.op for s in result.steps] == ["dedup_exact", "split", "join", "sample", "sql"]
    assert result.digest == store.get_version("datasets:/counts/1").digest


def test_reproduce_names_the_step_that_drifted(store: DataStore) -> None:
    make_version(store, "docs", ROWS)
    out = apply(store, "datasets:/docs/1", "filter", {"where": "id < 10"})
    # A recipe edited behind the store's back (no route allows it) no longer gives the digest.
    from sqlalchemy import update

    from lmops.data.tables import dataset_versions

    with store.engine.begin() as conn:
        conn.execute(
            update(dataset_versions)
            .where(dataset_versions.c.id == out.id)
            .values(recipe={"op": "filter", "params": {"where": "id < 11"}})
        )
    result = reproduce(store, out.uri)
    assert not result.ok and not result.steps[0].ok
