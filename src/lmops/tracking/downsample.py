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
    # NaN compares false both ways; as -inf it still shows up as a bucket's low point.
    sortable = [-math.inf if v != v else v for v in values]
    buckets = (max_points - 2) // 2
    width = (n - 2) / buckets
    kept = [0]
    for b in range(buckets):
        lo, hi = 1 + int(b * width), 1 + int((b + 1) * width)
        if lo >= hi:
            continue
        chunk = sortable[lo:hi]  # min/max/index over a slice run in C, not per point in Python
        low, high = lo + chunk.index(min(chunk)), lo + chunk.index(max(chunk))
        kept.extend(sorted({low, high}))
    kept.append(n - 1)
    return kept
