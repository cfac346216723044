"""SPARQL typed by a user, and the SPARQL 1.1 Protocol's answers, without HTTP.

What ``mlprov serve`` takes from its SPARQL console and from ``/sparql``: a query (never an
update, never a ``SERVICE`` clause: the app is read-only and sends nothing to other hosts),
the format an ``Accept`` header asks for, and the answer's bytes as pyoxigraph writes them
in the query's child process (:func:`mlprov_rdf.queries.run_serialized`), so a large answer
costs no Python object per term. The default graph is the union of all the store's graphs,
as everywhere in mlprov.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, TypeVar

import pyoxigraph as ox

from . import queries
from .errors import UserError
from .store import StoreLocation

log = logging.getLogger(__name__)

FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")

#: What a SELECT or ASK answer can be written as, by media type, the default first.
RESULT_FORMATS: dict[str, ox.QueryResultsFormat] = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/xml": ox.QueryResultsFormat.XML,
}

#: What a CONSTRUCT or DESCRIBE answer can be written as, by media type, the default first.
GRAPH_FORMATS: dict[str, ox.RdfFormat] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "text/plain": ox.RdfFormat.N_TRIPLES,
}

F = TypeVar("F")


class ReadOnly(UserError):
    """An update sent to the read-only app: HTTP 403."""

    http_status = 403


@dataclass(frozen=True)
class Answer:
    """A query's answer as the protocol sends it."""

    body: bytes
    media_type: str
    kind: str  # "bindings", "boolean" or "graph"


def user_query(text: str, *, name: str) -> queries.CannedQuery:
    """SPARQL text as a query to run, refused with one line when it is empty, an update or
    holds a SERVICE clause; ``name`` names it in messages (the console, the endpoint)."""
    if not text.strip():
        raise UserError(f"query {name}: give a SPARQL query ({', '.join(FORMS)})")
    try:
        form, service = queries.query_form(text)
    except SyntaxError as error:
        raise UserError(f"query {name}: SPARQL syntax error: {error}") from None
    if form in queries.UPDATE_KEYWORDS:
        raise ReadOnly(
            f"query {name}: the app is read-only: updates ({', '.join(queries.UPDATE_KEYWORDS[:-1])} ...) are refused; "
            f"give a {', '.join(FORMS[:-1])} or {FORMS[-1]} query, or change the store with mlprov's commands"
        )
    if service:
        raise UserError(
            f"query {name}: a SERVICE clause would make the store send a query to another server, "
            "which the app never does; remove it (mlprov query --allow-service runs it from the command line)"
        )
    return queries.CannedQuery(name=name, title="SPARQL text", description="", params=(), text=text)


def negotiate(accept: str | None, offered: Mapping[str, F]) -> tuple[str, F]:
    """The offered media type (and its format) that ``accept`` rates highest, the most
    specific range giving each type its quality (RFC 9110); ties and a header that rates none
    of them above zero give the first offered, the default."""
    ranges = _media_ranges(accept or "*/*")
    best: tuple[float, int] = (0.0, 0)
    chosen = next(iter(offered))
    for order, media in enumerate(offered):
        quality = _quality(media, ranges)
        if quality > best[0]:
            best, chosen = (quality, order), media
    return chosen, offered[chosen]


def _media_ranges(header: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each range in an Accept header; unreadable parts are skipped."""
    ranges = []
    for part in header.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, _, sub = media.lower().partition("/")
        if not kind or not sub:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(1.0, max(0.0, float(value)))
                except ValueError:
                    quality = 0.0
        ranges.append((kind, sub, quality))
    return ranges


def _quality(media: str, ranges: list[tuple[str, str, float]]) -> float:
    """The quality of ``media`` under the most specific range that matches it (0 when none)."""
    kind, _, sub = media.partition("/")
    best = (-1, 0.0)  # (specificity, quality)
    for range_kind, range_sub, quality in ranges:
        if (range_kind, range_sub) == (kind, sub):
            specificity = 2
        elif (range_kind, range_sub) == (kind, "*"):
            specificity = 1
        elif (range_kind, range_sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        best = max(best, (specificity, quality))
    return best[1]


def answer(location: StoreLocation, text: str, *, accept: str | None, timeout_s: float) -> Answer:
    """Run a protocol query within ``timeout_s`` and write its answer as ``accept`` asks."""
    query = user_query(text, name="sent to /sparql")
    results_type, results_format = negotiate(accept, RESULT_FORMATS)
    graph_type, graph_format = negotiate(accept, GRAPH_FORMATS)
    kind, body = queries.run_serialized(
        location, query, results_format=results_format, graph_format=graph_format, timeout_s=timeout_s
    )
    media = graph_type if kind == "graph" else results_type
    log.debug("sparql: %s answer, %d bytes as %s", kind, len(body), media)
    return Answer(body=body, media_type=media, kind=kind)
