"""Projects in the tracking store: two stores over one engine never see each other's rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lmops.core.errors import Conflict, NotFound
from lmops.core.projects import DEFAULT_PROJECT
from lmops.tracking.entities import Metric, RunStatus
from lmops.tracking.store import TrackingStore


@pytest.fixture
def a(tracking: TrackingStore) -> TrackingStore:
    return tracking.in_project("a")


@pytest.fixture
def b(tracking: TrackingStore) -> TrackingStore:
    return tracking.in_project("b")


def test_one_name_in_two_projects(a: TrackingStore, b: TrackingStore) -> None:
    in_a, in_b = a.create_experiment("exp"), b.create_experiment("exp")
    assert in_a.id != in_b.id
    assert a.get_experiment_by_name("exp").id == in_a.id
    assert b.get_experiment_by_name("exp").id == in_b.id
    assert a.get_or_create_experiment("exp").id == in_a.id
    with pytest.raises(Conflict, match="project 'a'"):
        a.create_experiment("exp")


def test_experiments_of_another_project_do_not_exist(
    a: TrackingStore, b: TrackingStore, tracking: TrackingStore
) -> None:
    experiment = a.create_experiment("only-a")
    a.create_run(experiment.id)
    with pytest.raises(NotFound) as hidden:
        b.get_experiment(experiment.id)
    with pytest.raises(NotFound) as unknown:
        b.get_experiment("f" * 32)
    assert str(hidden.value) == str(unknown.value).replace("f" * 32, experiment.id)
    with pytest.raises(NotFound):
        b.get_experiment_by_name("only-a")
    assert b.list_experiments() == []
    assert tracking.list_experiments() == []  # the default project is a project too
    assert [(e.name, e.run_count) for e in a.list_experiments()] == [("only-a", 1)]
    # a "Default" experiment made on demand is made per project
    assert b.get_or_create_experiment("only-a").id != experiment.id


def test_runs_of_another_project_do_not_exist(
    a: TrackingStore, b: TrackingStore, tmp_path: Path
) -> None:
    experiment = a.create_experiment("exp")
    run = a.create_run(experiment.id, params={"lr": 0.1})
    a.log_batch(run.id, [Metric(key="loss", value=1.0, step=0, timestamp=1)])
    artifact = tmp_path / "notes.txt"
    artifact.write_text("a's notes")
    a.log_artifact(run.id, artifact)
    b_experiment = b.create_experiment("exp")

    refused: list[Callable[[], object]] = [
        lambda: b.get_run(run.id),
        lambda: b.end_run(run.id, RunStatus.KILLED),
        lambda: b.log_batch(run.id, params={"lr": 0.2}),
        lambda: b.log_metric_rows(run.id, [("loss", 9.0, 1, 2)]),
        lambda: b.set_tags(run.id, {"owner": "b"}),
        lambda: b.get_metric_history(run.id, "loss"),
        lambda: b.log_artifact(run.id, artifact, "stolen.txt"),
        lambda: b.list_artifacts(run.id),
        lambda: b.resolve_artifact(run.id, "notes.txt"),
        lambda: b.download_artifact(run.id, "notes.txt", tmp_path / "out"),
        lambda: b.create_run(experiment.id),
        lambda: b.create_run(b_experiment.id, parent_run_id=run.id),
        lambda: b.search_runs([experiment.id]),
        lambda: b.search_runs([b_experiment.id, experiment.id]),
    ]
    for attempt in refused:
        with pytest.raises(NotFound):
            attempt()

    after = a.get_run(run.id)
    assert after.status == RunStatus.RUNNING
    assert after.params == {"lr": "0.1"} and after.tags == {} and after.metrics == {"loss": 1.0}
    assert [m.value for m in a.get_metric_history(run.id, "loss")] == [1.0]
    assert [x.path for x in a.list_artifacts(run.id)] == ["notes.txt"]
    assert [r.id for r in a.search_runs([experiment.id]).runs] == [run.id]
    assert b.search_runs([b_experiment.id]).total == 0


def test_stores_default_to_the_default_project(tracking: TrackingStore) -> None:
    assert tracking.project == DEFAULT_PROJECT
    assert tracking.in_project(DEFAULT_PROJECT) is tracking
    made = tracking.create_experiment("exp")
    assert tracking.in_project(DEFAULT_PROJECT).get_experiment(made.id) == made
