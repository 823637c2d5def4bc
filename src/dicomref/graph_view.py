"""The reference graph as a person reads it: image series folded into one node each,
objects labelled as people name them, missing objects placed where they were expected.

:func:`view_graph` turns a :class:`~dicomref.graph.Graph` (one node per object) into a
:class:`GraphView`.  An image series becomes one node ("CT #1 'PLANNING CT', 60 of 120
slices referenced"); the edges into its slices become one edge counting them.  Objects
that are not images (structure sets, plans, doses, SEG, SR, KOS…) stay one node each.
A series named in ``expand`` is shown slice by slice, inside a group node.  Missing
objects are nodes of their own, labelled with the series they were expected in (the
referrer's hint, else the series of the other objects it names of that kind); more than
:data:`MISSING_SHOWN` missing from one series fold into one node.

The same view feeds ``dicomref graph --format dot`` (:func:`view_to_dot`) and the web
page (as JSON).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomref import labels
from dicomref.graph import Direction, Graph, Node
from dicomref.model import Kind

if TYPE_CHECKING:
    from dicomref.catalog import Catalog

#: Missing objects expected in one series shown one by one; more fold into one node.
MISSING_SHOWN = 6

#: Node kinds, as ``ViewNode.kind`` says them.
OBJECT, SERIES, GROUP, MISSING, MISSING_GROUP, NON_INSTANCE = (
    "object",
    "series",
    "group",
    "missing",
    "missing-group",
    "non-instance",
)


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What the catalog holds of one series: ``count`` SOP Instance UIDs indexed."""

    uid: str
    study: str
    modality: str | None
    number: int | None
    description: str | None
    count: int

    @property
    def title(self) -> str:
        return labels.series_title(self.modality, self.number, self.description)


@dataclass(frozen=True, slots=True)
class ViewNode:
    """One node of the view.

    ``id`` is unique in the view (``object:UID``, ``series:UID``…); ``uid`` the SOP
    Instance UID of an object or missing object, the Series Instance UID of a series or
    group node, the UID a non-instance reference names.  ``label`` is what is drawn (lines
    separated by newlines), ``title`` what shows on hover (the UIDs).  ``parent`` is the
    group node of an expanded series holding this node.  ``members`` counts the objects a
    series or missing-group node stands for.
    """

    id: str
    kind: str
    uid: str
    label: str
    title: str
    present: bool
    root: bool = False
    modality: str | None = None
    study: str | None = None
    series: str | None = None
    parent: str | None = None
    members: int = 1


@dataclass(frozen=True, slots=True)
class ViewEdge:
    """The references from one view node to another, of every kind, in one edge.

    ``counts`` says, per kind in ``kinds``, how many object-to-object references were
    folded into the edge (a structure set naming 60 slices of a series: 60); ``label``
    says both ("contour image" with the count after it; "plan, evidence").
    """

    source: str
    target: str
    kinds: tuple[Kind, ...]
    counts: tuple[int, ...]
    label: str


@dataclass(frozen=True, slots=True)
class GraphView:
    root: str
    depth: int
    direction: Direction
    expanded: tuple[str, ...]
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]


def series_info(catalog: Catalog, uids: Iterable[str]) -> dict[str, SeriesInfo]:
    """SeriesInfo of each series the catalog has (indexed lookups, 500 UIDs a query)."""
    from sqlalchemy import func, select

    from dicomref.catalog.schema import files, series

    wanted = sorted(set(uids))
    found: dict[str, SeriesInfo] = {}
    with catalog.reading() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            counted = conn.execute(
                select(files.c.series_uid, func.count(files.c.sop_instance.distinct()))
                .where(files.c.series_uid.in_(chunk))
                .group_by(files.c.series_uid)
            )
            counts = {uid: int(n) for uid, n in counted}
            rows = conn.execute(
                select(
                    series.c.series_uid,
                    series.c.study_uid,
                    series.c.modality,
                    series.c.series_number,
                    series.c.description,
                ).where(series.c.series_uid.in_(chunk))
            )
            for uid, study, modality, number, description in rows:
                found[uid] = SeriesInfo(
                    uid, study, modality, number, description, int(counts.get(uid, 0))
                )
    return found


