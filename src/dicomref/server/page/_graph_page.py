"""The graph page and the JSON its script draws: the readable view of the reference
graph (:mod:`dicomref.graph_view`) as Cytoscape.js elements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dicomref.graph import Direction, build_graph
from dicomref.graph_view import GROUP, MISSING, MISSING_GROUP, NON_INSTANCE, SERIES, ViewNode
from dicomref.graph_view import view_graph as readable
from dicomref.server.page._html import esc, layout, object_href, study_href, uid

if TYPE_CHECKING:
    from dicomref.catalog import Catalog

#: Depths the page offers.
DEPTHS = range(1, 6)


def _href(node: ViewNode) -> str | None:
    """Where clicking the node leads: the object's page, or the series on its study's."""
    if node.kind in (SERIES, GROUP, MISSING_GROUP):
        return f"{study_href(node.study)}#series-{node.uid}" if node.study else None
    if node.kind == NON_INSTANCE:
        return study_href(node.study) if node.study else None  # a study's page, if known
    return object_href(node.uid)


def graph_elements(
    catalog: Catalog, sop_uid: str, depth: int, direction: Direction, expand: Iterable[str]
) -> dict[str, Any]:
    """The view as JSON: ``nodes`` and ``edges`` in Cytoscape.js's ``data`` shape."""
    view = readable(
        catalog, build_graph(catalog, sop_uid, depth=depth, direction=direction), expand=expand
    )
    nodes = []
    for node in view.nodes:
        data: dict[str, Any] = {
            "id": node.id,
            "kind": node.kind,
            "uid": node.uid,
            "label": node.label,
            "title": node.title,
            "root": node.root,
            "members": node.members,
            "href": _href(node),
            "expandable": node.kind == SERIES,
            "collapsible": node.kind == GROUP,
            "missing": node.kind in (MISSING, MISSING_GROUP),
        }
        if node.parent:
            data["parent"] = node.parent
        nodes.append({"data": data})
    edges = [
        {
            "data": {
                "id": f"e{i}",
                "source": e.source,
                "target": e.target,
                "kinds": [k.value for k in e.kinds],
                "counts": list(e.counts),
                "label": e.label,
            }
        }
        for i, e in enumerate(view.edges)
    ]
    return {
        "root": view.root,
        "depth": view.depth,
        "direction": view.direction.value,
        "expanded": list(view.expanded),
        "nodes": nodes,
        "edges": edges,
    }


def render_graph_page(sop_uid: str, depth: int, direction: Direction) -> str:
    def options(values: Iterable[str], chosen: str) -> str:
        return "".join(
            f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>'
            for v in values
        )

    body = f"""<h1>Reference graph</h1>
<p>Around {uid(sop_uid)} · <a href="{esc(object_href(sop_uid))}">object page</a></p>
<form class="graph-form" method="get">
<label>Depth <select name="depth">{options((str(d) for d in DEPTHS), str(depth))}</select></label>
<label>Direction <select name="direction">{options((d.value for d in Direction), direction.value)}
</select></label>
<button type="submit">Draw</button>
</form>
<p class="hint">Click an object to open it, a series to show its objects (click the group to fold
it again). Hover for UIDs. Dashed red: missing, with where it was expected.</p>
<div id="graph" data-uid="{esc(sop_uid)}" data-depth="{depth}" data-direction="{direction.value}"
 role="img" aria-label="Reference graph"></div>
<p id="graph-status" class="status" aria-live="polite">Drawing…</p>
<pre id="graph-detail" class="detail"></pre>
<h2>In this graph</h2>
<ul id="graph-list" class="graph-list"></ul>
"""
    scripts = ("vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js", "graph.js")
    return layout(f"Graph {sop_uid}", body, scripts=scripts)
