"""A progress bar on stderr for long operations (quiet when stderr is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar() -> Iterator[Any]:
    """Yield an echo(phase, done, total) callback drawing one bar per phase."""
    from tqdm import tqdm

    current: dict[str, Any] = {}

    def echo(phase: str, done: int, total: int) -> None:
        bar = current.get("bar")
        if bar is None or current.get("phase") != phase:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=phase, unit="rows", file=sys.stderr, disable=None)
            current.update(bar=bar, phase=phase)
        if total != bar.total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield echo
    finally:
        if current.get("bar") is not None:
            current["bar"].close()
