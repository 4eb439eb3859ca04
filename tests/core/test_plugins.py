"""Plugins register by name through the one hookspec file; built-ins go through it too."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from lmops.core.errors import InvalidInput
from lmops.core.executors import LocalExecutor, get_executor
from lmops.core.hookspecs import Register, hookimpl
from lmops.core.plugins import lookup, plugin_manager, plugin_names, registry


def _square(x: int) -> int:
    return x * x


def test_local_executor_runs_in_other_processes() -> None:
    with get_executor("local", max_workers=2) as executor:  # type: ignore[attr-defined]
        assert isinstance(executor, LocalExecutor)
        assert list(executor.map(_square, range(5))) == [0, 1, 4, 9, 16]
        assert executor.submit(_square, 7).result(timeout=60) == 49


class InlineExecutor:
    """A third-party executor, as a plugin would bring one."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def map(self, fn: Any, *iterables: Any) -> Iterator[Any]:
        return map(fn, *iterables)

    def shutdown(self, wait: bool = True) -> None:
        pass


class InlinePlugin:
    @hookimpl
    def register_executors(self, register: Register) -> None:
        register("inline", InlineExecutor)

    @hookimpl
    def register_scorers(self, register: Register) -> None:
        register("always_one", lambda output, expected: 1.0)


@pytest.fixture
def inline_plugin() -> Iterator[None]:
    pm = plugin_manager()
    pm.register(InlinePlugin(), name="inline-plugin")
    yield
    pm.unregister(name="inline-plugin")


def test_a_plugin_adds_an_executor_and_a_scorer(inline_plugin: None) -> None:
    assert set(registry("executors")) == {"local", "inline"}
    assert get_executor("inline").submit(_square, 3).result() == 9
    assert lookup("scorers", "always_one")("a", "b") == 1.0
    assert "inline-plugin" in plugin_names()


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(InvalidInput, match=r"no executor named 'ray' \(known: local\)"):
        get_executor("ray")
    with pytest.raises(InvalidInput, match="unknown plugin kind"):
        registry("widgets")
