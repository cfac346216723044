"""Canned SPARQL queries: the library in ``queries/``, their parameters and output formats.

Each library query is one ``.rq`` file whose leading comment block says what it is for
and which values it takes, so that ``mlprov query --list`` and the checks in the tests
read the same header the query's author wrote::

    # title: Parameters of a run
    # description: The hyperparameter settings a run actually used, one row per parameter.
    #   An indented comment line continues the line above it.
    # param run (iri): the run, e.g. urn:mlprov:run:20261123T194201-3fa2c1d0
    # param threshold (decimal) = 0: the lowest value to list, e.g. 0.9
    # param plan (iri) optional: the plan; every plan when left out

A parameter is the SPARQL variable of the same name (``?run``), bound in one of two ways;
neither pastes the given text into the query, so a value cannot change what the query does.

*Substitution.* By default the variable is bound with pyoxigraph's ``substitutions``
(SEP-0007). Oxigraph substitutes only variables that the query projects, so such a
parameter must appear in the top-level ``SELECT`` (a test checks this); the column of a
parameter that was given a value holds that value in every row and is left out of the
result. Oxigraph plans a query before it substitutes, so the query cannot tell whether the
value was given: ``BOUND(?param)`` is always false there.

*A values slot.* A query that writes ``VALUES ?name { UNDEF }`` (on one line, once) takes
the parameter there instead: the slot is rewritten to ``VALUES ?name { term ... }`` from the
checked RDF terms, each written in its N-Triples form (which escapes every character that
could end it). ``UNDEF`` is "no value given": the variable is left free, so the same query
text also runs as written. The planner then sees the value, ``BOUND`` works, and a ``list``
parameter (below) can match any of several values; a slot parameter need not be projected.

A parameter marked ``optional`` stays unbound when no value is given, so the query ranges
over everything (every run, every plan); one with ``= default`` takes the default.

*An order.* ``# order: newest first`` (or ``oldest first``) says the query lists runs a page
at a time sorted by their start (``mlprov:runStarted``), in that order: it takes a ``limit``
parameter and has one ``VALUES ?start_window { UNDEF }`` slot joined with the runs'
``mlprov:startSecond``. mlprov fills the slot with the seconds that hold the page
(:mod:`start_windows`), so the query reads those runs and not every run; a ``plan``
parameter given a value narrows them to that plan's. As written, the slot lets every run in.

Parameter types, and what a raw command-line string becomes:

``iri``      an absolute IRI (``scheme:rest``, no spaces or ``<>"{}|^`\\``): a named node.
``string``   any text: an ``xsd:string`` literal.
``integer``  ``[+-]digits``: an ``xsd:integer`` literal.
``decimal``  a finite decimal number (``0.9``, ``1e-3``): an ``xsd:decimal`` literal; it
             compares numerically with the ``xsd:double`` values metrics are stored as.
``metric``   an evaluation measure: a bare name such as ``accuracy`` names ``mlprov:accuracy``
             (the data model mints every measure as ``mlprov:<name>``); ``mlprov:accuracy`` and
             a full IRI are accepted as well.
``list``     alternatives, comma-separated (``Adam,SGD``; from Python, a list or tuple): the
             query's values slot gets every item as a string literal and also as what else it
             reads as: an integer (also as a double, as settings store whole floats), a double,
             a boolean, an absolute IRI. A setting stored as ``0.01`` matches ``0.01`` and
             ``1e-2``; the string ``"10"`` and the integer ``10`` both match ``10``. Needs a slot.

A query can also come from any ``.rq`` file (the same header is read, if it has one) or be
literal SPARQL text; see :func:`resolve`.

Every query is read-only: update text (``DROP``, ``INSERT`` ...) is refused, and so is a
``SERVICE`` clause, which would make the store send requests to other servers, unless it
is allowed explicitly. Both are found in the query's tokens, so a comment or a string that
holds the word does not count. A user's query runs through :func:`run_stoppable`, in a
child process with a time limit (see :mod:`mlprov_rdf.stoppable_query`); :func:`run` runs
in this process, for mlprov's own small queries about one run. Both expand a ``?series``
column of per-epoch series into a row per epoch (:func:`expanded_series`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

import pyoxigraph as ox

from . import run_summaries, series, start_windows, stoppable_query, vocab
from .errors import UserError
from .resources import queries_dir
from .store import query_keywords as query_form
from .store import is_database_error
from .stoppable_query import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:  # pandas is imported only when a data frame is asked for
    import pandas

    from .store import RemoteStore, Store, StoreLocation

log = logging.getLogger(__name__)

PARAM_TYPES = ("iri", "string", "integer", "decimal", "metric", "result", "list", "limit", "offset")
#: Types whose value sets the query's one ``LIMIT n`` or ``OFFSET n`` clause.
_MODIFIERS = {"limit": "LIMIT", "offset": "OFFSET"}

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple

#: What an IRI parameter may look like: a scheme, then no character that could end an IRI.
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_MEASURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_FIELD = re.compile(r"^#\s*(title|description|order)\s*:\s*(.*)$")
_HEADER_PARAM = re.compile(
    r"^#\s*param\s+(?P<name>\S+)\s+\((?P<type>[^)]*)\)\s*"
    r"(?:(?P<optional>optional)\s*|=\s*(?P<default>\S+?)\s*)?:(?:\s+(?P<desc>.*))?$"
)
_CONTINUATION = re.compile(r"^#\s{2,}(\S.*)$")
_EXAMPLE = re.compile(r"\be\.g\.\s+(\S+?)[;,)]?(?:\s|$)")
_SPARQL_KEYWORD = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE|PREFIX|BASE)\b", re.IGNORECASE)
_VARIABLE = re.compile(r"[?$]([A-Za-z_0-9\u00b7-\uffff]+)")
#: A values slot: where a parameter's value(s) go, ``VALUES ?name { UNDEF }`` on one line.
_SLOT = re.compile(r"\bVALUES\s+[?$]([A-Za-z_][A-Za-z0-9_]*)\s*\{\s*UNDEF\s*\}", re.IGNORECASE)
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_MODIFIER = {kind: re.compile(rf"\b{word}\s+([0-9]+)\b", re.IGNORECASE) for kind, word in _MODIFIERS.items()}
_DIGITS = re.compile(r"^[0-9]+$")
#: The integers the store compares as numbers (Oxigraph's xsd:integer is 64-bit), and
#: the largest LIMIT or OFFSET it takes.
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1
#: Oxigraph's xsd:decimal: 18 digits after the point, magnitude below about 1.7e20.
_DECIMAL_PLACES, _DECIMAL_MAX = 18, Decimal("170141183460469231731.687303715884105727")
#: The keywords that open a SPARQL update operation.
UPDATE_KEYWORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "ADD", "MOVE", "COPY", "WITH")
#: How :func:`run_stoppable` checks that a parameter's value is in the store, by type,
#: when the query found nothing; ``TERM`` becomes the value in N-Triples form.
_PRESENCE = {
    "iri": "ASK { TERM ?p ?o }",
    "metric": "ASK { ?evaluation <http://www.w3.org/ns/mls#specifiedBy> TERM }",
    "result": "ASK { ?s TERM ?o }",
}
#: Characters a table never sends to a terminal as they are: C0 and C1 controls, DEL,
#: and the bidirectional controls that reorder what is shown (U+202E and its kin).
_UNSAFE_FOR_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

XSD_STRING = vocab.XSD + "string"
_INTEGER_TYPES = {
    vocab.XSD + t
    for t in (
        "integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
        "nonPositiveInteger", "negativeInteger", "unsignedLong", "unsignedInt",
        "unsignedShort", "unsignedByte",
    )
}
_FLOAT_TYPES = {vocab.XSD + "double", vocab.XSD + "float", vocab.XSD + "decimal"}
_DATETIME_TYPES = {vocab.XSD + "dateTime", vocab.XSD + "dateTimeStamp", vocab.XSD + "date"}


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter: the variable it binds, its type, and its default."""

    name: str
    type: str
    description: str = ""
    default: str | None = None
    required: bool = True
    example: str | None = None  # taken from "e.g. VALUE" in the description

    def signature(self) -> str:
        if self.required:
            return f"{self.name} ({self.type})"
        if self.default is not None:
            return f"{self.name} ({self.type}) = {self.default}"
        return f"{self.name} ({self.type}) optional"


