"""The provenance store: embedded Oxigraph on disk, or a SPARQL server.

``--store PATH`` (or ``MLPROV_STORE``) names an mlprov home folder (``.mlprov/`` by
default) that holds the Oxigraph database in ``oxigraph/`` and the run journals in
``journal/``. Oxigraph admits one writer process, so a store is opened for one job and
closed straight after: nothing holds it while a notebook runs, and a process that finds
it locked waits and retries.

``--store http://HOST:PORT/`` names a SPARQL 1.1 server instead (see docs/deploy.md):
:class:`RemoteStore` has the same methods as :class:`Store` and speaks the SPARQL 1.1
Protocol (and the Graph Store Protocol where the server has it) over one kept-alive HTTP
connection. Journals of a server store live in ``./.mlprov/journal`` of the working
directory, or in ``MLPROV_JOURNAL_DIR``, as the kernel-side capture module assumes.

Queries go to pyoxigraph directly (oxrdflib's term conversion costs 2-3x on small
queries); oxrdflib provides the rdflib view of the whole store for code that wants one.
Both stores answer queries over the union of all named graphs.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import http.client
import logging
import os
import random
import re
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import quote, unquote, urlsplit

import pyoxigraph as ox
import rdflib

from .errors import StoreBusy, StoreDamaged, StoreReadOnly, StoreUnreachable, UserError
from .virtuoso import VirtuosoDialect, is_virtuoso

log = logging.getLogger(__name__)

DEFAULT_HOME = ".mlprov"
ENV_VAR = "MLPROV_STORE"
JOURNAL_ENV_VAR = "MLPROV_JOURNAL_DIR"
ARTIFACT_ENV_VAR = "MLPROV_ARTIFACT_DIR"
#: Seconds a SPARQL server may take to answer one request.
HTTP_TIMEOUT_S = 300.0

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_0-9][A-Za-z_0-9\u00b7\u00c0-\uffff]*$")

Term = ox.NamedNode | ox.Literal


@dataclass(frozen=True)
class StoreLocation:
    """Where a store lives: a folder (``home``) or a SPARQL server (``url``).

    For a server, ``home`` is the ``.mlprov`` folder of the working directory, which
    keeps the journals; ``journal`` overrides the journal folder (``MLPROV_JOURNAL_DIR``).
    ``artifacts`` overrides the folder of the files runs write (``--artifacts``,
    ``MLPROV_ARTIFACT_DIR``; default ``artifacts/`` beside the journal folder, so in ``home``).
    """

    home: Path
    url: str | None = None
    journal: Path | None = None
    artifacts: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home))
        for name in ("journal", "artifacts"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser().absolute())

    @classmethod
    def resolve(cls, option: str | os.PathLike | None = None, *,
                artifacts: str | os.PathLike | None = None) -> "StoreLocation":
        """``--store`` beats ``MLPROV_STORE`` beats ``.mlprov/`` in the working directory."""
        value = str(option or os.environ.get(ENV_VAR) or DEFAULT_HOME)
        artifacts = artifacts or os.environ.get(ARTIFACT_ENV_VAR) or None
        if _URL.match(value):
            return replace(cls.server(value), artifacts=Path(artifacts) if artifacts else None)
        return cls(Path(value).expanduser().absolute(), artifacts=Path(artifacts) if artifacts else None)

    @classmethod
    def server(cls, url: str, journal_dir: str | os.PathLike | None = None) -> "StoreLocation":
        """A SPARQL server store; journals in ``journal_dir``, ``MLPROV_JOURNAL_DIR`` or ``./.mlprov/journal``."""
        _check_url(url)
        journal = journal_dir or os.environ.get(JOURNAL_ENV_VAR) or None
        home = Path(DEFAULT_HOME).absolute()
        return cls(home, url=url, journal=Path(journal).expanduser().absolute() if journal else None)

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    @property
    def database(self) -> Path:
        return self.home / "oxigraph"

    @property
    def journal_dir(self) -> Path:
        return self.journal if self.journal is not None else self.home / "journal"

    @property
    def artifact_dir(self) -> Path:
        """The folder of the files runs write, ``RUN-ID/`` a run (see ``capture.Run.artifact_path``):
        ``artifacts/`` beside the journal folder unless told another."""
        return self.artifacts if self.artifacts is not None else self.journal_dir.parent / "artifacts"

    @property
    def display(self) -> str:
        """How messages name the store: the folder, or the URL without its password."""
        return _safe_url(self.url) if self.url else str(self.home)

    def __str__(self) -> str:
        return self.display


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it is what checks the port
    except ValueError as error:
        raise UserError(f"--store {_safe_url(url)}: not a valid URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UserError(
            f"--store {_safe_url(url)}: only http:// and https:// SPARQL servers are supported; "
            "or give a folder path"
        )
    if not parts.hostname:
        raise UserError(f"--store {_safe_url(url)}: the URL names no host; write http://HOST:PORT/")
    if parts.fragment:
        raise UserError(f"--store {_safe_url(url)}: remove the #fragment from the URL")


def _safe_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


# -- the embedded store ---------------------------------------------------------------


def _is_lock_error(error: OSError) -> bool:
    """RocksDB's own lock refusal (not "block", which its corruption messages also say)."""
    text = str(error)
    return "While lock file" in text or "lock hold by current process" in text or "Resource temporarily unavailable" in text


