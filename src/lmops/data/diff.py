"""Compare two versions: rows added and removed (as a multiset), schema and profile changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lmops.core.errors import InvalidInput
from lmops.data.browse import jsonable
from lmops.data.entities import Column, ColumnProfile, DatasetVersion, Profile
from lmops.data.files import local_parquet
from lmops.data.store import DataStore

if TYPE_CHECKING:
    import duckdb

MAX_SAMPLE = 200


class TypeChange(BaseModel):
    name: str
    a: str
    b: str


class Change(BaseModel):
    """One figure in version a and in version b (None where that side lacks it)."""

    a: float | None = None
    b: float | None = None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


class ColumnDelta(BaseModel):
    """How one column's profile moved from a to b; the text figures are None for non-text."""

    name: str
    nulls: Change
    distinct: Change
    mean_chars: Change
    empty: Change
    exact_duplicates: Change
    near_duplicates: Change
    pii: Change


class VersionDiff(BaseModel):
    """Rows of b not in a (added), rows of a not in b (removed), compared as whole rows.

    A row that appears twice in b and once in a counts once as added. When the schemas
    differ, rows are compared on `compared_columns` alone and `note` says so; samples
    hold those columns.
    """

    a: DatasetVersion
    b: DatasetVersion
    rows_added: int
    rows_removed: int
    rows_unchanged: int
    compared_columns: list[str]
    added_sample: list[dict[str, Any]] = Field(default_factory=list)
    removed_sample: list[dict[str, Any]] = Field(default_factory=list)
    columns_added: list[Column] = Field(default_factory=list)
    columns_removed: list[Column] = Field(default_factory=list)
    columns_type_changed: list[TypeChange] = Field(default_factory=list)
    note: str | None = None
    profile_deltas: list[ColumnDelta] | None = None


def diff_versions(
    store: DataStore, a: DatasetVersion, b: DatasetVersion, sample: int = 20
) -> VersionDiff:
    """What changed from version `a` to version `b` (of one dataset or of two)."""
    if not 0 <= sample <= MAX_SAMPLE:
        raise InvalidInput(f"sample must be between 0 and {MAX_SAMPLE}", field="sample")
    types_a = {c.name: c.type for c in a.columns}
    types_b = {c.name: c.type for c in b.columns}
    shared = [c.name for c in a.columns if c.name in types_b]
    changed = [
        TypeChange(name=n, a=types_a[n], b=types_b[n]) for n in shared if types_a[n] != types_b[n]
    ]
    diff = VersionDiff(
        a=a,
        b=b,
        rows_added=0,
        rows_removed=0,
        rows_unchanged=0,
        compared_columns=shared,
        columns_added=[c for c in b.columns if c.name not in types_a],
        columns_removed=[c for c in a.columns if c.name not in types_b],
        columns_type_changed=changed,
        note=_note(a, b, shared, changed),
        profile_deltas=_profile_deltas(store.get_profile(a.id), store.get_profile(b.id)),
    )
    return diff.model_copy(update=_rows(store, diff, sample))


def _note(
    a: DatasetVersion, b: DatasetVersion, shared: list[str], changed: list[TypeChange]
) -> str | None:
    if not shared:
        return "the versions share no column: every row of a is removed and every row of b added"
    notes = []
    if len(shared) < max(len(a.columns), len(b.columns)):
        notes.append(f"rows are compared on the {len(shared)} columns both versions have")
    if changed:
        names = ", ".join(c.name for c in changed)
        notes.append(f"columns whose type changed ({names}) are compared as text")
    return "; ".join(notes) or None


def _rows(store: DataStore, diff: VersionDiff, sample: int) -> dict[str, Any]:
    a, b = diff.a, diff.b
    if a.digest == b.digest:  # the same bytes: the same rows
        return {"rows_unchanged": a.row_count}
    from lmops.data import duck

    with (
        local_parquet(store, a) as path_a,
        local_parquet(store, b) as path_b,
        duck.connect({"a": path_a, "b": path_b}) as con,
    ):
        if not diff.compared_columns:
            return {
                "rows_added": b.row_count,
                "rows_removed": a.row_count,
                "added_sample": _sample(con, "SELECT * FROM b", sample),
                "removed_sample": _sample(con, "SELECT * FROM a", sample),
            }
        text = {c.name for c in diff.columns_type_changed}
        select_a = _select(diff.compared_columns, text, "a")
        select_b = _select(diff.compared_columns, text, "b")
        added = f"{select_b} EXCEPT ALL {select_a}"
        removed = f"{select_a} EXCEPT ALL {select_b}"
        rows_added = _count(con, added)
        return {
            "rows_added": rows_added,
            "rows_removed": _count(con, removed),
            "rows_unchanged": b.row_count - rows_added,
            "added_sample": _sample(con, added, sample),
            "removed_sample": _sample(con, removed, sample),
        }


def _select(columns: list[str], as_text: set[str], table: str) -> str:
    from lmops.data.duck import quote

    fields = [
        f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" if c in as_text else quote(c) for c in columns
    ]
    return f"SELECT {', '.join(fields)} FROM {table}"


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    found = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    return int(found[0]) if found else 0


def _sample(con: duckdb.DuckDBPyConnection, query: str, n: int) -> list[dict[str, Any]]:
    if n == 0:
        return []
    # EXCEPT ALL keeps no order: sort, so that the same diff shows the same sample
    cursor = con.execute(f"SELECT * FROM ({query}) ORDER BY ALL LIMIT {int(n)}")
    names = [d[0] for d in cursor.description]
    return [{k: jsonable(v) for k, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


# -- profiles ----------------------------------------------------------------------------


def _profile_deltas(a: Profile | None, b: Profile | None) -> list[ColumnDelta] | None:
    if a is None or b is None:
        return None
    cols_a = {c.name: c for c in a.columns}
    cols_b = {c.name: c for c in b.columns}
    names = [*cols_a, *(n for n in cols_b if n not in cols_a)]
    return [_column_delta(n, cols_a.get(n), cols_b.get(n)) for n in names]


def _column_delta(name: str, a: ColumnProfile | None, b: ColumnProfile | None) -> ColumnDelta:
    figures = [_figures(a), _figures(b)]
    return ColumnDelta(
        name=name,
        **{key: Change(a=figures[0].get(key), b=figures[1].get(key)) for key in _FIGURES},
    )


_FIGURES = (
    "nulls",
    "distinct",
    "mean_chars",
    "empty",
    "exact_duplicates",
    "near_duplicates",
    "pii",
)


def _figures(column: ColumnProfile | None) -> dict[str, float | None]:
    if column is None:
        return {}
    found: dict[str, float | None] = {"nulls": column.nulls, "distinct": column.distinct}
    text = column.text
    if text is not None:
        found |= {
            "mean_chars": text.chars.mean,
            "empty": text.empty,
            "exact_duplicates": text.exact_duplicates,
            "near_duplicates": text.near_duplicates,
            "pii": sum(text.pii.values()),
        }
    return found