def _study_titles(catalog: Catalog, uids: Iterable[str]) -> dict[str, str]:
    """'Study 'PLANNING CT' 2018-01-01' for each study the catalog has."""
    from sqlalchemy import select

    from dicomref.catalog.schema import studies

    wanted = sorted(set(uids))
    if not wanted:
        return {}
    titles: dict[str, str] = {}
    with catalog.reading() as conn:
        rows = conn.execute(
            select(studies.c.study_uid, studies.c.description, studies.c.study_date).where(
                studies.c.study_uid.in_(wanted[:500])
            )
        )
        for uid, description, study_date in rows:
            text = "Study" + (f" '{description}'" if description else "")
            titles[uid] = f"{text} {labels.date(study_date)}".rstrip()
    return titles


def _collapsible(node: Node, root: str, expanded: frozenset[str]) -> bool:
    return (
        node.present
        and node.series is not None
        and node.uid != root
        and node.modality not in labels.OBJECT_MODALITIES
        and node.series not in expanded
    )


def _expected_series(graph: Graph, nodes: dict[str, Node]) -> dict[str, str]:
    """Missing UID -> the series it was expected in: the hint its referrers give, else the
    one series holding the other objects its referrer names with the same kind."""
    siblings: dict[tuple[str, Kind], set[str]] = {}
    for edge in graph.edges:
        target = nodes.get(edge.target)
        if target is not None and target.present and target.series:
            siblings.setdefault((edge.source, edge.kind), set()).add(target.series)
    expected: dict[str, str] = {}
    for edge in graph.edges:
        target = nodes.get(edge.target)
        if target is None or target.present or not target.instance:
            continue
        if target.expected_series:
            expected[target.uid] = target.expected_series
            continue
        around = siblings.get((edge.source, edge.kind), set())
        if len(around) == 1 and target.uid not in expected:
            expected[target.uid] = next(iter(around))
    return expected


def _object_label(node: Node, info: SeriesInfo | None) -> str:
    """The object as people name it ("Plan 'MAIN' (3 beams)"), its series, then the
    instance number where the series holds several objects (two structure sets of one
    series must not look the same) and its date (its own, else its study's)."""
    where = info.title if info else labels.series_title(node.modality, None, None)
    if node.modality in labels.OBJECT_MODALITIES:
        head = labels.object_name(node)
    else:
        head = f"{node.modality or 'Object'} {labels.noun(node.modality)}"
    last = []
    if node.instance_number is not None and (info is None or info.count > 1):
        last.append(f"instance {node.instance_number}")
    when = labels.object_date(node.content_date, node.study_date)
    if when:
        last.append(when)
    return f"{head}\n{where}" + (f"\n{', '.join(last)}" if last else "")


def _object_title(node: Node) -> str:
    lines = [f"SOP Instance UID {node.uid}"]
    if node.series:
        lines.append(f"Series Instance UID {node.series}")
    if node.study:
        lines.append(f"Study Instance UID {node.study}")
    lines.append(labels.class_name(node.sop_class))
    return "\n".join(lines)


def _missing_what(node: Node, kinds: set[Kind]) -> str:
    what = labels.class_role(node.sop_class)
    if what:
        return what
    return " / ".join(sorted(labels.kind_name(k) for k in kinds)) or "object"


def _place(series_uid: str | None, node: Node, info: dict[str, SeriesInfo]) -> str:
    if series_uid and series_uid in info:
        return f"expected in {info[series_uid].title}"
    if series_uid:
        return f"expected in series {series_uid}"
    if node.expected_study:
        return f"expected in study {node.expected_study}"
    return "no location given"


class _Builder:
    """Accumulates view nodes and folded edges."""

    def __init__(self) -> None:
        self.nodes: dict[str, ViewNode] = {}
        self.edges: dict[tuple[str, str, Kind], int] = {}
        self.referenced: set[str] = set()  # view ids reached as an edge's target

    def edge(self, source: str, target: str, kind: Kind) -> None:
        if source == target:
            return
        key = (source, target, kind)
        self.edges[key] = self.edges.get(key, 0) + 1
        self.referenced.add(target)


