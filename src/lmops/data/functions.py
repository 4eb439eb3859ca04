"""Python functions registered by name for the `map` step.

    @lmops.data.map_function("strip_html")
    def strip_html(row: dict) -> dict | None:   # None drops the row
        return {**row, "text": clean(row["text"])}

With `batched=True` the function takes and returns a pyarrow RecordBatch (or Table)
instead, which is much faster on large data. A recipe names the function, so the module
that registers it must be imported before `lmops data reproduce` re-runs the recipe; the
function must give the same output for the same input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmops.core.errors import InvalidInput


@dataclass(frozen=True)
class MapFunction:
    name: str
    fn: Callable[[Any], Any]
    batched: bool
    module: str


_FUNCTIONS: dict[str, MapFunction] = {}


def map_function(
    name: str, *, batched: bool = False
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register `fn` for `lmops data` steps as `name`."""

    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _FUNCTIONS[name] = MapFunction(name, fn, batched, fn.__module__)
        return fn

    return register


def get_function(name: str, module: str | None = None) -> MapFunction:
    """The function registered as `name`, importing `module` first when it is not yet."""
    if name not in _FUNCTIONS and module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InvalidInput(
                f"map function {name!r} lives in module {module!r}, which cannot be imported: "
                f"{exc}",
                field="function",
            ) from None
    if name not in _FUNCTIONS:
        known = ", ".join(sorted(_FUNCTIONS)) or "none"
        raise InvalidInput(
            f"no map function registered as {name!r} (registered: {known}); "
            "decorate it with @lmops.data.map_function(name) and import its module",
            field="function",
        )
    return _FUNCTIONS[name]
