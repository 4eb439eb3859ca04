"""`lmops webhooks add|list|remove|deliveries|deliver`: registry events POSTed to URLs."""

from __future__ import annotations

from typing import cast

import click
import httpx

from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.governance.delivery import TIMEOUT_S
from lmops.governance.entities import DeliveryStatus
from lmops.governance.webhooks import ALL_EVENTS, EVENTS, MAX_PAGE, WebhookStore, dispatch


def open_store() -> WebhookStore:
    from lmops.store import open_engine

    settings = Settings()
    if settings.is_remote:
        raise InvalidInput("lmops webhooks works on the store: point LMOPS_URI at it, not a server")
    return WebhookStore(open_engine(settings.uri), settings.project)


@click.group()
def webhooks() -> None:
    """Webhooks: signed POSTs to your URLs when models, versions and aliases change."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    help=f"An event to send (repeatable), or {ALL_EVENTS!r} for all: {', '.join(EVENTS)}.",
)
@click.option("--description", "-d", default="", help="What the webhook is for.")
@click.option("--secret", help="Sign with this secret (16+ characters) instead of a new one.")
@json_option
def add(
    url: str, events: tuple[str, ...], description: str, secret: str | None, as_json: bool
) -> None:
    """Subscribe URL to events; prints the signing secret, which is not shown again."""
    created = open_store().create(url, events, description=description, secret=secret)
    if as_json:
        click.echo(created.model_dump_json(indent=2))
        return
    click.echo(f"webhook {created.id}: {', '.join(created.events)} -> {created.url}")
    click.echo(f"secret: {created.secret}")
    click.echo("Keep the secret now: lmops does not show it again.")


@webhooks.command("list")
@json_option
def list_webhooks(as_json: bool) -> None:
    """Webhooks, oldest first (secrets are never listed)."""
    emit(
        open_store().list(),
        [
            ("id", lambda w: w.id),
            ("url", lambda w: w.url),
            ("events", lambda w: ",".join(w.events)),
            ("active", lambda w: "yes" if w.active else "no"),
            ("created", lambda w: w.created_at),
        ],
        as_json,
    )


@webhooks.command("remove")
@click.argument("webhook_id")
def remove(webhook_id: str) -> None:
    """Unsubscribe WEBHOOK_ID and drop its pending deliveries."""
    open_store().delete(webhook_id)
    click.echo(f"removed webhook {webhook_id}")


@webhooks.command("deliveries")
@click.argument("webhook_id", required=False)
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, MAX_PAGE))
@json_option
def deliveries(webhook_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Deliveries newest first, of WEBHOOK_ID or of every webhook."""
    chosen = cast(DeliveryStatus | None, status)  # click.Choice allows only these
    found = open_store().deliveries(webhook_id, status=chosen, limit=limit)
    emit(
        found,
        [
            ("id", lambda d: d.id),
            ("webhook", lambda d: d.webhook_id),
            ("event", lambda d: d.event),
            ("target", lambda d: d.target),
            ("status", lambda d: d.status),
            ("attempts", lambda d: d.attempts),
            ("code", lambda d: d.last_status_code),
            ("error", lambda d: d.last_error),
        ],
        as_json,
    )


@webhooks.command("deliver")
def deliver() -> None:
    """One delivery pass (for cron or a test): scan for new events, POST what is due.

    The pass serves every project's webhooks, each with its own project's events.
    """
    store = open_store()
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
        attempts = dispatch(store.engine, client)
    counts = {s: sum(a.status == s for a in attempts) for s in ("delivered", "pending", "failed")}
    click.echo(
        f"{len(attempts)} attempted: {counts['delivered']} delivered, "
        f"{counts['pending']} to retry, {counts['failed']} failed"
    )
