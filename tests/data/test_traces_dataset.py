"""A dataset made of traces: inputs, outputs and feedback of the selected traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lmops.core.errors import InvalidInput
from lmops.core.ids import new_id
from lmops.data.loading import read_table
from lmops.data.store import DataStore
from lmops.data.traces import import_traces
from lmops.tracing.entities import Span
from lmops.tracing.feedback import FeedbackStore
from lmops.tracing.store import TracingStore


def trace(tracing: TracingStore, name: str, question: str, answer: object, when: datetime) -> str:
    trace_id = new_id()
    tracing.write_spans(
        [
            Span.model_validate(
                {
                    "trace_id": trace_id,
                    "span_id": new_id()[:16],
                    "name": name,
                    "start_time": when,
                    "end_time": when + timedelta(milliseconds=20),
                    "status": "OK",
                    "inputs": {"question": question},
                    "outputs": answer,
                }
            )
        ]
    )
    return trace_id


def test_traces_become_rows_with_their_feedback(store: DataStore) -> None:
    tracing = TracingStore(store.engine)
    now = datetime.now(UTC)
    first = trace(tracing, "qa", "What is 2+2?", "5", now)
    trace(tracing, "qa", "Capital of France?", "Paris", now + timedelta(seconds=1))
    trace(tracing, "other", "ignored", "x", now + timedelta(seconds=2))
    FeedbackStore(store.engine).log_feedback(
        first, "correct", False, comment="wrong sum", correction="4"
    )

    version = import_traces(store, tracing, "qa-traces", {"name": "qa"})
    assert version.row_count == 2 and version.recipe["op"] == "from_traces"
    assert version.recipe["query"]["name"] == "qa"
    rows = read_table(store, version).to_pylist()
    assert [r["output"] for r in rows] == ["Paris", "5"]  # newest first
    assert json.loads(rows[1]["input"]) == {"question": "What is 2+2?"}
    [note] = rows[1]["feedback"]
    assert note["name"] == "correct" and json.loads(note["value"]) is False
    assert note["correction"] == "4" and note["comment"] == "wrong sum"
    assert rows[0]["feedback"] == []

    rated = import_traces(store, tracing, "rated", {"has_feedback": True})
    assert rated.row_count == 1
    with pytest.raises(InvalidInput, match="no trace matches"):
        import_traces(store, tracing, "none", {"name": "missing"})
    assert [d.name for d in store.list_datasets()] == ["qa-traces", "rated"]