@dataclass(frozen=True)
class CannedQuery:
    """A query with the header its author wrote; ``path`` is None for literal text."""

    name: str
    title: str
    description: str
    params: tuple[QueryParam, ...]
    text: str
    path: Path | None = None
    in_library: bool = False
    #: ``# order: newest first`` / ``oldest first``: the query pages runs in start order,
    #: read a window of starts at a time (see :mod:`start_windows`); None otherwise.
    order: str | None = None

    @property
    def label(self) -> str:
        """How messages name the query: a library name, else the file it came from."""
        if self.in_library or self.path is None:
            return self.name
        return str(self.path)

    def param(self, name: str) -> QueryParam | None:
        return next((p for p in self.params if p.name == name), None)

    @cached_property
    def slots(self) -> frozenset[str]:
        """The parameters this query takes in a ``VALUES ?name { UNDEF }`` slot (read once)."""
        found = set(value_slots(self.text))
        return frozenset(p.name for p in self.params if p.name in found)

    @cached_property
    def reads_summaries(self) -> bool:
        """Whether it reads the run summaries: its process checks first that the store has them."""
        return run_summaries.reads_summaries(self.text)


@dataclass
class QueryResult:
    """Rows of terms (None: unbound) for SELECT; ``boolean`` for ASK; ``triples`` for CONSTRUCT.

    A CONSTRUCT or DESCRIBE result also fills ``columns``/``rows`` with subject, predicate
    and object, so that the table and CSV formats work for every query form.
    """

    columns: list[str]
    rows: list[tuple[Term | None, ...]] = field(default_factory=list)
    boolean: bool | None = None
    triples: list[ox.Triple] | None = None
    #: Why an empty result may be empty: parameter values the store does not hold.
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.boolean is not None:
            return "boolean"
        if self.triples is not None:
            return "graph"
        return "bindings"


# -- reading queries -------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What a query's leading comment block declares."""

    title: str
    description: str
    params: tuple[QueryParam, ...]
    order: str | None = None


def parse_header(text: str, where: str) -> Header:
    """Title, description, parameters and order from the leading comment block of a query."""
    title = ""
    order: str | None = None
    description: list[str] = []
    params: list[dict] = []
    current: list[str] | None = None  # the text that a continuation line extends
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip()
        if not line.strip():
            if title or description or params:
                break
            continue
        if not line.lstrip().startswith("#"):
            break
        line = line.lstrip()
        if m := _HEADER_FIELD.match(line):
            key, value = m.group(1), m.group(2).strip()
            if key == "title":
                title = value
                current = None
            elif key == "order":
                if value not in start_windows.ORDERS:
                    raise UserError(f"{where} line {number}: '# order: {value}' is not an order; write "
                                    f"{' or '.join(repr('# order: ' + o) for o in start_windows.ORDERS)}")
                order = value
                current = None
            else:
                description = [value] if value else []
                current = description
            continue
        if re.match(r"^#\s*param\b", line):
            m = _HEADER_PARAM.match(line)
            if not m:
                raise UserError(
                    f"{where} line {number}: cannot read this parameter line; write "
                    "'# param NAME (TYPE): description', '# param NAME (TYPE) = DEFAULT: ...' "
                    "or '# param NAME (TYPE) optional: ...'"
                )
            name, ptype = m.group("name"), m.group("type").strip()
            if not _NAME.match(name):
                raise UserError(
                    f"{where} line {number}: parameter name {name!r} is not a SPARQL variable "
                    "name; use letters, digits and underscores"
                )
            if ptype not in PARAM_TYPES:
                raise UserError(
                    f"{where} line {number}: parameter {name} has unknown type {ptype!r}; "
                    f"use one of {', '.join(PARAM_TYPES)}"
                )
            if any(p["name"] == name for p in params):
                raise UserError(f"{where} line {number}: parameter {name} is declared twice")
            desc = [m.group("desc") or ""]
            params.append(
                {
                    "name": name,
                    "type": ptype,
                    "default": m.group("default"),
                    "required": m.group("default") is None and not m.group("optional"),
                    "desc": desc,
                    "line": number,
                }
            )
            current = desc
            continue
        if (m := _CONTINUATION.match(line)) and current is not None:
            current.append(m.group(1).strip())
            continue
        current = None  # an ordinary comment ends the field above it

    built: list[QueryParam] = []
    for p in params:
        desc_text = " ".join(s for s in p["desc"] if s).strip()
        example = m.group(1) if (m := _EXAMPLE.search(desc_text)) else None
        param = QueryParam(
            name=p["name"],
            type=p["type"],
            description=desc_text,
            default=p["default"],
            required=p["required"],
            example=example,
        )
        if param.default is not None:
            try:
                (convert_list if param.type == "list" else convert)(param, param.default)
            except UserError as error:
                raise UserError(f"{where} line {p['line']}: default of {error}") from None
        built.append(param)
    return Header(title, " ".join(s for s in description if s).strip(), tuple(built), order)


