"""The graph explorer (``/graph?iri=PLAN_OR_RUN[&node=NODE]``) and the JSON it reads.

``/graph/summary.json`` is the summary level and ``/graph/neighbours.json`` one node's
neighbours, both from :mod:`mlprov_rdf.browse.explore` over the view ``mlprov browse``
draws; ``/graph/tooltips.js`` is the tooltip builder the offline page inlines. The view of a
plan or run is read once and kept until the store changes.
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...browse import View, compact
from ...browse.explore import LIMIT, neighbours, read_view_triples, summary, view_of
from ...errors import UserError
from ..context import WebContext, page_url, web_context

_TOOLTIPS = files("mlprov_rdf.browse").joinpath("tooltips.js").read_text(encoding="utf-8")


def _view(web: WebContext, request: Request) -> View:
    iri = request.query_params.get("iri", "").strip()
    if not iri:
        raise UserError("give the plan or run as /graph?iri=IRI; the runs page (/runs) and the plans page (/plans) list them")
    return web.cached("graph:view:" + iri, lambda: view_of(*web.read("graph:view:" + iri, read_view_triples, iri)))


def graph_page(request: Request) -> Response:
    web = web_context(request)
    view = _view(web, request)
    config = {
        "root": view.focus,
        "node": request.query_params.get("node") or None,
        "summary": page_url("/graph/summary.json", iri=view.focus),
        "neighbours": page_url("/graph/neighbours.json", iri=view.focus),
        "limit": LIMIT,
    }
    # the tab names the IRI, not the plan's text: a title is where injected text would show first
    return web.render(request, "graph.html.j2", tab=compact(view.focus), heading=view.label_of(view.focus),
                      root=view.focus, config=config)


def summary_json(request: Request) -> Response:
    web = web_context(request)
    return JSONResponse(summary(_view(web, request)))


def neighbours_json(request: Request) -> Response:
    web = web_context(request)
    view = _view(web, request)
    node = request.query_params.get("node", "")
    if not node:
        raise UserError("give the node as /graph/neighbours.json?iri=ROOT&node=NODE_IRI")
    return JSONResponse(neighbours(view, node))


def tooltips_js(request: Request) -> Response:
    return Response(_TOOLTIPS, media_type="text/javascript; charset=utf-8")


routes = [
    Route("/graph", graph_page),
    Route("/graph/summary.json", summary_json),
    Route("/graph/neighbours.json", neighbours_json),
    Route("/graph/tooltips.js", tooltips_js),
]
