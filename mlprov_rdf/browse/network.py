"""The graph as vis-network draws it: nodes, edges and options, for the offline page and the app.

One function, :func:`graph_data`, makes the data both use; vis-network's hierarchical layout
(left to right, by each node's level) places the nodes, so nothing here computes a position.
Nodes and edges are sorted and the layout is seeded, so the same graph gives the same page.
"""

from __future__ import annotations

from typing import Any

import rdflib

from ..vocab import DCTERMS, PPLAN
from .kinds import _KIND, _KIND_ORDER
from .model import _Edge, _Node
from .text import compact
from .view import View

_MAX_WIDTH = 150  # vis-network's widthConstraint for every node

#: vis-network's options: its hierarchical layout places the levels left to right; physics
#: stays off, so the nodes stay where the layout put them.
OPTIONS: dict[str, Any] = {
    "layout": {
        "randomSeed": 1,
        "hierarchical": {
            "enabled": True, "direction": "LR", "sortMethod": "directed", "shakeTowards": "roots",
            "levelSeparation": 180, "nodeSpacing": 70, "treeSpacing": 90,
            "blockShifting": True, "edgeMinimization": True, "parentCentralization": True,
        },
    },
    "physics": {"enabled": False},
    "nodes": {"margin": 8, "borderWidthSelected": 3, "widthConstraint": {"maximum": _MAX_WIDTH}},
    "edges": {
        "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
        "color": {"color": "#9a9a9a", "highlight": "#222222", "hover": "#444444"},
        "smooth": {"enabled": True, "type": "cubicBezier", "forceDirection": "horizontal", "roundness": 0.45},
        "font": {"size": 10, "color": "#555555", "strokeWidth": 3, "strokeColor": "#ffffff", "align": "horizontal"},
        "width": 1.2,
        "selectionWidth": 1.5,
    },
    "interaction": {"hover": True, "tooltipDelay": 120, "multiselect": True, "navigationButtons": False},
}


def graph_data(view: View, *, summary_only: bool = False) -> dict[str, Any]:
    """vis-network's nodes, edges and options for ``view``, and the legend of its kinds.

    The offline page draws every node (folded ones hidden until their group is clicked);
    the explorer starts from the summary only (``summary_only``) and fetches the rest on
    demand. On the summary a data set, model or metric hangs off the step whose cell made it.
    """
    chosen = [n for n in view.nodes.values() if n.summary or not summary_only]
    shown = {n.id for n in chosen}
    edges = _summary_edges(view, shown) if summary_only else list(view.edges)
    return {
        "nodes": [node_data(view, n) for n in sorted(chosen, key=lambda n: n.id)],
        "edges": _edge_data(edges),
        "options": OPTIONS,
        "kinds": legend({n.kind for n in view.nodes.values()}),
    }


def legend(kinds: set[str]) -> list[dict[str, str]]:
    """The legend for ``kinds``, in legend order."""
    return [
        {"name": k, "legend": _KIND[k].legend, "description": _KIND[k].description,
         "fill": _KIND[k].fill, "border": _KIND[k].border}
        for k in sorted(kinds, key=lambda k: _KIND_ORDER[k])
    ]


