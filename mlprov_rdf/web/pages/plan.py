"""The plans list (``/plans``) and one plan's page (``/plan?iri=IRI``): its step graph, variables,
derived plans and runs. The data comes from :mod:`mlprov_rdf.plan_record`; this module only
turns it into the page and into the nodes and edges vis-network draws."""

from __future__ import annotations

import shlex
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...plan_record import PlanRecord, list_plans, read_plan
from ..context import graph_url, page_url, plan_parameter, web_context

#: vis-network's options for the step graph: its hierarchical layout places the DAG left to right.
GRAPH_OPTIONS: dict[str, Any] = {
    "layout": {"hierarchical": {"enabled": True, "direction": "LR", "sortMethod": "directed",
                                "levelSeparation": 160, "nodeSpacing": 90}},
    "physics": {"enabled": False},
    "interaction": {"hover": True, "tooltipDelay": 150},
    "nodes": {"shape": "box", "margin": 10, "widthConstraint": {"maximum": 130},
              "font": {"face": "system-ui, sans-serif", "size": 14}},
    "edges": {"arrows": "to", "color": {"color": "#8a94a6"},
              "smooth": {"type": "cubicBezier", "forceDirection": "horizontal", "roundness": 0.4}},
}


def plans_page(request: Request) -> Response:
    web = web_context(request)
    plans = web.cached("plan_record:plans", lambda: list_plans(web.location, timeout_s=web.timeout_s))
    return web.render(request, "plans.html.j2", plans=plans)


def plan_page(request: Request) -> Response:
    web = web_context(request)
    iri = plan_parameter(request, "iri")
    record: PlanRecord = web.cached_read("plan_record:plan:" + iri, read_plan, iri)
    return web.render(
        request,
        "plan.html.j2",
        plan=record,
        step_names={s.iri: f"{s.index}. {s.label}" for s in record.steps},
        graph=step_graph(record),
        regenerate=f"mlprov regenerate {shlex.quote(record.iri)} -o notebook.ipynb",
        chart_url=page_url("/compare/chart", plan=record.iri),
    )


def step_graph(record: PlanRecord) -> dict[str, Any]:
    """The step DAG as vis-network's nodes, edges and options, and each step's details for the
    side panel. Every text goes to the page as JSON and into the DOM as text, never as markup."""
    nodes = [{"id": s.iri, "label": f"{s.index}. {s.label}", "group": s.kind,
              **({"shapeProperties": {"borderDashes": [6, 3]}} if s.code is not None else {})}
             for s in record.steps]
    steps = [{
        "id": s.iri,
        "label": s.label,
        "kind": s.kind,
        "index": s.index,
        "position": s.position,
        "description": s.description,
        "reads": [[v.shown_name, v.value if v.value is not None else ""] for v in s.inputs],
        "writes": [v.shown_name for v in s.outputs],
        "code": s.code,
        "graph": graph_url(record.iri, focus=s.iri),
    } for s in record.steps]
    edges = [{"from": before, "to": after} for before, after in record.edges]
    return {"nodes": nodes, "edges": edges, "steps": steps, "options": GRAPH_OPTIONS}


routes = [
    Route("/plans", plans_page),
    Route("/plan", plan_page),
]
