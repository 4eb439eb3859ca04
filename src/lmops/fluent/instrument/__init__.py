"""`lmops.instrument("openai")`: record a library's calls as spans without changing the app.

Each integration is a module with `patch()` and `unpatch()`, imported only when asked for so
that `import lmops` never imports the library it instruments.
"""

from __future__ import annotations

import importlib
import threading

from lmops.core.errors import InvalidInput

_INTEGRATIONS = {
    "langchain": "lmops.fluent.instrument.langchain",
    "openai": "lmops.fluent.instrument.openai",
    "transformers": "lmops.fluent.instrument.transformers",
}

_lock = threading.Lock()
_active: set[str] = set()


def instrument(name: str) -> None:
    """Record every call of a library ("openai", "transformers"...) as spans; twice is a no-op."""
    key = _known(name)
    with _lock:
        if key in _active:
            return
        importlib.import_module(_INTEGRATIONS[key]).patch()
        _active.add(key)


def uninstrument(name: str) -> None:
    """Stop recording a library's calls; a library that was not instrumented is left alone."""
    key = _known(name)
    with _lock:
        if key not in _active:
            return
        importlib.import_module(_INTEGRATIONS[key]).unpatch()
        _active.discard(key)


def instrumented() -> list[str]:
    """The libraries being recorded now."""
    with _lock:
        return sorted(_active)


def _known(name: str) -> str:
    key = name.strip().lower()
    if key not in _INTEGRATIONS:
        known = ", ".join(sorted(_INTEGRATIONS))
        raise InvalidInput(f"cannot instrument {name!r}: known libraries are {known}", field="name")
    return key