def node_data(view: View, node: _Node) -> dict[str, Any]:
    """One node as vis-network takes it; ``mlprov*`` fields carry what the scripts need."""
    kind = _KIND[node.kind]
    border, border_width = kind.border, 1
    dashes: bool | list[int] = False
    if node.status == "Failed":
        border, border_width = "#d62728", 3
    elif node.status == "Interrupted":
        border, border_width, dashes = "#d62728", 3, [4, 3]
    if node.hub and node.kind == "environment":
        border_width, dashes = 2, [6, 4]
    font = {"size": 14, "face": "Helvetica, Arial, sans-serif", "color": "#111111"}
    if node.id == view.focus:
        border_width = max(border_width, 4)
        font["size"] = 16
    data: dict[str, Any] = {
        "id": node.id,
        "label": node.label,
        "level": node.level,
        "shape": kind.shape,
        "color": {
            "background": kind.fill,
            "border": border,
            "highlight": {"background": kind.fill, "border": "#000000"},
            "hover": {"background": kind.fill, "border": "#000000"},
        },
        "borderWidth": border_width,
        "font": font,
        "shapeProperties": {"borderDashes": dashes},
        "mlprovKind": node.kind,
        "mlprovTip": node.tip,
        "mlprovSummary": node.summary,
    }
    if node.hidden:
        data["hidden"] = True
    if node.group:
        data["mlprovGroup"] = node.group
    if node.hub:
        data["mlprovHub"] = True
    return data


def _summary_edges(view: View, shown: set[str]) -> list[_Edge]:
    """The view's edges among summary nodes; an edge to a cell goes to the cell's step instead."""
    stand_in = {}
    for node in view.nodes.values():
        if node.kind == "cell":
            steps = [s for s in view._ids_of(node.id, PPLAN + "correspondsToStep") if s in shown]
            if steps:
                stand_in[node.id] = steps[0]
    merged: dict[tuple[str, str], _Edge] = {}
    for edge in view.edges:
        if edge.hidden:
            continue
        source, target = stand_in.get(edge.source, edge.source), stand_in.get(edge.target, edge.target)
        predicates = set(edge.predicates)
        if (source, target) != (edge.source, edge.target):
            if source != edge.source and target != edge.target:
                continue  # cell to cell: the steps' own order says it
            predicates.discard(DCTERMS + "isPartOf")  # a step is no part of the run
        if not predicates or source == target or source not in shown or target not in shown:
            continue
        if (source, target) in merged:
            known = merged[(source, target)]
            known.predicates = sorted(set(known.predicates) | predicates)
            known.dashed = known.dashed or edge.dashed
        else:
            merged[(source, target)] = _Edge(source, target, sorted(predicates), dashed=edge.dashed)
    return sorted(merged.values(), key=lambda e: (e.target, e.source))


def _edge_data(edges: list[_Edge]) -> list[dict[str, Any]]:
    """Edges as vis-network takes them: a fan of edges with one meaning is labelled once."""
    labelled: set[tuple[str, str, tuple[str, ...], bool]] = set()
    data = []
    for edge in edges:
        label = "\n".join(compact(p) if "://" in p or p.startswith("urn:") else p for p in edge.predicates)
        fans = {("to", edge.target, tuple(edge.predicates), edge.hidden),
                ("from", edge.source, tuple(edge.predicates), edge.hidden)}
        if fans & labelled:
            label = ""
        labelled |= fans
        item: dict[str, Any] = {
            "id": edge.id, "from": edge.source, "to": edge.target, "label": label,
            "title": "\n".join(edge.predicates), "dashes": edge.dashed,
        }
        if edge.hidden:
            item["hidden"] = True
        if edge.group:
            item["mlprovGroup"] = edge.group
        data.append(item)
    return data


def build_network(graph: rdflib.Graph, focus: str | None = None):
    """The pyvis Network for ``graph``, every node in it, laid out by vis-network when drawn."""
    return network(graph_data(View(graph, focus)))


def network(data: dict[str, Any]):
    """A pyvis Network holding ``data``'s nodes, edges and options."""
    from pyvis.network import Network

    net = Network(height="calc(100vh - 150px)", width="100%", directed=True, cdn_resources="in_line")
    for node in data["nodes"]:
        options = {k: v for k, v in node.items() if k not in ("id", "label", "shape", "color")}
        net.add_node(node["id"], label=node["label"], shape=node["shape"], color=node["color"], **options)
    for edge in data["edges"]:
        net.add_edge(edge["from"], edge["to"], **{k: v for k, v in edge.items() if k not in ("from", "to")})
    net.options = data["options"]
    return net
