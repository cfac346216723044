"""One graph made into a view: the stages run in order over shared state.

Each stage lives in its own module (nodes, groups, levels, edges); the order matters, since
groups need nodes, levels need groups and the first member of a plan or run is found by level.
"""

from __future__ import annotations

import rdflib

from .edges import _Edges
from .groups import _Groups
from .levels import _Levels
from .nodes import _Nodes


class View(_Nodes, _Groups, _Levels, _Edges):
    """Everything computed from one graph: nodes with kinds, labels, tooltips and levels; edges."""

    def __init__(self, graph: rdflib.Graph, focus: str | None):
        super().__init__(graph, focus)
        self._select_nodes()
        self._make_groups()
        self._assign_levels()
        self._make_edges()
