"""Datasets from traces: the inputs, outputs and feedback of a selection of traced calls.

The selection is a tracing `TraceQuery` (name, tags, user, session, model, time range,
feedback filters, text). Each trace gives one row; inputs and outputs are the root
span's, as text (JSON for structured values); feedback is a list of
{name, value, source, comment, correction} with values and corrections as JSON text.
A human correction next to the model's output is the raw material of preference data.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from lmops.core.errors import InvalidInput
from lmops.data.entities import DatasetVersion
from lmops.data.parquet import ROW_GROUP_ROWS, ParquetOut, columns_of
from lmops.data.store import DataStore, check_dataset_name
from lmops.tracing.entities import TraceDetail, TraceQuery
from lmops.tracing.store import TracingStore

FEEDBACK = pa.struct(
    [
        ("name", pa.string()),
        ("value", pa.string()),
        ("source", pa.string()),
        ("comment", pa.string()),
        ("correction", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("name", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("feedback", pa.list_(FEEDBACK)),
    ]
)


def import_traces(
    store: DataStore,
    tracing: TracingStore,
    name: str,
    query: TraceQuery | dict[str, Any] | None = None,
    *,
    max_traces: int = 100_000,
    description: str = "",
) -> DatasetVersion:
    """Register the traces `query` selects (newest first, at most `max_traces`) as a version.

    Only the traces of the data store's project are read, whichever project `tracing` was in.
    """
    check_dataset_name(name)
    tracing = tracing.in_project(store.project)
    q = query if isinstance(query, TraceQuery) else TraceQuery.model_validate(query or {})
    with tempfile.TemporaryDirectory(prefix="lmops-traces-") as tmp:
        dest = Path(tmp) / "data.parquet"
        with ParquetOut(dest, SCHEMA) as out:
            for rows in _pages(tracing, q, max_traces):
                out.add(pa.RecordBatch.from_pylist(rows, schema=SCHEMA))
            count = out.close()
        if count == 0:
            raise InvalidInput("no trace matches the selection: nothing to import", field="query")
        recipe = {
            "op": "from_traces",
            "query": q.model_dump(mode="json", exclude={"cursor", "limit"}, exclude_none=True),
            "max_traces": max_traces,
        }
        return store.add_version(
            name,
            dest,
            columns=columns_of(out.schema),
            row_count=count,
            recipe=recipe,
            description=description,
        )


def _pages(tracing: TracingStore, query: TraceQuery, limit: int) -> Iterator[list[dict[str, Any]]]:
    cursor, taken = None, 0
    while taken < limit:
        page = tracing.search_traces(
            query.model_copy(update={"cursor": cursor, "limit": min(500, limit - taken)})
        )
        rows = [_row(tracing.get_trace(t.trace_id)) for t in page.traces]
        for start in range(0, len(rows), ROW_GROUP_ROWS):
            yield rows[start : start + ROW_GROUP_ROWS]
        taken += len(rows)
        cursor = page.next_cursor
        if cursor is None or not rows:
            return


def _row(trace: TraceDetail) -> dict[str, Any]:
    root = next((s for s in trace.spans if s.parent_span_id is None), None)
    return {
        "trace_id": trace.trace_id,
        "name": trace.name,
        "start_time": trace.start_time,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "model": trace.models[0] if trace.models else None,
        "prompt_version": trace.prompt_version,
        "input": _text(root.inputs) if root else None,
        "output": _text(root.outputs) if root else None,
        "feedback": [
            {
                "name": f.name,
                "value": None if f.value is None else json.dumps(f.value),
                "source": str(f.source.value if hasattr(f.source, "value") else f.source),
                "comment": f.comment,
                "correction": None if f.correction is None else _text(f.correction),
            }
            for f in trace.feedback
        ],
    }


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