def _quads(graph: ox.NamedNode, triples: Iterable[ox.Triple | ox.Quad]) -> tuple[list[ox.Quad], bool]:
    """The triples as quads in ``graph``; and whether any holds a blank node."""
    quads = []
    blank = False
    for t in triples:
        if not (isinstance(t, ox.Quad) and t.graph_name == graph):
            t = ox.Quad(t.subject, t.predicate, t.object, graph)
        if not blank and (isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode)):
            blank = True
        quads.append(t)
    return quads, blank


def _replace_update(graph: ox.NamedNode, quads: list[ox.Quad], shared: Iterable[ox.Quad] = ()) -> str:
    """One SPARQL update that makes ``graph`` hold exactly ``quads`` and adds ``shared``
    (quads of their own graphs); terms in N-Triples form."""
    body = "\n".join(f"{q.subject} {q.predicate} {q.object} ." for q in quads)
    return f"DROP SILENT GRAPH {graph} ;\nINSERT DATA {{ GRAPH {graph} {{\n{body}\n}}{_in_graphs(shared)} }}"


def _in_graphs(quads: Iterable[ox.Quad]) -> str:
    """Quads as the ``GRAPH`` blocks of an ``INSERT DATA``, one a line."""
    return "".join(f"\nGRAPH {q.graph_name} {{ {q.subject} {q.predicate} {q.object} }}" for q in quads)


@dataclass(frozen=True)
class Compaction:
    """What :meth:`Store.compact` did: the data files' bytes before and after, and the seconds it took."""

    before: int
    after: int
    seconds: float


