"""The runs table of an experiment: server-side filter, sort and pages over search_runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlencode

from lmops.core.errors import InvalidInput
from lmops.tracking.entities import Run, check_key
from lmops.tracking.store import TrackingStore, page_token_at

PAGE_SIZE = 50
MAX_KEY_COLUMNS = 12  # per kind: a wide table of 200 params helps nobody
_SORTABLE_ATTRIBUTES = ("name", "status", "start_time", "end_time")
_PREFIXES = {"params", "metrics", "tags"}

Kind = Literal["attribute", "param", "metric"]
_KEY_KINDS: tuple[tuple[Kind, str], ...] = (("param", "params"), ("metric", "metrics"))


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind
    key: str
    sort: str | None  # the `sort` query value, None when the column cannot be sorted


ATTRIBUTE_COLUMNS = (
    Column("Name", "attribute", "name", "name"),
    Column("Status", "attribute", "status", "status"),
    Column("Started", "attribute", "start_time", "start_time"),
    Column("Duration", "attribute", "duration", None),
)


def order_clause(sort: str, descending: bool) -> str:
    """Turn a column's sort key (`name`, `params.lr`, `metrics.val loss`) into order_by text."""
    direction = "DESC" if descending else "ASC"
    if sort in _SORTABLE_ATTRIBUTES:
        return f"{sort} {direction}"
    prefix, _, key = sort.partition(".")
    if prefix not in _PREFIXES or not key:
        raise InvalidInput(
            f"cannot sort by {sort!r}: use name, status, start_time, end_time, "
            "params.<key>, metrics.<key> or tags.<key>",
            field="sort",
        )
    check_key(key, "sort")  # keys never hold a backtick, so quoting them is safe
    return f"{prefix}.`{key}` {direction}"


@dataclass(frozen=True)
class RunsQuery:
    """What the URL of an experiment page asks for (pages count from 1)."""

    filter: str = ""
    sort: str = ""
    descending: bool = False
    page: int = 1

    @classmethod
    def parse(cls, filter: str, sort: str, order: str, page: int) -> RunsQuery:
        if order not in ("", "asc", "desc"):
            raise InvalidInput(f"order must be asc or desc, not {order!r}", field="order")
        return cls(filter=filter.strip(), sort=sort.strip(), descending=order == "desc", page=page)

    def order_by(self) -> list[str]:
        return [order_clause(self.sort, self.descending)] if self.sort else []

    @property
    def page_token(self) -> str | None:
        return page_token_at(self.offset) if self.page > 1 else None

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def link(self, **changes: object) -> str:
        """Query string of this view with `changes`; any change but paging goes to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        q = replace(self, **changes)  # type: ignore[arg-type]
        args = {
            "filter": q.filter,
            "sort": q.sort,
            "order": "desc" if q.descending and q.sort else "",
            "page": str(q.page) if q.page > 1 else "",
        }
        return "?" + urlencode({k: v for k, v in args.items() if v})

    def sort_link(self, sort: str) -> str:
        """Sort by a column: ascending first, then flip on each click."""
        descending = not self.descending if sort == self.sort else False
        return self.link(sort=sort, descending=descending)

    def arrow(self, sort: str | None) -> str:
        if sort is None or sort != (self.sort or "start_time"):
            return ""
        descending = self.descending if self.sort else True  # the store's default order
        return "▼" if descending else "▲"


@dataclass
class RunsTable:
    query: RunsQuery
    runs: list[Run]
    total: int
    columns: list[Column]
    hidden_columns: int = 0
    next_link: str | None = None
    prev_link: str | None = None
    error: str | None = None

    @property
    def first(self) -> int:
        return self.query.offset + 1 if self.runs else 0

    @property
    def last(self) -> int:
        return self.query.offset + len(self.runs)


def build_table(store: TrackingStore, experiment_id: str, query: RunsQuery) -> RunsTable:
    """One page of runs; a bad filter, sort or page token becomes `error`, not an exception."""
    try:
        page = store.search_runs(
            [experiment_id], query.filter or None, query.order_by(), PAGE_SIZE, query.page_token
        )
    except InvalidInput as exc:
        return RunsTable(query, [], 0, list(ATTRIBUTE_COLUMNS), error=exc.message)
    columns, hidden = _key_columns(page.runs, query.sort)
    return RunsTable(
        query=query,
        runs=page.runs,
        total=page.total,
        columns=[*ATTRIBUTE_COLUMNS, *columns],
        hidden_columns=hidden,
        next_link=query.link(page=query.page + 1) if page.next_page_token else None,
        prev_link=query.link(page=query.page - 1) if query.page > 1 else None,
    )


def _key_columns(runs: list[Run], sort: str) -> tuple[list[Column], int]:
    """Param and metric columns: the keys most runs of the page have, plus the sorted one."""
    out: list[Column] = []
    hidden = 0
    for kind, prefix in _KEY_KINDS:
        counts = Counter(k for r in runs for k in (r.params if kind == "param" else r.metrics))
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        chosen = set(ranked[:MAX_KEY_COLUMNS])
        sorted_key = sort.removeprefix(f"{prefix}.") if sort.startswith(f"{prefix}.") else None
        if sorted_key and sorted_key in counts:
            chosen.add(sorted_key)
        hidden += len(counts) - len(chosen)
        out.extend(Column(key, kind, key, f"{prefix}.{key}") for key in sorted(chosen))
    return out, hidden
