"""`lmops audit list|export`: read the append-only audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from lmops.cli.output import emit, json_option
from lmops.core.settings import Settings
from lmops.store.audit import AuditQuery, export_lines, search

F = TypeVar("F", bound=Callable[..., Any])

filters = [
    click.option("--actor", help="Only this actor (e.g. local:alice)."),
    click.option("--action", help="Only this action (e.g. model_alias.set)."),
    click.option(
        "--kind", "target_kind", help="Only this kind of target (model, dataset_version)."
    ),
    click.option("--since", type=click.DateTime(), help="From this time (UTC)."),
    click.option("--until", type=click.DateTime(), help="Before this time (UTC)."),
]


def with_filters(fn: F) -> F:
    for option in reversed(filters):
        fn = option(fn)
    return fn


def _engine(settings: Settings) -> Engine:
    from lmops.core.errors import InvalidInput
    from lmops.store import open_engine

    if settings.is_remote:
        raise InvalidInput("lmops audit reads the store: point LMOPS_URI at it, not at a server")
    return open_engine(settings.uri)


def _query(
    project: str,
    actor: str | None,
    action: str | None,
    target_kind: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int = 100,
) -> AuditQuery:
    def utc(t: datetime | None) -> datetime | None:
        return t.replace(tzinfo=UTC) if t is not None else None

    return AuditQuery(
        project=project,
        actor=actor,
        action=action,
        target_kind=target_kind,
        since=utc(since),
        until=utc(until),
        limit=limit,
    )


@click.group()
def audit() -> None:
    """The audit log of the project (LMOPS_PROJECT): who changed what, when, with before and
    after."""


@audit.command("list")
@with_filters
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@json_option
def list_entries(limit: int, as_json: bool, **filters: Any) -> None:
    """Entries, oldest first."""
    settings = Settings()
    entries = search(_engine(settings), _query(settings.project, limit=limit, **filters))
    emit(
        entries,
        [
            ("at", lambda e: e.at),
            ("actor", lambda e: e.actor),
            ("action", lambda e: e.action),
            ("target", lambda e: e.target),
        ],
        as_json,
    )


@audit.command("export")
@click.argument("out", type=click.Path(path_type=Path))
@with_filters
def export(out: Path, **filters: Any) -> None:
    """Write every entry the filters select to OUT as JSON lines."""
    count = 0
    settings = Settings()
    with open(out, "w", encoding="utf-8") as f:
        for line in export_lines(_engine(settings), _query(settings.project, **filters)):
            f.write(line)
            count += 1
    click.echo(f"wrote {count} audit entries to {out}")
