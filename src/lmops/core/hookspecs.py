"""The whole extension API: one pluggy hookspec file (entry-point group `lmops`).

A plugin is a module or object with functions marked `@lmops.core.hookspecs.hookimpl`.
Each hook receives a `register(name, factory)` callable; the built-ins register through
the same hooks, so a plugin can add or replace anything by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("lmops")
hookimpl = pluggy.HookimplMarker("lmops")

Register = Callable[[str, Any], None]


@hookspec
def register_executors(register: Register) -> None:
    """Register Executor factories: `register("local", LocalExecutor)`."""


@hookspec
def register_model_backends(register: Register) -> None:
    """Register model-serving backends by name."""


@hookspec
def register_scorers(register: Register) -> None:
    """Register evaluation scorers by name."""


@hookspec
def register_scanners(register: Register) -> None:
    """Register guard scanners by name."""


@hookspec
def register_vector_indexes(register: Register) -> None:
    """Register vector index implementations by name."""
