"""`lmops prompts ...`: register, list, show, diff and alias prompt versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lmops.cli.models import _tags, tag_option
from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.prompts.changes import describe, diff_versions
from lmops.prompts.entities import Prompt
from lmops.prompts.sdk import open_prompts
from lmops.prompts.store import PromptStore


def open_store() -> PromptStore:
    return open_prompts(Settings())


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cannot read {what} from {path}: {exc}", field=what) from None


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`k=v` pairs; a value that parses as JSON (0.2, 64, true, ["a"]) is kept as such."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"parameters are key=value, not {pair!r}", field="param")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@click.group()
def prompts() -> None:
    """The prompt registry: versions, aliases, prompts:/ URIs."""


@prompts.command("register")
@click.argument("name")
@click.option("--template", help="The prompt text, with {{ variable }} placeholders.")
@click.option("--template-file", type=click.Path(dir_okay=False), help="Read the text from F.")
@click.option(
    "--messages-file",
    type=click.Path(dir_okay=False),
    help='A chat prompt: a JSON list of {"role": ..., "content": ...}.',
)
@click.option("--param", "params", multiple=True, help="A model parameter k=v (repeatable).")
@click.option(
    "--response-format", type=click.Path(dir_okay=False), help="A JSON schema file for answers."
)
@click.option("--message", "-m", default="", help="What changed in this version.")
@tag_option
@json_option
def register(
    name: str,
    template: str | None,
    template_file: str | None,
    messages_file: str | None,
    params: tuple[str, ...],
    response_format: str | None,
    message: str,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register the next version of prompt NAME."""
    given = [x for x in (template, template_file, messages_file) if x is not None]
    if len(given) != 1:
        raise InvalidInput(
            "give one of --template, --template-file or --messages-file", field="template"
        )
    if template_file is not None:
        try:
            template = Path(template_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {template_file}: {exc}", field="template") from None
    version = open_store().create_version(
        name,
        template=template,
        messages=_read_json(messages_file, "messages") if messages_file else None,
        model_params=parse_params(params),
        response_format=_read_json(response_format, "response_format") if response_format else None,
        commit_message=message,
        tags=_tags(tags),
    )
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    uses = ", ".join(version.variables) or "no variables"
    click.echo(f"{version.uri}: {'chat' if version.is_chat else 'text'} prompt using {uses}")


@prompts.command("list")
@json_option
def list_prompts(as_json: bool) -> None:
    """Prompts by name."""
    emit(
        open_store().list_prompts(),
        [
            ("name", lambda p: p.name),
            ("versions", lambda p: p.version_count),
            ("latest", lambda p: p.latest_version),
            ("aliases", lambda p: ", ".join(f"{a}={v}" for a, v in p.aliases.items()) or None),
            ("created", lambda p: p.created_at),
        ],
        as_json,
    )


@prompts.command("show")
@click.argument("uri")
@json_option
def show(uri: str, as_json: bool) -> None:
    """A version (prompts:/name/3, prompts:/name@alias) with its text and settings."""
    version = open_store().get_version(uri)
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    click.echo(
        version.uri
        + (f"  ({', '.join('@' + a for a in version.aliases)})" if version.aliases else "")
    )
    rows = [
        ("variables", ", ".join(version.variables) or None),
        ("params", json.dumps(version.model_params) if version.model_params else None),
        ("response", json.dumps(version.response_format) if version.response_format else None),
        ("tags", json.dumps(version.tags) if version.tags else None),
        ("message", version.commit_message or None),
        ("author", version.author),
        ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S}"),
    ]
    for label, value in rows:
        if value is not None:
            click.echo(f"  {label:<10} {value}")
    click.echo(_body(version))


def _body(version: Prompt) -> str:
    if version.messages is None:
        return version.template or ""
    return "\n".join(f"[{m.role}]\n{m.content}" for m in version.messages)


@prompts.command("diff")
@click.argument("uri_a")
@click.argument("uri_b")
@json_option
def diff(uri_a: str, uri_b: str, as_json: bool) -> None:
    """What changed from URI_A to URI_B: a unified diff and the settings that differ."""
    store = open_store()
    found = diff_versions(store.get_version(uri_a), store.get_version(uri_b))
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    click.echo(describe(found), nl=False)


@prompts.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=click.IntRange(min=1))
def alias(name: str, alias: str, version: int) -> None:
    """Point prompts:/NAME@ALIAS at VERSION."""
    moved = open_store().set_alias(name, alias, version)
    click.echo(f"prompts:/{name}@{alias} -> {moved.uri}")
