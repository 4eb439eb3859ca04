"""The lineage of a dataset's versions as a graph, and the chain of steps behind one version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from lmops.core.errors import NotFound
from lmops.data.entities import DatasetVersion
from lmops.data.store import DataStore

MAX_CHAIN = 1000  # parents always exist before their children, so this only guards bad rows


class LineageNode(BaseModel):
    """One version; `external` marks a parent from another dataset (the right side of a join)."""

    id: str
    dataset_name: str
    version: int
    op: str
    row_count: int
    created_at: datetime
    external: bool = False


class LineageEdge(BaseModel):
    parent_id: str
    child_id: str


class LineageGraph(BaseModel):
    nodes: list[LineageNode]
    edges: list[LineageEdge]


def op_of(version: DatasetVersion) -> str:
    """The step that made a version, from its recipe."""
    return str(version.recipe.get("op", "")) or "?"


def lineage_graph(store: DataStore, name: str) -> LineageGraph:
    """Every version of `name`, the versions of other datasets they read, and the edges.

    A parent the store cannot read (gone, or in another project) is left out with its edge:
    the graph names only versions of the store's project.
    """
    versions = store.list_versions(name)
    nodes = {v.id: _node(v, external=False) for v in versions}
    edges = []
    for parent_id, child_id in store.lineage(name):
        if parent_id not in nodes:
            try:
                nodes[parent_id] = _node(store.get_version_by_id(parent_id), external=True)
            except NotFound:
                continue
        edges.append(LineageEdge(parent_id=parent_id, child_id=child_id))
    return LineageGraph(nodes=list(nodes.values()), edges=edges)


def _node(version: DatasetVersion, *, external: bool) -> LineageNode:
    return LineageNode(
        id=version.id,
        dataset_name=version.dataset_name,
        version=version.version,
        op=op_of(version),
        row_count=version.row_count,
        created_at=version.created_at,
        external=external,
    )


def version_chain(store: DataStore, version: DatasetVersion) -> list[DatasetVersion]:
    """The versions from the root (an import) down to `version`, following parents."""
    chain = [version]
    while chain[-1].parent_version_id is not None and len(chain) < MAX_CHAIN:
        try:
            chain.append(store.get_version_by_id(chain[-1].parent_version_id))
        except NotFound:
            break
    return chain[::-1]