#: Queries read from files, by (path, in_library): the file's signature when it was read, and the query.
_LOADED: dict[tuple[Path, bool], tuple[tuple[int, ...], CannedQuery]] = {}
#: A file changed less than this long ago is read again: a change within the file system's
#: timestamp granularity leaves its size and time as they were (git's "racily clean" files).
_SETTLED_NS = 2_000_000_000


def load_file(path: Path, *, in_library: bool = False) -> CannedQuery:
    """One query from a ``.rq`` file; a file without a header gets its stem as title.

    Reading and checking a header costs far more than a query about one run, so a query is
    kept until its file changes (its inode, size, modification and change times).
    """
    try:
        st = path.stat()
    except OSError as error:
        raise UserError(f"query {path}: cannot read: {error.strerror or error}") from None
    signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    kept = _LOADED.get((path, in_library))
    if kept is not None and kept[0] == signature:
        return kept[1]
    query = _read_file(path, in_library=in_library)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS:
        _LOADED[(path, in_library)] = (signature, query)
    return query


def _read_file(path: Path, *, in_library: bool) -> CannedQuery:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"query {path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"query {path}: not UTF-8 text; save the query as UTF-8") from None
    return _from_text(text, str(path), name=path.stem, path=path, in_library=in_library)


def _from_text(text: str, where: str, *, name: str, path: Path | None = None, in_library: bool = False) -> CannedQuery:
    """A query from its text, its header read and its slots and clauses checked."""
    header = parse_header(text, where)
    _check_slots(text, header, where)
    return CannedQuery(name=name, title=header.title or (path.stem if path else "SPARQL text"),
                       description=header.description, params=header.params, text=text, path=path,
                       in_library=in_library, order=header.order)


def load_library() -> dict[str, CannedQuery]:
    """Every query shipped in ``queries/``, by file stem, in name order."""
    library: dict[str, CannedQuery] = {}
    for path in sorted(queries_dir().glob("*.rq"), key=lambda p: p.stem):
        library[path.stem] = load_file(path, in_library=True)
    log.debug("query library: %d queries from %s", len(library), queries_dir())
    return library


def _library_file(name: str) -> Path | None:
    """The library's file for ``name``, found with one ``stat`` (no listing of the folder)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = queries_dir() / f"{name}.rq"
    try:
        return path if path.is_file() else None
    except OSError:  # a name too long for a file
        return None


def resolve(spec: str) -> CannedQuery:
    """A library name, a path to a ``.rq`` file, or literal SPARQL text, in that order."""
    if (path := _library_file(spec)) is not None:
        return load_file(path, in_library=True)
    library = load_library()
    if spec in library:
        return library[spec]
    looks_like_path = "\n" not in spec and len(spec) < 4096
    if looks_like_path:
        path = Path(spec).expanduser()
        try:
            is_file = path.is_file()
        except OSError:
            is_file = False
        if is_file:
            return load_file(path)
        if spec.endswith(".rq"):
            raise UserError(f"query {spec}: no such file")
    if _SPARQL_KEYWORD.search(_strip_comments(spec)) or _is_update_text(spec):
        return _from_text(spec, "query text", name="(text)")
    shown = spec if len(spec) <= 60 else spec[:57] + "..."
    raise UserError(
        f"query {shown}: not a query in the library, a .rq file or SPARQL text; "
        f"the library has: {', '.join(library) or '(nothing)'}"
    )


def _is_update_text(spec: str) -> bool:
    """Whether the text reads as a SPARQL update (more than one word, the first an update keyword)."""
    try:
        return len(spec.split()) > 1 and query_form(spec)[0] in UPDATE_KEYWORDS
    except SyntaxError:
        return False


def check_read_only(query: CannedQuery, *, allow_service: bool = False) -> None:
    """Refuse an update, and a SERVICE clause unless ``allow_service``: one line each."""
    try:
        form, service = query_form(query.text)
    except SyntaxError as error:
        raise UserError(f"query {query.label}: SPARQL syntax error: {error}") from None
    if form in UPDATE_KEYWORDS:
        raise UserError(
            f"query {query.label}: the store is read-only here: updates ({', '.join(UPDATE_KEYWORDS[:-1])}) "
            "are not allowed through mlprov query; give a SELECT, ASK, CONSTRUCT or DESCRIBE query"
        )
    if service and not allow_service:
        raise UserError(
            f"query {query.label}: a SERVICE clause makes the store send the query to another "
            "server, refused by default; remove it, or pass --allow-service (allow_service=True in Python)"
        )


@lru_cache(maxsize=256)
def _strip_comments(text: str) -> str:
    """The query without ``#`` comments (a ``#`` inside an IRI or string is kept); each
    text is read once, as queries are run many times."""
    out = []
    for line in text.splitlines():
        in_iri = in_string = False
        quote = ""
        cut = len(line)
        for i, ch in enumerate(line):
            if in_string:
                if ch == quote and line[i - 1] != "\\":
                    in_string = False
            elif in_iri:
                if ch == ">":
                    in_iri = False
            elif ch in "\"'":
                in_string, quote = True, ch
            elif ch == "<" and i + 1 < len(line) and not line[i + 1].isspace() and line[i + 1] != "=":
                in_iri = True
            elif ch == "#":
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


def query_variables(text: str) -> set[str]:
    """The names of the variables a query mentions outside comments."""
    return set(_VARIABLE.findall(_strip_comments(text)))


def projected_variables(text: str) -> set[str] | None:
    """The variables of the top-level SELECT clause; None for ``SELECT *`` or another form."""
    body = _strip_comments(text)
    m = re.search(r"\bSELECT\b(.*?)(?:\bWHERE\b|\{)", body, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    clause = m.group(1)
    if re.match(r"^\s*(DISTINCT|REDUCED)?\s*\*", clause, re.IGNORECASE):
        return None
    # "(expr AS ?v)" projects ?v only; a bare ?v projects ?v.
    projected = set(re.findall(r"\bAS\s+[?$](\w+)", clause, re.IGNORECASE))
    depth = 0
    for token in re.finditer(r"[()]|[?$]\w+", clause):
        t = token.group(0)
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif depth == 0:
            projected.add(t[1:])
    return projected


def value_slots(text: str) -> dict[str, int]:
    """How many ``VALUES ?name { UNDEF }`` slots the query has for each variable, outside comments."""
    counts: dict[str, int] = {}
    for line in _strip_comments(text).splitlines():
        for m in _SLOT.finditer(line):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def _check_slots(text: str, header: Header, where: str) -> None:
    """A list or result parameter needs a slot (every slot gets its value), a limit or offset
    one clause; an order a start window slot and a limit."""
    counts = value_slots(text)
    code = _strip_comments(text)
    if header.order and (counts.get(start_windows.SLOT) != 1 or not any(p.type == "limit" for p in header.params)):
        raise UserError(f"{where}: '# order: {header.order}' needs one slot 'VALUES ?{start_windows.SLOT} {{ UNDEF }}' "
                        "(on one line) joined with the runs' mlprov:startSecond, and a parameter of type limit")
    for param in header.params:
        if param.type in _MODIFIERS:
            word = _MODIFIERS[param.type]
            if len(_MODIFIER[param.type].findall(code)) != 1:
                raise UserError(
                    f"{where}: parameter {param.name} ({param.type}) needs exactly one "
                    f"'{word} n' clause in the query, where its value goes"
                )
            continue
        n = counts.get(param.name, 0)
        if param.type in ("list", "result") and n == 0:
            raise UserError(
                f"{where}: {param.type} parameter {param.name} needs a slot "
                f"'VALUES ?{param.name} {{ UNDEF }}' (on one line) where its value goes"
            )


# -- binding parameters ------------------------------------------------------------------


def _takes(query: CannedQuery) -> str:
    if not query.params:
        return "it takes no parameters"
    return "it takes: " + ", ".join(p.signature() for p in query.params)


def _text(value: object) -> str:
    """A Python value as the text a command line would give for it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


