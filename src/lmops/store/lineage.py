"""Lineage edges: what each object came from. Every stage writes them; governance reads them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Connection, Engine, Index, String, Table, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError

from lmops.core.ids import utcnow
from lmops.store.engine import writing
from lmops.store.metadata import BigId, UTCDateTime, metadata

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("from_kind", String(32), nullable=False),
    Column("from_id", String(255), nullable=False),
    Column("to_kind", String(32), nullable=False),
    Column("to_id", String(255), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("from_kind", "from_id", "to_kind", "to_id", "relation"),
    Index(None, "to_kind", "to_id"),
)


class Edge(BaseModel):
    """`from` --relation--> `to`, e.g. dataset_version --trained--> run."""

    from_kind: str
    from_id: str
    to_kind: str
    to_id: str
    relation: str
    created_at: datetime


def add_edge(
    target: Engine | Connection,
    from_kind: str,
    from_id: str,
    to_kind: str,
    to_id: str,
    relation: str,
) -> None:
    """Record an edge; recording the same edge twice is a no-op."""
    row = {
        "from_kind": from_kind,
        "from_id": from_id,
        "to_kind": to_kind,
        "to_id": to_id,
        "relation": relation,
        "created_at": utcnow(),
    }
    if isinstance(target, Connection):
        _insert_ignoring_duplicate(target, row)
        return
    with writing(target) as conn:
        _insert_ignoring_duplicate(conn, row)


def _insert_ignoring_duplicate(conn: Connection, row: dict[str, object]) -> None:
    try:
        with conn.begin_nested():
            conn.execute(lineage_edges.insert(), row)
    except IntegrityError:
        pass


def edges(engine: Engine, kind: str, id_: str, *, direction: str = "both") -> list[Edge]:
    """Edges touching (kind, id): `upstream` (what it came from), `downstream`, or `both`."""
    t = lineage_edges
    clauses = []
    if direction in ("upstream", "both"):
        clauses.append((t.c.to_kind == kind) & (t.c.to_id == id_))
    if direction in ("downstream", "both"):
        clauses.append((t.c.from_kind == kind) & (t.c.from_id == id_))
    from sqlalchemy import or_

    with engine.connect() as conn:
        rows = conn.execute(select(t).where(or_(*clauses)).order_by(t.c.id)).mappings()
        return [Edge.model_validate(dict(r)) for r in rows]
