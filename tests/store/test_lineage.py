from __future__ import annotations

from sqlalchemy import Engine

from lmops.store.lineage import add_edge, edges


def test_edges_up_and_downstream(engine: Engine) -> None:
    add_edge(engine, "dataset_version", "d1", "run", "r1", "trained_on")
    add_edge(engine, "dataset_version", "d1", "run", "r1", "trained_on")  # idempotent
    add_edge(engine, "run", "r1", "model_version", "m1", "produced")
    up = edges(engine, "run", "r1", direction="upstream")
    down = edges(engine, "run", "r1", direction="downstream")
    assert [(e.from_kind, e.from_id, e.relation) for e in up] == [
        ("dataset_version", "d1", "trained_on")
    ]
    assert [(e.to_kind, e.to_id) for e in down] == [("model_version", "m1")]
    assert len(edges(engine, "run", "r1")) == 2
    assert up[0].created_at.tzinfo is not None
