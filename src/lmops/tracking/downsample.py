"""Thin a long metric series for a chart without hiding its spikes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lmops.tracking.entities import Metric


def downsample(points: Sequence[Metric], max_points: int) -> list[Metric]:
    """Keep at most `max_points`: the first, the last, and each bucket's min and max value."""
    n = len(points)
    if max_points < 4 or n <= max_points:
        return list(points)
    buckets = (max_points - 2) // 2
    width = (n - 2) / buckets
    kept = [points[0]]
    for b in range(buckets):
        lo, hi = 1 + int(b * width), 1 + int((b + 1) * width)
        if lo >= hi:
            continue
        indices = range(lo, hi)
        low = min(indices, key=lambda i: _sortable(points[i].value))
        high = max(indices, key=lambda i: _sortable(points[i].value))
        kept.extend(points[i] for i in sorted({low, high}))
    kept.append(points[-1])
    return kept


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value
