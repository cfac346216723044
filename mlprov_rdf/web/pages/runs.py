"""The runs page (``/runs``) and its CSV (``/runs.csv``): the runs table of
:mod:`mlprov_rdf.runs_table`, with the view (filters, sort, columns, page) in the URL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...runs_table import RunsTable, Selection, load_runs_table, shown
from ...vocab import RUN_BASE
from ..context import WebContext, page_url, plan_url, run_url, web_context

Params = dict[str, list[str]]


def _table(request: Request) -> RunsTable:
    return runs_table(web_context(request))


def runs_table(web: WebContext) -> RunsTable:
    """The table of every run, read once and then brought up to date with the runs added since."""
    return web.cached(
        "runs_table",
        lambda: load_runs_table(web.location, timeout_s=web.timeout_s),
        lambda old: load_runs_table(web.location, timeout_s=web.timeout_s, previous=old),
    )


def _params(request: Request) -> Params:
    params: Params = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _link(params: Params, path: str = "/runs", **changes: list[str] | None) -> str:
    """This view's URL with some parameters replaced (None drops one)."""
    merged = {k: v for k, v in params.items() if any(x.strip() for x in v)}
    for key, value in changes.items():
        merged.pop(key, None)
        if value is not None:
            merged[key] = value
    return page_url(path, **merged)


def _rows(selection: Selection) -> list[dict]:
    """Each row of the page as text and links, ready for the template."""
    rows = []
    for record in selection.page.to_dict("records"):
        run = record["run"]
        cells = []
        for column in selection.view.columns:
            value = record[column.name]
            link = None
            if column.name == "title" and isinstance(record.get("plan"), str):
                link = plan_url(record["plan"])
            elif column.name == "plan" and isinstance(value, str):
                link = plan_url(value)
            cells.append({"text": shown(value, column), "link": link, "type": column.type})
        rows.append({"iri": run, "id": run[len(RUN_BASE):] if run.startswith(RUN_BASE) else run,
                     "url": run_url(run), "cells": cells})
    return rows


def runs_page(request: Request) -> Response:
    table = _table(request)
    params = _params(request)
    view = table.view(params)
    selection = table.select(view)
    page = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    sort_links = {}
    for column in view.columns:
        ascending = view.sort == column.name and not view.descending
        sort_links[column.name] = _link(params, sort=[("-" if ascending else "") + column.name], offset=None)
    previous = max(view.offset - view.limit, 0)
    return web_context(request).render(
        request,
        "runs.html.j2",
        table=table,
        view=view,
        selection=selection,
        rows=_rows(selection),
        shown_names={c.name for c in view.columns},
        filter_values=params,
        sort_links=sort_links,
        csv_url=_link(page, "/runs.csv"),
        previous_url=_link(params, offset=[str(previous)]) if view.offset else None,
        next_url=_link(params, offset=[str(view.offset + view.limit)]) if selection.has_next else None,
        clear_url=_link({k: v for k, v in params.items() if k in ("col", "limit")}),
    )


def runs_csv(request: Request) -> Response:
    table = _table(request)
    text = table.csv(table.view(_params(request)))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="runs.csv"'})


routes = [Route("/runs", runs_page), Route("/runs.csv", runs_csv)]
