from __future__ import annotations

import math

from lmops.tracking.downsample import downsample


def test_short_series_are_kept_whole() -> None:
    assert downsample([1.0, 2.0, 3.0], 10) == [0, 1, 2]


def test_keeps_ends_spikes_and_order() -> None:
    values = [0.0] * 10_000
    values[1234], values[8765] = 50.0, -50.0
    kept = downsample(values, 100)
    assert len(kept) <= 100
    assert kept[0] == 0
    assert kept[-1] == 9_999
    assert {1234, 8765} <= set(kept)
    assert kept == sorted(kept)


def test_nan_points_survive_as_lows() -> None:
    values = [1.0] * 1000
    values[500] = math.nan
    assert 500 in downsample(values, 20)
