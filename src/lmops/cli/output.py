"""How listing commands print: an aligned table for people, `--json` for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def emit(
    items: Sequence[BaseModel] | BaseModel,
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    as_json: bool,
) -> None:
    """Print models as JSON or as a table with the given (header, getter) columns."""
    if as_json:
        data = (
            [m.model_dump(mode="json") for m in items]
            if isinstance(items, Sequence)
            else items.model_dump(mode="json")
        )
        click.echo(json.dumps(data, indent=2))
        return
    rows = [
        [_cell(get(m)) for _, get in columns]
        for m in (items if isinstance(items, Sequence) else [items])
    ]
    headers = [h for h, _ in columns]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)
