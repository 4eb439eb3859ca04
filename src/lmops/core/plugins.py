"""The plugin manager and the named registries the hooks fill."""

from __future__ import annotations

import functools
from typing import Any

import pluggy

from lmops.core import hookspecs
from lmops.core.errors import InvalidInput

KINDS = ("executors", "model_backends", "scorers", "scanners", "vector_indexes")


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager with built-ins and entry points loaded."""
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(hookspecs)
    from lmops.core import executors

    pm.register(executors, name="lmops.executors")
    pm.load_setuptools_entrypoints("lmops")
    return pm


def registry(kind: str) -> dict[str, Any]:
    """Collect what every plugin registers for `kind` (later plugins win on a name clash)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown plugin kind {kind!r}; expected one of {KINDS}", field="kind")
    found: dict[str, Any] = {}
    hook = getattr(plugin_manager().hook, f"register_{kind}")
    hook(register=found.__setitem__)
    return found


def lookup(kind: str, name: str) -> Any:
    """Return the factory registered as `name`, or a clear error listing what exists."""
    found = registry(kind)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise InvalidInput(
            f"no {kind[:-1].replace('_', ' ')} named {name!r} (known: {known})", field=kind
        )
    return found[name]


def plugin_names() -> list[str]:
    """Names of the registered plugins other than the built-ins."""
    names = (name for name, _ in plugin_manager().list_name_plugin())
    return sorted(name for name in names if not name.startswith("lmops."))
