"""Per-plan summaries of the runs, kept up to date by every run write.

Queries over all runs (``plans``, ``runs-by-status``) would otherwise count and sort every
run on each call; they read one summary graph per plan instead, whose size does not grow
with the run count. A summary is recomputed from the store for the plans of the runs just
written (after each run, or once at the end of an import), never incremented, so writing
the same runs again leaves the same triples and a run stored again with another status
moves between the counts. A store written before
summaries existed has no marker graph: the first write rebuilds every plan's summary (and
gives its runs the direct start ``runs`` pages by, see ``ingest.direct_values``), and so
does the first query that reads them (:func:`missing` in the query's process,
:func:`build_missing` in its parent; see ``stoppable_query``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator

import pyoxigraph as ox

from . import vocab
from .store import RemoteStore, Store, StoreLocation

log = logging.getLogger(__name__)

# Ingest writes two batches at once: one summary update, or one note of runs written, at a time.
_one_at_a_time = threading.Lock()
#: The runs written so far by each store's :func:`deferred` import, by ``id(store)``.
_deferred: dict[int, set[str]] = {}

SUMMARY_BASE = "urn:mlprov:summary:plan:"
#: A graph that exists once every plan's summary has been built.
MARKER_GRAPH = "urn:mlprov:summary:built"
#: What only the summaries hold: their graphs' terms, and each run's direct start.
_SUMMARY_TERMS = re.compile(r"urn:mlprov:summary:|\b(?:runStarted|summaryOf|partOfSummary|summaryStatus|runCount|lastStarted)\b")
#: Plans recomputed in one update.
PLANS_AN_UPDATE = 50

_PREFIXES = f"""PREFIX prov:   <{vocab.PROV}>
PREFIX mls:    <{vocab.MLS}>
PREFIX mlprov: <{vocab.MLPROV}>
"""

# Over the runs of the plans in VALUES (each in its own graph: an update reads no union of graphs):
# what each query over all runs used to count.
_REFRESH = _PREFIXES + """
DELETE {{ GRAPH ?summary {{ ?s ?p ?o }} }}
WHERE {{ VALUES (?plan ?summary) {{ {pairs} }} GRAPH ?summary {{ ?s ?p ?o }} }} ;
INSERT {{ GRAPH ?summary {{ ?summary mlprov:summaryOf ?plan ; mlprov:runCount ?runs ;
                                     mlprov:lastStarted ?last_started }} }}
WHERE {{
  {{ SELECT ?plan (COUNT(?run) AS ?runs) (MAX(?started) AS ?last_started)
    WHERE {{ VALUES ?plan {{ {plans} }} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run ; prov:startedAtTime ?started }} }}
    GROUP BY ?plan }}
  VALUES (?plan ?summary) {{ {pairs} }}
}} ;
INSERT {{ GRAPH ?summary {{ ?node mlprov:partOfSummary ?summary ; mlprov:summaryStatus ?status ;
                                  mlprov:runCount ?runs ; mlprov:lastStarted ?last_started }} }}
WHERE {{
  {{ SELECT ?plan ?status (COUNT(?run) AS ?runs) (MAX(?started) AS ?last_started)
    WHERE {{ VALUES ?plan {{ {plans} }}
            GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run ; mlprov:status ?status ; prov:startedAtTime ?started }} }}
    GROUP BY ?plan ?status }}
  VALUES (?plan ?summary) {{ {pairs} }}
  BIND (IRI(CONCAT(STR(?summary), "/status/", STRAFTER(STR(?status), STR(mlprov:)))) AS ?node)
}}
"""

# A store written before: each run's start as the direct property that ``runs`` pages by.
_BACKFILL = _PREFIXES + """
INSERT { GRAPH ?graph { ?run mlprov:runStarted ?started } }
WHERE { GRAPH ?graph { ?run a mls:Run ; prov:startedAtTime ?started } FILTER NOT EXISTS { ?run mlprov:runStarted ?any } }
"""
_PLANS_OF_RUNS = _PREFIXES + "SELECT DISTINCT ?plan WHERE {{ VALUES ?run {{ {runs} }} ?run mlprov:plan ?plan }}"
_EVERY_PLAN = _PREFIXES + "SELECT DISTINCT ?plan WHERE { ?run mlprov:plan ?plan }"


def summary_graph(plan: str) -> str:
    """The named graph of a plan's summary: ``urn:mlprov:summary:plan:`` and 16 hex digits of its SHA-256."""
    return SUMMARY_BASE + hashlib.sha256(plan.encode("utf-8")).hexdigest()[:16]


