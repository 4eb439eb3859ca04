"""Line runs up side by side: the params that differ and each run's latest metrics."""

from __future__ import annotations

from lmops.tracking.entities import Run


def compare_table(found: list[Run], show_all: bool) -> list[dict[str, object]]:
    """Rows of (param or metric key, value per run); equal params left out unless show_all."""
    rows: list[dict[str, object]] = []
    for key in sorted({k for r in found for k in r.params}):
        values = [r.params.get(key) for r in found]
        if show_all or len(set(values)) > 1:
            rows.append({"key": f"params.{key}", "values": values})
    for key in sorted({k for r in found for k in r.metrics}):
        rows.append({"key": f"metrics.{key}", "values": [r.metrics.get(key) for r in found]})
    return rows
