"""One graph made into a view: the stages run in order over shared state.

Each stage lives in its own module (nodes, groups, layout, edges, routing); the order
matters, since groups need nodes, the layout needs groups and edges need positions.
"""

from __future__ import annotations

import rdflib

from .edges import _Edges
from .groups import _Groups
from .layout import _Layout
from .nodes import _Nodes
from .routing import _Routing


class _View(_Nodes, _Groups, _Layout, _Edges, _Routing):
    """Everything computed from one graph: nodes, groups, positions, edges."""

    def __init__(self, graph: rdflib.Graph, focus: str | None):
        super().__init__(graph, focus)
        self._select_nodes()
        self._make_groups()
        self._layout()
        self._make_edges()
        self._route_edges()
