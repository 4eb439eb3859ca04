"""The fluent SDK works in LMOPS_PROJECT: in-process, on PostgreSQL and through a server."""

from __future__ import annotations

import pytest

import lmops
from lmops.core.errors import NotFound
from lmops.core.ids import new_id
from lmops.fluent import backends


def work_in(project: str) -> None:
    current = backends.settings()
    lmops.configure(home=current.home, uri=current.uri, project=project)


def test_the_sdk_reads_and_writes_only_its_project(sdk: str) -> None:
    a, b, tag = f"a-{new_id()[:8]}", f"b-{new_id()[:8]}", new_id()

    @lmops.trace
    def answer(question: str) -> str | None:
        lmops.update_current_trace(tags={"test": tag})
        return lmops.get_current_trace_id()

    work_in(a)
    with lmops.start_run(params={"lr": 0.1}) as run:  # in project a's "Default" experiment
        lmops.log_metric("loss", 1.0)
    trace_id = answer("a's question")
    assert trace_id is not None
    assert lmops.get_trace(trace_id).trace_id == trace_id

    work_in(b)
    with pytest.raises(NotFound):
        lmops.get_run(run.id)
    with pytest.raises(NotFound):
        lmops.get_metric_history(run.id, "loss")
    with pytest.raises(NotFound):
        lmops.get_trace(trace_id)
    with pytest.raises(NotFound):
        lmops.log_feedback(trace_id, "thumbs", False)
    assert lmops.list_experiments() == []
    assert lmops.search_traces(tags={"test": tag}).traces == []
    with lmops.start_run() as theirs:  # b's own "Default" experiment
        pass
    assert theirs.info.experiment_id != run.info.experiment_id
    assert [r.id for r in lmops.search_runs()] == [theirs.id]

    work_in(a)
    assert lmops.get_run(run.id).metrics == {"loss": 1.0}
    assert [r.id for r in lmops.search_runs()] == [run.id]
    assert [t.trace_id for t in lmops.search_traces(tags={"test": tag}).traces] == [trace_id]