class Store:
    """An open embedded store. Use :func:`open_store` rather than this constructor.

    ``read_only``: opened with ``pyoxigraph.Store.read_only``, which writes no file at all.
    """

    def __init__(self, location: StoreLocation, inner: ox.Store, *, read_only: bool = False):
        self.location = location
        self.inner = inner
        self.read_only = read_only

    # -- reading -----------------------------------------------------------------

    def query(self, sparql: str, substitutions: Mapping[str, Term] | None = None):
        """Run SPARQL over the union of all graphs; values are bound, never pasted in."""
        subs = {ox.Variable(k): v for k, v in (substitutions or {}).items()}
        return self.inner.query(sparql, use_default_graph_as_union=True, substitutions=subs or None)

    def has_graph(self, graph: str) -> bool:
        return self.inner.contains_named_graph(ox.NamedNode(graph))

    def graph_ntriples(self, graph: str) -> bytes:
        return self.inner.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(graph))

    def rdflib_graph(self, graph: str) -> rdflib.Graph:
        """A detached rdflib copy of one named graph."""
        return _rdflib_graph(self.graph_ntriples(graph))

    def dataset(self) -> rdflib.Dataset:
        """An rdflib view of the whole store, through oxrdflib (live, not a copy)."""
        from oxrdflib import OxigraphStore

        return rdflib.Dataset(store=OxigraphStore(store=self.inner))

    # -- writing -----------------------------------------------------------------

    def replace_graph(self, graph: str, triples: Iterable[ox.Triple | ox.Quad], *, shared: Iterable[ox.Quad] = ()) -> int:
        """Make ``graph`` hold exactly ``triples``, in one transaction; idempotent.

        A graph that does not exist yet is written with ``extend`` (one transaction, no
        SPARQL text to build and parse); an existing one is replaced by one SPARQL update,
        ``DROP SILENT GRAPH`` then ``INSERT DATA``, which Oxigraph applies atomically.
        Blank nodes always take the update path, which gives them fresh identities.
        ``shared``: quads of graphs that runs share (the environment), added in the same
        transaction; they are never removed.
        """
        g = ox.NamedNode(graph)
        quads, blank = _quads(g, triples)
        shared = list(shared)
        if not blank and not self.inner.contains_named_graph(g):
            self.inner.extend(quads + shared)
        else:
            self.inner.update(_replace_update(g, quads, shared))
        return len(quads)

    #: Oxigraph's bulk loader hands each 1,000,000 quads of its input to RocksDB in one
    #: ingestion (``DEFAULT_BULK_LOAD_BATCH_SIZE``): a load of more is several writes.
    BULK_LOAD_ATOMIC_QUADS = 1_000_000

    def graph_names(self) -> set[str]:
        """Every named graph's IRI: one scan, where a lookup a graph costs a GIL hand-over each."""
        return {g.value for g in self.inner.named_graphs() if isinstance(g, ox.NamedNode)}

    def bulk_file(self) -> Path:
        """A new, empty file for N-Quads on their way to :meth:`add_graphs`; its writer removes it.

        In the database folder: on the store's disk, and removed by :func:`open_store`
        where a killed import left it. The loader streams it, so a batch's text need not
        be held in memory while it loads.
        """
        fd, name = tempfile.mkstemp(prefix="bulk-", suffix=".nq", dir=self.location.database)
        os.close(fd)
        return Path(name)

    def add_graphs(self, nquads: Path, lines: int) -> None:
        """Add new named graphs from an N-Quads file of ``lines`` lines (no blank nodes), all
        in one atomic write.

        Oxigraph's bulk loader sorts the quads into new files beside the database and
        hands them all to RocksDB in one ingestion at the end, so the graphs are in the
        store whole or not at all, without the read before each write that a transaction
        makes: a load that fails to parse or is killed leaves nothing in the store (the
        files a killed one leaves behind are removed by :func:`open_store`). That holds
        for up to ``BULK_LOAD_ATOMIC_QUADS`` lines, which is what this accepts. The graphs
        must not exist yet (the caller knows them all from one :meth:`graph_names`; see
        ``ingest.ingest_journals``): a graph is replaced only by :meth:`replace_graph`.
        """
        if lines > self.BULK_LOAD_ATOMIC_QUADS:
            raise ValueError(f"{lines:,} lines: more than one atomic bulk write takes ({self.BULK_LOAD_ATOMIC_QUADS:,})")
        self.inner.bulk_load(path=str(nquads), format=ox.RdfFormat.N_QUADS)

    def remove_graph(self, graph: str) -> None:
        self.inner.update(f"DROP SILENT GRAPH {ox.NamedNode(graph)}")

    def data_bytes(self) -> int:
        """The bytes of the database's data files (RocksDB's ``*.sst``; its log and
        manifest files are left out, whose size says little: RocksDB sizes a log ahead).
        A file RocksDB removes meanwhile (its background compaction) counts for nothing."""
        total = 0
        for path in self.location.database.glob("*.sst"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def compact(self) -> "Compaction":
        """Merge the database's files into as few as RocksDB can (``pyoxigraph.Store.optimize``):
        the data files' bytes before and after, and the seconds it took.

        A store written in many bulk loads keeps overlapping files that every lookup
        visits; merged, one run's queries read fewer. It runs in a thread of its own, which
        pyoxigraph lets run without the GIL, so that Ctrl-C is not held up until it ends
        (the process still waits, on exit, for the file RocksDB is writing: seconds). RocksDB
        puts the merged files in place atomically, so a compaction stopped part way leaves
        the store as it was.
        """
        failure: list[BaseException] = []
        before, started = self.data_bytes(), time.monotonic()

        def optimize() -> None:
            try:
                self.inner.optimize()
            except BaseException as error:  # handed to the caller's thread
                failure.append(error)

        worker = threading.Thread(target=optimize, name="mlprov-compact", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
        if failure:
            raise failure[0]
        return Compaction(before, self.data_bytes(), time.monotonic() - started)

    def close(self, *, quietly: bool = False) -> None:
        """Flush and release the database; ``quietly`` when another error is on its way
        out, so that a flush failing on the same full disk cannot hide it."""
        if self.inner is None:
            return
        try:
            if not self.read_only:
                self.inner.flush()
        except (OSError, RuntimeError) as error:
            if not quietly:
                raise
            # the error on its way out is the one line the user gets; this one is for --verbose
            log.info("%s: the closing flush failed too: %s", self.location.display, error)
        finally:
            self.inner = None  # the last reference: Oxigraph closes the database here


def _rdflib_graph(ntriples: bytes) -> rdflib.Graph:
    g = rdflib.Graph()
    if ntriples:
        g.parse(data=ntriples.decode("utf-8"), format="nt")
    return g


# -- a SPARQL server ------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoints:
    """Request targets on the server: the query and update endpoints, the graph store."""

    query: str
    update: str
    graph_store: str | None

    @classmethod
    def of(cls, url: str) -> "_Endpoints":
        """A URL ending in ``/`` is an Oxigraph server root (``query``, ``update``, ``store``
        below it, the union of all graphs as default graph); any other URL is one SPARQL
        endpoint for queries and updates (Virtuoso ``/sparql``, a Fuseki dataset), whose
        server must treat the default graph as the union of all graphs itself. A query
        string in the URL goes with every query request."""
        parts = urlsplit(url)
        path = parts.path or "/"
        extra = parts.query
        if path.endswith("/"):
            params = "&".join(p for p in (extra, "union-default-graph") if p)
            return cls(f"{path}query?{params}", f"{path}update", f"{path}store")
        query = f"{path}?{extra}" if extra else path
        return cls(query, path, None)


class RemoteStore:
    """A SPARQL 1.1 server with the methods of :class:`Store`, over one kept-alive connection.

    Queries go as SPARQL protocol POSTs asking for ``application/sparql-results+json``
    and come back as pyoxigraph terms; parameter values are bound in a ``VALUES`` clause
    written from each term's N-Triples form (which escapes), never pasted in as text.
    """

    def __init__(self, location: StoreLocation, *, timeout_s: float = HTTP_TIMEOUT_S):
        if location.url is None:
            raise ValueError("RemoteStore needs a server location")
        self.location = location
        self.endpoints = _Endpoints.of(location.url)
        parts = urlsplit(location.url)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._timeout_s = timeout_s
        self._headers = {"User-Agent": "mlprov-rdf"}
        if parts.username is not None:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode("utf-8")
            self._headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        self._conn: http.client.HTTPConnection | None = None
        self._used = False  # whether the open connection has served a request already
        self._last_headers: http.client.HTTPMessage | None = None  # of the latest response
        #: Set by :meth:`ping` when the server is Virtuoso (see ``virtuoso.py``).
        self.dialect: VirtuosoDialect | None = None

    # -- HTTP ----------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=self._timeout_s)
            self._used = False
        return self._conn

    def _request(self, method: str, target: str, body: bytes | None = None, headers: Mapping[str, str] = {}):
        """Status, content type and body; a stale kept-alive connection is reopened once."""
        all_headers = {**self._headers, **headers}
        for attempt in (1, 2):
            conn = self._connect()
            reused = self._used
            try:
                conn.request(method, target, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest) as error:
                self.close()
                if reused and attempt == 1:  # the server closed an idle connection: our requests are idempotent
                    log.debug("connection to %s closed by the server; reconnecting", self.location.display)
                    continue
                raise self._unreachable(error) from None
            except (socket.timeout, TimeoutError):
                self.close()
                raise UserError(
                    f"{self.location.display}: the SPARQL server did not answer within {self._timeout_s:.0f} s; "
                    "check that it is not overloaded, or query fewer runs"
                ) from None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise self._unreachable(error) from None
            self._used = True
            self._last_headers = response.msg
            if response.will_close:
                self.close()
            return response.status, response.getheader("Content-Type", "") or "", data
        raise AssertionError("unreachable")

    def _unreachable(self, error: BaseException) -> StoreUnreachable:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return StoreUnreachable(
            f"{self.location.display}: cannot reach the SPARQL server ({reason}); start it "
            "(see docs/deploy.md) or point --store / MLPROV_STORE at a running server"
        )

    def _refused(self, what: str, target: str, status: int, data: bytes) -> UserError:
        text = " ".join(data.decode("utf-8", "replace").split())[:300]
        where = self.location.display
        if status in (401, 403):
            return UserError(
                f"{where}: the server refused the {what} (HTTP {status}: {text}); "
                "give credentials in the URL (http://USER:PASSWORD@HOST:PORT/) or ask its administrator"
            )
        if status in (404, 405):
            return UserError(
                f"{where}: no SPARQL {what} endpoint at {target.split('?')[0]} (HTTP {status}); end the URL with / for an "
                "Oxigraph server, or give a server's full endpoint URL (e.g. http://HOST:8890/sparql)"
            )
        return UserError(f"{where}: the server failed the {what} (HTTP {status}): {text}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- reading -------------------------------------------------------------------

    def query(self, sparql: str, substitutions: Mapping[str, Term] | None = None):
        """Run SPARQL over the union of all graphs; values are bound, never pasted in.

        Returns what :meth:`Store.query` returns: ``QuerySolutions``, ``QueryBoolean``, or
        the triples of a CONSTRUCT or DESCRIBE query.
        """
        text = bind_values(sparql, substitutions) if substitutions else sparql
        body, content_type = text.encode("utf-8"), {"Content-Type": "application/sparql-query"}
        accept = "application/sparql-results+json, application/n-triples;q=0.9, text/turtle;q=0.8"
        if self.dialect is not None:
            body, content_type = self.dialect.form("query", text)
            accept = self.dialect.accept(query_keywords(text)[0] in ("CONSTRUCT", "DESCRIBE"))
        status, ctype, data = self._request("POST", self.endpoints.query, body, {**content_type, "Accept": accept})
        if status == 400:
            message = " ".join(data.decode("utf-8", "replace").split())[:500]
            raise SyntaxError(message or "the server rejected the query (HTTP 400)")
        if status != 200:
            raise self._refused("query", self.endpoints.query, status, data)
        media = ctype.split(";")[0].strip().lower()
        if media == "application/sparql-results+json":
            if self.dialect is not None:
                exact = self.dialect.exact_query(text, _tokens(text), data)
                if exact is not None:  # asked again for every digit of its doubles (see virtuoso.py)
                    try:
                        return self.query(exact)
                    except (UserError, SyntaxError) as error:
                        log.warning("%s: doubles in this answer keep 6 digits: Virtuoso failed the query "
                                    "asking for all of them (%s)", self.location.display, error)
                data = self.dialect.results(data, self._last_headers.get("X-SPARQL-MaxRows"))
            return ox.parse_query_results(data, format=ox.QueryResultsFormat.JSON)
        formats = {
            "application/n-triples": ox.RdfFormat.N_TRIPLES,
            "text/plain": ox.RdfFormat.N_TRIPLES,
            "application/n-quads": ox.RdfFormat.N_QUADS,
            "text/turtle": ox.RdfFormat.TURTLE,
        }
        if media in formats:
            triples = [ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(data, format=formats[media])]
            return self.dialect.triples(triples) if self.dialect is not None else triples
        raise UserError(f"{self.location.display}: the server answered a query with {ctype or 'no content type'}")

    def ping(self) -> None:
        """Fail with one clear line unless the server answers queries; at an endpoint
        URL, find out whether it is Virtuoso (asked form-encoded, which every SPARQL 1.1
        server takes and Virtuoso needs)."""
        if self.endpoints.graph_store is not None:  # an Oxigraph server root
            self.query("ASK {}")
            return
        self.dialect = VirtuosoDialect(self.location.display)
        self.query("ASK {}")
        if not is_virtuoso(self._last_headers.get("Server")):
            self.dialect = None
            return
        try:
            self.dialect.learn_max_rows(self.query(VirtuosoDialect.MAX_ROWS_QUERY))
        except (UserError, SyntaxError) as error:
            log.debug("%s: cannot read ResultSetMaxRows (%s)", self.location.display, error)
        log.debug("%s: Virtuoso, ResultSetMaxRows %s", self.location.display, self.dialect.max_rows)

    def has_graph(self, graph: str) -> bool:
        g = ox.NamedNode(graph)
        if self.endpoints.graph_store:
            target = f"{self.endpoints.graph_store}?graph={quote(graph, safe='')}"
            status, _ctype, data = self._request("HEAD", target)
            if status in (200, 204):
                return True
            if status == 404:
                return False
            raise self._refused("graph store request", target, status, data)
        return bool(self.query(f"ASK {{ GRAPH {g} {{ ?s ?p ?o }} }}"))

    def graph_ntriples(self, graph: str) -> bytes:
        g = ox.NamedNode(graph)
        if self.endpoints.graph_store:
            target = f"{self.endpoints.graph_store}?graph={quote(graph, safe='')}"
            status, _ctype, data = self._request("GET", target, headers={"Accept": "application/n-triples"})
            if status == 404:
                return b""
            if status != 200:
                raise self._refused("graph store request", target, status, data)
            return data
        if self.dialect is not None:
            triples = self.dialect.graph_triples(self.query(self.dialect.graph_query(g)))
        else:
            triples = self.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {g} {{ ?s ?p ?o }} }}")
        return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) if triples else b""

    def rdflib_graph(self, graph: str) -> rdflib.Graph:
        """A detached rdflib copy of one named graph."""
        return _rdflib_graph(self.graph_ntriples(graph))

    def dataset(self) -> rdflib.Dataset:
        """An rdflib copy of every named graph on the server (detached: a server is not live-viewable)."""
        rows = self.query("SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
        lines = "".join(f"{r['s']} {r['p']} {r['o']} {r['g']} .\n" for r in rows)
        ds = rdflib.Dataset()
        if lines:
            ds.parse(data=lines, format="nquads")
        return ds

    # -- writing -------------------------------------------------------------------

    def update(self, sparql: str) -> None:
        """One SPARQL update request: the server applies it as one transaction (Oxigraph and Virtuoso do)."""
        body, content_type = sparql.encode("utf-8"), {"Content-Type": "application/sparql-update"}
        if self.dialect is not None:
            body, content_type = self.dialect.form("update", sparql)
        status, _ctype, data = self._request("POST", self.endpoints.update, body, content_type)
        if self.dialect is not None and status not in (200, 204):
            refused = self.dialect.refused_update(status, data.decode("utf-8", "replace"))
            if refused is not None:
                raise refused
        if status == 400:
            raise UserError(
                f"{self.location.display}: the server rejected an update (HTTP 400): "
                + " ".join(data.decode("utf-8", "replace").split())[:300]
            )
        if status not in (200, 204):
            raise self._refused("update", self.endpoints.update, status, data)

    def replace_graph(self, graph: str, triples: Iterable[ox.Triple | ox.Quad], *, shared: Iterable[ox.Quad] = ()) -> int:
        """Make ``graph`` hold exactly ``triples`` with one update request; idempotent.
        ``shared`` as for :meth:`Store.replace_graph` (on Virtuoso, a request of its own before)."""
        g = ox.NamedNode(graph)
        quads, _blank = _quads(g, triples)
        shared = list(shared)
        if self.dialect is not None:
            if shared:  # immutable descriptions: written first, a run that fails after them leaves nothing wrong
                self.update(f"INSERT DATA {{{_in_graphs(shared)} }}")
            self.dialect.replace_graph(self.update, g, quads)
        else:
            self.update(_replace_update(g, quads, shared))
        return len(quads)

    def remove_graph(self, graph: str) -> None:
        self.update(f"DROP SILENT GRAPH {ox.NamedNode(graph)}")


# -- binding values for a server --------------------------------------------------------

_IRIREF = re.compile(r'<[^<>"{}|^`\\\x00-\x20]*>')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.:]*")
_QUERY_FORMS = {"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"}


