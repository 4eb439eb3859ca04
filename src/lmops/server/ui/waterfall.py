"""A trace's spans as waterfall rows: tree order, depth, and bar positions in percent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from lmops.tracing.entities import Span, TraceDetail

MAX_ROWS = 1000  # a trace of 50,000 spans still opens; the rest are counted, not drawn
MAX_INDENT = 24  # deeper spans are drawn at this depth (their depth is still shown)


@dataclass(frozen=True)
class Row:
    span: Span
    depth: int
    offset_ms: float  # from the start of the trace
    left: float  # percent of the trace's duration
    width: float
    orphan: bool  # its parent is not (yet) stored
    running: bool  # no end time yet

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_INDENT)


@dataclass(frozen=True)
class Tick:
    left: float
    label_ms: float


@dataclass(frozen=True)
class Waterfall:
    rows: list[Row]
    duration_ms: float
    ticks: list[Tick]
    hidden: int  # spans beyond MAX_ROWS


def build_waterfall(trace: TraceDetail, max_rows: int = MAX_ROWS) -> Waterfall:
    """Lay out `trace.spans` (in start order) as a tree: children follow their parent."""
    spans = trace.spans
    if not spans:
        return Waterfall([], 0.0, [], 0)
    t0 = min(s.start_time for s in spans)
    t_end = max(_end(s) or s.start_time for s in spans)
    if trace.end_time is not None:
        t_end = max(t_end, trace.end_time)
    total = max(t_end - t0, timedelta(microseconds=1))
    rows = [
        _row(span, depth, orphan, t0, t_end, total)
        for span, depth, orphan in _tree_order(spans)[:max_rows]
    ]
    duration_ms = total.total_seconds() * 1000
    ticks = [Tick(p * 50.0, duration_ms * p / 2) for p in range(3)]
    return Waterfall(rows, duration_ms, ticks, max(0, len(spans) - max_rows))


def _tree_order(spans: list[Span]) -> list[tuple[Span, int, bool]]:
    """Depth-first, children in start order; spans whose parent is missing start at the top.

    Iterative, and every span is placed once, so deep chains and parent cycles are safe.
    """
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    tops: list[tuple[Span, bool]] = []
    for span in spans:
        parent = span.parent_span_id
        if parent is None or parent not in ids or parent == span.span_id:
            tops.append((span, parent is not None))
        else:
            children[parent].append(span)
    out: list[tuple[Span, int, bool]] = []
    placed: set[str] = set()

    def walk(root: Span, orphan: bool) -> None:
        stack = [(root, 0, orphan)]
        while stack:
            span, depth, lost = stack.pop()
            if span.span_id in placed:
                continue
            placed.add(span.span_id)
            out.append((span, depth, lost))
            stack.extend((c, depth + 1, False) for c in reversed(children[span.span_id]))

    for span, orphan in tops:
        walk(span, orphan)
    for span in spans:  # only spans caught in a parent cycle are left
        if span.span_id not in placed:
            walk(span, True)
    return out


def _end(span: Span) -> datetime | None:
    return span.end_time if span.end_time and span.end_time >= span.start_time else None


def _row(
    span: Span, depth: int, orphan: bool, t0: datetime, t_end: datetime, total: timedelta
) -> Row:
    end = _end(span) or t_end
    left = (span.start_time - t0) / total * 100
    width = max((end - span.start_time) / total * 100, 0.0)
    return Row(
        span=span,
        depth=depth,
        offset_ms=(span.start_time - t0).total_seconds() * 1000,
        left=round(min(left, 100.0), 3),
        width=round(min(width, 100.0 - left), 3),
        orphan=orphan,
        running=span.end_time is None,
    )
