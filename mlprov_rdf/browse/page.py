"""The self-contained HTML page: pyvis's page made offline, with header, legend and search.

The stylesheet and scripts are package files next to this module (page.css, tooltips.js,
controls.js); pyvis's CDN links are removed, so the page works without a network.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import rdflib

from ..arguments import PAGE_MARKER, write_output
from .kinds import _KIND, _KIND_ORDER
from .network import graph_data, network
from .view import View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrowseSummary:
    """What a rendered page holds; the CLI prints it, tests check it."""

    nodes: int
    edges: int
    kinds: dict[str, int]
    path: Path
    grouped: int = 0  # nodes folded behind a group node (hidden until expanded)


def write_html(graph: rdflib.Graph, focus: str, path: Path, title: str | None = None) -> BrowseSummary:
    """Write the interactive page for ``graph`` to ``path``; ``focus`` is the plan or run shown."""
    view = View(graph, focus)
    net = network(graph_data(view))
    page_title = title or f"mlprov: {view.label_of(focus)}"
    page = _page(net, page_title, focus, view)
    path = write_output(Path(path), page.encode("utf-8"))
    kinds: dict[str, int] = defaultdict(int)
    for node in view.nodes.values():
        kinds[node.kind] += 1
    summary = BrowseSummary(
        nodes=len(view.nodes),
        edges=len(view.edges),
        kinds=dict(sorted(kinds.items(), key=lambda kv: _KIND_ORDER.get(kv[0], 99))),
        path=path,
        grouped=sum(1 for n in view.nodes.values() if n.hidden),
    )
    log.info("wrote %s: %d nodes (%d folded), %d edges", path, summary.nodes, summary.grouped, summary.edges)
    return summary


def _asset(name: str) -> str:
    """A text file of this package, led by a newline as the page inlines it."""
    return "\n" + files(__package__).joinpath(name).read_text(encoding="utf-8")


_CSS = _asset("page.css")
_HEAD_SCRIPT = _asset("tooltips.js")  # before pyvis's script: its data sets call mlprovTips
_BODY_SCRIPT = _asset("controls.js")  # after it: folding, search, Fit and the first view

_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*/?>", re.I | re.S)
_LINKING_COMMENT = re.compile(r"<!--(?:(?!-->).)*?\b(?:src|href)\s*=(?:(?!-->).)*?-->", re.S)
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>", re.I)
_DATASET = re.compile(r"^(\s*)(nodes|edges) = new vis\.DataSet\((.*)\);\s*$", re.M)


def _page(net, title: str, focus: str | None, view: View) -> str:
    """pyvis's page, made offline and given a header, legend, search box and HTML tooltips."""
    page = net.generate_html()
    page, scripts = _REMOTE_SCRIPT.subn("", page)
    page, links = _REMOTE_LINK.subn("", page)
    log.debug("removed %d remote scripts and %d remote stylesheets from the pyvis page", scripts, links)
    page = _LINKING_COMMENT.sub("", page)  # pyvis's commented-out node_modules links
    page = _EMPTY_HEADING.sub("", page)
    page, wrapped = _DATASET.subn(lambda m: f"{m.group(1)}{m.group(2)} = new vis.DataSet(mlprovTips({m.group(3)}));", page)
    if wrapped != 2:
        log.warning("pyvis page layout not recognised: tooltips will show as plain text")
    kinds_present = sorted({n.kind for n in view.nodes.values()}, key=lambda k: _KIND_ORDER[k])
    chips = "".join(
        f'<span class="mp-chip" style="background:{_KIND[k].fill};border-color:{_KIND[k].border}" '
        f'title="{html.escape(_KIND[k].description)}">{html.escape(_KIND[k].legend)}</span>'
        for k in kinds_present
    )
    shown = sum(1 for n in view.nodes.values() if not n.hidden)
    folded = sum(1 for n in view.nodes.values() if n.hidden)
    focus_text = f" · {html.escape(focus)}" if focus else ""
    header = (
        '<div id="mp-header">'
        f"<h1>{html.escape(title)}</h1>"
        f'<div class="mp-sub">{shown} nodes shown, {folded} folded{focus_text} · '
        "hover a node for its values · click Environment or a series to unfold it · scroll to zoom, drag to move · "
        "dashed lines link the run to its plan</div>"
        '<div class="mp-tools"><input id="mp-search" type="search" placeholder="Search labels, then Enter">'
        '<button id="mp-fit" type="button">Fit</button>'
        '<button id="mp-groups" type="button">Show environment</button><span id="mp-found"></span>'
        f'<div class="mp-legend">{chips}'
        '<span class="mp-note">red border: failed</span></div></div></div>'
    )
    head = f"{PAGE_MARKER}\n<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n<script>{_HEAD_SCRIPT}</script>\n"
    page = page.replace("<head>", "<head>\n" + head, 1)
    page = page.replace("<body>", "<body>\n" + header, 1)
    page = _replace_last(page, "</body>", f"<script>{_BODY_SCRIPT}</script>\n</body>")
    return page


def _replace_last(text: str, old: str, new: str) -> str:
    head, sep, tail = text.rpartition(old)
    return head + new + tail if sep else text + new
