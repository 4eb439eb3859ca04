"""`lmops eval ...`: run, list, show and compare evaluations, and gate a candidate in CI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lmops.cli.online import online
from lmops.cli.output import emit, json_option
from lmops.cli.progress import progress_bar
from lmops.cli.prompts import parse_params
from lmops.core.settings import current


def _store() -> Any:
    from lmops.evaluation.sdk import open_stores

    return open_stores(current()).evaluations


@click.group("eval")
def evaluation() -> None:
    """Evaluations: score a model, prompt or endpoint on a dataset; compare; gate."""


run_options = [
    click.option("--data", "-d", required=True, help="A dataset version (datasets:/qa/2)."),
    click.option("--scorer", "-s", "scorers", multiple=True, help="A scorer name (repeatable)."),
    click.option("--model", help="The model a prompts:/ target (or an endpoint URL) uses."),
    click.option("--param", "params", multiple=True, help="A request parameter k=v."),
    click.option("--expected-column", default="expected", show_default=True),
    click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256)),
    click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10)),
    click.option(
        "--judge",
        help="The model the judge scorers ask: models:/..., an endpoint URL (with "
        "--judge-model), or a gateway endpoint's name.",
    ),
    click.option("--judge-model", help="The model name a --judge URL serves."),
    click.option("--judge-rubric", help="A prompts:/ version to grade with."),
]


F = TypeVar("F", bound=Callable[..., Any])


def _with(options: list[Any]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def _evaluate(target: str, data: str, scorers: tuple[str, ...], **options: Any) -> Any:
    import lmops

    with progress_bar() as echo:
        return lmops.evaluate(
            target,
            data,
            list(scorers) or ["exact_match"],
            progress=lambda done, total: echo("rows", done, total),
            **options,
        )


@evaluation.command("run")
@click.argument("target")
@_with(run_options)
@click.option("--name", help="What to call this evaluation.")
@json_option
def run(
    target: str,
    data: str,
    scorers: tuple[str, ...],
    model: str | None,
    params: tuple[str, ...],
    expected_column: str,
    concurrency: int,
    retries: int,
    judge: str | None,
    judge_model: str | None,
    judge_rubric: str | None,
    name: str | None,
    as_json: bool,
) -> None:
    """Evaluate TARGET (models:/..., prompts:/... with --model, an endpoint URL with --model,
    or a gateway endpoint's name with LMOPS_URI at its server) on --data."""
    result = _evaluate(
        target,
        data,
        scorers,
        model=model,
        params=parse_params(params),
        name=name,
        expected_column=expected_column,
        concurrency=concurrency,
        retries=retries,
        judge=judge,
        judge_model=judge_model,
        judge_rubric=judge_rubric,
    )
    if as_json:
        click.echo(result.evaluation.model_dump_json(indent=2))
    else:
        click.echo(result.summary())


@evaluation.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
def list_evaluations(limit: int, as_json: bool) -> None:
    """Evaluations, newest first."""
    emit(
        _store().list_evaluations(limit=limit),
        [
            ("id", lambda e: e.id),
            ("name", lambda e: e.name),
            ("target", lambda e: e.target),
            ("data", lambda e: e.data),
            ("rows", lambda e: e.row_count),
            ("failed", lambda e: e.failed_rows),
            (
                "scores",
                lambda e: ", ".join(
                    f"{k}={v:.4g}" for k, v in e.aggregates.items() if v is not None
                ),
            ),
            ("created", lambda e: e.created_at),
        ],
        as_json,
    )


@evaluation.command("show")
@click.argument("evaluation_id")
@click.option("--rows", "show_rows", default=10, show_default=True, help="Rows to print.")
@json_option
def show(evaluation_id: str, show_rows: int, as_json: bool) -> None:
    """An evaluation's aggregates, failures and first rows."""
    from lmops.evaluation.evaluate import Result

    store = _store()
    found = store.get(evaluation_id.removeprefix("evals:/"))
    rows = store.rows(found.id, limit=max(show_rows, 0))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "evaluation": found.model_dump(mode="json"),
                    "rows": [r.model_dump(mode="json") for r in rows],
                },
                indent=2,
            )
        )
        return
    click.echo(Result(found, rows).summary())
    for row in rows:
        scores = ", ".join(
            f"{k}={'-' if s.value is None else f'{s.value:.3g}'}" for k, s in row.scores.items()
        )
        shown = repr(row.output)[:80] if row.error is None else f"failed: {row.error[:80]}"
        click.echo(f"  #{row.index}: {shown}  [{scores}]")


