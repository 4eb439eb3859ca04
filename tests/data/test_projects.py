"""Datasets in projects, on SQLite and PostgreSQL: the same name in two projects, and nothing
of one project (datasets, versions, profiles, jobs, lineage) readable or usable from another.

A dataset of another project must look exactly like one that does not exist: the same
NotFound with the same message as in a project that never had it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.errors import LmopsError, NotFound
from lmops.data import querying as sql
from lmops.data.graph import lineage_graph, version_chain
from lmops.data.profiling import profile_version
from lmops.data.reproducing import reproduce
from lmops.data.steps import apply
from lmops.data.store import DataStore
from lmops.data.traces import import_traces
from lmops.store.audit import AuditQuery, search
from lmops.store.lineage import add_edge
from lmops.tracing.store import TracingStore
from tests.data.conftest import make_version
from tests.data.test_traces_dataset import trace
from tests.factories import derive

ROWS = [{"id": i, "text": f"row {i}", "label": "ab"[i % 2]} for i in range(6)]


@pytest.fixture
def a(engine: Engine, artifacts: ArtifactStore) -> DataStore:
    return DataStore(engine, artifacts, "a")


@pytest.fixture
def b(a: DataStore) -> DataStore:
    return a.in_project("b")


def _error(call: Callable[[], Any]) -> LmopsError:
    with pytest.raises(LmopsError) as caught:
        call()
    return caught.value


def _same_as_unknown(a: DataStore, call: Callable[[DataStore], Any]) -> None:
    """`call` fails in project b exactly as in a project that never had anything."""
    seen_from_b = _error(lambda: call(a.in_project("b")))
    never = _error(lambda: call(a.in_project("empty")))
    assert isinstance(seen_from_b, NotFound)
    assert (type(seen_from_b), seen_from_b.message) == (type(never), never.message)


def test_the_same_name_in_two_projects_is_two_datasets(a: DataStore, b: DataStore) -> None:
    in_a = make_version(a, "qa", ROWS)
    in_b = make_version(b, "qa", ROWS[:2])
    again = make_version(b, "qa", ROWS[:3])

    assert (in_a.uri, in_b.uri, again.uri) == ("datasets:/qa/1", "datasets:/qa/1", "datasets:/qa/2")
    assert in_a.dataset_id != in_b.dataset_id
    assert [d.latest_version for d in a.list_datasets()] == [1]
    assert [d.latest_version for d in b.list_datasets()] == [2]
    assert a.get_version("datasets:/qa@latest").row_count == 6
    assert b.get_version("datasets:/qa@latest").row_count == 3
    assert b.create_dataset("only-b").name == "only-b"
    assert [d.name for d in a.list_datasets()] == ["qa"]


def test_another_projects_dataset_is_unknown(a: DataStore, b: DataStore) -> None:
    version = make_version(a, "secret", ROWS)
    a.save_profile(profile_version(a, version))

    assert b.list_datasets() == []
    _same_as_unknown(a, lambda s: s.get_dataset("secret"))
    _same_as_unknown(a, lambda s: s.list_versions("secret"))
    _same_as_unknown(a, lambda s: s.get_version("datasets:/secret/1"))
    _same_as_unknown(a, lambda s: s.get_version("datasets:/secret@latest"))
    _same_as_unknown(a, lambda s: lineage_graph(s, "secret"))
    with pytest.raises(NotFound, match="no dataset version with id"):
        b.get_version_by_id(version.id)
    profile = a.get_profile(version.id)
    assert profile is not None and b.get_profile(version.id) is None
    with pytest.raises(NotFound):
        b.save_profile(profile)


def test_steps_sql_and_reproduce_resolve_names_in_their_project(a: DataStore, b: DataStore) -> None:
    make_version(a, "docs", ROWS)
    make_version(a, "labels", [{"label": "a", "name": "Alpha"}])
    make_version(b, "labels", [{"label": "a", "name": "Beta"}])
    joined = apply(a, "datasets:/docs/1", "join", {"other": "datasets:/labels/1", "on": ["label"]})
    saved = sql.save(a, "select count(*) as n from 'datasets:/docs/1'", "counts")

    _same_as_unknown(a, lambda s: apply(s, "datasets:/docs/1", "filter", {"where": "id > 1"}))
    _same_as_unknown(a, lambda s: sql.query(s, "select * from 'datasets:/docs/1'"))
    _same_as_unknown(a, lambda s: sql.save(s, "select * from 'datasets:/docs/1'", "copy"))
    _same_as_unknown(a, lambda s: reproduce(s, joined.uri))
    _same_as_unknown(a, lambda s: reproduce(s, saved.uri))
    # b has a "labels" of its own but no "docs": it cannot join a's docs to its labels
    with pytest.raises(NotFound) as caught:
        apply(b, "datasets:/labels/1", "join", {"other": "datasets:/docs/1", "on": ["label"]})
    assert caught.value.message == "no dataset version datasets:/docs/1"
    # and a's join read a's labels, never b's
    assert sql.query(a, f"select distinct name from '{joined.uri}'").to_pylist() == [
        {"name": "Alpha"}
    ]
    assert reproduce(a, joined.uri).ok and reproduce(a, saved.uri).ok
    assert b.list_datasets()[0].name == "labels" and len(b.list_datasets()) == 1


def test_a_version_never_derives_from_another_projects_version(a: DataStore, b: DataStore) -> None:
    theirs = make_version(a, "docs", ROWS)
    mine = make_version(b, "docs", ROWS)
    with pytest.raises(NotFound, match="no dataset version with id"):
        derive(b, theirs, ROWS[:1], "filter", name="stolen")
    with pytest.raises(NotFound, match="no dataset version with id"):
        derive(b, mine, ROWS[:1], "join", name="stolen", extra_parents=[theirs])
    assert [d.name for d in b.list_datasets()] == ["docs"]  # nothing was registered


def test_lineage_leaves_out_parents_of_another_project(a: DataStore, b: DataStore) -> None:
    theirs = make_version(a, "docs", ROWS)
    mine = make_version(b, "docs", ROWS)
    child = derive(b, mine, ROWS[:2], "filter")
    # an edge across projects, as no step makes one: the graph must not name its far end
    add_edge(b.engine, "dataset_version", theirs.id, "dataset_version", child.id, "derived_from")

    graph = lineage_graph(b, "docs")
    assert {n.id for n in graph.nodes} == {mine.id, child.id}
    assert [(e.parent_id, e.child_id) for e in graph.edges] == [(mine.id, child.id)]
    assert [v.id for v in version_chain(b, child)] == [mine.id, child.id]


def test_jobs_are_kept_per_project(a: DataStore, b: DataStore) -> None:
    make_version(a, "qa", ROWS)
    apply(a, "datasets:/qa/1", "filter", {"where": "id > 2"})
    apply(a, "datasets:/qa/1", "sample", {"n": 2})
    make_version(b, "qa", ROWS)
    apply(b, "datasets:/qa/1", "select", {"columns": ["id"]})

    assert [j.op for j in a.list_jobs("qa")] == ["sample", "filter"]
    assert [j.op for j in b.list_jobs("qa")] == ["select"]
    assert {j.id for j in a.list_jobs()}.isdisjoint(j.id for j in b.list_jobs())
    job = a.list_jobs("qa")[0]
    b.update_job(job.id, status="failed", message="from b")  # matches no job of b's
    assert a.list_jobs("qa")[0].status == "succeeded"


def test_audit_entries_carry_the_datasets_project(a: DataStore, b: DataStore) -> None:
    make_version(a, "qa", ROWS)
    make_version(b, "qa", ROWS)
    apply(b, "datasets:/qa/1", "sample", {"n": 2})
    assert [e.target for e in search(a.engine, AuditQuery(project="a"))] == ["datasets:/qa/1"]
    assert [e.target for e in search(a.engine, AuditQuery(project="b"))] == [
        "datasets:/qa/1",
        "datasets:/qa/2",
    ]


def test_a_dataset_from_traces_reads_its_own_projects_traces(a: DataStore, b: DataStore) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    tracing = TracingStore(a.engine, "a")
    mine = trace(tracing, "qa", "in a?", "yes", when)
    trace(tracing.in_project("b"), "qa", "in b?", "yes", when)

    # whichever project the tracing store was opened in, the data store's project decides
    version = import_traces(a, tracing.in_project("b"), "qa-traces", {"name": "qa"})
    rows = sql.query(a, f"select trace_id, input from '{version.uri}'").to_pylist()
    assert [r["trace_id"] for r in rows] == [mine]
    assert "in a?" in rows[0]["input"]
