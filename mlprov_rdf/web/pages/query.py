"""The query pages: the canned library (``/query``), one canned query's form and answer
(``/query/{name}``) and the SPARQL console (``/query/console``).

Every query runs through :func:`mlprov_rdf.queries.run_stoppable` with the app's time limit;
the console's text is refused when it is an update or holds a SERVICE clause
(:func:`mlprov_rdf.sparql_protocol.user_query`). ``?format=csv|json`` (and ``ttl|nt`` for a
graph) downloads the whole answer; the page shows its first :data:`MAX_ROWS` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pyoxigraph as ox
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ... import queries, vocab
from ...errors import UserError
from ...plan_record import PlanSummary, list_plans
from ...sparql_protocol import user_query
from ..context import WebContext, http_status, page_url, plan_url, run_url, web_context
from .sparql import MAX_BODY

#: Rows a page shows; the downloads hold every row.
MAX_ROWS = 1000
#: Runs offered as choices for a run parameter, newest first.
RUN_CHOICES = 200

#: The console's examples: (what it shows, the query).
EXAMPLES = [
    ("Runs with their plan and status", """PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?run ?plan ?status WHERE {
  ?run a mls:Run ; mlprov:plan ?plan .
  OPTIONAL { ?run mlprov:status ?status }
}
ORDER BY ?run"""),
    ("Settings and test accuracy of every run", """PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX param: <https://w3id.org/mlprov/param#>
PREFIX test: <https://w3id.org/mlprov/metric/test#>
SELECT ?run ?optimizer ?epochs ?accuracy WHERE {
  ?run a mls:Run .
  OPTIONAL { ?run param:optimizer ?optimizer }
  OPTIONAL { ?run param:epochs ?epochs }
  OPTIONAL { ?run test:accuracy ?accuracy }
}
ORDER BY DESC(?accuracy)"""),
    ("Plan titles", """PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX p-plan: <http://purl.org/net/p-plan#>
SELECT ?plan ?title WHERE { ?plan a p-plan:Plan ; dcterms:title ?title }"""),
    ("Is there a failed run? (ASK)", """PREFIX mlprov: <https://w3id.org/mlprov#>
ASK { ?run mlprov:status mlprov:Failed }"""),
    ("A run's direct values (CONSTRUCT)", """PREFIX mls: <http://www.w3.org/ns/mls#>
CONSTRUCT { ?run ?property ?value } WHERE {
  { SELECT ?run WHERE { ?run a mls:Run } ORDER BY DESC(?run) LIMIT 1 }
  ?run ?property ?value .
  FILTER (isLiteral(?value))
}"""),
]

_NUMBER_TYPES = {vocab.XSD + name for name in (
    "integer", "decimal", "double", "float", "int", "long", "short", "byte", "nonNegativeInteger",
    "positiveInteger", "negativeInteger", "nonPositiveInteger", "unsignedLong", "unsignedInt",
    "unsignedShort", "unsignedByte",
)}

_DOWNLOADS = {
    "csv": ("text/csv", "csv"),
    "json": ("application/sparql-results+json", "json"),
    "ttl": ("text/turtle", "ttl"),
    "nt": ("application/n-triples", "nt"),
}


@dataclass(frozen=True)
class Cell:
    """One value as the page shows it: text, a link to its page for a run or plan, numbers right."""

    text: str
    href: str | None = None
    numeric: bool = False
    title: str | None = None


@dataclass(frozen=True)
class Field:
    """One parameter of a canned query as a form field."""

    param: queries.QueryParam
    value: str
    input_type: str  # "text" or "number"
    choices: str | None  # the datalist that suggests values: "runs", "plans" or None
    minimum: int | None = None


def _plans(web: WebContext) -> list[PlanSummary]:
    """The stored plans, cached as the plans page caches them (one query while the store is unchanged)."""
    return web.cached("plan_record:plans", lambda: list_plans(web.location, timeout_s=web.timeout_s))


def _is_run(iri: str) -> bool:
    return iri.startswith(vocab.RUN_BASE) and vocab.RUN_ID.fullmatch(iri[len(vocab.RUN_BASE):]) is not None


def _cell(term: Any, plans: set[str]) -> Cell:
    if term is None:
        return Cell("")
    if isinstance(term, ox.NamedNode):
        iri = term.value
        href = run_url(iri) if _is_run(iri) else plan_url(iri) if iri in plans else None
        shown = queries.compact(iri)
        return Cell(shown, href=href, title=iri if shown != iri else None)
    if isinstance(term, ox.BlankNode):
        return Cell(f"_:{term.value}")
    if isinstance(term, ox.Literal):
        numeric = term.datatype.value in _NUMBER_TYPES
        return Cell(term.value, numeric=numeric, title=queries.compact(term.datatype.value) if numeric else None)
    return Cell(str(term))


def result_view(web: WebContext, result: queries.QueryResult) -> dict[str, Any]:
    """What the results part of a page shows: a table of cells, a boolean or a graph's Turtle."""
    plans = {p.iri for p in _plans(web)}
    rows = [[_cell(term, plans) for term in row] for row in result.rows[:MAX_ROWS]]
    turtle = None
    if result.triples is not None:
        turtle = ox.serialize(result.triples[:MAX_ROWS], format=ox.RdfFormat.TURTLE, prefixes=vocab.PREFIXES).decode("utf-8")
    return {
        "kind": result.kind,
        "columns": result.columns,
        "rows": rows,
        "total": len(result.rows),
        "boolean": result.boolean,
        "turtle": turtle,
        "notes": result.notes,
    }


