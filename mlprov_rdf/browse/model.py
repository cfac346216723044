"""The view model: nodes, edges and groups as drawn, and the graph indexed for lookups.

Every stage that builds a view (nodes, groups, levels, edges) extends ``_Index`` and works
on the state it holds, so the stages share one set of lookups.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import rdflib
from rdflib import Literal
from rdflib.term import Node as RdfNode

from ..vocab import RDF
from .text import compact

#: A tooltip as data: the scripts build it with text nodes, so no store text is ever markup.
#: ``{"head": label, "kind": legend, "iri": IRI or None, "rows": [[key, [[text, note], ...]], ...]}``
Tip = dict


@dataclass
class _Node:
    id: str
    kind: str
    label: str
    tip: Tip = field(default_factory=dict)
    level: int = 0  # the column of vis-network's left-to-right hierarchical layout
    summary: bool = False  # shown on the summary level the explorer opens on
    hidden: bool = False
    group: str | None = None  # the hub that folds this node
    hub: bool = False
    status: str | None = None


@dataclass
class _Edge:
    source: str
    target: str
    predicates: list[str]
    hidden: bool = False
    group: str | None = None
    dashed: bool = False

    @property
    def id(self) -> str:
        """One edge per ordered node pair, so an expansion that brings it again updates it."""
        return f"{self.source}\n{self.target}"


@dataclass
class _Group:
    hub: str
    kind: str
    owner: str | None  # the node the hub hangs off (the run, or the cell that made a series)
    members: list[str]
    star: bool  # owner edges go hub -> member once expanded (environment)
    redirect_all: bool  # every outside edge is also drawn from the hub (metric series)
    label: str = ""
    tip: Tip = field(default_factory=dict)


class _Index:
    """One graph indexed by subject, type and object, and the view's nodes, groups and edges."""

    def __init__(self, graph: rdflib.Graph, focus: str | None):
        self.graph = graph
        self.focus = focus
        self.props: dict[RdfNode, dict[str, list[RdfNode]]] = defaultdict(lambda: defaultdict(list))
        self.types: dict[RdfNode, set[str]] = defaultdict(set)
        self.incoming: dict[RdfNode, list[tuple[RdfNode, str]]] = defaultdict(list)
        for s, p, o in graph:
            self.props[s][str(p)].append(o)
            if str(p) == RDF + "type":
                self.types[s].add(str(o))
            elif not isinstance(o, Literal):
                self.incoming[o].append((s, str(p)))
        self.ids: dict[RdfNode, str] = {}
        self.nodes: dict[str, _Node] = {}
        self.groups: dict[str, _Group] = {}
        self.edges: list[_Edge] = []
        self._terms: dict[str, RdfNode] = {}

    def _first(self, term: RdfNode, predicate: str) -> RdfNode | None:
        values = self.props.get(term, {}).get(predicate)
        if not values:
            return None
        return sorted(values, key=lambda v: (str(v), v.n3()))[0]

    def label_of(self, iri: str | None) -> str:
        if iri is None:
            return "graph"
        node = self.nodes.get(iri)
        return node.label if node else compact(iri)

    def _int(self, node_id: str, predicate: str) -> float:
        value = self._first(self._terms[node_id], predicate)
        try:
            return float(value.toPython()) if isinstance(value, Literal) else math.inf
        except (TypeError, ValueError):
            return math.inf

    def _ids_of(self, node_id: str, predicate: str) -> list[str]:
        term = self._terms.get(node_id)
        if term is None:
            return []
        return sorted({self.ids[o] for o in self.props.get(term, {}).get(predicate, []) if o in self.ids})

    def _ids_into(self, node_id: str, predicate: str) -> list[str]:
        term = self._terms.get(node_id)
        if term is None:
            return []
        return sorted({self.ids[s] for s, p in self.incoming.get(term, []) if p == predicate and s in self.ids})

    def _of_kind(self, kind: str) -> list[str]:
        return sorted(n.id for n in self.nodes.values() if n.kind == kind and not n.hub and not n.hidden)