def _print_comparison(comparison: Any) -> None:
    c = comparison
    click.echo(f"A {c.a.uri} ({c.a.target})  against  B {c.b.uri} ({c.b.target})")
    if not c.same_data:
        click.echo("warning: the two evaluations did not run on the same rows", err=True)
    header = f"{'metric':<22}{'A':>9}{'B':>9}{'B-A':>9}   {c.confidence:.0%} interval"
    click.echo(header + "           wins/losses/ties  verdict")
    for m in c.metrics:
        interval = "-" if m.low is None else f"[{m.low:+.4f}, {m.high:+.4f}]"
        click.echo(
            f"{m.name:<22}{_n(m.a):>9}{_n(m.b):>9}{_n(m.delta, True):>9}   {interval:<26}"
            f"{m.wins}/{m.losses}/{m.ties:<12}{m.verdict}"
        )
    click.echo(f"{len(c.changed)} rows changed on some metric")


def _n(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


@evaluation.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--confidence", default=0.95, show_default=True, type=float)
@json_option
def compare_command(a: str, b: str, confidence: float, as_json: bool) -> None:
    """Compare evaluation B against A: per-metric deltas with bootstrap intervals."""
    from dataclasses import asdict

    from lmops.evaluation.compare import compare

    c = compare(
        _store(), a.removeprefix("evals:/"), b.removeprefix("evals:/"), confidence=confidence
    )
    if as_json:
        metrics = [{**asdict(m), "verdict": m.verdict} for m in c.metrics]
        click.echo(json.dumps({"a": c.a.id, "b": c.b.id, "metrics": metrics}, indent=2))
        return
    _print_comparison(c)


@evaluation.command("gate")
@click.option("--candidate", required=True, help="The version to judge (models:/x/4).")
@click.option(
    "--baseline", required=True, help="What it must hold up against (models:/x@production)."
)
@_with(run_options)
@click.option("--metric", required=True, help="The scorer the gate reads.")
@click.option("--min-delta", default=0.0, show_default=True, help="Required improvement.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write the markdown report here.")
def gate(
    candidate: str,
    baseline: str,
    data: str,
    scorers: tuple[str, ...],
    model: str | None,
    params: tuple[str, ...],
    expected_column: str,
    concurrency: int,
    retries: int,
    judge: str | None,
    judge_model: str | None,
    judge_rubric: str | None,
    metric: str,
    min_delta: float,
    report: str | None,
) -> None:
    """Evaluate candidate and baseline on --data and fail (exit 1) when the candidate is
    worse on --metric beyond the confidence interval. A passing gate attaches the result
    gate.<metric> = 1 to a candidate model version, which a registry policy can require
    (`lmops models policy ... --min gate.rougeL=1`)."""
    from lmops.evaluation.compare import compare
    from lmops.evaluation.gate import GATE_RESULT
    from lmops.evaluation.gate import judge as judge_gate

    chosen = tuple(dict.fromkeys((metric, *scorers)))
    options = {
        "model": model,
        "params": parse_params(params),
        "expected_column": expected_column,
        "concurrency": concurrency,
        "retries": retries,
        "judge": judge,
        "judge_model": judge_model,
        "judge_rubric": judge_rubric,
    }
    base = _evaluate(baseline, data, chosen, name=f"gate baseline {baseline}", **options)
    cand = _evaluate(candidate, data, chosen, name=f"gate candidate {candidate}", **options)
    store = _store()
    result = judge_gate(compare(store, base.evaluation.id, cand.evaluation.id), metric, min_delta)
    text = result.report()
    if report:
        Path(report).write_text(text + "\n", encoding="utf-8")
    click.echo(text)
    version = cand.evaluation.model_version
    if version is not None:
        from lmops.registry.results import attach_result
        from lmops.registry.sdk import open_registry

        registry = open_registry(current())
        attach_result(
            registry,
            registry.get_version(version),
            GATE_RESULT.format(metric=metric),
            1.0 if result.passed else 0.0,
            source=f"evals:/{cand.evaluation.id} against evals:/{base.evaluation.id}",
        )
    if not result.passed:
        sys.exit(1)


evaluation.add_command(online)
