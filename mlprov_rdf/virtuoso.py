"""How a Virtuoso SPARQL endpoint differs from the SPARQL 1.1 protocol mlprov speaks.

:class:`~mlprov_rdf.store.RemoteStore` probes the server when it opens a store at an
endpoint URL (``http://HOST:8890/sparql``): a ``Server: Virtuoso/...`` answer switches
on this dialect, which Oxigraph's server never sees. What it does, each measured on
Virtuoso 7.2.5 (Debian 12's ``virtuoso-opensource``):

- Queries and updates go form-encoded (``query=``, ``update=``): a body posted as
  ``application/sparql-query`` gets no answer at all.
- JSON results are rewritten before pyoxigraph reads them: ``typed-literal`` bindings
  become literals, an ``ASK`` answered as a one-column ``SELECT`` becomes a boolean,
  ``"1"^^xsd:boolean`` becomes ``true``, and numbers and times take the lexical form
  Oxigraph gives them (``"1.0"^^xsd:double`` is ``"1"``, ``.384560Z`` is ``.38456Z``).
  ``"x"^^xsd:string`` and ``"x"`` are one pyoxigraph term already.
- Virtuoso writes a double with 6 significant digits in every answer but Turtle's: a
  ``SELECT`` whose answer holds one is asked again with ``bif:sprintf('%.17g')`` of each
  such column, and those digits replace the 6 (:meth:`VirtuosoDialect.exact_query`).
- A result cut at ``ResultSetMaxRows`` is an error that says so, not a short answer.
- A refused update (the ``SPARQL`` user lacks ``SPARQL_UPDATE``) is one line naming the grant.
- A graph goes in with ``define sql:big-data-const 1`` and ``INSERT DATA`` operations
  of at most :data:`TRIPLES_PER_INSERT` triples (one operation of a few thousand
  overflows Virtuoso's SPARQL compiler), all in one request, which Virtuoso commits as
  one transaction. A graph too big for one request (:data:`REQUEST_BYTES`) is written
  in requests to a staging graph, every IRI in it behind :data:`HIDDEN` so that no
  query naming an IRI finds a half-written run, then moved into place by one request.
"""

from __future__ import annotations

import json
import logging
import math
import re
import struct
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable
from urllib.parse import urlencode

import pyoxigraph as ox

from .errors import UserError

log = logging.getLogger(__name__)

XSD = "http://www.w3.org/2001/XMLSchema#"
#: Triples in one ``INSERT DATA`` operation: Virtuoso's SPARQL compiler ran out of stack
#: at about 2,500 lines of one operation; 1,000 leaves room for long cells' source.
TRIPLES_PER_INSERT = 1000
#: Update text in one request: Virtuoso refuses a request body over 10 MB.
REQUEST_BYTES = 4_000_000
#: What every IRI of a staged triple starts with, until the move into the run's graph.
HIDDEN = "urn:mlprov:staged:"
_BIG_DATA = "define sql:big-data-const 1\n"
_ASK_COLUMN = "__ask_retval"
#: What the column with the exact digits of column ``?v`` is named: ``?__exact_v``.
_EXACT = "__exact_"
#: Fractional seconds with trailing zeros, which Oxigraph drops (``.384560`` -> ``.38456``).
_SECONDS_ZEROS = re.compile(r"(?<=:\d\d)(\.\d*?0+)(?=Z|[+-]\d\d:\d\d|$)")
_INTEGERS = {XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                "positiveInteger", "negativeInteger", "nonPositiveInteger",
                                "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte")}


def is_virtuoso(server_header: str | None) -> bool:
    """Whether an HTTP ``Server`` header names Virtuoso."""
    return bool(server_header) and server_header.lower().startswith("virtuoso")