def _download(result: queries.QueryResult, fmt: str, name: str) -> Response:
    """The whole answer as a file: CSV or SPARQL JSON; Turtle or N-Triples for a graph."""
    if fmt not in _DOWNLOADS:
        raise UserError(f"format={fmt}: give csv or json (ttl or nt for a CONSTRUCT or DESCRIBE query)")
    media, extension = _DOWNLOADS[fmt]
    if fmt in ("ttl", "nt"):
        if result.triples is None:
            raise UserError(f"format={fmt}: a graph format, for CONSTRUCT and DESCRIBE queries; give csv or json")
        rdf = ox.RdfFormat.TURTLE if fmt == "ttl" else ox.RdfFormat.N_TRIPLES
        body = ox.serialize(result.triples, format=rdf, prefixes=vocab.PREFIXES)
    else:
        body = (queries.to_csv(result) if fmt == "csv" else queries.to_sparql_json(result)).encode("utf-8")
    headers = {"Content-Disposition": f'attachment; filename="{name}.{extension}"', "Cache-Control": "no-store"}
    return Response(body, media_type=media, headers=headers)


# -- the library -----------------------------------------------------------------------------


def library_page(request: Request) -> Response:
    web = web_context(request)
    return web.render(request, "queries.html.j2", library=queries.load_library())


# -- one canned query ------------------------------------------------------------------------


def _choices(web: WebContext) -> dict[str, list[tuple[str, str]]]:
    """The values offered for run and plan parameters: (IRI, label), one query each, cached."""

    def runs() -> list[tuple[str, str]]:
        found = queries.run_stoppable(web.location, queries.resolve("runs"), {"limit": RUN_CHOICES}, timeout_s=web.timeout_s)
        return [(row[0].value, " · ".join(t.value for t in row[2:4] if t is not None)) for row in found.rows]

    return {"runs": web.cached("query:run-choices", runs), "plans": [(p.iri, p.title) for p in _plans(web)]}


def _field(param: queries.QueryParam, given: str | None) -> Field:
    value = given if given and given.strip() else (param.default or "")  # a cleared field takes the default
    if param.type in ("integer", "limit", "offset"):
        return Field(param, value, "number", None, minimum=0 if param.type != "integer" else None)
    choices = None
    if param.type == "iri":
        example = param.example or ""
        if param.name == "plan":
            choices = "plans"
        elif param.name in ("run", "other") or _is_run(example):
            choices = "runs"
    return Field(param, value, "text", choices)


def canned_page(request: Request) -> Response:
    web = web_context(request)
    name = request.path_params["name"]
    query = queries.load_library().get(name)
    if query is None:
        error = UserError(f"no query {name!r} in the library; /query lists them")
        error.http_status = 404  # type: ignore[attr-defined]
        raise error
    given = {key: value for key, value in request.query_params.items() if key != "format"}
    raw = {key: value for key, value in given.items() if value.strip()}
    fields = [_field(p, given.get(p.name)) for p in query.params]
    submitted = bool(given) or not any(p.required for p in query.params)
    values: dict[str, Any] = {"query": query, "fields": fields, "results": None, "error": None,
                              "downloads": None, "timeout_s": web.timeout_s}
    status = 200
    if submitted:
        try:
            result = queries.run_stoppable(web.location, query, raw, timeout_s=web.timeout_s)
        except UserError as error:
            if "format" in request.query_params:
                raise
            values["error"], status = str(error), http_status(error)
        else:
            if "format" in request.query_params:
                return _download(result, request.query_params["format"], name)
            values["results"] = result_view(web, result)
            values["downloads"] = _download_links(f"/query/{name}", raw, result)
    values["choices"] = _choices(web) if any(f.choices for f in fields) else {}
    return web.render(request, "query.html.j2", status_code=status, **values)


def _download_links(path: str, params: dict[str, str], result: queries.QueryResult) -> list[tuple[str, str]]:
    formats = [("Turtle", "ttl"), ("N-Triples", "nt"), ("CSV", "csv")] if result.triples is not None else [("CSV", "csv"), ("SPARQL JSON", "json")]
    return [(label, page_url(path, **params, format=fmt)) for label, fmt in formats]


# -- the console -----------------------------------------------------------------------------


def _console(request: Request, text: str, fmt: str | None) -> Response:
    web = web_context(request)
    values: dict[str, Any] = {"text": text, "results": None, "error": None, "downloads": None,
                              "timeout_s": web.timeout_s, "examples": [(label, page_url("/query/console", q=q), q) for label, q in EXAMPLES]}
    status = 200
    if text.strip():
        try:
            result = queries.run_stoppable(web.location, user_query(text, name="in the console"), timeout_s=web.timeout_s)
        except UserError as error:
            if fmt:
                raise
            values["error"], status = str(error), http_status(error)
        else:
            if fmt:
                return _download(result, fmt, "query")
            values["results"] = result_view(web, result)
            values["downloads"] = _download_links("/query/console", {"q": text}, result)
    return web.render(request, "console.html.j2", status_code=status, **values)


async def console_page(request: Request) -> Response:
    """GET ``?q=`` or a form POST ``q=``: the console's query (the console reads, never writes)."""
    fields = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if len(body) > MAX_BODY:
            raise UserError(f"the console takes a query of at most {MAX_BODY // 1024} KiB")
        fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return await run_in_threadpool(_console, request, fields.get("q", ""), fields.get("format"))


routes = [
    Route("/query", library_page),
    Route("/query/console", console_page, methods=["GET", "POST"]),
    Route("/query/{name}", canned_page),
]
