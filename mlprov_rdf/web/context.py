"""What every page shares: the store it reads, the templates, links to other pages.

A page reads the store in one of a few query processes (``QuerySession``) that keep it
open read-only while requests come, with the app's time limit: a run's page costs its
queries, not an open of the database. Each lets go of the store when idle, and at once
when a writer waits for it, so a running notebook's ingest waits at most for the page
being read, never for the app. Queries of the query pages run in a process of their own
(:func:`mlprov_rdf.queries.run_stoppable`), so that a long one holds up no page.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..arguments import checked_iri
from ..errors import QueryTimeout, StoreBusy, StoreUnreachable, UserError
from ..stoppable_query import DEFAULT_TIMEOUT_S, QuerySession, read_in_child
from ..store import StoreLocation
from ..vocab import RUN_BASE

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent

#: Seconds a page waits for a store that a writer holds before it says the store is busy.
STORE_WAIT_S = 10.0

#: Query processes reading for pages at once; a request beyond them waits for one.
READERS = 4

#: How long a remote store's answers are taken as current (an embedded store's files tell).
REMOTE_FRESH_S = 5.0


@dataclass
class WebContext:
    """The app's one store and its settings; pages reach it as ``request.app.state.web``."""

    location: StoreLocation
    timeout_s: float = DEFAULT_TIMEOUT_S
    templates: jinja2.Environment = field(init=False)
    _cache: dict[str, tuple[object, Any]] = field(init=False, default_factory=dict)
    _sessions: "queue.LifoQueue[QuerySession]" = field(init=False, default_factory=queue.LifoQueue)
    _started: int = field(init=False, default=0)
    _started_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _building: dict[str, threading.Lock] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
            autoescape=True,  # every value from the store is untrusted text
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(run_url=run_url, plan_url=plan_url, graph_url=graph_url, url=page_url,
                                      bytes=byte_size)

    def read(self, label: str, read: Callable[..., Any], *args: Any) -> Any:
        """``read(store, *args)`` in one of the app's query processes (a UserError when the
        store is missing or damaged, a QueryTimeout past the app's time limit)."""
        try:
            session = self._sessions.get_nowait()
        except queue.Empty:
            with self._started_lock:
                start = self._started < READERS
                self._started += start
            session = QuerySession(self.location, wait_s=STORE_WAIT_S) if start else self._sessions.get()
        try:
            return read_in_child(self.location, read, *args, timeout_s=self.timeout_s, label=label, session=session)
        finally:
            self._sessions.put(session)

    def close(self) -> None:
        """End the query processes (when the app shuts down)."""
        while True:
            try:
                self._sessions.get_nowait().close()
            except queue.Empty:
                return

    def version(self) -> object:
        """Changes whenever the store's content may have: the database files' names, sizes
        and times for the embedded store (a stat per file, no open), a 5-second clock for a server."""
        if self.location.is_remote:
            return int(time.monotonic() // REMOTE_FRESH_S)
        db = self.location.database
        try:
            return tuple(sorted((p.name, s.st_size, s.st_mtime_ns) for p in db.iterdir() for s in [p.stat()]))
        except OSError:
            return None

    def cached(self, key: str, build: Callable[[], Any], refresh: Callable[[Any], Any] | None = None) -> Any:
        """``build()``'s value, kept until the store changes (see :meth:`version`); then
        ``refresh(old)`` brings the old value up to date where it can, else it is built anew."""
        with self._started_lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # requests that come while it is built wait for that build, not one each
            version = self.version()
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version and version is not None:
                return hit[1]
            value = refresh(hit[1]) if hit is not None and refresh is not None else build()
            self._cache[key] = (version, value)
            return value

    def cached_read(self, key: str, read: Callable[..., Any], *args: Any) -> Any:
        """``read(store, *args)`` with the store open for it, kept until the store changes."""
        return self.cached(key, lambda: self.read(key, read, *args))

    def render(self, request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        """The template rendered with ``values``, the request and the store's name."""
        page = self.templates.get_template(template)
        text = page.render(request=request, store=self.location.display, **values)
        return HTMLResponse(text, status_code=status_code)


def byte_size(count: int) -> str:
    """A byte count as people read it: 187.4 MB (decimal units, as file managers show them)."""
    if count < 1000:
        return f"{count} B"
    value, unit = float(count), "B"
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}"


def http_status(error: UserError) -> int:
    """The HTTP status of a UserError: its own ``http_status`` (404 for a missing run or
    plan), 504 for a query stopped at its limit, 503 for a busy or unreachable store, else 400."""
    given = getattr(error, "http_status", None)
    if given:
        return given
    if isinstance(error, QueryTimeout):
        return 504
    if isinstance(error, (StoreBusy, StoreUnreachable)):
        return 503
    return 400


def plan_parameter(request: Request, name: str) -> str:
    """The plan IRI a page's ``name`` parameter gives, or one line saying how to give one."""
    given = request.query_params.get(name, "")
    if not given.strip():
        raise UserError(f"give the plan as {request.url.path}?{name}=PLAN_IRI; the plans page (/plans) lists the stored plans")
    return checked_iri(given, argument=name, listing="the plans page lists the stored plans")


def web_context(request: Request) -> WebContext:
    return request.app.state.web


# -- links: one place says where each thing's page is ---------------------------------------


def page_url(path: str, **params: Any) -> str:
    """``path`` with its query string; a list value repeats the parameter, None leaves it out."""
    pairs = [(k, v) for k, vs in params.items() if vs is not None for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
    return path + ("?" + urlencode(pairs) if pairs else "")


def run_url(run: str) -> str:
    """The run's page: ``/run/ID`` for mlprov's run IRIs, else by IRI."""
    if run.startswith(RUN_BASE):
        return "/run/" + quote(run[len(RUN_BASE):], safe="")
    return page_url("/run", iri=run)


def plan_url(plan: str) -> str:
    return page_url("/plan", iri=plan)


def graph_url(iri: str, focus: str | None = None) -> str:
    """The graph explorer on ``iri`` (a plan or run), optionally centred on one node of it."""
    return page_url("/graph", iri=iri, node=focus)
