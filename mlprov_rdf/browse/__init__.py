"""The graph browser: one plan or one run as an interactive graph, offline or in the app.

MLProvCodeGen's users found its static provenance graph too cluttered; they asked for
hidden technical nodes, colour, ordering, zoom and search. So this view:

- draws resources only; literals go into a tooltip built from text (plans are untrusted text);
- colours and shapes nodes by kind and explains the colours in a legend;
- lets vis-network's hierarchical layout place the pipeline left to right in the order the
  notebook runs (``levels`` gives each node its column: a step after every step it follows,
  the values it reads before it, its cell with it, what the cell made after it);
- shows a run's setting and the plan variable it sets as one node;
- draws the plan author's code steps, and the values their cells recorded, in colours of
  their own;
- opens fitted on the summary (plan, steps, run, settings, data, model, results) at a
  readable zoom;
- folds environment, package and hardware nodes behind one "environment" node, and long
  per-epoch or per-class metric series behind one metric node each (click to expand);
- leaves out edges that the columns already say (every step is a step of the plan);
- works offline: vis-network is inlined and pyvis's CDN links are removed;
- renders byte-identically for the same graph (sorted nodes, edges and rows; a seeded layout).

The modules, in the order a page is made: ``collect`` reads the store; ``View`` (``view``)
runs the stages ``nodes``, ``groups``, ``levels`` and ``edges`` over the indexed graph of
``model``; ``network`` turns it into vis-network's data (one function for the page and the
app) and a pyvis Network, and ``page`` writes the HTML. ``explore`` answers the app's graph
explorer (the summary, a node's neighbours). ``kinds`` and ``text`` hold shared tables and helpers.
"""

from __future__ import annotations

from . import kinds as _kinds
from .collect import collect
from .kinds import KINDS, Kind
from .network import build_network, graph_data
from .page import BrowseSummary, write_html
from .text import compact
from .view import View

__all__ = ["BrowseSummary", "KINDS", "Kind", "View", "build_network", "collect", "compact", "graph_data", "write_html"]

#: Kinds by name, as the legend looks them up.
_KIND = _kinds._KIND
