"""The pyvis Network for a view: nodes, edges and vis-network options, nothing rendered yet.

Positions are fixed and physics is off, and nodes and edges are added in sorted order, so
the same graph gives the same network.
"""

from __future__ import annotations

import html

import rdflib

from .boxes import _MAX_WIDTH
from .kinds import _KIND
from .text import _guard, compact
from .view import _View


def build_network(graph: rdflib.Graph, focus: str | None = None):
    """The pyvis Network for ``graph``: positioned, coloured, grouped; nothing rendered yet."""
    return network(_View(graph, focus))


def network(view: _View):
    """A pyvis Network, nodes and edges sorted, physics off (positions are fixed)."""
    from pyvis.network import Network

    net = Network(height="calc(100vh - 150px)", width="100%", directed=True, cdn_resources="in_line")
    for node in sorted(view.nodes.values(), key=lambda n: n.id):
        kind = _KIND[node.kind]
        border = kind.border
        border_width = 1
        dashes: bool | list[int] = False
        if node.status == "Failed":
            border, border_width = "#d62728", 3
        elif node.status == "Interrupted":
            border, border_width, dashes = "#d62728", 3, [4, 3]
        if node.hub:
            border_width, dashes = 2, [6, 4]
        font = {"size": 14, "face": "Helvetica, Arial, sans-serif", "color": "#111111"}
        if node.id == view.focus:
            border_width = max(border_width, 4)
            font["size"] = 16
        options = {
            "x": node.x,
            "y": node.y,
            "title": _guard(node.tip),
            "borderWidth": border_width,
            "font": font,
            "shapeProperties": {"borderDashes": dashes},
            "widthConstraint": {"maximum": _MAX_WIDTH},
            "mlprovKind": node.kind,
        }
        if node.hidden:
            options["hidden"] = True
        if node.group:
            options["mlprovGroup"] = node.group
        if node.hub:
            options["mlprovHub"] = True
        net.add_node(
            node.id,
            label=node.label,
            shape="box" if node.hub else kind.shape,
            color={
                "background": kind.fill,
                "border": border,
                "highlight": {"background": kind.fill, "border": "#000000"},
                "hover": {"background": kind.fill, "border": "#000000"},
            },
            **options,
        )
    labelled: set[tuple[str, str, tuple[str, ...], bool]] = set()
    for index, edge in enumerate(view.edges, start=1):
        label = "\n".join(compact(p) if "://" in p or p.startswith("urn:") else p for p in edge.predicates)
        # a fan of edges with one meaning into or out of one node is labelled once
        fans = {("to", edge.target, tuple(edge.predicates), edge.hidden),
                ("from", edge.source, tuple(edge.predicates), edge.hidden)}
        if fans & labelled:
            label = ""
        labelled |= fans
        options = {
            "id": f"e{index}",
            "label": label,
            "title": _guard(html.escape("\n".join(edge.predicates))),
            "dashes": edge.dashed,
            "smooth": edge.smooth or {"enabled": False},
        }
        if edge.hidden:
            options["hidden"] = True
        if edge.group:
            options["mlprovGroup"] = edge.group
        net.add_edge(edge.source, edge.target, **options)
    net.options = _OPTIONS
    return net


_OPTIONS = {
    "physics": {"enabled": False},
    "layout": {"hierarchical": {"enabled": False}, "randomSeed": 1},
    "nodes": {"margin": 8, "borderWidthSelected": 3},
    "edges": {
        "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
        "color": {"color": "#9a9a9a", "highlight": "#222222", "hover": "#444444"},
        # "middle" (rotated) labels land on the origin for right-to-left horizontal edges in
        # vis-network 9.1.2; horizontal labels are drawn where they belong and read easier
        "font": {"size": 10, "color": "#555555", "strokeWidth": 3, "strokeColor": "#ffffff", "align": "horizontal"},
        "width": 1.2,
        "selectionWidth": 1.5,
    },
    "interaction": {"hover": True, "tooltipDelay": 120, "multiselect": True, "navigationButtons": False},
}
