"""The reference graph around one object, forward (what it references) and reverse
(what references it), to a chosen depth; as JSON-ready data or Graphviz dot."""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomref.model import Kind, ObjectSummary, Reference

if TYPE_CHECKING:
    from dicomref.catalog import Catalog


class Direction(enum.StrEnum):
    FORWARD = "forward"
    REVERSE = "reverse"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Node:
    """An object in the graph; ``present`` is False for UIDs no indexed file holds.

    A missing node's ``sop_class`` is the class its referrers name, and
    ``expected_study``/``expected_series`` the location hints they give (None where
    none does).
    """

    uid: str
    present: bool
    modality: str | None = None
    sop_class: str | None = None
    study: str | None = None
    series: str | None = None
    path: str | None = None
    instance: bool = True
    expected_study: str | None = None
    expected_series: str | None = None
    study_date: str | None = None
    instance_number: int | None = None
    #: What people name the object by (see :class:`~dicomref.model.ObjectSummary`).
    content_date: str | None = None
    label: str | None = None
    roi_count: int | None = None
    beam_count: int | None = None
    applicator_count: int | None = None
    dose_type: str | None = None
    dose_units: str | None = None
    dose_summation: str | None = None


@dataclass(frozen=True, slots=True)
class Edge:
    """All references from ``source`` to ``target`` of one kind; ``paths`` counts them."""

    source: str
    target: str
    kind: Kind
    paths: int
    first_path: str


@dataclass(frozen=True, slots=True)
class Graph:
    root: str
    depth: int
    direction: Direction
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _node(uid: str, summary: ObjectSummary | None, instance: bool) -> Node:
    if summary is None:
        return Node(uid=uid, present=False, instance=instance)
    return Node(
        uid=uid,
        present=True,
        modality=summary.modality,
        sop_class=summary.sop_class,
        study=summary.study,
        series=summary.series,
        path=summary.path,
        study_date=summary.study_date,
        instance_number=summary.instance_number,
        content_date=summary.content_date,
        label=summary.label,
        roi_count=summary.roi_count,
        beam_count=summary.beam_count,
        applicator_count=summary.applicator_count,
        dose_type=summary.dose_type,
        dose_units=summary.dose_units,
        dose_summation=summary.dose_summation,
    )


def build_graph(
    catalog: Catalog, uid: str, *, depth: int = 2, direction: Direction = Direction.BOTH
) -> Graph:
    """Breadth-first from ``uid``: ``depth`` hops forward and/or reverse.

    Raises :class:`~dicomref.errors.NotInCatalogError` when ``uid`` is neither held nor
    referenced by anything in the catalog.
    """
    root = catalog.locate(uid)
    refs_in: list[Reference] = catalog.referrers(uid) if not root else []
    if not root and not refs_in:
        catalog.get(uid)  # raises NotInCatalogError with the standard advice
    # A root nothing holds is a stored object if something references it as one (else a
    # study or series UID, which is no object to look for).
    held_or_object = bool(root) or any(r.instance for r in refs_in)
    nodes: dict[str, Node] = {uid: _node(uid, root[0] if root else None, held_or_object)}
    edges: dict[tuple[str, str, Kind], list[Reference]] = {}
    queue: deque[tuple[str, int]] = deque([(uid, 0)])
    expanded: set[str] = set()
    while queue:
        current, level = queue.popleft()
        if current in expanded or level >= depth:
            continue
        expanded.add(current)
        hops: list[tuple[Reference, str]] = []
        if direction in (Direction.FORWARD, Direction.BOTH):
            hops += [(r, r.target) for r in catalog.references_from(current)]
        if direction in (Direction.REVERSE, Direction.BOTH):
            hops += [(r, r.source) for r in catalog.referrers(current)]
        for ref, other in hops:
            edges.setdefault((ref.source, ref.target, ref.kind), []).append(ref)
            if other not in nodes:
                found = catalog.locate(other) if ref.instance or other == ref.source else []
                nodes[other] = _node(other, found[0] if found else None, ref.instance)
                if ref.instance or other == ref.source:
                    queue.append((other, level + 1))
    edge_list = tuple(
        Edge(s, t, k, len(refs), refs[0].path) for (s, t, k), refs in sorted(edges.items())
    )
    return Graph(uid, depth, direction, tuple(_with_hints(nodes, edges).values()), edge_list)


def _with_hints(
    nodes: dict[str, Node], edges: dict[tuple[str, str, Kind], list[Reference]]
) -> dict[str, Node]:
    """Missing nodes with the class and location their referrers give (first one given)."""
    for (_, target, _), refs in edges.items():
        node = nodes.get(target)
        if node is None or node.present:
            continue
        nodes[target] = dataclasses.replace(
            node,
            sop_class=node.sop_class
            or next((r.target_class for r in refs if r.target_class), None),
            expected_study=node.expected_study or next((r.study for r in refs if r.study), None),
            expected_series=node.expected_series
            or next((r.series for r in refs if r.series), None),
        )
    return nodes


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """Graphviz dot: one cluster per series, missing objects dashed, edges labelled by kind."""
    lines = ["digraph dicomref {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    by_series: dict[str | None, list[Node]] = {}
    for node in graph.nodes:
        by_series.setdefault(node.series, []).append(node)
    for n, (series, members) in enumerate(sorted(by_series.items(), key=lambda i: i[0] or "")):
        indent = "  "
        if series is not None:
            lines.append(f"  subgraph cluster_{n} {{")
            lines.append(f"    label={_quote('series ' + series)}; style=rounded;")
            indent = "    "
        for node in members:
            label = (
                f"{node.modality or ('missing' if node.instance else 'non-instance')}\\n{node.uid}"
            )
            style = "" if node.present else ", style=dashed"
            bold = ", penwidth=2" if node.uid == graph.root else ""
            lines.append(f"{indent}{_quote(node.uid)} [label={_quote(label)}{style}{bold}];")
        if series is not None:
            lines.append("  }")
    for edge in graph.edges:
        label = edge.kind.value + (f" x{edge.paths}" if edge.paths > 1 else "")
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