#: A run id as capture mints it (UTC start, 8 hex digits), taken for the run where an IRI is asked.
_MINTED_RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")


def convert(param: QueryParam, raw: object) -> ox.NamedNode | ox.Literal:
    """One raw value (command-line text, or a Python value) as the RDF term its type asks for."""
    if param.type == "list":
        raise UserError(f"parameter {param.name}: a list takes several values; see convert_list")
    raw = raw if isinstance(raw, str) else _text(raw)
    value = raw.strip()
    if param.type == "iri":
        if _MINTED_RUN_ID.fullmatch(value):  # a bare run id, as 'mlprov runs' shows it: no IRI looks like one
            value = vocab.run_iri(value)
        if not _IRI.match(value):
            hint = f", such as {param.example}" if param.example else ""
            raise UserError(
                f"parameter {param.name}: {raw!r} is not an absolute IRI; give a scheme and no "
                f"spaces or any of <>\"{{}}|^`\\{hint}"
            )
        return ox.NamedNode(value)
    if param.type == "string":
        return ox.Literal(raw)
    if param.type == "integer":
        if not _INTEGER.match(value):
            raise UserError(f"parameter {param.name}: {_shown(raw)!r} is not an integer")
        return ox.Literal(str(_bounded(param, value, INTEGER_MIN)), datatype=ox.NamedNode(vocab.XSD + "integer"))
    if param.type == "decimal":
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise UserError(f"parameter {param.name}: {_shown(raw)!r} is not a decimal number")
        if number.adjusted() > 20 or number.copy_abs() > _DECIMAL_MAX or _decimal_places(number) > _DECIMAL_PLACES:
            raise UserError(
                f"parameter {param.name}: {_shown(raw)!r} is outside the store's decimals: at most "
                f"{_DECIMAL_PLACES} digits after the point, magnitude below 1.7e20"
            )
        lexical = format(number, "f")
        if "." not in lexical:
            lexical += ".0"
        return ox.Literal(lexical, datatype=ox.NamedNode(vocab.XSD + "decimal"))
    if param.type == "metric":
        if _MEASURE_NAME.match(value):
            return ox.NamedNode(vocab.MLPROV + value)
        prefix, _, local = value.partition(":")
        if prefix in vocab.PREFIXES and _MEASURE_NAME.match(local):
            return ox.NamedNode(vocab.PREFIXES[prefix] + local)
        if _IRI.match(value):
            return ox.NamedNode(value)
        raise UserError(
            f"parameter {param.name}: {raw!r} is not a measure; give a name such as accuracy "
            "or macro_f1, or a full IRI"
        )
    if param.type == "result":
        return _result_property(param, raw, value)
    if param.type in _MODIFIERS:
        if not _DIGITS.match(value):
            raise UserError(f"parameter {param.name}: {_shown(raw)!r} is not a whole number of rows (0 or more)")
        return ox.Literal(str(_bounded(param, value, 0)), datatype=ox.NamedNode(vocab.XSD + "integer"))
    raise UserError(f"parameter {param.name}: unknown type {param.type!r}")


def _decimal_places(number: Decimal) -> int:
    """Digits after the point, trailing zeros left out (exactly: no context rounding)."""
    _sign, digits, exponent = number.as_tuple()
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(int(exponent) + trailing)) if any(digits) else 0


def _shown(raw: str, width: int = 40) -> str:
    """A raw value short enough to quote in one line."""
    return raw if len(raw) <= width else raw[: width - 1] + "…"


def _bounded(param: QueryParam, digits: str, lowest: int) -> int:
    """``[+-]digits`` as an int from ``lowest`` to :data:`INTEGER_MAX`, checked before
    Python converts it (it refuses more than 4,300 digits with advice of its own)."""
    if len(digits.lstrip("+-").lstrip("0")) <= len(str(INTEGER_MAX)):
        number = int(digits)
        if lowest <= number <= INTEGER_MAX:
            return number
    raise UserError(
        f"parameter {param.name}: {_shown(digits)} is out of range; give a whole number from "
        f"{lowest} to {INTEGER_MAX} (2**63-1), the largest the store takes"
    )


def _result_property(param: QueryParam, raw: str, value: str) -> ox.NamedNode:
    """A run's direct result property: ``NAME`` on the test split, or ``SPLIT:NAME``."""
    split, _, name = value.rpartition(":")
    if _MEASURE_NAME.match(name) and (not split or _MEASURE_NAME.match(split)):
        return ox.NamedNode(vocab.metric_namespace(split or "test") + name)
    if _IRI.match(value) and "/" in value:
        return ox.NamedNode(value)
    raise UserError(
        f"parameter {param.name}: {raw!r} is not a result; give a measure such as accuracy "
        "(on the test split), a split and a measure such as train:training_accuracy, or a full IRI"
    )


