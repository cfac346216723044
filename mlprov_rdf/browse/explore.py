"""The graph explorer's answers: a plan's or run's summary, and one node's neighbours.

Both come from the same :class:`View` that ``mlprov browse`` draws, so a node has one id,
label, kind and level wherever it appears, and an expansion lands in the column the whole
graph would give it. Both are bounded (``limit``), so a huge run cannot freeze the browser.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import rdflib

from ..arguments import run_or_iri
from ..errors import UserError
from ..vocab import RDF
from .collect import collect
from .kinds import _KIND_ORDER
from .model import _Edge, _Node
from .network import _edge_data, graph_data, node_data
from .view import View

#: The most nodes one answer holds: a summary beyond it opens cut, an expansion adds at most this.
LIMIT = 400


class NodeNotFound(UserError):
    """The node is not in the graph of the plan or run explored."""

    http_status = 404


def read_view_triples(store, iri: str) -> tuple[str, str]:
    """What the view of a plan or run shows, as N-Triples, and its root (a bundle IRI or run
    id means the run): text, to be read in a query process and made a view where it is shown."""
    root = run_or_iri(iri, argument="iri")
    return collect(store, root).serialize(format="nt"), root


def view_of(triples: str, root: str) -> View:
    """The view ``mlprov browse`` makes, from :func:`read_view_triples`' answer."""
    return View(rdflib.Graph().parse(data=triples, format="nt"), root)


def summary(view: View, limit: int = LIMIT) -> dict[str, Any]:
    """The summary level: plan, steps, run, settings, data, model, results; folded groups as one node each."""
    data = graph_data(view, summary_only=True)
    total = len(data["nodes"])
    notice = ""
    if total > limit:
        order = {n.id: _rank(n) for n in view.nodes.values()}
        kept = {n["id"] for n in sorted(data["nodes"], key=lambda n: order[n["id"]])[:limit]}
        data["nodes"] = [n for n in data["nodes"] if n["id"] in kept]
        data["edges"] = [e for e in data["edges"] if e["from"] in kept and e["to"] in kept]
        notice = f"showing {limit} of the {total} summary nodes; click a node to bring its neighbours"
    data.update(root=view.focus, title=view.label_of(view.focus), total=len(view.nodes), notice=notice)
    return data


def neighbours(view: View, node_id: str, limit: int = LIMIT) -> dict[str, Any]:
    """The nodes one edge away from ``node_id`` in the graph, and those edges; a folded group's members.

    Literals are not nodes: they are in each node's tooltip data (``mlprovTip``).
    """
    node = view.nodes.get(node_id)
    if node is None:
        raise NodeNotFound(f"{node_id}: no such node in the graph of {view.focus}; open /graph?iri={view.focus}")
    edges = _group_edges(view, node_id) if node.hub else _direct_edges(view, node_id)
    near = {e.source for e in edges} | {e.target for e in edges} | set(view.groups[node_id].members if node.hub else ())
    near.discard(node_id)
    found = sorted((view.nodes[n] for n in near), key=_rank)
    kept = {n.id for n in found[:limit]} | {node_id}
    edges = [e for e in edges if e.source in kept and e.target in kept]
    shown = [node] + found[:limit]
    return {
        "node": node_id,
        "nodes": [_unhidden(node_data(view, n)) for n in shown],
        "edges": [_unhidden(e) for e in _edge_data(edges)],
        "total": len(found),
        "more": max(0, len(found) - limit),
    }


def _direct_edges(view: View, node_id: str) -> list[_Edge]:
    """Every triple between the node and another drawn node, one edge per direction."""
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for term in [t for t, i in view.ids.items() if i == node_id]:  # a setting stands for its variable too
        for predicate, values in view.props.get(term, {}).items():
            for value in values if predicate != RDF + "type" else ():
                other = view.ids.get(value)
                if other in view.nodes and other != node_id:
                    pairs[(node_id, other)].add(predicate)
        for subject, predicate in view.incoming.get(term, []):
            other = view.ids.get(subject)
            if other in view.nodes and other != node_id:
                pairs[(other, node_id)].add(predicate)
    group = view.nodes[node_id].group
    if group is not None:
        pairs[(group, node_id)].add("rdfs:member")
    return [_Edge(s, t, sorted(p)) for (s, t), p in sorted(pairs.items())]


def _group_edges(view: View, hub: str) -> list[_Edge]:
    """The edges among a folded group's members, its hub and its owner (the run or cell it hangs off)."""
    group = view.groups[hub]
    inside = set(group.members) | {hub, group.owner}
    return [
        _Edge(e.source, e.target, e.predicates, dashed=e.dashed)
        for e in view.edges
        if e.source in inside and e.target in inside and (e.source in group.members or e.target in group.members)
    ]


def _rank(node: _Node) -> tuple:
    """Reading order: the pipeline from its start, kinds in legend order within a column."""
    return (node.level, _KIND_ORDER[node.kind], node.id)


def _unhidden(item: dict[str, Any]) -> dict[str, Any]:
    """Shown once fetched: a folded member the user asked for is no longer hidden."""
    item = dict(item)
    item.pop("hidden", None)
    return item
