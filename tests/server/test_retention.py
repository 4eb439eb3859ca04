from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from lmops.core.ids import new_id, utcnow
from lmops.core.settings import Settings
from lmops.server import create_app
from lmops.tracing.entities import Span


def test_the_server_deletes_traces_past_retention(tmp_path: Path) -> None:
    app = create_app(Settings(auth="off", home=tmp_path, uri="", trace_retention_days=30))
    store = app.state.services.tracing
    old, new = new_id(), new_id()
    for trace_id, age in ((old, 31), (new, 1)):
        start = utcnow() - timedelta(days=age)
        store.write_spans(
            [
                Span(
                    trace_id=trace_id,
                    span_id=new_id()[:16],
                    name="x",
                    start_time=start,
                    end_time=start,
                )
            ]
        )
    with TestClient(app) as client:  # startup runs the first sweep
        assert client.get(f"/api/v1/traces/{old}").status_code == 404
        assert client.get(f"/api/v1/traces/{new}").status_code == 200