def view_graph(
    catalog: Catalog, graph: Graph, *, expand: Iterable[str] = (), non_instance: bool = False
) -> GraphView:
    """The readable view of ``graph``; series in ``expand`` are shown object by object.

    References to what is not a stored object (the study a structure set names, a
    patient, a procedure step) are left out unless ``non_instance``.
    """
    expanded = frozenset(expand)
    nodes = {n.uid: n for n in graph.nodes}
    expected = _expected_series(graph, nodes)
    info = series_info(
        catalog, {n.series for n in graph.nodes if n.series} | set(expected.values())
    )
    studies = _study_titles(
        catalog,
        {
            n.uid
            for n in graph.nodes
            if not n.instance and not n.present and (non_instance or n.uid == graph.root)
        },
    )
    kinds_to: dict[str, set[Kind]] = {}
    for edge in graph.edges:
        kinds_to.setdefault(edge.target, set()).add(edge.kind)
    missing_per_series: dict[str, list[str]] = {}
    for uid, series_uid in expected.items():
        missing_per_series.setdefault(series_uid, []).append(uid)

    b = _Builder()
    view_id: dict[str, str] = {}
    members: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if _collapsible(node, graph.root, expanded):
            assert node.series is not None
            view_id[node.uid] = f"series:{node.series}"
            members.setdefault(node.series, []).append(node)
        elif not node.present and not node.instance:
            if not non_instance and node.uid != graph.root:
                continue
            view_id[node.uid] = f"ref:{node.uid}"
            kinds = ", ".join(sorted(labels.kind_name(k) for k in kinds_to.get(node.uid, ())))
            b.nodes[view_id[node.uid]] = ViewNode(
                id=view_id[node.uid],
                kind=NON_INSTANCE,
                uid=node.uid,
                label=studies.get(node.uid, kinds.capitalize() or "Reference"),
                title=f"{kinds or 'reference'} {node.uid} (not a stored object)",
                present=False,
                root=node.uid == graph.root,
                study=node.uid if node.uid in studies else None,
            )
        elif not node.present:
            expected_in = expected.get(node.uid)
            folded = expected_in is not None and (
                len(missing_per_series[expected_in]) > MISSING_SHOWN
            )
            if folded:
                assert expected_in is not None
                view_id[node.uid] = f"missing-series:{expected_in}"
                continue
            view_id[node.uid] = f"missing:{node.uid}"
            what = _missing_what(node, kinds_to.get(node.uid, set()))
            b.nodes[view_id[node.uid]] = ViewNode(
                id=view_id[node.uid],
                kind=MISSING,
                uid=node.uid,
                label=f"Missing {what}\n{_place(expected_in, node, info)}",
                title=f"SOP Instance UID {node.uid}\nnot in any scanned file\n"
                + _place(expected_in, node, info),
                present=False,
                root=node.uid == graph.root,
                study=node.expected_study,
                series=expected_in,
            )
        else:
            view_id[node.uid] = f"object:{node.uid}"
            group = None
            if node.series in expanded and node.modality not in labels.OBJECT_MODALITIES:
                group = f"group:{node.series}"
            b.nodes[view_id[node.uid]] = ViewNode(
                id=view_id[node.uid],
                kind=OBJECT,
                uid=node.uid,
                label=_object_label(node, info.get(node.series or "")),
                title=_object_title(node),
                present=True,
                root=node.uid == graph.root,
                modality=node.modality,
                study=node.study,
                series=node.series,
                parent=group,
            )
            if group is not None and group not in b.nodes:
                si = info.get(node.series or "")
                b.nodes[group] = ViewNode(
                    id=group,
                    kind=GROUP,
                    uid=node.series or "",
                    label=si.title if si else f"series {node.series}",
                    title=f"Series Instance UID {node.series}",
                    present=True,
                    modality=node.modality,
                    study=node.study,
                    series=node.series,
                )
    for edge in graph.edges:
        if edge.source in view_id and edge.target in view_id:
            b.edge(view_id[edge.source], view_id[edge.target], edge.kind)
    for series_uid, held in members.items():
        _add_series_node(b, series_uid, held, info, len(missing_per_series.get(series_uid, ())))
    for series_uid, uids in missing_per_series.items():
        if len(uids) > MISSING_SHOWN:
            _add_missing_group(b, series_uid, uids, nodes, info)
    merged: dict[tuple[str, str], list[tuple[Kind, int]]] = {}
    for (source, target, kind), n in sorted(b.edges.items()):
        merged.setdefault((source, target), []).append((kind, n))
    edges = tuple(
        ViewEdge(
            source,
            target,
            tuple(k for k, _ in kinds),
            tuple(n for _, n in kinds),
            ", ".join(
                labels.kind_name(k) + (f" \N{MULTIPLICATION SIGN}{n}" if n > 1 else "")
                for k, n in kinds
            ),
        )
        for (source, target), kinds in merged.items()
    )
    return GraphView(
        root=graph.root,
        depth=graph.depth,
        direction=graph.direction,
        expanded=tuple(sorted(expanded)),
        nodes=tuple(b.nodes.values()),
        edges=edges,
    )


