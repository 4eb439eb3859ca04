"""Lineage edges with each far end described: a run by name and experiment, a version by URI.

The edges live in one table that every stage writes; describing an end needs the store of
the stage that owns it, so the description is made here, above the stages.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from lmops.core.errors import LmopsError
from lmops.governance.cards import Stores
from lmops.store.lineage import Edge, edges

MAX_LINKS = 500  # per direction: a version used by thousands of runs lists the first ones


class LineageLink(BaseModel):
    """The far end of one edge. `resolved` is false where it is gone or of a kind not known
    here; then only `kind` and `id` say what it was."""

    kind: str  # run | model_version | dataset_version | ...
    id: str
    relation: str  # produced, adapter_of, ...
    created_at: datetime
    resolved: bool = False
    uri: str | None = None  # runs:/<id>, models:/chat/2, datasets:/chat/3
    name: str | None = None  # a run's name, or the model or dataset a version belongs to
    version: int | None = None
    experiment_id: str | None = None
    experiment_name: str | None = None


class Lineage(BaseModel):
    """What an object came from (`upstream`) and what came from it (`downstream`)."""

    kind: str
    id: str
    upstream: list[LineageLink]
    downstream: list[LineageLink]
    more_upstream: int = 0  # links past MAX_LINKS, not listed
    more_downstream: int = 0


def describe_lineage(stores: Stores, kind: str, id_: str) -> Lineage:
    """The edges touching (kind, id_), oldest first, with their far ends described."""
    found = edges(stores.registry.engine, kind, id_)
    up = [e for e in found if (e.to_kind, e.to_id) == (kind, id_)]
    down = [e for e in found if (e.from_kind, e.from_id) == (kind, id_)]
    experiments: dict[str, str | None] = {}
    return Lineage(
        kind=kind,
        id=id_,
        upstream=[_link(stores, e, e.from_kind, e.from_id, experiments) for e in up[:MAX_LINKS]],
        downstream=[_link(stores, e, e.to_kind, e.to_id, experiments) for e in down[:MAX_LINKS]],
        more_upstream=max(0, len(up) - MAX_LINKS),
        more_downstream=max(0, len(down) - MAX_LINKS),
    )


def _link(
    stores: Stores, edge: Edge, kind: str, id_: str, experiments: dict[str, str | None]
) -> LineageLink:
    link = LineageLink(kind=kind, id=id_, relation=edge.relation, created_at=edge.created_at)
    try:
        if kind == "run":
            run = stores.tracking.get_run(id_)
            if run.experiment_id not in experiments:
                experiments[run.experiment_id] = _experiment_name(stores, run.experiment_id)
            link.uri, link.name = f"runs:/{run.id}", run.name
            link.experiment_id = run.experiment_id
            link.experiment_name = experiments[run.experiment_id]
        elif kind == "model_version":
            model = stores.registry.get_version_by_id(id_)
            link.uri, link.name, link.version = model.uri, model.model_name, model.version
        elif kind == "dataset_version":
            data = stores.data.get_version_by_id(id_)
            link.uri, link.name, link.version = data.uri, data.dataset_name, data.version
        else:
            return link
    except LmopsError:  # the far end was deleted (a run's retention, say): show the bare id
        return link
    link.resolved = True
    return link


def _experiment_name(stores: Stores, experiment_id: str) -> str | None:
    try:
        return stores.tracking.get_experiment(experiment_id).name
    except LmopsError:
        return None
