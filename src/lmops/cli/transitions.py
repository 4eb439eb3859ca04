"""`lmops models policy|result|transition ...`: protect aliases, attach results, and request,
approve, reject or cancel transitions of protected aliases (in-process, as the local user).

Importing this module adds the three groups to `lmops models`.
"""

from __future__ import annotations

import click

from lmops.cli.models import models, open_store
from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.governance import transitions as flow
from lmops.governance.entities import Transition
from lmops.registry import policies, results
from lmops.registry.entities import AliasPolicy, PolicyCheck

comment_option = click.option("--message", "-m", "comment", default="", help="A comment.")


def _thresholds(pairs: tuple[str, ...]) -> dict[str, float]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            found[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise InvalidInput(f"a minimum result is name=number, not {pair!r}", field="min_result")
    return found


def _echo_checks(checks: list[PolicyCheck], indent: str = "  ") -> None:
    for c in checks:
        click.echo(f"{indent}[{'pass' if c.passed else 'FAIL'}] {c.check}: {c.detail}")


def _echo_policy(policy: AliasPolicy) -> None:
    click.echo(f"models:/{policy.model_name}@{policy.alias} is protected; before it moves:")
    for requirement in policy.requirements() or ["an approver's decision, nothing more"]:
        click.echo(f"  - {requirement}")
    click.echo(f"  (set by {policy.updated_by}, {policy.updated_at:%Y-%m-%d %H:%M:%S} UTC)")


def _echo_transition(t: Transition) -> None:
    moved_from = f"from v{t.from_version}" if t.from_version else "not set before"
    click.echo(f"transition {t.id}: {t.uri} -> @{t.alias} ({moved_from}): {t.status}")
    click.echo(f"  requested by {t.requested_by} at {t.requested_at:%Y-%m-%d %H:%M:%S} UTC")
    if t.comment:
        click.echo(f"  comment: {t.comment}")
    if t.decided_by and t.decided_at:
        click.echo(f"  {t.status} by {t.decided_by} at {t.decided_at:%Y-%m-%d %H:%M:%S} UTC")
        if t.decision_comment:
            click.echo(f"  decision comment: {t.decision_comment}")
    click.echo("  checks when requested:" if t.checks else "  no checks when requested")
    _echo_checks(t.checks, "    ")
    if t.decision_checks:
        click.echo("  checks when decided:")
        _echo_checks(t.decision_checks, "    ")


# -- policies -----------------------------------------------------------------------------


@models.group("policy")
def policy() -> None:
    """Protect an alias: it then moves only by an approved transition."""


@policy.command("set")
@click.argument("name")
@click.argument("alias")
@click.option("--require-tag", "tags", multiple=True, help="A tag name, or name=value.")
@click.option("--min-result", "minimums", multiple=True, help="name=number, e.g. rougeL=0.3.")
@click.option("--require-card", is_flag=True, help="The version must have a model card.")
def set_policy(
    name: str, alias: str, tags: tuple[str, ...], minimums: tuple[str, ...], require_card: bool
) -> None:
    """Protect NAME@ALIAS with a policy (replacing any it had)."""
    _echo_policy(
        policies.set_policy(
            open_store(),
            name,
            alias,
            required_tags=tags,
            min_results=_thresholds(minimums),
            require_card=require_card,
        )
    )


@policy.command("show")
@click.argument("name")
@click.argument("alias", required=False)
@json_option
def show_policy(name: str, alias: str | None, as_json: bool) -> None:
    """The policy of NAME@ALIAS, or of every protected alias of NAME."""
    store = open_store()
    found = (
        [policies.get_policy(store, name, alias)] if alias else policies.list_policies(store, name)
    )
    if as_json:
        emit(found, [], as_json=True)
        return
    if not found:
        click.echo(f"no alias of {name} is protected")
    for p in found:
        _echo_policy(p)


@policy.command("remove")
@click.argument("name")
@click.argument("alias")
def remove_policy(name: str, alias: str) -> None:
    """Remove the policy of NAME@ALIAS: it moves without approval from then on."""
    policies.delete_policy(open_store(), name, alias)
    click.echo(f"models:/{name}@{alias} is no longer protected")


# -- results ------------------------------------------------------------------------------


@models.group("result")
def result() -> None:
    """Results attached to versions (what policies check)."""


@result.command("attach")
@click.argument("uri")
@click.argument("name")
@click.argument("value", type=float)
@click.option("--source", default="", help="Where it came from, e.g. runs:/<id> of an eval.")
def attach(uri: str, name: str, value: float, source: str) -> None:
    """Attach result NAME = VALUE to version URI (replacing an earlier NAME)."""
    store = open_store()
    version = store.get_version(uri)
    attached = results.attach_result(store, version, name, value, source)
    click.echo(f"{version.uri}: {attached.name} = {attached.value:g}")


@result.command("list")
@click.argument("uri")
@json_option
def list_results(uri: str, as_json: bool) -> None:
    """The results attached to version URI."""
    store = open_store()
    emit(
        results.list_results(store, store.get_version(uri)),
        [
            ("name", lambda r: r.name),
            ("value", lambda r: r.value),
            ("source", lambda r: r.source or None),
            ("by", lambda r: r.attached_by),
            ("at", lambda r: r.attached_at),
        ],
        as_json,
    )


# -- transitions --------------------------------------------------------------------------


@models.group("transition")
def transition() -> None:
    """Request, approve, reject or cancel moves of protected aliases."""


@transition.command("request")
@click.argument("uri")
@click.argument("alias")
@comment_option
def request(uri: str, alias: str, comment: str) -> None:
    """Ask for protected ALIAS to point at version URI (models:/name/3)."""
    _echo_transition(flow.request_transition(open_store(), uri, alias, comment))


@transition.command("check")
@click.argument("uri")
@click.argument("alias")
def check(uri: str, alias: str) -> None:
    """How version URI fares now against the policy of ALIAS (nothing is recorded)."""
    store = open_store()
    checks = flow.evaluate_policy(store, store.get_version(uri), alias)
    if not checks:
        click.echo(f"nothing to check: @{alias} asks for no more than an approver's decision")
    _echo_checks(checks)


@transition.command("list")
@click.argument("name", required=False)
@click.option("--status", type=click.Choice(flow.STATUSES), help="Only these.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, flow.MAX_PAGE))
@json_option
def list_transitions(name: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Transitions of model NAME (or of every model), newest first."""
    found = flow.list_transitions(open_store(), name, status=status, limit=limit)
    emit(
        found,
        [
            ("id", lambda t: t.id),
            ("version", lambda t: t.uri),
            ("alias", lambda t: "@" + t.alias),
            ("status", lambda t: t.status),
            ("checks", lambda t: f"{len(t.checks) - len(t.failed)}/{len(t.checks)} pass"),
            ("requested by", lambda t: t.requested_by),
            ("decided by", lambda t: t.decided_by),
            ("requested", lambda t: t.requested_at),
        ],
        as_json,
    )


@transition.command("show")
@click.argument("transition_id")
@json_option
def show(transition_id: str, as_json: bool) -> None:
    """A transition, its comments and its checks."""
    found = flow.get_transition(open_store(), transition_id)
    if as_json:
        click.echo(found.model_dump_json(indent=2))
    else:
        _echo_transition(found)


@transition.command("approve")
@click.argument("transition_id")
@comment_option
def approve(transition_id: str, comment: str) -> None:
    """Approve: every check must pass now; the alias then moves."""
    _echo_transition(flow.approve(open_store(), transition_id, comment))


@transition.command("reject")
@click.argument("transition_id")
@click.option("--message", "-m", "comment", required=True, help="Why (required).")
def reject(transition_id: str, comment: str) -> None:
    """Reject, saying why."""
    _echo_transition(flow.reject(open_store(), transition_id, comment))


@transition.command("cancel")
@click.argument("transition_id")
@comment_option
def cancel(transition_id: str, comment: str) -> None:
    """Withdraw your own pending request."""
    _echo_transition(flow.cancel(open_store(), transition_id, comment))
