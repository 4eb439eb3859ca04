"""The row browser of a version page: search, filters, sort and pages as the URL carries them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from lmops.core.errors import InvalidInput
from lmops.data.browse import Filter, RowPage, browse
from lmops.data.entities import DatasetVersion
from lmops.data.store import DataStore

PAGE_SIZE = 50


@dataclass(frozen=True)
class RowsQuery:
    """What the URL asks for; filters stay as typed (`column:op:value`) for links and chips."""

    q: str = ""
    filters: tuple[str, ...] = ()
    offset: int = 0
    order_by: str = ""
    desc: bool = False

    @property
    def active(self) -> bool:
        return bool(self.q or self.filters)

    def link(self, **changes: object) -> str:
        """This view's URL with `changes`; any change but the offset goes back to the start."""
        changes.setdefault("offset", 0)
        view = replace(self, **changes)  # type: ignore[arg-type]
        pairs = [("q", view.q)] if view.q else []
        pairs += [("filter", f) for f in view.filters]
        if view.order_by:
            pairs += [("order_by", view.order_by)] + ([("desc", "true")] if view.desc else [])
        if view.offset:
            pairs.append(("offset", str(view.offset)))
        return ("?" + urlencode(pairs) if pairs else "?") + "#rows"

    def without_filter(self, text: str) -> str:
        return self.link(filters=tuple(f for f in self.filters if f != text))

    def sort_link(self, column: str) -> str:
        """Sort by a column: ascending first, then flip on each click."""
        return self.link(order_by=column, desc=column == self.order_by and not self.desc)

    def arrow(self, column: str) -> str:
        if column != self.order_by:
            return ""
        return "▼" if self.desc else "▲"


@dataclass(frozen=True)
class RowsView:
    query: RowsQuery
    page: RowPage | None
    error: str | None = None

    @property
    def first(self) -> int:
        return self.query.offset + 1 if self.page and self.page.rows else 0

    @property
    def last(self) -> int:
        return self.query.offset + (len(self.page.rows) if self.page else 0)

    @property
    def prev_link(self) -> str | None:
        if self.query.offset == 0:
            return None
        return self.query.link(offset=max(0, self.query.offset - PAGE_SIZE))

    @property
    def next_link(self) -> str | None:
        if self.page is None or self.last >= self.page.total_matching:
            return None
        return self.query.link(offset=self.last)


def with_new_filter(filters: list[str], column: str, op: str, value: str) -> tuple[str, ...]:
    """The filters of the URL plus the one the add-filter form sent, if it sent one."""
    if not column:
        return tuple(filters)
    added = str(Filter(column, op, value if op not in ("is_null", "not_null") else None))
    return tuple(dict.fromkeys([*filters, added]))


def build_rows(store: DataStore, version: DatasetVersion, query: RowsQuery) -> RowsView:
    """One page of rows; a bad filter or column becomes `error`, shown above the table."""
    try:
        page = browse(
            store,
            version,
            search=query.q or None,
            filters=[Filter.parse(f) for f in query.filters],
            offset=query.offset,
            limit=PAGE_SIZE,
            order_by=query.order_by or None,
            descending=query.desc,
        )
    except InvalidInput as exc:
        return RowsView(query, None, exc.message)
    return RowsView(query, page)