@dataclass
class VirtuosoDialect:
    """What a :class:`RemoteStore` does differently against Virtuoso.

    ``max_rows``: the server's ``ResultSetMaxRows``, when it could be read; a
    ``CONSTRUCT`` answer of that many triples was cut short (Virtuoso marks only
    ``SELECT`` answers with ``X-SPARQL-MaxRows``).
    """

    where: str
    max_rows: int | None = None

    MAX_ROWS_QUERY = ("SELECT (bif:cfg_item_value(bif:virtuoso_ini_path(), 'SPARQL', 'ResultSetMaxRows') AS ?n) "
                      "WHERE {}")

    # -- requests ------------------------------------------------------------------

    @staticmethod
    def form(field: str, text: str) -> tuple[bytes, dict[str, str]]:
        """A request body Virtuoso answers: the SPARQL text form-encoded."""
        return urlencode({field: text}).encode("ascii"), {"Content-Type": "application/x-www-form-urlencoded"}

    @staticmethod
    def accept(construct: bool) -> str:
        """What to ask for: Virtuoso answers a CONSTRUCT in SPARQL JSON when that comes first."""
        return "application/n-triples" if construct else "application/sparql-results+json"

    @staticmethod
    def graph_query(graph: ox.NamedNode) -> str:
        """A graph's triples with exact numbers (see :func:`_exact`), asked once."""
        return f"SELECT ?s ?p ?o ({_exact('?o')} AS ?{_EXACT}o) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}"

    @staticmethod
    def exact_query(text: str, tokens: Iterable[tuple[str, int, str]], data: bytes) -> str | None:
        """The query to ask again when its SPARQL JSON answer ``data`` holds a double or
        float (6 digits only, see :func:`_exact`): it also projects, for each column
        ``?v`` that held one, ``?__exact_v`` with every digit, which :meth:`results` puts
        back in ``?v``.
        None when the answer has none, already has every digit, or the query is not a
        SELECT naming its columns. Only such answers are asked twice: the extra columns
        trip Virtuoso's compiler in some queries. ``tokens`` are the query's (kind,
        position, text), comments, strings and IRIs left out.
        """
        doc = json.loads(data)
        if any(v.startswith(_EXACT) for v in doc.get("head", {}).get("vars", [])):
            return None
        inexact = {name for row in doc.get("results", {}).get("bindings", []) for name, term in row.items()
                   if term.get("datatype") in (XSD + "double", XSD + "float")}
        if not inexact:
            return None
        columns: list[tuple[str, str]] = []  # (variable, the expression it projects)
        depth, start, form = 0, None, None
        for kind, position, value in tokens:
            if form is None:
                if kind == "word" and value not in ("PREFIX", "BASE") and not value.endswith(":"):
                    form = value
                    if form != "SELECT":
                        return None
                continue
            if kind == "(":
                depth += 1
                if depth == 1:
                    start = position + 1
            elif kind == ")":
                depth -= 1
            elif kind == "*" and depth == 0:
                return None
            elif kind == "word" and depth == 1 and value == "AS":
                expression, start = text[start:position], None
            elif kind == "var" and depth == 1 and start is None:
                columns.append((value, expression))
            elif kind == "var" and depth == 0:
                columns.append((value, "?" + value))
            elif depth == 0 and (kind == "{" or (kind == "word" and value in ("WHERE", "FROM"))):
                extra = " ".join(f"({_exact(e)} AS ?{_EXACT}{v})" for v, e in columns if v in inexact)
                return f"{text[:position]}{extra} {text[position:]}"
        return None

    @staticmethod
    def graph_triples(rows) -> list[ox.Triple]:
        """The answer to :meth:`graph_query` as triples (:meth:`results` made each double exact)."""
        return [ox.Triple(row["s"], row["p"], row["o"]) for row in rows]

    def learn_max_rows(self, rows) -> None:
        """Keep ``ResultSetMaxRows`` from the answer to :attr:`MAX_ROWS_QUERY`."""
        for row in rows:
            value = row["n"]
            if value is not None and value.value.strip().isdigit():
                self.max_rows = int(value.value)

    # -- answers -------------------------------------------------------------------

    def results(self, data: bytes, max_rows_header: str | None) -> bytes:
        """SPARQL JSON results as the SPARQL 1.1 format and Oxigraph's lexical forms."""
        doc = json.loads(data)
        if "boolean" in doc:
            return json.dumps({"head": {}, "boolean": bool(doc["boolean"])}).encode()
        variables = doc.get("head", {}).get("vars", [])
        bindings = doc.get("results", {}).get("bindings", [])
        if [v.lower() for v in variables] == [_ASK_COLUMN]:
            answer = bool(bindings) and bindings[0].get(variables[0], {}).get("value") not in ("0", "false")
            return json.dumps({"head": {}, "boolean": answer}).encode()
        if max_rows_header is not None:
            raise self.cut_short(int(max_rows_header) if max_rows_header.isdigit() else len(bindings))
        for row in bindings:
            for name, term in row.items():
                row[name] = _json_term(term)
            for name in [n for n in row if n.startswith(_EXACT)]:
                exact, term = row.pop(name).get("value"), row.get(name[len(_EXACT):])
                if exact and term is not None and term.get("datatype") in (XSD + "double", XSD + "float"):
                    term["value"] = canonical(exact, term["datatype"])
        variables = [v for v in variables if not v.startswith(_EXACT)]
        return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}}).encode()

    def triples(self, triples: list[ox.Triple]) -> list[ox.Triple]:
        """A ``CONSTRUCT`` answer in Oxigraph's lexical forms; one cut short is an error."""
        if self.max_rows is not None and len(triples) >= self.max_rows:
            raise self.cut_short(self.max_rows)
        return [ox.Triple(t.subject, t.predicate, _term(t.object)) for t in triples]

    def cut_short(self, limit: int) -> UserError:
        return UserError(
            f"{self.where}: Virtuoso stopped the answer at its limit of {limit} rows (ResultSetMaxRows), so it "
            "is incomplete; narrow the query (LIMIT/OFFSET, a filter), or raise ResultSetMaxRows in the "
            "[SPARQL] section of virtuoso.ini"
        )

    def refused_update(self, status: int, text: str) -> UserError | None:
        """The one line for an update Virtuoso's grants refused; None for any other failure."""
        # without the grant, an update with big-data-const fails to compile instead (SP031)
        if not any(sign in text for sign in ("SR186", "No permission", "not translated to an accurate SQL text")):
            return None
        return UserError(
            f"{self.where}: Virtuoso refused the update (HTTP {status}: the SPARQL user may not write); nothing "
            "was changed; grant it with: isql-vt 1111 dba PASSWORD exec='grant SPARQL_UPDATE to \"SPARQL\";' "
            "(see docs/deploy.md)"
        )

    # -- writing a graph -----------------------------------------------------------

    def replace_graph(self, update: Callable[[str], None], graph: ox.NamedNode, quads: list[ox.Quad]) -> None:
        """Make ``graph`` hold exactly ``quads`` through ``update``; readers see the old
        graph or the new one, never a part (see the module's docstring).

        Triples with blank nodes go in one ``INSERT { ... } WHERE {}`` template, which
        keeps their labels together; Virtuoso refuses blank nodes in big ``INSERT DATA``.
        """
        plain: list[ox.Quad] = []
        blank: list[str] = []
        for q in quads:
            if isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode):
                blank.append(f"{q.subject} {q.predicate} {q.object} .")
            else:
                plain.append(q)
        template = [f"INSERT {{ GRAPH {graph} {{\n" + "\n".join(blank) + "\n} } WHERE {}"] if blank else []
        inserts = _inserts(graph, [f"{q.subject} {q.predicate} {q.object} ." for q in plain])
        whole = _BIG_DATA + " ;\n".join([f"DROP SILENT GRAPH {graph}", *inserts, *template])
        if len(whole.encode("utf-8")) <= REQUEST_BYTES:
            update(whole)
            return
        staging = ox.NamedNode(f"urn:mlprov:staging:{uuid.uuid4()}")
        try:
            for request in _requests(_inserts(staging, [_hidden_line(q) for q in plain])):
                update(request)
            update(_BIG_DATA + " ;\n".join([_move(staging, graph), *template]))
        except BaseException:
            try:
                update(f"DROP SILENT GRAPH {staging}")
            except UserError as error:
                log.warning("%s: could not remove the staging graph %s: %s", self.where, staging.value, error)
            raise
        log.debug("%s: %d triples written to %s in stages", self.where, len(quads), graph.value)


