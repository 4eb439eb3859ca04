"""`lmops experiments ...` and `lmops runs ...`, in-process or against a server (LMOPS_URI)."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from lmops.cli.output import emit, json_option
from lmops.core.settings import Settings
from lmops.fluent.backends import TrackingBackend, open_tracking
from lmops.tracking.compare import compare_table
from lmops.tracking.entities import Run


def _backend() -> TrackingBackend:
    """The store or server LMOPS_URI names, closed when the command ends."""
    backend = open_tracking(Settings())
    click.get_current_context().call_on_close(backend.close)
    return backend


@click.group()
def experiments() -> None:
    """Experiments: named groups of runs."""


@experiments.command("list")
@json_option
def list_experiments(as_json: bool) -> None:
    """List experiments, newest first."""
    emit(
        _backend().list_experiments(),
        [
            ("id", lambda e: e.id),
            ("name", lambda e: e.name),
            ("runs", lambda e: e.run_count),
            ("created", lambda e: e.created_at),
        ],
        as_json,
    )


@click.group()
def runs() -> None:
    """Runs: one training or evaluation job each."""


@runs.command("list")
@click.option("--experiment", "-e", required=True, help="Experiment name.")
@click.option(
    "--filter", "-f", "filter_", help="e.g. \"metrics.loss < 0.5 and params.lr = '0.01'\""
)
@click.option("--order-by", "-o", multiple=True, help="e.g. 'metrics.loss ASC' (repeatable).")
@click.option("--max-results", "-n", default=100, show_default=True, type=int)
@json_option
def list_runs(
    experiment: str, filter_: str | None, order_by: tuple[str, ...], max_results: int, as_json: bool
) -> None:
    """List the runs of an experiment that match a filter."""
    backend = _backend()
    exp = backend.get_experiment_by_name(experiment)
    page = backend.search_runs(
        [exp.id], filter=filter_, order_by=list(order_by), max_results=max_results
    )
    # The metrics the user sorts by come first, then the others, four at most.
    wanted = [
        k.split(None, 1)[0].removeprefix("metrics.").strip("`")
        for k in order_by
        if k.startswith("metrics.")
    ]
    present = {k for r in page.runs for k in r.metrics}
    metric_keys = ([k for k in wanted if k in present] + sorted(present - set(wanted)))[:4]
    columns: list[tuple[str, Callable[[Run], object]]] = [
        ("id", lambda r: r.id),
        ("name", lambda r: r.name),
        ("status", lambda r: r.status.value),
        ("started", lambda r: r.start_time),
    ]
    columns += [(k, _metric_getter(k)) for k in metric_keys]
    emit(page.runs, columns, as_json)
    if not as_json and page.next_page_token:
        click.echo(f"... {page.total - len(page.runs)} more; narrow the filter or raise -n")


def _metric_getter(key: str) -> Callable[[Run], object]:
    return lambda run: run.metrics.get(key)


@runs.command("show")
@click.argument("run_id")
@json_option
def show_run(run_id: str, as_json: bool) -> None:
    """Show one run: status, params, tags, latest metrics, artifacts."""
    backend = _backend()
    run = backend.get_run(run_id)
    if as_json:
        data = run.model_dump(mode="json")
        data["artifacts"] = [a.model_dump(mode="json") for a in backend.list_artifacts(run_id)]
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"run {run.id}  {run.name}  [{run.status.value}]")
    click.echo(
        f"  experiment {run.experiment_id}  started {run.start_time:%Y-%m-%d %H:%M:%S}"
        + (f"  took {run.duration_s:.1f}s" if run.duration_s is not None else "")
    )
    if run.parent_run_id:
        click.echo(f"  parent {run.parent_run_id}")
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            click.echo(f"{title}:")
            for key in sorted(values):
                click.echo(f"  {key} = {values[key]}")
    artifacts = backend.list_artifacts(run_id)
    if artifacts:
        click.echo("artifacts:")
        for a in artifacts:
            click.echo(f"  {a.path}{'/' if a.is_dir else ''}  {a.size} bytes  {a.digest[:12]}")


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all", "show_all", is_flag=True, help="Show params that are equal too.")
@json_option
def compare_runs(run_ids: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Compare 2+ runs: params that differ and each run's latest metrics."""
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids to compare")
    backend = _backend()
    found = [backend.get_run(r) for r in run_ids]
    table = compare_table(found, show_all)
    if as_json:
        click.echo(
            json.dumps(
                {"runs": [r.id for r in found], "rows": [r.model_dump(mode="json") for r in table]},
                indent=2,
            )
        )
        return
    names = [r.name for r in found]
    width = max([len(row.key) for row in table] + [10])
    click.echo("".ljust(width) + "  " + "  ".join(n[:18].ljust(18) for n in names))
    for row in table:
        cells = [
            "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
            for v in row.values
        ]
        click.echo(row.key.ljust(width) + "  " + "  ".join(c[:18].ljust(18) for c in cells))
