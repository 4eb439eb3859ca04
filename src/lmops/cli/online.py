"""`lmops eval online ...`: rules that score a sampled share of production traces and attach
the results as feedback (the server runs them; `run` runs a pass here and now)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from lmops.cli.output import emit, json_option
from lmops.cli.prompts import parse_params
from lmops.core.errors import InvalidInput
from lmops.core.ids import utcnow
from lmops.core.settings import Settings, current
from lmops.evaluation.entities import OnlineRule, RuleSpec, ScorerRef, TraceFilter
from lmops.evaluation.rules import RuleStore


class _Stores:
    """The stores a rule command needs, in the configured project (in-process only)."""

    def __init__(self, settings: Settings) -> None:
        from lmops.evaluation.sdk import open_stores
        from lmops.prompts.store import PromptStore
        from lmops.tracing.store import TracingStore

        stores = open_stores(settings)  # refuses a server URI with the way to go
        engine = stores.evaluations.engine
        self.settings = settings
        self.registry = stores.registry
        self.rules = RuleStore(engine, settings.project)
        self.prompts = PromptStore(engine, settings.project)
        self.tracing = TracingStore(engine, settings.project)


def _scorer(given: str) -> ScorerRef:
    """`name` or `name:key=value,key=value` (a `feedback_name` key names the feedback)."""
    name, _, options = given.partition(":")
    parsed = parse_params(tuple(p for p in options.split(",") if p)) if options else {}
    feedback = parsed.pop("feedback_name", None)
    return ScorerRef(name=name, options=parsed, feedback_name=feedback)


def _filter(filters: dict[str, Any], tags: tuple[str, ...]) -> TraceFilter:
    found = {k: v for k, v in filters.items() if v is not None}
    return TraceFilter(**found, tags={k: str(v) for k, v in parse_params(tags).items()})


def _show(rule: OnlineRule) -> str:
    scorers = ", ".join(s.label for s in rule.scorers)
    state = "" if rule.enabled else " (disabled)"
    conditions = rule.filter.model_dump(exclude_defaults=True)
    tags = conditions.pop("tags", {})
    where = [f"{k}={v}" for k, v in conditions.items()] + [f"tag {k}={v}" for k, v in tags.items()]
    scope = f" where {', '.join(where)}" if where else ""
    return f"{rule.name}: {scorers} on {rule.sample_rate:.0%} of traces{scope}{state}"


@click.group("online")
def online() -> None:
    """Online scoring: score a share of production traces as they arrive."""


@online.command("create")
@click.argument("name")
@click.option(
    "--scorer",
    "-s",
    "scorers",
    multiple=True,
    required=True,
    metavar="NAME[:K=V,...]",
    help="A scorer and its options (repeatable): length, regex:pattern=Paris, judge.",
)
@click.option("--sample-rate", default=1.0, show_default=True, type=click.FloatRange(0, 1))
@click.option("--endpoint", help="Only traces this gateway endpoint answered.")
@click.option("--model-version", help="Only traces of this model version (models:/x/2).")
@click.option("--prompt-version", help="Only traces that used this prompt version.")
@click.option("--trace-name", help="Only traces with this name.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only traces with this tag.")
@click.option("--judge", help="The judge scorer's model: an endpoint's name, models:/..., a URL.")
@click.option("--judge-model", help="The model name a --judge URL serves.")
@click.option("--judge-rubric", help="A prompts:/ version to grade with.")
@click.option(
    "--backfill",
    type=click.FloatRange(0, 24 * 365 * 10, min_open=True),
    metavar="HOURS",
    help="Also score the traces of the last HOURS.",
)
@click.option("--description", "-d", default="")
@click.option("--disabled", is_flag=True, help="Create it switched off.")
def create(
    name: str,
    scorers: tuple[str, ...],
    sample_rate: float,
    endpoint: str | None,
    model_version: str | None,
    prompt_version: str | None,
    trace_name: str | None,
    tags: tuple[str, ...],
    judge: str | None,
    judge_model: str | None,
    judge_rubric: str | None,
    backfill: float | None,
    description: str,
    disabled: bool,
) -> None:
    """Create rule NAME: from now on, score --sample-rate of the matching traces."""
    from lmops.evaluation.online import check_rule

    if sample_rate == 0:
        raise InvalidInput("--sample-rate must be above 0", field="sample_rate")
    spec = RuleSpec(
        scorers=[_scorer(s) for s in scorers],
        sample_rate=sample_rate,
        filter=_filter(
            {
                "endpoint": endpoint,
                "model_version": model_version,
                "prompt_version": prompt_version,
                "name": trace_name,
            },
            tags,
        ),
        judge=judge,
        judge_model=judge_model,
        judge_rubric=judge_rubric,
        description=description,
        enabled=not disabled,
    )
    stores = _Stores(current())
    check_rule(spec, stores.prompts)
    since = utcnow() - timedelta(hours=backfill) if backfill else None
    click.echo(_show(stores.rules.create(name, spec, since=since)))


@online.command("list")
@json_option
def list_rules(as_json: bool) -> None:
    """The project's rules, with what each has scored."""
    rules = _Stores(current()).rules
    found = rules.list()
    stats = {r.name: rules.stats(r.name) for r in found}
    emit(
        found,
        [
            ("name", lambda r: r.name),
            ("enabled", lambda r: "yes" if r.enabled else "no"),
            ("rate", lambda r: f"{r.sample_rate:.0%}"),
            ("scorers", lambda r: ", ".join(s.label for s in r.scorers)),
            ("scored", lambda r: stats[r.name].scored),
            ("failed", lambda r: stats[r.name].failed),
            ("means", lambda r: _means(stats[r.name].means)),
        ],
        as_json,
    )