def _exact(expression: str) -> str:
    """The digits of a double or float with nothing lost, else ``''``: Virtuoso writes a
    double in its answers with 6 significant digits (openlink/virtuoso-opensource#1006),
    but ``sprintf('%.17g')`` gives every digit."""
    return (f"IF(DATATYPE({expression}) IN (<{XSD}double>, <{XSD}float>), "
            f"bif:sprintf('%.17g', {expression}), '')")


def _inserts(graph: ox.NamedNode, lines: list[str]) -> list[str]:
    """``INSERT DATA`` operations of at most :data:`TRIPLES_PER_INSERT` triples."""
    return [_insert(graph, lines[i : i + TRIPLES_PER_INSERT]) for i in range(0, len(lines), TRIPLES_PER_INSERT)]


def _insert(graph: ox.NamedNode, lines: list[str]) -> str:
    return f"INSERT DATA {{ GRAPH {graph} {{\n" + "\n".join(lines) + "\n} }"


def _requests(inserts: list[str]) -> list[str]:
    """``INSERT DATA`` operations grouped into requests of at most :data:`REQUEST_BYTES`."""
    requests: list[str] = []
    current: list[str] = []
    size = 0
    for insert in inserts:
        n = len(insert.encode("utf-8")) + 3
        if current and size + n > REQUEST_BYTES:
            requests.append(_BIG_DATA + " ;\n".join(current))
            current, size = [], 0
        current.append(insert)
        size += n
    if current:
        requests.append(_BIG_DATA + " ;\n".join(current))
    return requests


