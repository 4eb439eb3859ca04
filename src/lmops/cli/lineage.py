"""`lmops lineage URI`: what a model version, dataset version or run came from and fed."""

from __future__ import annotations

import click

from lmops.cli.output import json_option
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.core.uris import RunRef, VersionRef, parse_uri
from lmops.governance.cards import Stores
from lmops.governance.lineage import LineageLink, describe_lineage

KINDS = {"models": "model_version", "datasets": "dataset_version"}


def _target(stores: Stores, uri: str) -> tuple[str, str]:
    """(kind, id) of a lineage node named by its URI."""
    ref = parse_uri(uri)
    if isinstance(ref, RunRef):
        return "run", stores.tracking.get_run(ref.run_id).id
    if isinstance(ref, VersionRef) and ref.kind == "models":
        return "model_version", stores.registry.get_version(ref).id
    if isinstance(ref, VersionRef) and ref.kind == "datasets":
        return "dataset_version", stores.data.get_version(ref).id
    raise InvalidInput(f"lineage is kept for models:/, datasets:/ and runs:/ URIs, not {uri!r}")


def _label(link: LineageLink) -> str:
    if not link.resolved:
        return f"{link.kind} {link.id} (not accessible: gone, or in another project)"
    if link.kind == "run":
        return f"{link.uri}  run {link.name!r} in experiment {link.experiment_name!r}"
    return link.uri or f"{link.kind} {link.id}"


@click.command()
@click.argument("uri")
@click.option("--depth", default=3, show_default=True, type=click.IntRange(1, 10))
@json_option
def lineage(uri: str, depth: int, as_json: bool) -> None:
    """Show what URI came from (upstream) and what came from it (downstream)."""
    from lmops.governance.sdk import open_stores

    stores = open_stores(Settings())
    kind, id_ = _target(stores, uri)
    root = describe_lineage(stores, kind, id_)
    if as_json:
        click.echo(root.model_dump_json(indent=2))
        return
    click.echo(uri)
    for direction in ("upstream", "downstream"):
        click.echo(f"  {direction}")
        _walk(stores, getattr(root, direction), direction, depth, 2, {(kind, id_)})


def _walk(
    stores: Stores,
    links: list[LineageLink],
    direction: str,
    depth: int,
    indent: int,
    seen: set[tuple[str, str]],
) -> None:
    if not links:
        click.echo(" " * (indent + 2) + "(none)")
        return
    for link in links:
        click.echo(" " * (indent + 2) + f"{link.relation:<12} {_label(link)}")
        key = (link.kind, link.id)
        if depth > 1 and link.resolved and key not in seen:
            further = getattr(describe_lineage(stores, link.kind, link.id), direction)
            if further:
                _walk(stores, further, direction, depth - 1, indent + 2, seen | {key})
