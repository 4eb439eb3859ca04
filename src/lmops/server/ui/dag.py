"""Lay out lineage as SVG: a dataset's versions as a DAG (one column per generation), and
the one-hop neighbourhood of a model version (what it came from, it, what came from it).
Edges run left to right."""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from urllib.parse import quote

from lmops.data.graph import LineageGraph, LineageNode
from lmops.governance.lineage import LineageLink

NODE_W = 156
NODE_H = 46
GAP_X = 56
GAP_Y = 14
PAD = 8
MAX_NODES = 400  # the newest ones: an SVG wider than this helps nobody


@dataclass(frozen=True)
class DagNode:
    node: LineageNode
    x: float
    y: float
    href: str


@dataclass(frozen=True)
class Dag:
    width: float
    height: float
    nodes: list[DagNode]
    edges: list[str]  # SVG path data, one per edge
    hidden: int  # older nodes left out past MAX_NODES

    @property
    def node_w(self) -> int:
        return NODE_W

    @property
    def node_h(self) -> int:
        return NODE_H


def layout(graph: LineageGraph) -> Dag:
    """Generation 0 holds the versions without parents; a child sits right of its parents."""
    nodes = sorted(graph.nodes, key=lambda n: n.created_at)[-MAX_NODES:]
    by_id = {n.id: n for n in nodes}
    parents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for edge in graph.edges:
        if edge.parent_id in by_id and edge.child_id in by_id:
            parents[edge.child_id].append(edge.parent_id)
    columns = _columns(parents, _generations(parents, by_id), by_id)
    at: dict[str, tuple[float, float]] = {}
    placed = []
    for gen, ids in enumerate(columns):
        for row, node_id in enumerate(ids):
            x, y = PAD + gen * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y)
            at[node_id] = (x, y)
            placed.append(DagNode(by_id[node_id], x, y, _href(by_id[node_id])))
    edges = [edge_path(at[p], at[c]) for c, ps in parents.items() for p in ps]
    rows = max((len(ids) for ids in columns), default=0)
    return Dag(
        width=2 * PAD + len(columns) * (NODE_W + GAP_X) - (GAP_X if columns else 0),
        height=2 * PAD + rows * (NODE_H + GAP_Y) - (GAP_Y if rows else 0),
        nodes=placed,
        edges=edges,
        hidden=len(graph.nodes) - len(nodes),
    )


def _generations(parents: dict[str, list[str]], by_id: dict[str, LineageNode]) -> dict[str, int]:
    """Longest path from a root; another dataset's version sits just left of its child."""
    try:
        order = list(TopologicalSorter(parents).static_order())
    except CycleError:  # versions cannot form a cycle; if rows ever do, draw them flat
        return dict.fromkeys(parents, 0)
    gen: dict[str, int] = {}
    for node_id in order:
        gen[node_id] = 1 + max((gen[p] for p in parents[node_id]), default=-1)
    first_child: dict[str, int] = {}
    for child, ps in parents.items():
        for p in ps:
            first_child[p] = min(first_child.get(p, gen[child]), gen[child])
    for node_id, child_gen in first_child.items():
        if by_id[node_id].external and not parents[node_id]:
            gen[node_id] = child_gen - 1
    return gen


def _columns(
    parents: dict[str, list[str]], gen: dict[str, int], by_id: dict[str, LineageNode]
) -> list[list[str]]:
    """Node ids per generation, each ordered near its parents' rows to keep edges short."""
    columns: list[list[str]] = [[] for _ in range(max(gen.values(), default=-1) + 1)]
    row: dict[str, float] = {}
    for node_id in sorted(gen, key=lambda i: (gen[i], by_id[i].created_at)):
        columns[gen[node_id]].append(node_id)
    for ids in columns:

        def key(i: str) -> tuple[float, bool, str, int]:
            ps = [row[p] for p in parents[i] if p in row]
            n = by_id[i]
            return (sum(ps) / len(ps) if ps else 0.0, n.external, n.dataset_name, n.version)

        ids.sort(key=key)
        row.update({i: r for r, i in enumerate(ids)})
    return columns


def edge_path(parent: tuple[float, float], child: tuple[float, float]) -> str:
    x1, y1 = parent[0] + NODE_W, parent[1] + NODE_H / 2
    x2, y2 = child[0] - 4, child[1] + NODE_H / 2  # stop short of the box for the arrowhead
    mid = (x1 + x2) / 2
    return f"M{x1:g},{y1:g} C{mid:g},{y1:g} {mid:g},{y2:g} {x2:g},{y2:g}"


def _href(node: LineageNode) -> str:
    return f"/datasets/{quote(node.dataset_name, safe='')}/{node.version}"


# -- one model version's neighbourhood --------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A node of a neighbourhood: a link's far end, or the version itself (`href` None)."""

    label: str
    sub: str
    x: float
    y: float
    href: str | None
    resolved: bool = True


@dataclass(frozen=True)
class Neighbourhood:
    width: float
    height: float
    boxes: list[Box]
    edges: list[str]

    @property
    def node_w(self) -> int:
        return NODE_W

    @property
    def node_h(self) -> int:
        return NODE_H


def neighbourhood(
    label: str, sub: str, upstream: list[LineageLink], downstream: list[LineageLink]
) -> Neighbourhood:
    """Three columns: what the object came from, the object, what came from it."""
    rows = max(len(upstream), len(downstream), 1)
    height = 2 * PAD + rows * (NODE_H + GAP_Y) - GAP_Y
    step = NODE_W + GAP_X
    center = (PAD + (step if upstream else 0), (height - NODE_H) / 2)

    def column(links: list[LineageLink], x: float) -> list[Box]:
        top = (height - (len(links) * (NODE_H + GAP_Y) - GAP_Y)) / 2
        return [_box(link, x, top + i * (NODE_H + GAP_Y)) for i, link in enumerate(links)]

    ups = column(upstream, PAD)
    downs = column(downstream, center[0] + step)
    edges = [edge_path((b.x, b.y), center) for b in ups]
    edges += [edge_path(center, (b.x, b.y)) for b in downs]
    boxes = [*ups, Box(label, sub, *center, href=None), *downs]
    width = max(b.x for b in boxes) + NODE_W + PAD
    return Neighbourhood(width=width, height=height, boxes=boxes, edges=edges)


def _box(link: LineageLink, x: float, y: float) -> Box:
    if not link.resolved:
        return Box("not accessible", f"{link.kind} · {link.relation}", x, y, None, resolved=False)
    name = link.name or link.kind
    if link.kind == "run":
        return Box(f"run {name}", link.relation, x, y, f"/runs/{quote(link.id, safe='')}")
    section = {"model_version": "models", "dataset_version": "datasets"}.get(link.kind)
    label = f"{name}/{link.version}" if link.version is not None else name
    href = None
    if section is not None and link.version is not None:
        href = f"/{section}/{quote(name, safe='')}/{link.version}"
    return Box(label, f"{link.kind.split('_')[0]} · {link.relation}", x, y, href)