def _update(store: Store | RemoteStore, sparql: str) -> None:
    if isinstance(store, RemoteStore):
        store.update(sparql)
    else:
        store.inner.update(sparql)


def _plans(store: Store | RemoteStore, sparql: str) -> list[str]:
    return sorted(row["plan"].value for row in store.query(sparql))


def refresh(store: Store | RemoteStore, plans: Iterable[str]) -> None:
    """Recompute the summaries of ``plans`` from the runs in the store, each update atomic."""
    plans = sorted(set(plans))
    for start in range(0, len(plans), PLANS_AN_UPDATE):
        chunk = plans[start : start + PLANS_AN_UPDATE]
        pairs = " ".join(f"({ox.NamedNode(p)} {ox.NamedNode(summary_graph(p))})" for p in chunk)
        _update(store, _REFRESH.format(pairs=pairs, plans=" ".join(str(ox.NamedNode(p)) for p in chunk)))


def _plans_of(store: Store | RemoteStore, runs: list[str]) -> list[str]:
    return _plans(store, _PLANS_OF_RUNS.format(runs=" ".join(str(ox.NamedNode(r)) for r in runs))) if runs else []


def _mark_built(store: Store | RemoteStore) -> None:
    marker = ox.NamedNode(MARKER_GRAPH)
    store.replace_graph(MARKER_GRAPH, [ox.Triple(marker, ox.NamedNode(vocab.MLPROV + "summariesBuilt"), ox.Literal("1"))])


def refresh_runs(store: Store | RemoteStore, runs: Iterable[str]) -> None:
    """After runs were written: the summaries of their plans (of every plan the first time),
    or, inside :func:`deferred`, once at its end."""
    runs = sorted(set(runs))
    with _one_at_a_time:
        if id(store) in _deferred:
            _deferred[id(store)].update(runs)
        elif not store.has_graph(MARKER_GRAPH):
            rebuild(store)
        else:
            refresh(store, _plans_of(store, runs))


@contextmanager
def deferred(store: Store | RemoteStore) -> Iterator[None]:
    """Many runs written, their plans' summaries recomputed once at the end.

    Recomputing reads every run of a plan, so doing it after each batch would make an
    import slow down as the store grows. The marker graph is removed first: an import
    stopped before its end leaves none, and the next write rebuilds every summary.
    """
    built = store.has_graph(MARKER_GRAPH)
    if built:
        store.remove_graph(MARKER_GRAPH)
    _deferred[id(store)] = set()
    try:
        yield
    finally:
        runs = sorted(_deferred.pop(id(store)))
    if built:
        refresh(store, _plans_of(store, runs))
        _mark_built(store)
    else:
        rebuild(store)


def rebuild(store: Store | RemoteStore) -> None:
    """Every run's direct start and every plan's summary from the store, then the marker that says they are built."""
    _update(store, _BACKFILL)
    plans = _plans(store, _EVERY_PLAN)
    log.info("building the run summaries of %d plans", len(plans))
    refresh(store, plans)
    _mark_built(store)


def missing(store: Store | RemoteStore) -> bool:
    """Whether the store has runs but not their summaries (an earlier mlprov wrote it): one
    lookup of the marker graph when they are built, the common case."""
    return not store.has_graph(MARKER_GRAPH) and bool(store.query(f"ASK {{ ?run a <{vocab.MLS}Run> }}"))


def reads_summaries(sparql: str) -> bool:
    """Whether a query reads what the summaries keep (a summary graph's terms, ``mlprov:runStarted``)."""
    return _SUMMARY_TERMS.search(sparql) is not None


def build_missing(location: StoreLocation) -> None:
    """Build the summaries of a store an earlier mlprov wrote, under the store's write lock
    (once: before the first query that reads them, as a database migrates its schema).
    The query process found them missing; one that cannot be written says what to do."""
    from .errors import StoreReadOnly, UserError
    from .store import open_store

    log.warning("%s: building the run summaries this store lacks (it was written by an earlier mlprov); once",
                location.display)
    try:
        with open_store(location) as store:
            if not store.has_graph(MARKER_GRAPH):  # another process may have built them meanwhile
                rebuild(store)
    except StoreReadOnly:
        raise UserError(f"{location.display}: this store was written by an earlier mlprov and lacks its run "
                        "summaries, and it cannot be written here; run 'mlprov ingest' once where it can") from None
