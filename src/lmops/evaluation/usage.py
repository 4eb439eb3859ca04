"""Scorers that read what a row cost rather than what it said: latency and money."""

from __future__ import annotations

from lmops.evaluation.scoring import Example, RowError, Score, Scorer


class Latency(Scorer):
    """How long the target took for the row, in milliseconds."""

    name = "latency"
    higher_is_better = False

    def compute(self, example: Example) -> Score:
        if example.latency_ms is None:
            raise RowError("row has no latency")
        return Score(float(example.latency_ms))


class Cost(Scorer):
    """What the row's call cost, in the unit the target reports."""

    name = "cost"
    higher_is_better = False

    def compute(self, example: Example) -> Score:
        if example.cost is None:
            raise RowError("row has no cost")
        return Score(float(example.cost))
