"""Line runs up side by side: the params that differ and each run's latest metrics."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from lmops.tracking.entities import Run


class CompareRow(BaseModel):
    """One param or metric across runs, in the order the runs were given."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    key: str
    values: list[str | float | None]
    differs: bool


def compare_table(found: list[Run], show_all: bool = False) -> list[CompareRow]:
    """Params that differ (all of them with show_all), then every metric's latest value."""
    rows: list[CompareRow] = []
    for key in sorted({k for r in found for k in r.params}):
        values: list[str | float | None] = [r.params.get(key) for r in found]
        differs = len(set(values)) > 1
        if show_all or differs:
            rows.append(CompareRow(key=f"params.{key}", values=values, differs=differs))
    for key in sorted({k for r in found for k in r.metrics}):
        values = [r.metrics.get(key) for r in found]
        rows.append(CompareRow(key=f"metrics.{key}", values=values, differs=len(set(values)) > 1))
    return rows