@online.command("show")
@click.argument("name")
@click.option("--failures", default=5, show_default=True, help="Recent failures to print.")
def show(name: str, failures: int) -> None:
    """A rule, its figures and its latest failures."""
    rules = _Stores(current()).rules
    rule = rules.get(name)
    stats = rules.stats(name)
    click.echo(_show(rule))
    last = _when(stats.last_scored_at)
    click.echo(f"scored {stats.scored} traces, {stats.failed} failed; last {last}")
    if rule.last_error:
        click.echo(f"the last pass ({_when(rule.last_pass_at)}) failed: {rule.last_error}")
    if stats.means:
        click.echo(f"means over the latest {stats.recent}: {_means(stats.means)}")
    for scored in rules.scored(name, limit=failures, failed=True) if failures else []:
        click.echo(f"  {scored.trace_id}  {scored.error}")


@online.command("update")
@click.argument("name")
@click.option("--sample-rate", type=click.FloatRange(0, 1, min_open=True))
@click.option("--enable/--disable", "enabled", default=None)
def update(name: str, sample_rate: float | None, enabled: bool | None) -> None:
    """Change a rule's sample rate, or switch it on or off."""
    rules = _Stores(current()).rules
    spec = rules.get(name).spec()
    given = {"sample_rate": sample_rate, "enabled": enabled}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise InvalidInput("nothing to change: pass --sample-rate or --enable/--disable")
    click.echo(_show(rules.update(name, spec.model_copy(update=changes))))


@online.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete a rule (the feedback it wrote stays on the traces)."""
    _Stores(current()).rules.delete(name)
    click.echo(f"deleted online rule {name}")


@online.command("run")
@click.argument("names", nargs=-1)
def run(names: tuple[str, ...]) -> None:
    """Run a pass of the rules NAMES (all enabled ones by default) over new traces, here."""
    from lmops.evaluation.judging import open_judge
    from lmops.evaluation.online import OnlineScorer

    stores = _Stores(current())

    def judge_of(rule: OnlineRule) -> Any:
        return open_judge(
            rule.judge or "", stores.registry, stores.settings, model=rule.judge_model
        )

    chosen = [stores.rules.get(n) for n in names] if names else stores.rules.enabled()
    scorer = OnlineScorer(stores.rules, stores.tracing, stores.prompts, judge_of)
    try:
        for done in scorer.run(chosen):
            figures = f"read {done.read}, sampled {done.sampled}, scored {done.scored}"
            tail = f" (error: {done.error})" if done.error else f", {done.failed} failed"
            click.echo(f"{done.rule}: {figures}{tail}")
    finally:
        scorer.close()


def _means(means: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in means.items())


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"
