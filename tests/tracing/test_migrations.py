"""Migrations that move data: spans stored before 0003 get their trace_models rows."""

from __future__ import annotations

from sqlalchemy import text

from lmops.core.ids import new_id, utcnow
from lmops.store import create_db_engine, upgrade


def test_0003_backfills_the_models_of_stored_traces(store_uri: str) -> None:
    engine = create_db_engine(store_uri)
    assert upgrade(engine, "0002") == "0002"
    t, now = new_id(), utcnow()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO traces (trace_id, start_time, status, span_count, error_count, "
                "input_tokens, output_tokens, cached_tokens, reasoning_tokens, tags, metadata, "
                "models, feedback_count, updated_at) VALUES (:t, :now, 'OK', 1, 0, 0, 0, 0, 0, "
                "'{}', '{}', '[]', 0, :now)"
            ),
            {"t": t, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO spans (trace_id, span_id, name, span_type, start_time, status, "
                "attributes, events, context, model) VALUES (:t, 'aaaaaaaaaaaaaaaa', 'llm', 'LLM', "
                ":now, 'OK', '{}', '[]', '{}', 'm-1')"
            ),
            {"t": t, "now": now},
        )
    assert upgrade(engine, "0003") == "0003"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trace_id, model FROM trace_models")).all()
    assert [tuple(r) for r in rows] == [(t, "m-1")]
    engine.dispose()