def convert_list(param: QueryParam, raw: object) -> tuple[ox.NamedNode | ox.Literal, ...]:
    """Comma-separated text (or a Python list) as the terms of a list parameter's slot.

    Every item is a string literal, and also each other term it reads as, so that the
    slot matches a value whatever type it was stored with; duplicates are dropped.
    """
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, (list, tuple, set, frozenset)):
        items = list(raw)
    else:
        items = [raw]
    terms: list[ox.NamedNode | ox.Literal] = []
    for item in items:
        text = (item if isinstance(item, str) else _text(item)).strip()
        if not text:
            raise UserError(
                f"parameter {param.name}: {_text(raw)!r} has an empty item; "
                "give comma-separated values such as a,b"
            )
        candidates = _list_terms(item, text)
        terms.extend(t for t in candidates if t not in terms)
    if not terms:
        raise UserError(f"parameter {param.name}: give at least one value, such as a,b")
    return tuple(terms)


def _list_terms(item: object, text: str) -> list[ox.NamedNode | ox.Literal]:
    """The terms one list item can mean, its string form first."""
    xsd = vocab.XSD
    if isinstance(item, bool):
        return [ox.Literal(text, datatype=ox.NamedNode(xsd + "boolean"))]
    out: list[ox.NamedNode | ox.Literal] = [ox.Literal(text)]
    if _INTEGER.match(text):
        number = int(text)
        out.append(ox.Literal(str(number), datatype=ox.NamedNode(xsd + "integer")))
        out.append(ox.Literal(repr(float(number)), datatype=ox.NamedNode(xsd + "double")))
    elif _FLOAT.match(text) and math.isfinite(float(text)):
        out.append(ox.Literal(repr(float(text)), datatype=ox.NamedNode(xsd + "double")))
    elif text in ("true", "false"):
        out.append(ox.Literal(text, datatype=ox.NamedNode(xsd + "boolean")))
    elif _IRI.match(text):
        out.append(ox.NamedNode(text))
    return out


Bound = ox.NamedNode | ox.Literal | tuple


def bind(query: CannedQuery, raw: Mapping[str, object]) -> dict[str, Bound]:
    """Type-checked values: given ones, then defaults; optional ones left unbound.

    A list parameter's value is a tuple of terms; every other is one term. Raw values are
    command-line text or Python values (numbers, booleans, and lists for list parameters).
    """
    unknown = [name for name in raw if query.param(name) is None]
    if unknown:
        raise UserError(
            f"query {query.label}: unknown parameter {', '.join(sorted(unknown))}; {_takes(query)}"
        )
    bound: dict[str, Bound] = {}
    for param in query.params:
        if param.name in raw and raw[param.name] is not None:
            value = raw[param.name]
        elif param.default is not None:
            value = param.default
        elif param.required:
            example = f", e.g. {param.name}={param.example}" if param.example else ""
            raise UserError(
                f"query {query.label}: parameter {param.name} ({param.type}) is required"
                f"{example}; {_takes(query)}"
            )
        else:
            continue
        try:
            if param.type == "list":
                bound[param.name] = convert_list(param, value)
            else:
                bound[param.name] = convert(param, value)
        except UserError as error:
            raise UserError(f"query {query.label}: {error}") from None
    return bound


def prepare(
    query: CannedQuery, raw: Mapping[str, object], *, allow_service: bool = False
) -> tuple[str, dict[str, ox.NamedNode | ox.Literal]]:
    """The query text with its values slots and limits filled in, and the substitutions for the rest.

    Refuses updates and (unless ``allow_service``) SERVICE clauses, see :func:`check_read_only`.
    """
    check_read_only(query, allow_service=allow_service)
    return _fill(query, bind(query, raw))


def _modifiers(query: CannedQuery, bound: Mapping[str, Bound]) -> dict[str, int]:
    """The given ``limit`` and ``offset``, by type."""
    return {p.type: int(bound[p.name].value) for p in query.params if p.type in _MODIFIERS and p.name in bound}


def _fill(query: CannedQuery, bound: Mapping[str, Bound]) -> tuple[str, dict[str, ox.NamedNode | ox.Literal]]:
    slots = query.slots
    modifiers = _modifiers(query, bound)
    text = fill_slots(query.text, {name: value for name, value in bound.items() if name in slots})
    text = fill_modifiers(text, modifiers)
    substitutions = {
        name: value for name, value in bound.items() if name not in slots and query.param(name).type not in _MODIFIERS
    }
    return text, substitutions  # type: ignore[return-value]


def _rewrite(text: str, spans_of: Callable[[str], list[tuple[int, int, str]]]) -> str:
    """Replace the spans ``spans_of`` finds in each line of the query's code (comments stripped).

    A comment-stripped line is a prefix of the line itself, so its positions hold there.
    """
    lines = text.split("\n")
    for i, code in enumerate(_strip_comments(text).split("\n")):
        for start, end, new in sorted(spans_of(code), reverse=True):
            lines[i] = lines[i][:start] + new + lines[i][end:]
    return "\n".join(lines)


def fill_modifiers(text: str, values: Mapping[str, int]) -> str:
    """The ``LIMIT n`` / ``OFFSET n`` clause with the given number; a limit of 0 drops it."""
    if not values:
        return text

    def clause(kind: str) -> str:
        return "" if kind == "limit" and values[kind] == 0 else f"{_MODIFIERS[kind]} {values[kind]}"

    return _rewrite(text, lambda code: [
        (m.start(), m.end(), clause(kind)) for kind in values if (m := _MODIFIER[kind].search(code))
    ])


def fill_slots(text: str, values: Mapping[str, Bound]) -> str:
    """Each ``VALUES ?name { UNDEF }`` of a bound name, with the terms in N-Triples form."""
    if not values:
        return text

    def block(name: str) -> str:
        terms = values[name] if isinstance(values[name], tuple) else (values[name],)
        return f"VALUES ?{name} {{ {' '.join(str(t) for t in terms)} }}"

    return _rewrite(text, lambda code: [
        (m.start(), m.end(), block(m.group(1))) for m in _SLOT.finditer(code) if m.group(1) in values
    ])


