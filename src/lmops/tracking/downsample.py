"""Thin a long metric series for a chart without hiding its spikes."""

from __future__ import annotations

import math
from collections.abc import Sequence


def downsample(values: Sequence[float], max_points: int) -> list[int]:
    """Indices to keep, at most `max_points`: the first, the last, and each bucket's min and
    max value, in order. A series that already fits is kept whole."""
    n = len(values)
    if max_points < 4 or n <= max_points:
        return list(range(n))
    buckets = (max_points - 2) // 2
    width = (n - 2) / buckets
    kept = [0]
    for b in range(buckets):
        lo, hi = 1 + int(b * width), 1 + int((b + 1) * width)
        if lo >= hi:
            continue
        indices = range(lo, hi)
        low = min(indices, key=lambda i: _sortable(values[i]))
        high = max(indices, key=lambda i: _sortable(values[i]))
        kept.extend(sorted({low, high}))
    kept.append(n - 1)
    return kept


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value
