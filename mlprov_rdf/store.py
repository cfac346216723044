"""The provenance store: embedded Oxigraph on disk.

An mlprov home folder (``.mlprov/`` by default) holds the Oxigraph database in
``oxigraph/`` and the run journals in ``journal/``. Oxigraph admits one writer
process, so a store is opened for one job and closed straight after: nothing holds
it while a notebook runs, and a process that finds it locked waits and retries.

Queries go to pyoxigraph directly (oxrdflib's term conversion costs 2-3x on
small queries); oxrdflib provides the rdflib view of a graph for the code that
works on rdflib graphs (plan loading, regeneration, the graph browser).
"""

from __future__ import annotations

import logging
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pyoxigraph as ox
import rdflib

from .errors import StoreBusy, UserError

log = logging.getLogger(__name__)

DEFAULT_HOME = ".mlprov"
ENV_VAR = "MLPROV_STORE"


@dataclass(frozen=True)
class StoreLocation:
    """Where a store lives; today a folder, later possibly a SPARQL endpoint URL."""

    home: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home))

    @classmethod
    def resolve(cls, option: str | os.PathLike | None = None) -> "StoreLocation":
        """``--store`` beats ``MLPROV_STORE`` beats ``.mlprov/`` in the working directory."""
        value = option or os.environ.get(ENV_VAR) or DEFAULT_HOME
        value = str(value)
        if value.startswith(("http://", "https://")):
            raise UserError(
                f"--store {value}: SPARQL server stores are not supported by this version; "
                "give a folder path"
            )
        return cls(Path(value).expanduser().absolute())

    @property
    def database(self) -> Path:
        return self.home / "oxigraph"

    @property
    def journal_dir(self) -> Path:
        return self.home / "journal"


def _is_lock_error(error: OSError) -> bool:
    text = str(error).lower()
    return "lock" in text or "resource temporarily unavailable" in text


class Store:
    """An open embedded store. Use :func:`open_store` rather than this constructor."""

    def __init__(self, location: StoreLocation, inner: ox.Store):
        self.location = location
        self.inner = inner

    # -- reading -----------------------------------------------------------------

    def query(self, sparql: str, substitutions: Mapping[str, ox.NamedNode | ox.Literal] | None = None):
        """Run SPARQL over the union of all graphs; values are bound, never pasted in."""
        subs = {ox.Variable(k): v for k, v in (substitutions or {}).items()}
        return self.inner.query(sparql, use_default_graph_as_union=True, substitutions=subs or None)

    def has_graph(self, graph: str) -> bool:
        return self.inner.contains_named_graph(ox.NamedNode(graph))

    def graph_ntriples(self, graph: str) -> bytes:
        return self.inner.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(graph))

    def rdflib_graph(self, graph: str) -> rdflib.Graph:
        """A detached rdflib copy of one named graph."""
        g = rdflib.Graph()
        data = self.graph_ntriples(graph)
        if data:
            g.parse(data=data.decode("utf-8"), format="nt")
        return g

    def dataset(self) -> rdflib.Dataset:
        """An rdflib view of the whole store, through oxrdflib (live, not a copy)."""
        from oxrdflib import OxigraphStore

        return rdflib.Dataset(store=OxigraphStore(store=self.inner))

    # -- writing -----------------------------------------------------------------

    def replace_graph(self, graph: str, triples: Iterable[ox.Triple]) -> int:
        """Make ``graph`` hold exactly ``triples``, in one transaction; idempotent."""
        g = ox.NamedNode(graph)
        quads = [ox.Quad(t.subject, t.predicate, t.object, g) for t in triples]
        body = "\n".join(f"{q.subject} {q.predicate} {q.object} ." for q in quads)
        self.inner.update(f"DROP SILENT GRAPH {g} ;\nINSERT DATA {{ GRAPH {g} {{\n{body}\n}} }}")
        return len(quads)

    def remove_graph(self, graph: str) -> None:
        self.inner.update(f"DROP SILENT GRAPH {ox.NamedNode(graph)}")


@contextmanager
def open_store(location: StoreLocation, *, create: bool = True, wait_s: float = 120.0) -> Iterator[Store]:
    """Open the store for one job, waiting while another process holds it."""
    db = location.database
    if not db.exists() and not create:
        raise UserError(
            f"{location.home}: no mlprov store here; run 'mlprov generate' or 'mlprov run' first, "
            "or point --store / MLPROV_STORE at an existing store"
        )
    if location.home.exists() and not location.home.is_dir():
        raise UserError(f"--store {location.home}: is a file, not a folder; give a folder path")
    db.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            inner = ox.Store(str(db))
            break
        except OSError as error:
            if not _is_lock_error(error):
                raise UserError(f"{db}: cannot open the store: {error}") from None
            if time.monotonic() > deadline:
                raise StoreBusy(
                    f"{db}: another process has held the store for {wait_s:.0f} s; "
                    "try again when it has finished"
                ) from None
            log.debug("store busy, retrying in %.2f s", delay)
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 1.0)
    store = Store(location, inner)
    del inner
    try:
        yield store
    finally:
        store.inner.flush()
        store.inner = None  # the last reference: Oxigraph releases its lock here