# -- running -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """A page of runs in start order: its rows, the rows before it, its order and the plan
    summary whose counts say which start windows hold it (None: every plan's)."""

    limit: int
    offset: int
    newest_first: bool
    graph: str | None


def _page_of(query: CannedQuery, bound: Mapping[str, Bound]) -> _Page | None:
    """The page a query with ``# order:`` shows, when it shows one (a limit of 0 lists every run)."""
    if query.order is None:
        return None
    modifiers = _modifiers(query, bound)
    if not modifiers.get("limit"):
        return None
    plan = bound.get("plan")
    graph = run_summaries.summary_graph(plan.value) if isinstance(plan, ox.NamedNode) else None
    return _Page(modifiers["limit"], modifiers.get("offset", 0), start_windows.ORDERS[query.order], graph)


def _answer(store: "Store | RemoteStore", text: str, substitutions: Mapping[str, Term], page: _Page | None):
    """The query's answer; a page of runs read from the start windows that hold it.

    When the query's criteria leave the page short, the windows grow by what the rows
    found so far say the criteria let through (eight times when none), up to every run.
    """
    if page is None:
        return store.query(text, substitutions)
    runs = page.offset + page.limit
    while (windows := start_windows.seconds_for(store, runs, newest_first=page.newest_first, graph=page.graph)) is not None:
        windowed = fill_slots(text, {start_windows.SLOT: tuple(ox.Literal(s) for s in windows.seconds)})
        data = store.query(windowed, substitutions).serialize(format=ox.QueryResultsFormat.TSV)
        rows = data.count(b"\n") - 1  # the header line, then a line a row
        if rows >= page.limit:
            return ox.parse_query_results(data, format=ox.QueryResultsFormat.TSV)
        # The share of runs the criteria let through so far, a quarter more for the spread.
        grow = 8.0 if rows == 0 else max(2.0, 1.25 * (page.offset + page.limit) / (page.offset + rows))
        log.debug("%d rows in the %d runs at the page's end, %d asked for: %.1f times as many", rows, windows.runs,
                  page.limit, grow)
        runs = math.ceil(windows.runs * grow)
    return store.query(text, substitutions)


def run(store: "Store | RemoteStore", query: CannedQuery, raw_params: Mapping[str, object] | None = None) -> QueryResult:
    """Bind the parameters, run the query in this process and collect the whole result.

    Nothing can stop it before it ends: this is for mlprov's own queries about one run
    (the metrics ``mlprov run`` prints, the environment ``diff`` compares); a user's
    query goes through :func:`run_stoppable`.
    """
    check_read_only(query)
    bound = bind(query, raw_params or {})
    text, substitutions = _fill(query, bound)
    log.debug("query %s with %s", query.label, {k: str(v) for k, v in substitutions.items()})
    with _as_user_errors(query):
        return expanded_series(_collect(_answer(store, text, substitutions, _page_of(query, bound)), substitutions))


def run_stoppable(
    location: "StoreLocation",
    query: CannedQuery,
    raw_params: Mapping[str, object] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    allow_service: bool = False,
    session: "stoppable_query.QuerySession | None" = None,
) -> QueryResult:
    """Bind the parameters and run the query in a child process with the store open there,
    stopped after ``timeout_s`` seconds (a :class:`~mlprov_rdf.errors.QueryTimeout`) or on
    Ctrl-C; the store is not held once this returns or raises, unless a ``session`` keeps
    it open for the next query.

    When the answer is empty, one ASK per IRI, measure or result parameter says whether
    the store holds that value: a required one it lacks is a UserError, an optional one
    (or one left at its default) a note in ``QueryResult.notes``.
    """
    stoppable_query.check_timeout(timeout_s)
    bound = bind(query, raw_params or {})
    check_read_only(query, allow_service=allow_service)
    text, substitutions = _fill(query, bound)
    presence = {
        name: _PRESENCE[query.param(name).type].replace("TERM", str(value))
        for name, value in bound.items()
        if query.param(name).type in _PRESENCE and isinstance(value, ox.NamedNode)
    }
    log.debug("query %s with %s, at most %g s", query.label, {k: str(v) for k, v in substitutions.items()}, timeout_s)

    job = partial(_answered, query, text, substitutions, presence, _page_of(query, bound))
    answer = stoppable_query.run_in_child(location, job, timeout_s=timeout_s, label=query.label, session=session,
                                          reads_summaries=query.reads_summaries)
    header, _, payload = answer.partition(b"\n")
    meta = json.loads(header)
    result = expanded_series(_decode(meta["kind"], payload, substitutions))
    missing = [f"no {_noun(query, name)} {bound[name]} in the store" for name in meta["absent"]]
    required = [m for name, m in zip(meta["absent"], missing) if query.param(name).required]
    if required:
        raise UserError(f"query {query.label}: {'; '.join(required)}; check the value ('mlprov runs' and 'mlprov query plans' list what there is)")
    for note in missing:
        log.info("query %s: %s", query.label, note)
    result.notes.extend(missing)
    return result


def _answered(query: CannedQuery, text: str, substitutions: dict, presence: dict[str, str], page: _Page | None,
              store: "Store | RemoteStore") -> bytes:
    """The query's answer as bytes, in the query's process, with which values the store lacks."""
    with _as_user_errors(query):
        kind, payload, empty = _encode(_answer(store, text, substitutions, page))
        absent = [name for name, ask in presence.items() if empty and not bool(store.query(ask))]
    return json.dumps({"kind": kind, "absent": absent}).encode("utf-8") + b"\n" + payload


def run_serialized(
    location: "StoreLocation",
    query: CannedQuery,
    *,
    results_format: ox.QueryResultsFormat,
    graph_format: ox.RdfFormat,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[str, bytes]:
    """The query's answer as pyoxigraph writes it in the child process, with no parameters
    bound, within ``timeout_s``: ("bindings" or "boolean", bytes in ``results_format``) or
    ("graph", bytes in ``graph_format``, with the known prefixes where the format has them).

    For the SPARQL protocol endpoint, which hands the bytes on as they are: no Python
    object is made per term. Updates and SERVICE clauses are refused.
    """
    stoppable_query.check_timeout(timeout_s)
    check_read_only(query)

    def job(store: "Store | RemoteStore") -> bytes:
        with _as_user_errors(query):
            answer = store.query(query.text)
            if isinstance(answer, (ox.QuerySolutions, ox.QueryBoolean)):
                kind = "boolean" if isinstance(answer, ox.QueryBoolean) else "bindings"
                return kind.encode("ascii") + b"\n" + answer.serialize(format=results_format)
            # QueryTriples, or a server's graph answer (a list of triples)
            return b"graph\n" + ox.serialize(answer, format=graph_format, prefixes=vocab.PREFIXES)

    answer = stoppable_query.run_in_child(location, job, timeout_s=timeout_s, label=query.label,
                                          reads_summaries=query.reads_summaries)
    kind, _, payload = answer.partition(b"\n")
    return kind.decode("ascii"), payload


_RDF_JSON = vocab.RDF + "JSON"


def point_term(value: object) -> ox.Literal:
    """A series point's epoch or value (a Python number, text or boolean) as a typed literal."""
    if isinstance(value, bool):
        return ox.Literal(str(value).lower(), datatype=ox.NamedNode(vocab.XSD + "boolean"))
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=ox.NamedNode(vocab.XSD + "integer"))
    if isinstance(value, float):
        text = "NaN" if math.isnan(value) else "INF" if value == math.inf else "-INF" if value == -math.inf else repr(value)
        return ox.Literal(text, datatype=ox.NamedNode(vocab.XSD + "double"))
    return ox.Literal(str(value))


def expanded_series(result: QueryResult) -> QueryResult:
    """A ``?series`` column of per-epoch series (``mlprov:series`` JSON values) as one row
    per epoch in the ``?epoch`` and ``?value`` columns: SPARQL cannot split a JSON value
    into rows, so ``mlprov query`` does (metric-history). A row without a series stays."""
    if "series" not in result.columns or result.kind != "bindings":
        return result
    at = result.columns.index("series")
    columns = result.columns[:at] + result.columns[at + 1 :]
    columns += [name for name in ("epoch", "value") if name not in columns]
    epoch_at, value_at = columns.index("epoch"), columns.index("value")
    rows: list[tuple[Term | None, ...]] = []
    for row in result.rows:
        kept = list(row[:at] + row[at + 1 :]) + [None] * (len(columns) - len(row) + 1)
        term = row[at]
        if not (isinstance(term, ox.Literal) and term.datatype.value == _RDF_JSON):
            rows.append(tuple(kept))
            continue
        for epoch, value in series.decode(term.value):
            kept[epoch_at], kept[value_at] = point_term(epoch), point_term(value)
            rows.append(tuple(kept))
    result.columns, result.rows = columns, rows
    return result


def _noun(query: CannedQuery, name: str) -> str:
    return "recorded " + name if query.param(name).type in ("metric", "result") else name


@contextmanager
def _as_user_errors(query: CannedQuery) -> Iterator[None]:
    """A query's syntax and evaluation errors as one line that names the query."""
    try:
        yield
    except SyntaxError as error:
        raise UserError(f"query {query.label}: SPARQL syntax error: {_one_line(error)}") from None
    except (RuntimeError, OSError) as error:  # e.g. a parameter the query does not project
        if is_database_error(error):
            raise  # the store's own damage: open_store reports it as such
        raise UserError(f"query {query.label}: {_one_line(error)}") from None


def _collect(result: object, substitutions: Mapping[str, object]) -> QueryResult:
    """Every row of a query's answer, without the columns of substituted parameters."""
    if isinstance(result, ox.QuerySolutions):
        variables = [v.value for v in result.variables]
        keep = [i for i, name in enumerate(variables) if name not in substitutions]
        rows = [tuple(solution[i] for i in keep) for solution in result]
        return QueryResult(columns=[variables[i] for i in keep], rows=rows)
    if isinstance(result, ox.QueryBoolean):
        return QueryResult(columns=[], boolean=bool(result))
    triples = list(result)  # type: ignore[call-overload]
    return QueryResult(
        columns=["subject", "predicate", "object"],
        rows=[(t.subject, t.predicate, t.object) for t in triples],
        triples=triples,
    )


def _encode(result: object) -> tuple[str, bytes, bool]:
    """A query's answer as bytes that keep every term: SPARQL results TSV, or N-Triples for
    a graph (pyoxigraph writes both without making a Python object per term); and whether
    it is empty."""
    if isinstance(result, ox.QuerySolutions):
        data = result.serialize(format=ox.QueryResultsFormat.TSV)
        return "bindings", data, b"\n" not in data.rstrip(b"\n")
    if isinstance(result, ox.QueryBoolean):
        return "boolean", b"true" if result else b"false", False
    if isinstance(result, ox.QueryTriples):
        data = result.serialize(format=ox.RdfFormat.N_TRIPLES)
    else:  # a server's graph answer: a list of triples
        data = ox.serialize(result, format=ox.RdfFormat.N_TRIPLES) if result else b""
    return "graph", data, not data


def _decode(kind: str, payload: bytes, substitutions: Mapping[str, object]) -> QueryResult:
    if kind == "bindings":
        return _collect(ox.parse_query_results(payload, format=ox.QueryResultsFormat.TSV), substitutions)
    if kind == "boolean":
        return QueryResult(columns=[], boolean=payload == b"true")
    quads = ox.parse(payload, format=ox.RdfFormat.N_TRIPLES) if payload else []
    return _collect([ox.Triple(q.subject, q.predicate, q.object) for q in quads], substitutions)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


# -- formats -------------------------------------------------------------------------------


_BY_LENGTH = sorted(vocab.PREFIXES.items(), key=lambda item: -len(item[1]))
_LOCAL_NAME = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?)?$")


