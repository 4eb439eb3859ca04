"""A CI gate: does the candidate hold up against the baseline on one metric?

The gate fails when the candidate is worse beyond the interval: when even the best end of
the confidence interval of (candidate - baseline) is below `min_delta` (for a metric where
lower is better, the signs turn). A difference the interval cannot tell from noise passes.
It also fails when the candidate failed on more rows than the baseline (failed rows are
left out of the paired comparison, so they could hide a regression). The report is
markdown, fit for a pull-request comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmops.core.errors import InvalidInput
from lmops.evaluation.compare import Comparison, MetricDelta

GATE_RESULT = "gate.{metric}"  # the result a passing gate attaches (1) to the candidate


@dataclass(frozen=True)
class GateResult:
    metric: str
    min_delta: float
    passed: bool
    delta: MetricDelta
    comparison: Comparison

    def report(self) -> str:
        c, d = self.comparison, self.delta
        verdict = "**passed**" if self.passed else "**failed**"
        direction = "higher" if d.higher_is_better else "lower"
        lines = [
            f"### lmops eval gate: {self.metric} {verdict}",
            "",
            f"Candidate `{c.b.target}` against baseline `{c.a.target}` on `{c.b.data}` "
            f"({d.paired} paired rows; {direction} is better).",
            "",
            "| metric | baseline | candidate | delta (row mean) | "
            f"{c.confidence:.0%} interval | wins / losses / ties |",
            "|---|---|---|---|---|---|",
        ]
        for m in c.metrics:
            lines.append(
                f"| {m.name}{' (gated)' if m.name == self.metric else ''} | {_num(m.a)} | "
                f"{_num(m.b)} | {_num(m.delta, signed=True)} | "
                f"[{_num(m.low, signed=True)}, {_num(m.high, signed=True)}] | "
                f"{m.wins} / {m.losses} / {m.ties} |"
            )
        lines += ["", self._why()]
        failed_a, failed_b = c.a.failed_rows, c.b.failed_rows
        if failed_a or failed_b:
            lines.append(
                f"\nRows that failed: baseline {failed_a}, candidate {failed_b} "
                "(they are left out of the paired rows)."
            )
        if not c.same_data:
            lines.append("\n**Warning:** the two evaluations did not run on the same rows.")
        lines.append(f"\nBaseline {c.a.uri}, candidate {c.b.uri}.")
        return "\n".join(lines)

    def _why(self) -> str:
        d, c = self.delta, self.comparison
        if c.b.failed_rows > c.a.failed_rows:
            return (
                f"The candidate failed on {c.b.failed_rows} rows, the baseline on "
                f"{c.a.failed_rows}: failed rows are left out of the comparison, so more of "
                "them fails the gate."
            )
        if d.low is None or d.high is None:
            return f"No row was scored by both: nothing to compare on {self.metric}."
        best = d.high if d.higher_is_better else -d.low
        if self.passed:
            return (
                f"The best end of the interval ({_num(best, signed=True)}, as an improvement) "
                f"reaches the required {_num(self.min_delta, signed=True)}."
            )
        return (
            f"Even the best end of the interval ({_num(best, signed=True)}, as an improvement) "
            f"is below the required {_num(self.min_delta, signed=True)}: the candidate is worse."
        )


def judge(comparison: Comparison, metric: str, min_delta: float = 0.0) -> GateResult:
    """Gate `comparison.b` (the candidate) against `comparison.a` (the baseline)."""
    found = [m for m in comparison.metrics if m.name == metric]
    if not found:
        known = ", ".join(m.name for m in comparison.metrics)
        raise InvalidInput(f"no metric {metric!r} in both evaluations (they share: {known})")
    d = found[0]
    if d.low is None or d.high is None:
        passed = False
    elif d.higher_is_better:
        passed = d.high >= min_delta
    else:
        passed = -d.low >= min_delta
    # Failed rows drop out of the pairs: a candidate must not pass by failing the hard ones.
    more_failures = comparison.b.failed_rows > comparison.a.failed_rows
    return GateResult(metric, min_delta, passed and not more_failures, d, comparison)


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
