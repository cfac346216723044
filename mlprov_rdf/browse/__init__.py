"""The graph browser: one plan or one run as an interactive, offline HTML page.

MLProvCodeGen's users found its static provenance graph too cluttered; they asked for
hidden technical nodes, colour, ordering, zoom and search. So this view:

- draws resources only; literals go into a hover tooltip (escaped: plans are untrusted text);
- colours and shapes nodes by kind and explains the colours in a legend;
- lays the pipeline out left to right in the order the notebook runs (a step after every
  step it follows: the p-plan:isPrecededBy graph, which may join branches, is drawn as its
  edges; steps above their cell executions, parameters fanned out above the steps that
  read them, each under the run's setting for it, outputs below the cells that made them)
  and bends edges around nodes in their way;
- draws the plan author's code steps, and the values their cells recorded, in colours of
  their own;
- opens fitted to the window, or at a readable zoom on the pipeline's start when it is long;
- folds environment, package and hardware nodes behind one "environment" node, and long
  per-epoch or per-class metric series behind one node each (click to expand);
- leaves out edges that the layout already says (every step is a step of the plan);
- works offline: vis-network is inlined and pyvis's CDN links are removed;
- renders byte-identically for the same graph (sorted nodes, edges and rows; fixed positions).

The modules, in the order a page is made: ``collect`` reads the store; ``view`` runs the
stages ``nodes``, ``groups``, ``layout``, ``edges`` and ``routing`` over the indexed graph
of ``model``; ``network`` makes the pyvis Network and ``page`` the HTML. ``kinds``,
``text`` and ``boxes`` hold the tables and helpers they share.
"""

from __future__ import annotations

from . import kinds as _kinds
from .collect import collect
from .kinds import KINDS, Kind
from .network import build_network
from .page import BrowseSummary, write_html
from .text import compact

__all__ = ["BrowseSummary", "KINDS", "Kind", "build_network", "collect", "compact", "write_html"]

#: Kinds by name, as the legend looks them up.
_KIND = _kinds._KIND
