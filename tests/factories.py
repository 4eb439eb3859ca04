"""Small builders for test data."""

from __future__ import annotations

from lmops.tracking.entities import Metric


def points(key: str, values: list[float], start_step: int = 0) -> list[Metric]:
    """Metric points with consecutive steps and increasing timestamps."""
    return [
        Metric(key=key, value=v, step=start_step + i, timestamp=1_700_000_000_000 + i)
        for i, v in enumerate(values)
    ]
