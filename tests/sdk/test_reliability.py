"""What happens to metric points when things go wrong: bad runs, a server that goes away,
forked children, several threads with runs of their own."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmops
from lmops.core.errors import LmopsError, Unavailable
from lmops.core.ids import new_id
from lmops.fluent import tracking
from tests.conftest import LiveServer


def test_points_for_a_missing_run_do_not_sink_the_others(sdk: str) -> None:
    with lmops.start_run(experiment=f"e-{new_id()[:8]}") as run:
        for step in range(100):
            lmops.log_metric("loss", 1.0, step=step)
        lmops.log_metric("loss", 1.0, run_id="0" * 32)  # no such run: those points can't land
        for step in range(100, 200):
            lmops.log_metric("loss", 1.0, step=step)
        with pytest.raises(LmopsError, match="1 metric points were not written"):
            lmops.flush()
        lmops.flush()  # the loss was reported once; nothing else is wrong
    assert len(lmops.get_metric_history(run.id, "loss")) == 200


def test_out_of_range_values_are_refused_at_the_call(sdk: str) -> None:
    from lmops.core.errors import InvalidInput

    with lmops.start_run(experiment=f"e-{new_id()[:8]}"):
        with pytest.raises(InvalidInput, match="64 bits"):
            lmops.log_metric("loss", 1.0, step=2**63)
        with pytest.raises(InvalidInput, match="64 bits"):
            lmops.log_metric("loss", 1.0, timestamp=10**20)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "server")
    lmops.configure(home=tmp_path / "client", uri=server.url)
    yield server
    server.stop()
    tracking.reset()
    lmops.configure(home=tmp_path / "client", uri="")


def test_a_server_restart_loses_nothing(own_server: LiveServer) -> None:
    run = lmops.start_run(experiment="restart")
    for step in range(1000):
        lmops.log_metric("loss", float(step), step=step)
    lmops.flush()
    own_server.stop()
    for step in range(1000, 2000):
        lmops.log_metric("loss", float(step), step=step)
    with pytest.raises(Unavailable, match="cannot reach"):
        lmops.flush()  # not durable yet, and it says so
    own_server.start()
    lmops.flush()  # the queued points go through; the earlier failure is not an error now
    lmops.end_run()
    history = lmops.get_metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(2000))


def _child_logs(run_id: str, n: int) -> None:
    for step in range(n):
        lmops.log_metric("child", float(step), step=step, run_id=run_id)
    # no flush and no end_run: a multiprocessing child exits through os._exit


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_children_write_their_points_once(sdk: str) -> None:
    with lmops.start_run(experiment=f"e-{new_id()[:8]}") as run:
        for step in range(10):
            lmops.log_metric("parent", float(step), step=step)  # queued, not yet written
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=_child_logs, args=(run.id, 100))
        child.start()
        child.join(60)
        assert child.exitcode == 0
    assert len(lmops.get_metric_history(run.id, "child")) == 100
    assert len(lmops.get_metric_history(run.id, "parent")) == 10


def test_threads_can_each_have_their_own_run(sdk: str) -> None:
    name = f"e-{new_id()[:8]}"
    ids: dict[int, str] = {}
    errors: list[BaseException] = []

    def trial(k: int) -> None:
        try:
            with lmops.start_run(experiment=name, params={"k": k}) as run:
                ids[k] = run.id
                for step in range(200):
                    lmops.log_metric("score", float(k), step=step)
        except BaseException as exc:
            errors.append(exc)

    with lmops.start_run(experiment=name, name="main") as main:
        lmops.log_metric("main", 1.0)
        threads = [threading.Thread(target=trial, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    for k, run_id in ids.items():
        run = lmops.get_run(run_id)
        assert run.metrics == {"score": float(k)}
        assert run.status.value == "FINISHED"
    assert lmops.get_run(main.id).metrics == {"main": 1.0}


def test_spans_survive_a_server_restart(own_server: LiveServer) -> None:
    @lmops.trace
    def step(i: int) -> int:
        return i

    def run_traces(tag: str) -> None:
        for i in range(50):
            with lmops.span("request"):
                lmops.update_current_trace(tags={"batch": tag})
                step(i)

    run_traces("before")
    lmops.flush()
    own_server.stop()
    run_traces("during")  # the app goes on while the server is down
    with pytest.raises(Unavailable):
        lmops.flush()
    own_server.start()
    lmops.flush()
    for tag in ("before", "during"):
        page = lmops.search_traces(tags={"batch": tag}, limit=100)
        assert len(page.traces) == 50
        assert all(t.span_count == 2 for t in page.traces)