def compact(iri: str) -> str:
    """``prefix:local`` for an IRI in a known namespace, else the IRI itself."""
    for prefix, namespace in _BY_LENGTH:
        if iri.startswith(namespace) and _LOCAL_NAME.match(iri[len(namespace):]):
            return f"{prefix}:{iri[len(namespace):]}"
    return iri


def _short_number(lexical: str) -> str:
    """A double or decimal with at most 6 significant digits, if that loses only noise."""
    try:
        number = float(lexical)
    except ValueError:
        return lexical
    if not math.isfinite(number) or number == 0:
        return lexical
    if 1e-4 <= abs(number) < 1e9:
        digits = max(0, 5 - math.floor(math.log10(abs(number))))
        text = f"{round(number, digits):.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text if len(text) < len(lexical) else lexical
    return lexical


def terminal_text(text: str) -> str:
    """Text a table may print on a terminal: line breaks as ``⏎``, tabs as spaces, and every
    other control character (C0, C1, DEL) and bidirectional control as a visible escape
    (``\\x1b``, ``\\u202e``), so that stored text cannot clear the screen, retitle the
    window or reorder what is shown. CSV and JSON keep the text as it is: they are data."""
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return _UNSAFE_FOR_TERMINAL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def _table_cell(term: Term | None) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return compact(term.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        if term.datatype.value in (vocab.XSD + "double", vocab.XSD + "float", vocab.XSD + "decimal"):
            return _short_number(term.value)
        return term.value
    return str(term)


def _is_number(term: Term | None) -> bool:
    return isinstance(term, ox.Literal) and (
        term.datatype.value in _INTEGER_TYPES or term.datatype.value in _FLOAT_TYPES
    )


def to_table(result: QueryResult, max_width: int | None = 72) -> str:
    """An aligned text table: compact IRIs, bare values, numbers right-aligned.

    Doubles and decimals are shown to 6 significant digits and a cell longer than
    ``max_width`` is cut with an ellipsis; the CSV and JSON formats keep every digit.
    """
    if result.boolean is not None:
        return "true" if result.boolean else "false"
    columns = result.columns
    cells = []
    for row in result.rows:
        line = []
        for term in row:
            text = terminal_text(_table_cell(term))
            if max_width and len(text) > max_width:
                text = text[: max_width - 1] + "…"
            line.append(text)
        cells.append(line)
    numeric = [
        bool(result.rows)
        and all(row[i] is None or _is_number(row[i]) for row in result.rows)
        and any(row[i] is not None for row in result.rows)
        for i in range(len(columns))
    ]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(columns), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(line) for line in cells)
    count = len(result.rows)
    lines.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n".join(lines)


