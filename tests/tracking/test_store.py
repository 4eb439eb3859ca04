"""TrackingStore on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lmops.core.errors import Conflict, InvalidFilter, InvalidInput, NotFound
from lmops.tracking import RunStatus, TrackingStore
from tests.factories import points


def test_experiment_names_are_unique(tracking: TrackingStore) -> None:
    exp = tracking.create_experiment("sft", description="first")
    with pytest.raises(Conflict, match="already exists"):
        tracking.create_experiment("sft")
    assert tracking.get_or_create_experiment("sft").id == exp.id
    assert tracking.get_experiment_by_name("sft").description == "first"
    with pytest.raises(NotFound, match="no experiment"):
        tracking.get_experiment("nope")


def test_run_lifecycle(tracking: TrackingStore) -> None:
    exp = tracking.create_experiment("e")
    parent = tracking.create_run(exp.id, name="sweep")
    run = tracking.create_run(
        exp.id, params={"lr": 0.01, "layers": [1, 2]}, tags={"team": "nlp"}, parent_run_id=parent.id
    )
    assert run.status is RunStatus.RUNNING
    assert run.params == {"lr": "0.01", "layers": "[1, 2]"}
    assert run.tags == {"team": "nlp"}
    assert run.parent_run_id == parent.id
    assert run.start_time.tzinfo is not None
    done = tracking.end_run(run.id, "FAILED")
    assert done.status is RunStatus.FAILED
    assert done.end_time is not None and done.end_time >= done.start_time
    assert tracking.get_experiment(exp.id).run_count == 2
    with pytest.raises(InvalidInput, match="invalid status"):
        tracking.end_run(run.id, "DONE")
    with pytest.raises(NotFound):
        tracking.create_run(exp.id, parent_run_id="missing")


def test_params_are_write_once(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id, params={"lr": "0.01"})
    tracking.log_params(run.id, {"lr": "0.01", "epochs": 3})  # same value again is fine
    with pytest.raises(Conflict, match="write-once"):
        tracking.log_params(run.id, {"lr": "0.1"})
    assert tracking.get_run(run.id).params == {"lr": "0.01", "epochs": "3"}


def test_a_failed_batch_writes_nothing(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id, params={"lr": "0.01"})
    with pytest.raises(Conflict):
        tracking.log_batch(
            run.id, metrics=points("loss", [1.0]), params={"lr": "0.2"}, tags={"t": "v"}
        )
    stored = tracking.get_run(run.id)
    assert stored.metrics == {} and stored.tags == {}


def test_metrics_are_append_only_with_latest_value(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    tracking.log_metrics(run.id, points("loss", [3.0, 2.0, 1.0]))
    tracking.log_metrics(run.id, points("loss", [9.0], start_step=0))  # an old step again
    history = tracking.get_metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 3.0), (0, 9.0), (1, 2.0), (2, 1.0)]
    assert tracking.get_run(run.id).metrics == {"loss": 1.0}


def test_non_finite_values_round_trip(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    tracking.log_metrics(run.id, points("x", [math.nan, math.inf, -math.inf]))
    values = [p.value for p in tracking.get_metric_history(run.id, "x")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


def test_history_is_downsampled_for_charts(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    values = [float(i % 100) for i in range(20_000)]
    values[12_345] = 1e6  # a spike must survive thinning
    tracking.log_metrics(run.id, points("loss", values))
    thin = tracking.get_metric_history(run.id, "loss", max_points=500)
    assert len(thin) <= 500
    assert thin[0].step == 0 and thin[-1].step == 19_999
    assert max(p.value for p in thin) == 1e6
    assert [p.step for p in thin] == sorted(p.step for p in thin)


def test_unknown_metric_and_run(tracking: TrackingStore) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    with pytest.raises(NotFound, match="no metric"):
        tracking.get_metric_history(run.id, "loss")
    with pytest.raises(NotFound, match="no run"):
        tracking.log_metrics("missing", points("loss", [1.0]))


@pytest.mark.parametrize("key", ["", " x", "a$b", "x" * 251])
def test_invalid_keys(tracking: TrackingStore, key: str) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    with pytest.raises(InvalidInput):
        tracking.log_params(run.id, {key: "1"})
    with pytest.raises(InvalidInput):
        tracking.set_tags(run.id, {key: "1"})


def _search_fixture(tracking: TrackingStore) -> tuple[str, dict[str, str]]:
    exp = tracking.create_experiment("search")
    ids = {}
    for name, lr, loss, tag in [
        ("a", "0.01", 0.4, "x"),
        ("b", "0.1", 0.6, "y"),
        ("c", "0.01", 0.2, "y"),
        ("d", "0.001", None, "x"),
    ]:
        run = tracking.create_run(exp.id, name=name, params={"lr": lr}, tags={"t": tag})
        if loss is not None:
            tracking.log_metrics(run.id, points("loss", [loss + 1, loss]))
        ids[name] = run.id
    tracking.end_run(ids["d"])
    return exp.id, ids


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("metrics.loss < 0.5 and params.lr = '0.01'", {"a", "c"}),
        ("metrics.loss >= 0.4", {"a", "b"}),
        ("params.lr = '0.1' or tags.t = 'x'", {"a", "b", "d"}),
        ("(params.lr = '0.01' or params.lr = '0.1') and metrics.loss > 0.3", {"a", "b"}),
        ("params.lr in ('0.1', '0.001')", {"b", "d"}),
        ("params.lr not in ('0.1', '0.001')", {"a", "c"}),
        ("tags.t like 'y%'", {"b", "c"}),
        ("status = 'FINISHED'", {"d"}),
        ("name != 'a' and attributes.status = 'RUNNING'", {"b", "c"}),
        ("metrics.`loss` = 0.2", {"c"}),
        ("", {"a", "b", "c", "d"}),
    ],
)
def test_search_filters(tracking: TrackingStore, filter_: str, expected: set[str]) -> None:
    exp_id, _ = _search_fixture(tracking)
    page = tracking.search_runs([exp_id], filter_)
    assert {r.name for r in page.runs} == expected
    assert page.total == len(expected)


def test_search_order_and_pages(tracking: TrackingStore) -> None:
    exp_id, _ = _search_fixture(tracking)
    by_loss = tracking.search_runs([exp_id], order_by=["metrics.loss DESC"])
    assert [r.name for r in by_loss.runs] == ["b", "a", "c", "d"]  # missing values last
    by_loss_asc = tracking.search_runs([exp_id], order_by=["metrics.loss"])
    assert [r.name for r in by_loss_asc.runs] == ["c", "a", "b", "d"]
    by_name = tracking.search_runs([exp_id], order_by=["name DESC"], max_results=3)
    assert [r.name for r in by_name.runs] == ["d", "c", "b"]
    assert by_name.next_page_token is not None and by_name.total == 4
    rest = tracking.search_runs(
        [exp_id], order_by=["name DESC"], max_results=3, page_token=by_name.next_page_token
    )
    assert [r.name for r in rest.runs] == ["a"] and rest.next_page_token is None


@pytest.mark.parametrize(
    ("filter_", "position"),
    [
        ("metrics.loss <", 14),
        ("metrics.loss < 'a'", 15),
        ("params.lr = 0.01", 12),
        ("metrics.loss < 0.5 and", 22),
        ("bogus = 1", 0),
        ("metrics.loss ~ 1", 13),
        ("(metrics.loss < 1", 17),
    ],
)
def test_malformed_filters_say_where(tracking: TrackingStore, filter_: str, position: int) -> None:
    exp_id, _ = _search_fixture(tracking)
    with pytest.raises(InvalidFilter) as err:
        tracking.search_runs([exp_id], filter_)
    assert err.value.position == position
    assert f"position {position}" in err.value.message


def test_artifacts_files_and_directories(tracking: TrackingStore, tmp_path: Path) -> None:
    run = tracking.create_run(tracking.create_experiment("e").id)
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"a": 1}')
    (model / "sub" / "weights.bin").write_bytes(b"\x00" * 4096)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    tracking.log_artifact(run.id, notes)
    tracking.log_artifact(run.id, model, "checkpoint")
    listed = {a.path: a for a in tracking.list_artifacts(run.id)}
    assert set(listed) == {"notes.txt", "checkpoint"}
    assert listed["checkpoint"].is_dir and listed["checkpoint"].size == 4096 + 8
    assert tracking.artifact_files(run.id, "checkpoint") == ["config.json", "sub/weights.bin"]
    out = tracking.download_artifact(run.id, "checkpoint", tmp_path / "out")
    assert (out / "sub" / "weights.bin").read_bytes() == b"\x00" * 4096
    one = tracking.download_artifact(run.id, "checkpoint/config.json", tmp_path / "one")
    assert one.read_text() == '{"a": 1}'
    with pytest.raises(NotFound):
        tracking.resolve_artifact(run.id, "checkpoint/missing")
    with pytest.raises(InvalidInput):
        tracking.log_artifact(run.id, notes, "../escape")


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        ("(" * 40 + "metrics.loss < 1" + ")" * 40, "nest deeper"),
        (" or ".join(["metrics.loss > 1"] * 300), "at most 200 comparisons"),
        ("start_time > 1e20", "milliseconds since the epoch"),
        ("metrics.train.loss < 1", "metrics.`train.loss`"),
        ("tags.t = 'a\x00b'", "NUL"),
    ],
)
def test_hostile_filters_are_clear_errors(
    tracking: TrackingStore, filter_: str, message: str
) -> None:
    exp_id, _ = _search_fixture(tracking)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(".", r"\.")):
        tracking.search_runs([exp_id], filter_)


def test_nan_is_treated_alike_on_both_dialects(tracking: TrackingStore) -> None:
    exp = tracking.create_experiment("nan")
    for name, value in [("a", 0.5), ("b", math.nan), ("c", 2.0)]:
        run = tracking.create_run(exp.id, name=name)
        tracking.log_metrics(run.id, points("loss", [value]))
    assert [r.name for r in tracking.search_runs([exp.id], "metrics.loss > 1").runs] == ["c"]
    ordered = tracking.search_runs([exp.id], order_by=["metrics.loss DESC"]).runs
    assert [r.name for r in ordered] == ["c", "a", "b"]
    assert math.isnan(ordered[2].metrics["loss"])


def test_like_is_case_sensitive_and_ilike_is_not(tracking: TrackingStore) -> None:
    exp = tracking.create_experiment("case")
    for name, opt in [("a", "Adam"), ("b", "adamw")]:
        tracking.create_run(exp.id, name=name, params={"opt": opt})
    like = tracking.search_runs([exp.id], "params.opt like 'adam%'").runs
    ilike = tracking.search_runs([exp.id], "params.opt ilike 'adam%'").runs
    assert [r.name for r in like] == ["b"]
    assert sorted(r.name for r in ilike) == ["a", "b"]


def test_start_time_equality_matches_its_millisecond(tracking: TrackingStore) -> None:
    exp = tracking.create_experiment("times")
    run = tracking.create_run(exp.id, name="t")
    ms = int(run.start_time.timestamp() * 1000)
    for op, expected in [
        ("=", ["t"]),
        ("!=", []),
        ("<=", ["t"]),
        ("<", []),
        (">=", ["t"]),
        (">", []),
    ]:
        found = tracking.search_runs([exp.id], f"start_time {op} {ms}").runs
        assert [r.name for r in found] == expected, op


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_text_postgresql_cannot_keep_is_refused(tracking: TrackingStore, bad: str) -> None:
    exp = tracking.create_experiment("text")
    run = tracking.create_run(exp.id)
    with pytest.raises(InvalidInput):
        tracking.create_experiment(bad)
    with pytest.raises(InvalidInput):
        tracking.set_tags(run.id, {"k": bad})
    with pytest.raises(InvalidInput):
        tracking.log_params(run.id, {"k": bad})
    with pytest.raises(NotFound):
        tracking.get_run(bad)
    with pytest.raises(InvalidInput):
        tracking.get_experiment_by_name(bad)


def test_naive_times_are_refused(tracking: TrackingStore) -> None:
    from datetime import datetime

    exp = tracking.create_experiment("naive")
    with pytest.raises(InvalidInput, match="timezone"):
        tracking.create_run(exp.id, start_time=datetime(2026, 1, 1))


def test_two_writers_to_one_run_do_not_deadlock(tracking: TrackingStore) -> None:
    import threading

    run = tracking.create_run(tracking.create_experiment("deadlock").id)
    keys = [f"k{i:02d}" for i in range(20)]
    errors: list[BaseException] = []

    def writer(order: list[str]) -> None:
        try:
            for batch in range(40):
                tracking.log_metric_rows(run.id, [(k, 1.0, batch, batch) for k in order])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (keys, keys[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(tracking.get_metric_history(run.id, "k00")) == 80