def _hidden_line(quad: ox.Quad) -> str:
    """A triple without blank nodes, each of its IRIs behind :data:`HIDDEN`."""
    def hide(term) -> str:
        return f"<{HIDDEN}{term.value}>" if isinstance(term, ox.NamedNode) else str(term)

    return f"{hide(quad.subject)} {hide(quad.predicate)} {hide(quad.object)} ."


def _move(staging: ox.NamedNode, graph: ox.NamedNode) -> str:
    """The operations that make the staged triples, their IRIs uncovered, ``graph``."""
    start = len(HIDDEN) + 1

    def uncover(var: str) -> str:
        return f"IF(isIRI(?h{var}), IRI(SUBSTR(STR(?h{var}), {start})), ?h{var})"

    return (
        f"DROP SILENT GRAPH {graph} ;\n"
        f"INSERT {{ GRAPH {graph} {{ ?s ?p ?o }} }} WHERE {{ GRAPH {staging} {{ ?hs ?hp ?ho }}\n"
        f"  BIND({uncover('s')} AS ?s) BIND({uncover('p')} AS ?p) BIND({uncover('o')} AS ?o) }} ;\n"
        f"DROP SILENT GRAPH {staging}"
    )


# -- terms ---------------------------------------------------------------------------


def _json_term(term: dict) -> dict:
    """One SPARQL JSON binding: ``typed-literal`` as ``literal``, values as Oxigraph writes them."""
    kind = term.get("type")
    if kind == "bnode":  # Virtuoso's labels ("nodeID://b10006") are not valid blank node ids
        return {"type": "bnode", "value": re.sub(r"[^A-Za-z0-9]", "_", term.get("value", ""))}
    if kind not in ("literal", "typed-literal"):
        return term
    datatype = term.get("datatype")
    out = {"type": "literal", "value": term.get("value", "")}
    if "xml:lang" in term:
        out["xml:lang"] = term["xml:lang"]
    elif datatype and datatype != XSD + "string":
        out["datatype"] = datatype
        out["value"] = canonical(out["value"], datatype)
    return out


def _term(term):
    if isinstance(term, ox.Literal) and term.language is None:
        datatype = term.datatype.value
        value = canonical(term.value, datatype)
        if value != term.value:
            return ox.Literal(value, datatype=term.datatype)
    return term


def canonical(value: str, datatype: str) -> str:
    """The lexical form Oxigraph gives a boolean or number; anything else as it is."""
    try:
        if datatype == XSD + "boolean":
            return {"1": "true", "0": "false"}.get(value, value)
        if datatype in _INTEGERS:
            return str(int(value))
        if datatype == XSD + "decimal":
            text = _plain(Decimal(value))
            return "0" if text == "-0" else text
        if datatype == XSD + "double":
            return _float_text(float(value), repr)
        if datatype == XSD + "float":
            return _float_text(_single(float(value)), _shortest_single)
        if datatype == XSD + "dateTime":
            return _SECONDS_ZEROS.sub(lambda m: m.group(1).rstrip("0").rstrip("."), value)
    except (ValueError, InvalidOperation):
        return value
    return value


def _float_text(number: float, shortest: Callable[[float], str]) -> str:
    """Oxigraph's form of a double or float: INF, -INF, NaN, or digits without exponent."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "INF" if number > 0 else "-INF"
    return _plain(Decimal(shortest(number)))


def _plain(number: Decimal) -> str:
    """Digits without exponent or trailing zeros (``1.50`` -> ``1.5``, ``1E+2`` -> ``100``)."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _single(number: float) -> float:
    """The 32-bit float nearest to ``number`` (infinite beyond its range)."""
    try:
        return struct.unpack("f", struct.pack("f", number))[0]
    except OverflowError:
        return math.copysign(math.inf, number)


def _shortest_single(single: float) -> str:
    """The fewest digits that read back as the same 32-bit float."""
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if _single(float(text)) == single:
            return text
    return repr(single)