def _csv_cell(term: Term | None) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, (ox.NamedNode, ox.Literal)):
        return term.value
    return str(term)


def to_csv(result: QueryResult) -> str:
    """CSV as in SPARQL 1.1 Query Results CSV: full IRIs, lexical values, a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if result.boolean is not None:
        writer.writerow(["boolean"])
        writer.writerow(["true" if result.boolean else "false"])
        return buffer.getvalue()
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_cell(term) for term in row])
    return buffer.getvalue()


def _json_term(term: Term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out: dict = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):  # RDF 1.2 triple term, as the draft JSON format writes it
        return {
            "type": "triple",
            "value": {
                "subject": _json_term(term.subject),
                "predicate": _json_term(term.predicate),
                "object": _json_term(term.object),
            },
        }
    raise TypeError(f"not an RDF term: {term!r}")


def to_sparql_json(result: QueryResult) -> str:
    """SPARQL 1.1 Query Results JSON (W3C), for tools that read standard results."""
    if result.boolean is not None:
        return json.dumps({"head": {}, "boolean": result.boolean})
    if result.triples is not None:
        raise UserError(
            "a CONSTRUCT or DESCRIBE query returns a graph, not results; "
            "ask for table or CSV output instead"
        )
    bindings = [
        {name: _json_term(term) for name, term in zip(result.columns, row) if term is not None}
        for row in result.rows
    ]
    document = {"head": {"vars": list(result.columns)}, "results": {"bindings": bindings}}
    return json.dumps(document, ensure_ascii=False, indent=1)


def to_jsonl(result: QueryResult) -> str:
    """One flat JSON object a row (JSON Lines), for ``jq``: column → value, numbers and
    booleans as JSON's, IRIs and other literals as their text, unbound as null."""
    if result.triples is not None:
        raise UserError("a CONSTRUCT or DESCRIBE query returns a graph, not results; ask for table or CSV output instead")
    if result.boolean is not None:
        return json.dumps({"boolean": result.boolean})
    lines = []
    for row in result.rows:
        record = {}
        for name, term in zip(result.columns, row):
            value = None if term is None or isinstance(term, ox.Literal) and term.datatype.value in _DATETIME_TYPES \
                else python_value(term)
            if isinstance(value, float) and not math.isfinite(value):
                value = term.value  # NaN and the infinities are not JSON numbers
            record[name] = term.value if value is None and term is not None else value
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines)


def python_value(term: Term | None):
    """A plain Python value: numbers as numbers, dates as timestamps, IRIs as strings."""
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return term.value
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if not isinstance(term, ox.Literal):
        return str(term)
    return literal_value(term.value, term.datatype.value)


def literal_value(lexical: str, datatype: str):
    """:func:`python_value` of a literal given as its lexical form and datatype IRI."""
    try:
        if datatype in _INTEGER_TYPES:
            return int(lexical)
        if datatype in _FLOAT_TYPES:
            return float(lexical)
        if datatype == vocab.XSD + "boolean":
            return lexical in ("true", "1")
        if datatype in _DATETIME_TYPES:
            import pandas as pd

            return pd.Timestamp(lexical)
    except ValueError:
        log.debug("literal %s does not parse as %s; kept as text", lexical, datatype)
    return lexical


def _missing(value: object) -> bool:
    """What pandas counts as missing among :func:`python_value`'s values: None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def to_dataframe(result: QueryResult) -> "pandas.DataFrame":
    """A pandas DataFrame of Python values, one column per variable."""
    import pandas as pd

    if result.boolean is not None:
        return pd.DataFrame({"boolean": [result.boolean]})
    records = [tuple(python_value(term) for term in row) for row in result.rows]
    frame = pd.DataFrame.from_records(records, columns=list(result.columns))
    for i, column in enumerate(result.columns):  # read from the records: a Series per column costs more than the query
        values = [row[i] for row in records if not _missing(row[i])]
        if values and all(isinstance(v, pd.Timestamp) for v in values):
            try:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            except (ValueError, TypeError):
                pass
    return frame


def describe_library(library: Mapping[str, CannedQuery] | None = None) -> str:
    """The text of ``mlprov query --list``: each query's name, title and parameters."""
    library = load_library() if library is None else library
    if not library:
        return "(no queries)"
    width = max(len(name) for name in library)
    lines = []
    for name, query in library.items():
        lines.append(f"{name.ljust(width)}  {query.title}")
        for param in query.params:
            lines.append(f"{'':{width}}    {param.signature()}: {param.description}")
    lines += [
        "",
        f"{len(library)} queries. Run one with: mlprov query NAME -p PARAM=VALUE ...",
        "Types: iri (an absolute IRI), string, integer, decimal, metric (a measure such as "
        "accuracy), list (comma-separated alternatives, e.g. Adam,SGD).",
    ]
    return "\n".join(lines)
