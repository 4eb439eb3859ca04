"""A stored profile as what the version page draws: facts and plotly figures per column."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from lmops.data.entities import ColumnProfile, Distribution, Profile, TextProfile, ValueCount

TOP_BARS = 15  # bars per chart of values, languages or n-grams
NGRAM_TITLES = {"1": "Top words", "2": "Top 2-grams", "3": "Top 3-grams"}


@dataclass(frozen=True)
class Figure:
    """One chart; lmops.js draws it with plotly (`kind` is histogram or bars)."""

    title: str
    kind: str
    x: list[Any]
    y: list[Any]
    width: list[float] | None = None  # histogram bins
    x_title: str = ""
    y_title: str = ""
    subtitle: str = ""

    @property
    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class ColumnCharts:
    profile: ColumnProfile
    facts: list[tuple[str, str]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def column_charts(profile: Profile) -> list[ColumnCharts]:
    """Per column: its facts (nulls, distinct, quality counts) and the figures to draw."""
    return [_column(c, profile.row_count) for c in profile.columns]


def percent(part: int | None, whole: int) -> str:
    if part is None:
        return "—"
    share = 100 * part / whole if whole else 0.0
    return f"{part:,} ({share:.1f}%)" if share >= 0.1 or not part else f"{part:,} (<0.1%)"


def _column(column: ColumnProfile, rows: int) -> ColumnCharts:
    charts = ColumnCharts(column)
    distinct = "—" if column.distinct is None else f"{column.distinct:,}"
    if column.distinct is not None and not column.distinct_exact:
        distinct = f"≈{distinct}"
    charts.facts += [
        ("kind", column.kind),
        ("nulls", percent(column.nulls, rows)),
        ("distinct", distinct),
    ]
    if column.numbers is not None:
        charts.figures.append(_histogram("Values", column.numbers, "value"))
    if column.top_values:
        charts.figures.append(_bars("Value counts", column.top_values, "rows"))
    if column.chat is not None:
        charts.figures.append(_histogram("Turns per conversation", column.chat.turns, "turns"))
        charts.figures.append(_bars_of("Messages by role", column.chat.roles, "messages"))
    if column.text is not None:
        charts.facts += _text_facts(column.text, rows)
        charts.figures += _text_figures(column.text, rows)
    return charts


def _text_facts(text: TextProfile, rows: int) -> list[tuple[str, str]]:
    return [
        ("empty", percent(text.empty, rows)),
        (f"over {text.overlong_limit:,} chars", percent(text.overlong, rows)),
        ("control chars", percent(text.control_chars, rows)),
        ("exact duplicates", percent(text.exact_duplicates, rows)),
        ("near duplicates", percent(text.near_duplicates, rows)),
        ("PII found", f"{sum(text.pii.values()):,}"),
    ]


def _text_figures(text: TextProfile, rows: int) -> list[Figure]:
    figures = [_histogram("Length in characters", text.chars, "characters")]
    if text.tokens is not None:
        tokenizer = f" ({text.tokenizer})" if text.tokenizer else ""
        figures.append(_histogram(f"Length in tokens{tokenizer}", text.tokens, "tokens"))
    issues = {
        "empty": text.empty,
        "overlong": text.overlong,
        "control chars": text.control_chars,
        "exact dup": text.exact_duplicates,
        "near dup": text.near_duplicates or 0,
    }
    share = {k: round(100 * v / rows, 2) if rows else 0.0 for k, v in issues.items()}
    # A chart of nothing says less than the facts above it: draw only what was found.
    if any(issues.values()):
        figures.append(
            Figure("Quality issues", "bars", list(share), list(share.values()), y_title="% of rows")
        )
    if text.languages:
        sample = f"of {text.language_sample:,} rows sampled"
        figures.append(_bars_of("Languages", text.languages, "rows", sample))
    if any(text.pii.values()):
        figures.append(_bars_of("PII by kind", text.pii, "occurrences"))
    for n, counts in sorted(text.ngrams.items()):
        if counts and counts[0].count > 1:  # n-grams that never repeat are ids, not words
            figures.append(_bars(NGRAM_TITLES.get(n, f"Top {n}-grams"), counts, "count"))
    return figures


def _histogram(title: str, dist: Distribution, x_title: str) -> Figure:
    bins = list(pairwise(dist.edges))
    centers = [(lo + hi) / 2 for lo, hi in bins]
    widths = [hi - lo for lo, hi in bins]
    subtitle = (
        f"mean {dist.mean:.4g} · median {dist.p50:.4g} · p90 {dist.p90:.4g} · "
        f"p99 {dist.p99:.4g} · max {dist.max:.4g}"
    )
    counts = list(dist.counts[: len(centers)])
    return Figure(title, "histogram", centers, counts, widths, x_title, "rows", subtitle)


def _bars(title: str, counts: list[ValueCount], y_title: str) -> Figure:
    top = counts[:TOP_BARS]
    return Figure(title, "bars", [c.value for c in top], [c.count for c in top], y_title=y_title)


def _bars_of(title: str, counts: dict[str, int], y_title: str, subtitle: str = "") -> Figure:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_BARS]
    labels, values = [k for k, _ in ranked], [v for _, v in ranked]
    return Figure(title, "bars", labels, values, y_title=y_title, subtitle=subtitle)
