"""Small builders for test data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmops.core.ids import utcnow
from lmops.data.entities import (
    Column,
    ColumnProfile,
    DatasetVersion,
    Distribution,
    Profile,
    TextProfile,
    ValueCount,
)
from lmops.data.store import DataStore
from lmops.tracking.entities import Metric


def points(key: str, values: list[float], start_step: int = 0) -> list[Metric]:
    """Metric points with consecutive steps and increasing timestamps."""
    return [
        Metric(key=key, value=v, step=start_step + i, timestamp=1_700_000_000_000 + i)
        for i, v in enumerate(values)
    ]


# -- datasets ----------------------------------------------------------------------------


def derive(
    store: DataStore,
    parent: DatasetVersion,
    rows: list[dict[str, Any]],
    op: str,
    *,
    name: str | None = None,
    extra_parents: Sequence[DatasetVersion] = (),
    report: dict[str, Any] | None = None,
    **params: Any,
) -> DatasetVersion:
    """A version made from `parent` by step `op` (as a step would record it) holding `rows`."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pq.write_table(table, path)
        return store.add_version(
            name or parent.dataset_name,
            path,
            columns=[Column(name=f.name, type=str(f.type)) for f in table.schema],
            row_count=table.num_rows,
            recipe={"op": op, "params": params},
            parent_version_id=parent.id,
            report=report,
            extra_parents=[p.id for p in extra_parents],
        )


def distribution(values: list[float], bins: int = 4) -> Distribution:
    """A Distribution of `values` with an equal-width histogram, as profiling makes one."""
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    edges = [lo + i * width for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    return Distribution(
        count=len(values),
        min=lo,
        max=hi,
        mean=sum(values) / len(values),
        p50=at(0.5),
        p90=at(0.9),
        p99=at(0.99),
        edges=edges,
        counts=counts,
    )


def text_profile(texts: list[str], **overrides: Any) -> TextProfile:
    """A plausible text profile of `texts`; `overrides` replace any field."""
    words = Counter(w for t in texts for w in t.lower().split())
    fields: dict[str, Any] = {
        "chars": distribution([float(len(t)) for t in texts]),
        "tokens": distribution([float(len(t.split())) for t in texts]),
        "tokenizer": "whitespace",
        "empty": sum(1 for t in texts if not t),
        "overlong": 0,
        "overlong_limit": 10_000,
        "control_chars": 0,
        "exact_duplicates": len(texts) - len(set(texts)),
        "near_duplicates": 0,
        "pii": {"email": 2, "phone": 1},
        "languages": {"en": len(texts) - 1, "fr": 1},
        "language_sample": len(texts),
        "ngrams": {
            "1": [ValueCount(value=w, count=c) for w, c in words.most_common(10)],
            "2": [ValueCount(value="the refund", count=3)],
            "3": [ValueCount(value="where is my", count=2)],
        },
    }
    return TextProfile(**{**fields, **overrides})


def profile_of(version: DatasetVersion, columns: list[ColumnProfile]) -> Profile:
    """A profile of `version` with these column profiles, made now."""
    return Profile(
        version_id=version.id,
        row_count=version.row_count,
        columns=columns,
        options={"near_duplicates": True},
        duration_s=0.5,
        created_at=utcnow(),
    )