def _add_series_node(
    b: _Builder, series_uid: str, held: list[Node], info: dict[str, SeriesInfo], missing: int
) -> None:
    node_id = f"series:{series_uid}"
    si = info.get(series_uid)
    modality = held[0].modality
    title = si.title if si else labels.series_title(modality, None, None)
    word = labels.noun(modality)
    total = si.count if si else len(held)
    state = " referenced" if node_id in b.referenced else ""
    label = f"{title}\n{len(held)} of {labels.plural(total, word)}{state}"
    if missing:
        label += f", {missing} missing"
    b.nodes[node_id] = ViewNode(
        id=node_id,
        kind=SERIES,
        uid=series_uid,
        label=label,
        title=f"Series Instance UID {series_uid}\nStudy Instance UID {held[0].study}\n"
        f"{labels.plural(len(held), word)} of this series in the graph; expand to see them",
        present=True,
        modality=modality,
        study=held[0].study,
        series=series_uid,
        members=len(held),
    )


def _add_missing_group(
    b: _Builder,
    series_uid: str,
    uids: list[str],
    nodes: dict[str, Node],
    info: dict[str, SeriesInfo],
) -> None:
    node_id = f"missing-series:{series_uid}"
    si = info.get(series_uid)
    word = labels.noun(si.modality if si else None)
    first = nodes[uids[0]]
    shown = "\n".join(sorted(uids)[:20]) + ("\n…" if len(uids) > 20 else "")
    b.nodes[node_id] = ViewNode(
        id=node_id,
        kind=MISSING_GROUP,
        uid=series_uid,
        label=f"{labels.plural(len(uids), word)} missing\n{_place(series_uid, first, info)}",
        title=f"Missing SOP Instance UIDs:\n{shown}",
        present=False,
        study=si.study if si else first.expected_study,
        series=series_uid,
        members=len(uids),
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_STYLE = {
    OBJECT: "shape=box, style=rounded",
    SERIES: "shape=box3d",
    GROUP: "shape=box",
    MISSING: 'shape=box, style="dashed,rounded", color=red, fontcolor=red',
    MISSING_GROUP: "shape=box3d, style=dashed, color=red, fontcolor=red",
    NON_INSTANCE: "shape=note, color=grey50, fontcolor=grey30",
}


def view_to_dot(view: GraphView) -> str:
    """Graphviz dot of the view: labels as people name objects, UIDs as tooltips, missing
    objects dashed red, the root bold, expanded series as clusters."""
    lines = [
        "digraph dicomref {",
        "  rankdir=LR;",
        '  node [fontsize=10, fontname="Helvetica"];',
        '  edge [fontsize=9, fontname="Helvetica"];',
    ]
    children: dict[str, list[ViewNode]] = {}
    for node in view.nodes:
        if node.parent:
            children.setdefault(node.parent, []).append(node)

    def node_line(node: ViewNode, indent: str) -> str:
        bold = ", penwidth=2" if node.root else ""
        return (
            f"{indent}{_quote(node.id)} [label={_quote(node.label)}, "
            f"tooltip={_quote(node.title)}, {_DOT_STYLE[node.kind]}{bold}];"
        )

    for n, node in enumerate(view.nodes):
        if node.parent:
            continue
        if node.kind == GROUP:
            lines.append(f"  subgraph cluster_{n} {{")
            lines.append(f"    label={_quote(node.label)}; style=rounded;")
            lines.extend(node_line(child, "    ") for child in children.get(node.id, ()))
            lines.append("  }")
            continue
        lines.append(node_line(node, "  "))
    for edge in view.edges:
        lines.append(
            f"  {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(edge.label)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
