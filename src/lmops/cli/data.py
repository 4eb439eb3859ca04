"""`lmops data ...`: import, list, show, head and export dataset versions (in-process store)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lmops.cli.output import emit, json_option
from lmops.core.settings import Settings
from lmops.data.entities import DatasetVersion
from lmops.data.sdk import open_data_store
from lmops.data.sources import FORMATS
from lmops.data.store import DataStore


def open_store() -> DataStore:
    return open_data_store(Settings())


@click.group()
def data() -> None:
    """Datasets: immutable, content-addressed versions with schema and lineage."""


@data.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Dataset name (created if new).")
@click.option("--format", "format_", type=click.Choice(FORMATS), help="Default: by extension.")
@click.option("--description", "-d", default="", help="Description of a new dataset.")
@json_option
def import_(
    files: tuple[Path, ...], name: str, format_: str | None, description: str, as_json: bool
) -> None:
    """Import FILE... (JSONL, CSV, Parquet or a saved HF dataset) as the next version."""
    from lmops.data.importing import import_source

    version = import_source(open_store(), name, list(files), format_, description)
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    click.echo(
        f"{version.uri}: {version.row_count} rows, {len(version.columns)} columns, "
        f"digest {version.digest[:12]}"
    )


@data.command("list")
@json_option
def list_datasets(as_json: bool) -> None:
    """List datasets by name."""
    emit(
        open_store().list_datasets(),
        [
            ("name", lambda d: d.name),
            ("versions", lambda d: d.version_count),
            ("latest", lambda d: d.latest_version),
            ("created", lambda d: d.created_at),
        ],
        as_json,
    )


@data.command("show")
@click.argument("uri")
@json_option
def show(uri: str, as_json: bool) -> None:
    """Show a version (datasets:/name/2 or datasets:/name@latest) and its dataset's versions."""
    store = open_store()
    version = store.get_version(uri)
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    parent = (
        store.get_version_by_id(version.parent_version_id) if version.parent_version_id else None
    )
    click.echo(f"{version.uri}")
    click.echo(f"  rows     {version.row_count}")
    click.echo(f"  size     {version.size_bytes} bytes")
    click.echo(f"  digest   {version.digest}")
    click.echo(f"  created  {version.created_at:%Y-%m-%d %H:%M:%S}")
    click.echo(f"  parent   {parent.uri if parent else '-'}")
    click.echo(f"  recipe   {json.dumps(version.recipe)}")
    click.echo("schema:")
    width = max(len(c.name) for c in version.columns)
    for column in version.columns:
        click.echo(f"  {column.name.ljust(width)}  {column.type}")
    click.echo("versions:")
    for other in store.list_versions(version.dataset_name):
        mark = "*" if other.id == version.id else " "
        click.echo(f" {mark}{other.version:>4}  {other.row_count:>10} rows  {other.digest[:12]}")


@data.command("head")
@click.argument("uri")
@click.option("-n", "rows", default=10, show_default=True, type=click.IntRange(min=0))
@json_option
def head(uri: str, rows: int, as_json: bool) -> None:
    """Print the first rows of a version (JSON lines, or a JSON array with --json)."""
    from lmops.data.loading import head as head_rows

    store = open_store()
    records = head_rows(store, store.get_version(uri), rows).to_pylist()
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False, default=str))
        return
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False, default=str))


@data.command("export")
@click.argument("uri")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "format_",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default=None,
    help="Default: by OUT's extension, else jsonl.",
)
def export(uri: str, out: Path, format_: str | None) -> None:
    """Write a version to OUT as JSON lines, CSV or Parquet."""
    from lmops.data.loading import export as export_version

    store = open_store()
    version: DatasetVersion = store.get_version(uri)
    fmt = format_ or {".csv": "csv", ".parquet": "parquet"}.get(out.suffix.lower(), "jsonl")
    path = export_version(store, version, out, fmt)
    click.echo(f"wrote {version.row_count} rows of {version.uri} to {path} ({fmt})")
