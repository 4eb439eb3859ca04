"""Lineage edges with each far end described: a run by name and experiment, a version by URI.

The edges live in one table that every stage writes; describing an end needs the store of
the stage that owns it, so the description is made here, above the stages.

The stores work in one project, and so does the view: the object asked about must be in it
(NotFound otherwise, as for an unknown one), and a far end in another project is listed
unresolved, with its kind and id only, exactly like one that is gone. Its name, URI, run or
experiment never show, and whether it exists elsewhere cannot be told from the answer.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from lmops.core.errors import LmopsError
from lmops.data.entities import DatasetVersion
from lmops.governance.cards import Stores
from lmops.registry.entities import ModelVersion
from lmops.store.lineage import Edge, edges
from lmops.tracking.entities import Run

MAX_LINKS = 500  # per direction: a version used by thousands of runs lists the first ones


class LineageLink(BaseModel):
    """The far end of one edge. `resolved` is false where it is gone, in another project, or
    of a kind not known here; then only `kind` and `id` say what it was."""

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
    """The edges touching (kind, id_), oldest first, with their far ends described.

    A run, model version or dataset version outside the stores' project is NotFound.
    """
    _lookup(stores, kind, id_)
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


def _lookup(stores: Stores, kind: str, id_: str) -> Run | ModelVersion | DatasetVersion | None:
    """The object (kind, id_) in the stores' project; None for a kind not known here."""
    if kind == "run":
        return stores.tracking.get_run(id_)
    if kind == "model_version":
        return stores.registry.get_version_by_id(id_)
    if kind == "dataset_version":
        return stores.data.get_version_by_id(id_)
    return None


def _link(
    stores: Stores, edge: Edge, kind: str, id_: str, experiments: dict[str, str | None]
) -> LineageLink:
    link = LineageLink(kind=kind, id=id_, relation=edge.relation, created_at=edge.created_at)
    try:
        found = _lookup(stores, kind, id_)
    except LmopsError:  # gone (a run's retention, say) or in another project: the bare id
        return link
    if isinstance(found, Run):
        if found.experiment_id not in experiments:
            experiments[found.experiment_id] = _experiment_name(stores, found.experiment_id)
        link.uri, link.name = f"runs:/{found.id}", found.name
        link.experiment_id = found.experiment_id
        link.experiment_name = experiments[found.experiment_id]
    elif isinstance(found, ModelVersion):
        link.uri, link.name, link.version = found.uri, found.model_name, found.version
    elif isinstance(found, DatasetVersion):
        link.uri, link.name, link.version = found.uri, found.dataset_name, found.version
    else:
        return link
    link.resolved = True
    return link


def _experiment_name(stores: Stores, experiment_id: str) -> str | None:
    try:
        return stores.tracking.get_experiment(experiment_id).name
    except LmopsError:
        return None