def _skip_string(text: str, i: int) -> int:
    """The index after the string literal starting at ``i``."""
    quote_char = text[i]
    long = text.startswith(quote_char * 3, i)
    end = quote_char * 3 if long else quote_char
    j = i + (3 if long else 1)
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith(end, j):
            return j + len(end)
        if not long and text[j] in "\r\n":
            break
        j += 1
    raise SyntaxError("unterminated string in the query")


def _tokens(text: str) -> Iterator[tuple[str, int, str]]:
    """(kind, position, text) of the query's tokens that matter for binding: words
    (keywords, prefixed names), variables, parentheses and braces; comments, strings and
    IRIs are skipped."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "\"'":
            i = _skip_string(text, i)
        elif c == "<" and (m := _IRIREF.match(text, i)):
            i = m.end()
        elif c in "?$":
            m = _WORD.match(text, i + 1)
            if m:
                yield "var", i, m.group(0)
                i = m.end()
            else:
                i += 1
        elif c in "(){}*":
            yield c, i, c
            i += 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            yield "word", i, m.group(0).upper()
            i = m.end()
        else:
            i += 1


@lru_cache(maxsize=256)
def query_keywords(text: str) -> tuple[str | None, bool]:
    """The query's form (its first keyword after the prologue: SELECT, ASK, ... or an
    update's INSERT, DROP ...) and whether it has a ``SERVICE`` clause, read from its
    tokens: comments, strings and IRIs are skipped. A SyntaxError for text that cannot be
    read as tokens (an unclosed string).

    SPARQL has no bare words but keywords (a prefixed name holds a colon), so a word
    token ``SERVICE`` is the keyword wherever it is, in a subquery too.
    """
    form: str | None = None
    service = False
    after: str | None = None
    for kind, _position, word in _tokens(text):
        if kind != "word":
            after = None
            continue
        if form is None and word not in ("PREFIX", "BASE") and after != "PREFIX":
            form = word
        service = service or word == "SERVICE"
        after = word
    return form, service


def _groups(text: str) -> list[tuple[int, set[str] | None]]:
    """Where each query and subquery's WHERE group opens, with the variables it projects.

    The first entry is the outermost query (its projection: None, it takes every
    value); then every subquery (None for ``SELECT *``).
    """
    tokens = list(_tokens(text))
    found: list[tuple[int, set[str] | None]] = []
    outer_done = False
    k = 0
    while k < len(tokens):
        kind, _pos, value = tokens[k]
        if kind != "word" or value not in _QUERY_FORMS:
            k += 1
            continue
        form = value
        parens = 0
        projected: set[str] | None = set()
        after_as = False
        template_skipped = form != "CONSTRUCT"
        k += 1
        while k < len(tokens):
            kind, pos, value = tokens[k]
            if kind == "(":
                parens += 1
            elif kind == ")":
                parens -= 1
            elif kind == "word" and value == "AS":
                after_as = True
            elif kind == "var" and projected is not None and (parens == 0 or after_as):
                projected.add(value)
                after_as = False
            elif kind == "*" and parens == 0:
                projected = None
            elif kind == "{" and parens == 0:
                if not template_skipped:  # CONSTRUCT's template, or its short form
                    template_skipped = True
                    if k > 0 and tokens[k - 1][0] == "word" and tokens[k - 1][2] == "WHERE":
                        raise SyntaxError("a parameter cannot be bound in the short form CONSTRUCT WHERE { ... }")
                    depth = 0
                    while k < len(tokens):
                        if tokens[k][0] == "{":
                            depth += 1
                        elif tokens[k][0] == "}":
                            depth -= 1
                            if depth == 0:
                                break
                        k += 1
                    k += 1
                    continue
                found.append((pos, None if not outer_done else projected))
                outer_done = True
                break
            k += 1
        k += 1
    if not found:
        raise SyntaxError("no WHERE group to bind parameters in")
    return found


def bind_values(sparql: str, substitutions: Mapping[str, Term]) -> str:
    """The query with ``VALUES (?a ?b) { (term term) }`` opening its WHERE group.

    This is what pyoxigraph's substitutions do, written for any SPARQL server: the
    outermost WHERE group takes every value, and each subquery the values of the
    variables it projects (so that a ``DISTINCT`` or an aggregate inside it sees them,
    as it would with the variable replaced). Each term is written in its N-Triples form,
    which escapes every character that could end it: a value cannot change what the
    query does.
    """
    values: dict[str, str] = {}
    for name, term in substitutions.items():
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"not a SPARQL variable name: {name!r}")
        if not isinstance(term, (ox.NamedNode, ox.Literal)):
            raise TypeError(f"parameter {name}: only IRIs and literals can be bound, not {type(term).__name__}")
        values[name] = str(term)
    if not values:
        return sparql
    out = sparql
    for position, projected in sorted(_groups(sparql), reverse=True):
        names = [n for n in values if projected is None or n in projected]
        if not names:
            continue
        clause = f" VALUES ({' '.join('?' + n for n in names)}) {{ ({' '.join(values[n] for n in names)}) }} "
        out = out[: position + 1] + clause + out[position + 1 :]
    return out


# -- opening -------------------------------------------------------------------------


def _remove_unfinished_bulk_loads(db: Path) -> None:
    """Delete the files of bulk loads killed before they were ingested.

    Oxigraph writes its sorted files into the database folder as ``bulk-*.sst``, and
    ``Store.bulk_file`` the N-Quads it loads as ``bulk-*.nq``; RocksDB never reads or
    removes either. Only the process that holds the database open for writing
    can be loading, and that is this one, before its first write.
    """
    for orphan in [*db.glob("bulk-*.sst"), *db.glob("bulk-*.nq")]:
        log.warning("%s: removing %s, left by an import that was killed", db, orphan.name)
        orphan.unlink(missing_ok=True)


#: What a database folder holds before RocksDB has written a database in it (a creation
#: killed at its start leaves these): such a folder is new, not damaged.
_NOT_YET_A_DATABASE = frozenset({"LOCK", "LOG", "IDENTITY"})
_MANIFEST_NAME = re.compile(r"MANIFEST-[0-9]+")
#: RocksDB's log format (MANIFEST files): 32 KiB blocks of records, each with a 7-byte
#: header (checksum, length, type) or an 11-byte one for the recyclable types.
_LOG_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


class _Locked(Exception):
    """Another process holds the store: wait and try again."""


@dataclass
class _Held:
    """The lock this process holds on one database, shared by nested read-only opens."""

    fd: int | None
    exclusive: bool
    pid: int
    opens: int = 1


#: Databases this process has open, by folder: POSIX locks belong to the process, and
#: closing any descriptor of the LOCK file drops them, so a second open of the same
#: database in one process must reuse the first one's lock rather than take its own.
_HELD: dict[Path, _Held] = {}


def _log_truncated(data: bytes) -> bool:
    """Whether a RocksDB log file (a MANIFEST) ends inside a record.

    RocksDB reads a MANIFEST cut short as if it ended at the last whole record and, opened
    for writing, then deletes the data files that the lost records listed.
    """
    i, n, inside = 0, len(data), False
    while i < n:
        left = _LOG_BLOCK - i % _LOG_BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            i += left
            continue
        if n - i < 7:
            return True
        length = int.from_bytes(data[i + 4 : i + 6], "little")
        kind = data[i + 6]
        header = 11 if kind in (5, 6, 7, 8) else 7
        if kind == 0 and length == 0:  # preallocated zeros: the end of what was written
            return inside
        if i + header + length > n:
            return True
        kind = kind - 4 if kind in (5, 6, 7, 8) else kind
        if kind in (_FULL, _FIRST, _MIDDLE, _LAST):
            inside = kind in (_FIRST, _MIDDLE)
        i += header + length
    return inside


def _damaged(location: StoreLocation, reason: str) -> StoreDamaged:
    reason = " ".join(reason.split())[:300]
    return StoreDamaged(
        f"{location.database}: the store is damaged and cannot be read as it is ({reason}); nothing was "
        f"changed; restore {location.home} from a backup ('mlprov store backup DIR' makes one), and run "
        f"'mlprov store check --store {location.home}' to confirm"
    )


def _database_exists(location: StoreLocation) -> bool:
    """Whether the database folder holds a database (False: absent or new), decided
    before RocksDB sees it, which would create a new database over a folder without
    ``CURRENT``. Anything that is neither is :class:`StoreDamaged`."""
    db = location.database
    if not db.exists() and not db.is_symlink():
        return False
    if not db.is_dir():
        raise _damaged(location, f"{db.name} is not a folder")
    names = {entry.name for entry in db.iterdir()}
    if "CURRENT" not in names:
        data = sorted(n for n in names if n not in _NOT_YET_A_DATABASE and not n.startswith("LOG.old."))
        if not data:
            return False
        shown = ", ".join(data[:3]) + (", ..." if len(data) > 3 else "")
        raise _damaged(location, f"its CURRENT file is missing, but it holds {len(data)} other files: {shown}")
    named = (db / "CURRENT").read_text(encoding="utf-8", errors="replace").strip()
    if not _MANIFEST_NAME.fullmatch(named):
        raise _damaged(location, f"CURRENT names no MANIFEST file ({named[:40]!r})")
    manifest = db / named
    if manifest.is_file() and _log_truncated(manifest.read_bytes()):
        raise _damaged(location, f"{named} ends inside a record: it was cut short")
    return True


def is_database_error(error: BaseException) -> bool:
    """Whether an error is RocksDB's about the database's files (not Python's own I/O)."""
    text = str(error)
    return isinstance(error, (OSError, RuntimeError)) and (text.startswith("IO error") or "Corruption" in text)


def _store_error(location: StoreLocation, error: BaseException, *, writing: bool) -> UserError:
    """The one line for an error RocksDB raised while opening or using the database."""
    text = " ".join(str(error).split())
    code = getattr(error, "errno", None)
    if code == errno.ENOSPC or "No space left on device" in text:
        return UserError(
            f"{location.home}: no space left on the device that holds the store; what was being written "
            "was not stored; free some space and run the command again"
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "Read-only file system" in text or "Permission denied" in text:
        if writing:
            return StoreReadOnly(
                f"{location.home}: the store is read-only ({text[:200]}); nothing was changed; this command "
                "writes to the store: make the folder writable, or give a writable store with --store"
            )
        return UserError(f"{location.home}: cannot read the store ({text[:200]}); nothing was changed; "
                         "check the folder's permissions")
    return _damaged(location, text)


def _lock(location: StoreLocation, *, exclusive: bool) -> _Held:
    """Take the database's lock: shared for readers, exclusive for the writer.

    It is the lock RocksDB itself takes (fcntl on ``LOCK``), so a writer excludes readers
    and other writers, readers share it, and a read-only open never meets a writer,
    which pyoxigraph leaves undefined. A database without ``LOCK`` has no writer.
    """
    db = location.database
    held = _HELD.get(db)
    if held is not None and held.pid == os.getpid():
        if held.exclusive or exclusive:
            raise StoreBusy(f"{db}: this process has the store open already; close it before opening it again")
        held.opens += 1
        return held
    path = db / "LOCK"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY, 0o644)
    except FileNotFoundError:
        if exclusive:
            raise
        fd = None
    if fd is not None:
        try:
            fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise _Locked() from None
            raise
    held = _HELD[db] = _Held(fd, exclusive, os.getpid())
    return held


def _waiting_file(location: StoreLocation) -> Path:
    return location.home / "writer-waiting"


def _announce_waiting(location: StoreLocation) -> int | None:
    """A shared ``flock`` on ``writer-waiting`` while a writer waits for the store (writers share it)."""
    try:
        fd = os.open(_waiting_file(location), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None  # a folder this process cannot write: it cannot write the store either
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _end_waiting(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # releases the flock


def writer_waiting(location: StoreLocation) -> bool:
    """Whether a writer waits for the store now: a reader that keeps it open should close it."""
    try:
        fd = os.open(_waiting_file(location), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _unlock(db: Path, held: _Held) -> None:
    held.opens -= 1
    if held.opens == 0:
        _HELD.pop(db, None)
        if held.fd is not None:
            os.close(held.fd)  # releases the lock


def _open_database(location: StoreLocation, *, writable: bool, create: bool) -> tuple[ox.Store, _Held]:
    """The database opened under its lock; ``writable`` False opens it read-only.

    Every open is checked by a read-only open first, which writes no file: a damaged
    store is refused exactly as it was found (RocksDB, opened for writing, rotates its
    log even when it then fails, and creates a new database where ``CURRENT`` is gone).
    """
    db = location.database
    absent = UserError(
        f"{location.home}: no mlprov store here; run 'mlprov generate' or 'mlprov run' first, "
        "or point --store / MLPROV_STORE at an existing store"
    )
    try:
        found = _database_exists(location)
    except StoreDamaged:
        if not (db / "LOCK").exists():  # a writer takes the lock before it writes a file
            raise
        found = True  # perhaps a writer creating it: decided below, under the lock
    if not found and not create:
        raise absent
    if writable:
        db.mkdir(parents=True, exist_ok=True)
    held = _lock(location, exclusive=writable)
    try:
        if _database_exists(location):  # again, now that no writer can be changing it
            probe = ox.Store.read_only(str(db))
            if not writable:
                return probe, held
            del probe
        elif not create:
            raise absent
        return ox.Store(str(db)), held
    except BaseException:
        _unlock(db, held)
        raise


@contextmanager
def open_store(
    location: StoreLocation, *, create: bool = True, read_only: bool = False, wait_s: float = 120.0
) -> Iterator[Store | RemoteStore]:
    """Open the store for one job, waiting while another process writes to it.

    ``read_only``: for jobs that only read. The database is opened with
    ``pyoxigraph.Store.read_only`` under a shared lock: readers do not wait for each
    other, nothing is written (a read-only folder or file system can be queried), and
    nothing is created. A store that cannot be read as it is raises
    :class:`StoreDamaged`, here or while the job reads it, and is left as it was found.
    """
    if location.is_remote:
        remote = RemoteStore(location)
        try:
            remote.ping()
            yield remote
        finally:
            remote.close()
        return
    home, db = location.home, location.database
    if home.exists() and not home.is_dir():
        raise UserError(f"--store {home}: is a file, not a folder; give a folder path")
    if (home / "CURRENT").is_file() and (home / "IDENTITY").is_file():
        raise UserError(f"--store {home}: is an Oxigraph database folder; give the store folder that holds it ({home.parent})")
    writable = not read_only
    deadline = time.monotonic() + wait_s
    delay = 0.05
    waiting: int | None = None  # a writer that waits says so: a reader that keeps the store open then lets go
    while True:
        try:
            if not writable and writer_waiting(location):
                raise _Locked()  # a writer waits for the readers before us: we wait for it
            inner, held = _open_database(location, writable=writable, create=create and writable)
            break
        except _Locked:
            if writable and waiting is None:
                waiting = _announce_waiting(location)
        except OSError as error:
            if not _is_lock_error(error):
                raise _store_error(location, error, writing=writable) from None
        except RuntimeError as error:
            if not is_database_error(error):
                raise
            raise _store_error(location, error, writing=writable) from None
        if time.monotonic() > deadline:
            _end_waiting(waiting)
            raise StoreBusy(
                f"{db}: another process has held the store for {wait_s:.0f} s; try again when it has finished"
            ) from None
        log.debug("store busy, retrying in %.2f s", delay)
        time.sleep(delay + random.uniform(0, delay))
        delay = min(delay * 2, 1.0)
    _end_waiting(waiting)
    store = Store(location, inner, read_only=read_only)
    del inner
    try:
        if writable:
            _remove_unfinished_bulk_loads(db)
        try:
            yield store
        except BaseException:
            store.close(quietly=True)  # the job's own error is the one to report
            raise
        store.close()
    except (OSError, RuntimeError) as error:
        if not is_database_error(error):
            raise
        raise _store_error(location, error, writing=writable) from None
    finally:
        _unlock(db, held)
