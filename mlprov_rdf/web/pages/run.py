"""One run's page (``/run/ID``, ``/run?iri=IRI``) and its figure files (``/artifact``).

The data comes from :mod:`mlprov_rdf.run_record`; this module turns it into the page, and
its per-epoch series into the plotly charts that ``static/charts.js`` draws. A figure is
served only when the store names it as an artifact of that run, its file lies in that
run's folder of the store's artifact folder, and it still holds the bytes the run
recorded: the route never serves a path it was given.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ... import vocab
from ...arguments import checked_iri
from ...errors import UserError
from ...run_record import Entity, RunNotFound, RunRecord, read_run_record
from ..context import WebContext, page_url, web_context

_LISTING = "the runs page (/runs) lists the runs"

#: The figure files a page shows, by suffix; nothing else is served (an SVG or HTML file
#: could carry script).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


class ArtifactUnavailable(UserError):
    """The run names no such figure, or its file is gone or changed since the run."""

    http_status = 404


def shown(value: Any) -> str:
    """A value as a table cell: numbers short, JSON as JSON, nothing as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def image_type(entity: Entity) -> str | None:
    """The media type of a figure this app shows inline, None for any other file."""
    path = entity.path
    return IMAGE_TYPES.get(path.suffix.lower()) if path is not None and entity.kind == "figure" else None


def in_artifact_folder(web: WebContext, run: str, entity: Entity) -> bool:
    """Whether the entity's file lies in the run's folder of the store's artifact folder: the
    only files the app serves."""
    folder = (web.location.artifact_dir / vocab.run_id_of(run)).resolve()
    return entity.path is not None and entity.path.resolve().is_relative_to(folder)


def record_of(web: WebContext, run: str) -> RunRecord:
    """The run's record, kept until the store changes."""
    return web.cached_read("run_record:" + run, read_run_record, run)


def curve_charts(records: Iterable[RunRecord], names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One chart per per-epoch series name, one line per run: what ``charts.js`` draws."""
    charts: dict[str, dict[str, Any]] = {}
    for record in records:
        for series in record.series:
            chart = charts.setdefault(series.name, {
                "target": f"curve-{len(charts)}", "title": series.name,
                "x_title": "epoch", "y_title": series.measure, "traces": []})
            chart["traces"].append({"name": (names or {}).get(record.iri, series.name),
                                    "x": series.epochs, "y": series.values, "mode": "lines+markers"})
    return list(charts.values())


def _page(request: Request, run: str) -> Response:
    web = web_context(request)
    record = record_of(web, run)
    return web.render(
        request, "run.html.j2",
        run=record,
        shown=shown,
        image_type=image_type,
        in_artifact_folder=lambda entity: in_artifact_folder(web, record.iri, entity),
        charts=curve_charts([record]),
        artifact_url=lambda entity: page_url("/artifact", run=record.iri, iri=entity.iri),
    )


def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    if not vocab.RUN_ID.fullmatch(run_id):
        raise RunNotFound(f"run id {run_id!r}: not a run id; {_LISTING}")
    return _page(request, vocab.run_iri(run_id))


def run_by_iri(request: Request) -> Response:
    given = request.query_params.get("iri", "")
    if not given.strip():
        raise UserError(f"give the run as /run?iri=RUN_IRI; {_LISTING}")
    return _page(request, checked_iri(given, argument="iri", listing=_LISTING))


def artifact_file(request: Request) -> Response:
    """A figure of a run, by the run's and the artifact's IRIs."""
    web = web_context(request)
    run = checked_iri(request.query_params.get("run", ""), argument="run", listing=_LISTING)
    iri = checked_iri(request.query_params.get("iri", ""), argument="iri", listing="the run's page lists its figures")
    entity = record_of(web, run).entity(iri)
    media_type = image_type(entity) if entity is not None else None
    if entity is None or media_type is None:
        raise ArtifactUnavailable(f"{iri}: not an image figure of the run {run}")
    if not in_artifact_folder(web, run, entity):
        folder = web.location.artifact_dir / vocab.run_id_of(run)
        raise ArtifactUnavailable(f"{iri}: its file {entity.location} is not in the run's artifact folder {folder}")
    if not entity.content_matches():
        raise ArtifactUnavailable(f"{iri}: its file {entity.location} is missing here or changed since the run")
    return FileResponse(entity.path, media_type=media_type, headers={"Cache-Control": "no-cache"})


routes = [
    Route("/run/{run_id}", run_page),
    Route("/run", run_by_iri),
    Route("/artifact", artifact_file),
]
