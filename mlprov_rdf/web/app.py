"""The Starlette application: the pages' routes, the local assets, the safety headers.

Every page is read-only: only GET and HEAD reach the pages, and POST only the two places
that take a query in the request body (the console and ``/sparql``), which refuse updates.
Every script and style is served from this app (vis-network from pyvis, plotly.js from the
plotly package, ours from ``static/``); the Content-Security-Policy forbids anything else,
so no page can make the browser ask another host for anything, and no injected markup can
run a script.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import UserError
from ..stoppable_query import DEFAULT_TIMEOUT_S
from ..store import StoreLocation
from .context import WebContext, http_status, web_context
from .pages import compare, graph, plan, query, run, runs, sparql

log = logging.getLogger(__name__)

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _SafetyHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response


class _ServerTiming(BaseHTTPMiddleware):
    """``Server-Timing: app;dur=MS``: what the app spent on a request, for benchmarks/serve_bench.py."""

    async def dispatch(self, request: Request, call_next) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


def _vendor_files() -> dict[str, Path]:
    """The third-party scripts pages use, from the packages that ship them."""
    import plotly
    import pyvis

    vis = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
    return {
        "vis-network.min.js": vis / "vis-network.min.js",
        "vis-network.css": vis / "vis-network.css",
        "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
    }


def _vendor_route() -> Route:
    known = _vendor_files()

    def vendor(request: Request) -> Response:
        path = known.get(request.path_params["name"])
        if path is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    return Route("/vendor/{name}", vendor)


async def _user_error(request: Request, error: Exception) -> Response:
    """A UserError is the page's one-line answer: the same text the CLI prints."""
    assert isinstance(error, UserError)
    status = http_status(error)
    if request.url.path.endswith((".json", ".csv")) or request.url.path.startswith("/sparql"):
        return Response(str(error) + "\n", status_code=status, media_type="text/plain; charset=utf-8")
    return web_context(request).render(request, "error.html.j2", status_code=status, message=str(error), status=status)


async def _not_found(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 404)
    detail = getattr(error, "detail", "not found")
    if request.url.path.endswith((".json", ".csv")) or request.url.path.startswith(("/sparql", "/vendor", "/static")):
        return Response(f"{detail}\n", status_code=status, media_type="text/plain; charset=utf-8")
    return web_context(request).render(request, "error.html.j2", status_code=status, message=str(detail), status=status)


def _read_runs_table(web: WebContext) -> None:
    """Read the runs table as the app starts, so that the first visit to /runs finds it (at
    10,000 runs the first read takes seconds); a request meanwhile waits for this read."""
    started = time.monotonic()
    try:
        table = runs.runs_table(web)
        log.info("read the runs table at start-up: %d runs in %.2f s", len(table.frame), time.monotonic() - started)
    except Exception as error:  # no store yet, a damaged one: the page meets it again when asked, and says so
        log.info("runs table not read at start-up: %s", error)


def create_app(location: StoreLocation, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Starlette:
    """The app over the store at ``location``; queries stop after ``timeout_s`` seconds."""
    static = StaticFiles(directory=str(files("mlprov_rdf.web") / "static"))
    routes = [
        Route("/", lambda request: RedirectResponse("/runs", status_code=302)),
        *runs.routes,
        *run.routes,
        *compare.routes,
        *plan.routes,
        *graph.routes,
        *query.routes,
        *sparql.routes,
        _vendor_route(),
        Mount("/static", static, name="static"),
    ]
    web = WebContext(location, timeout_s=timeout_s)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=_read_runs_table, args=(web,), name="runs-table", daemon=True).start()
        yield
        web.close()  # the pages' query processes end with the app

    app = Starlette(
        routes=routes,
        middleware=[Middleware(_ServerTiming), Middleware(_SafetyHeaders)],
        exception_handlers={UserError: _user_error, 404: _not_found, 405: _not_found},
        lifespan=lifespan,
    )
    app.state.web = web
    return app
