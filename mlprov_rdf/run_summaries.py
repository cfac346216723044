"""Per-plan summaries of the runs, kept up to date by every run write.

Queries over all runs (``plans``, ``runs-by-status``, ``cell-trials``,
``cq-last-execution``) would otherwise read every run, or every cell execution, on each
call; they read one summary graph per plan instead, whose size does not grow with the run
count: the plan's run count and last start, the same per status, and per step of the plan
its executions, last start, the execution that had it, and the sum and count of the
executions' durations.

What new runs add is **merged** into their plans' summaries (:func:`merge`): one SPARQL
update per ``RUNS_AN_UPDATE`` runs reads those runs and the summaries' counts, and writes the
counts plus what the runs add, so two writers to a server store cannot lose each other's
counts and a write never reads the plan's other runs. A run written again (its graph
existed) makes its plan **recomputed** from all its runs (:func:`refresh`): a run stored
again with another status moves between the counts, and writing the same runs again leaves
the same triples. A store without the marker graph (written before these summaries, or by
an import stopped part way) gets every summary rebuilt by its next write (:func:`rebuild`),
and by the first query that reads them (:func:`missing` in the query's process,
:func:`build_missing` in its parent; see ``stoppable_query``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import pyoxigraph as ox

from . import start_windows, vocab
from .store import RemoteStore, Store, StoreLocation

log = logging.getLogger(__name__)

# Ingest writes two batches at once: one summary update, or one note of runs written, at a time.
_one_at_a_time = threading.Lock()

SUMMARY_BASE = "urn:mlprov:summary:plan:"
#: A graph that exists once every plan's summary, step aggregates and start windows included, has been built.
MARKER_GRAPH = "urn:mlprov:summary:built:3"
#: The markers of summaries an earlier mlprov built (without step aggregates, without start
#: windows): such a store is rebuilt.
_OLDER_MARKERS = ("urn:mlprov:summary:built", "urn:mlprov:summary:built:2")
#: What only the summaries hold: their graphs' terms, and each run's direct start and start second.
_SUMMARY_TERMS = re.compile(r"urn:mlprov:summary:|\b(?:runStarted|startSecond|summaryOf|partOfSummary|summaryStatus|runCount"
                            r"|lastStarted|executionCount|lastExecution|durationSum|durationCount"
                            r"|summaryDay|summaryMinute|summarySecond|windowOf)\b")
#: Runs merged in one update: each update reads these runs only.
RUNS_AN_UPDATE = 200

_PREFIXES = f"""PREFIX prov:   <{vocab.PROV}>
PREFIX mls:    <{vocab.MLS}>
PREFIX mlprov: <{vocab.MLPROV}>
PREFIX p-plan: <{vocab.PPLAN}>
"""

_CLEAR = "DELETE {{ GRAPH ?summary {{ ?s ?p ?o }} }} WHERE {{ VALUES ?summary {{ {summaries} }} GRAPH ?summary {{ ?s ?p ?o }} }}"

# What the runs that {runs} selects (VALUES of runs, or of plans: all their runs) add to their
# plans' summaries, read in each run's own graph (an update reads no union of graphs); the
# counts there so far read in the same operation that writes them plus what the runs add.
# BINDs after the OPTIONALs (Virtuoso drops an OPTIONAL's solutions after a BIND).
_MERGE = """
DELETE {{ GRAPH ?summary {{ ?summary mlprov:runCount ?old_runs ; mlprov:lastStarted ?old_last }} }}
INSERT {{ GRAPH ?summary {{ ?summary mlprov:summaryOf ?plan ; mlprov:runCount ?runs ; mlprov:lastStarted ?last }} }}
WHERE {{
  {{ SELECT ?plan (COUNT(?run) AS ?added) (MAX(?started) AS ?added_last)
    WHERE {{ {runs} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run ; prov:startedAtTime ?started }} }}
    GROUP BY ?plan }}
  VALUES (?plan ?summary) {{ {pairs} }}
  OPTIONAL {{ GRAPH ?summary {{ ?summary mlprov:runCount ?old_runs ; mlprov:lastStarted ?old_last }} }}
  BIND (COALESCE(?old_runs, 0) + ?added AS ?runs)
  BIND (IF(COALESCE(?old_last > ?added_last, false), ?old_last, ?added_last) AS ?last)
}} ;
DELETE {{ GRAPH ?summary {{ ?old_node mlprov:runCount ?old_runs ; mlprov:lastStarted ?old_last }} }}
INSERT {{ GRAPH ?summary {{ ?node mlprov:partOfSummary ?summary ; mlprov:summaryStatus ?status ;
                                  mlprov:runCount ?runs ; mlprov:lastStarted ?last }} }}
WHERE {{
  {{ SELECT ?plan ?status (COUNT(?run) AS ?added) (MAX(?started) AS ?added_last)
    WHERE {{ {runs} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run ; mlprov:status ?status ; prov:startedAtTime ?started }} }}
    GROUP BY ?plan ?status }}
  VALUES (?plan ?summary) {{ {pairs} }}
  OPTIONAL {{ GRAPH ?summary {{ ?old_node mlprov:partOfSummary ?summary ; mlprov:summaryStatus ?status ;
                                       mlprov:runCount ?old_runs ; mlprov:lastStarted ?old_last }} }}
  BIND (IRI(CONCAT(STR(?summary), "/status/", STRAFTER(STR(?status), STR(mlprov:)))) AS ?node)
  BIND (COALESCE(?old_runs, 0) + ?added AS ?runs)
  BIND (IF(COALESCE(?old_last > ?added_last, false), ?old_last, ?added_last) AS ?last)
}} ;
DELETE {{ GRAPH ?summary {{ ?step mlprov:executionCount ?old_count ; mlprov:lastStarted ?old_last }} }}
INSERT {{ GRAPH ?summary {{ ?step mlprov:executionCount ?count ; mlprov:lastStarted ?last }} }}
WHERE {{
  {{ SELECT ?plan ?step (COUNT(?cell) AS ?added) (MAX(?started) AS ?added_last)
    WHERE {{ {runs} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run .
                                        ?cell p-plan:correspondsToStep ?step ; prov:startedAtTime ?started }} }}
    GROUP BY ?plan ?step }}
  VALUES (?plan ?summary) {{ {pairs} }}
  OPTIONAL {{ GRAPH ?summary {{ ?step mlprov:executionCount ?old_count ; mlprov:lastStarted ?old_last }} }}
  BIND (COALESCE(?old_count, 0) + ?added AS ?count)
  BIND (IF(COALESCE(?old_last > ?added_last, false), ?old_last, ?added_last) AS ?last)
}} ;
DELETE {{ GRAPH ?summary {{ ?step mlprov:durationSum ?old_sum ; mlprov:durationCount ?old_durations }} }}
INSERT {{ GRAPH ?summary {{ ?step mlprov:durationSum ?sum ; mlprov:durationCount ?durations }} }}
WHERE {{
  {{ SELECT ?plan ?step (SUM(?duration) AS ?added_sum) (COUNT(?duration) AS ?added)
    WHERE {{ {runs} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run .
                                        ?cell p-plan:correspondsToStep ?step ; mlprov:duration ?duration }} }}
    GROUP BY ?plan ?step }}
  VALUES (?plan ?summary) {{ {pairs} }}
  OPTIONAL {{ GRAPH ?summary {{ ?step mlprov:durationSum ?old_sum ; mlprov:durationCount ?old_durations }} }}
  BIND (COALESCE(?old_sum, 0) + ?added_sum AS ?sum)
  BIND (COALESCE(?old_durations, 0) + ?added AS ?durations)
}} ;
{windows}
DELETE {{ GRAPH ?summary {{ ?step mlprov:lastExecution ?old_execution }} }}
INSERT {{ GRAPH ?summary {{ ?step mlprov:lastExecution ?execution }} }}
WHERE {{
  VALUES (?plan ?summary) {{ {pairs} }}
  GRAPH ?summary {{ ?step mlprov:executionCount ?count ; mlprov:lastStarted ?last }}
  GRAPH ?execution_graph {{ ?execution prov:startedAtTime ?last ; p-plan:correspondsToStep ?step }}
  OPTIONAL {{ GRAPH ?summary {{ ?step mlprov:lastExecution ?old_execution }} }}
}}
"""

# The runs counted by the day, minute or second they started in (start_windows pages by
# them): one node a window, named by its key, with the key of the window it is part of.
_WINDOW_COUNTS = """
DELETE {{ GRAPH ?summary {{ ?old_node mlprov:runCount ?old_runs }} }}
INSERT {{ GRAPH ?summary {{ ?node mlprov:LEVEL ?window ; mlprov:runCount ?runs PARENT_INSERT }} }}
WHERE {{
  {{ SELECT ?plan ?window ?parent (COUNT(?run) AS ?added)
    WHERE {{ {runs} GRAPH ?run_graph {{ ?run mlprov:plan ?plan ; a mls:Run ; mlprov:startSecond ?second }}
             BIND (SUBSTR(?second, 1, LENGTH) AS ?window) BIND (SUBSTR(?second, 1, PARENT_LENGTH) AS ?parent) }}
    GROUP BY ?plan ?window ?parent }}
  VALUES (?plan ?summary) {{ {pairs} }}
  OPTIONAL {{ GRAPH ?summary {{ ?old_node mlprov:LEVEL ?window ; mlprov:runCount ?old_runs }} }}
  BIND (IRI(CONCAT(STR(?summary), "/LEVEL/", ?window)) AS ?node)
  BIND (COALESCE(?old_runs, 0) + ?added AS ?runs)
}} ;"""
_WINDOWS = "".join(
    _WINDOW_COUNTS.replace("PARENT_LENGTH", str(parent or level)).replace("LENGTH", str(level))
    .replace("PARENT_INSERT", "; mlprov:windowOf ?parent" if parent else "")
    .replace("LEVEL", start_windows.LEVEL_PROPERTY[level])
    for level, parent in ((start_windows.DAY, None), (start_windows.MINUTE, start_windows.DAY),
                          (start_windows.SECOND, start_windows.MINUTE))
)
_MERGE = _MERGE.replace("{windows}", _WINDOWS)

# A store written before: each run's start as the direct property that ``runs`` pages by.
_BACKFILL = _PREFIXES + """
INSERT { GRAPH ?graph { ?run mlprov:runStarted ?started } }
WHERE { GRAPH ?graph { ?run a mls:Run ; prov:startedAtTime ?started } FILTER NOT EXISTS { ?run mlprov:runStarted ?any } }
"""
# ... and the second it started in, which SPARQL cannot put in UTC: start_windows.start_second does.
_UNDATED = _PREFIXES + """SELECT ?graph ?run ?started
WHERE { GRAPH ?graph { ?run a mls:Run ; mlprov:runStarted ?started } FILTER NOT EXISTS { ?run mlprov:startSecond ?any } }"""
#: Runs given their start second in one update.
SECONDS_AN_UPDATE = 2000
_PLANS_OF_RUNS = _PREFIXES + "SELECT DISTINCT ?plan WHERE {{ VALUES ?run {{ {runs} }} ?run mlprov:plan ?plan }}"
_EVERY_PLAN = _PREFIXES + "SELECT DISTINCT ?plan WHERE { ?run mlprov:plan ?plan }"
_EVERY_RUN = _PREFIXES + "SELECT DISTINCT ?run WHERE { ?run mlprov:plan ?plan ; a mls:Run }"


@dataclass
class _Written:
    """The runs a :func:`deferred` import wrote: new ones, and ones whose graphs existed."""

    new: set[str] = field(default_factory=set)
    again: set[str] = field(default_factory=set)


#: What each store's :func:`deferred` import wrote so far, by ``id(store)``.
_deferred: dict[int, _Written] = {}


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


def _iris(values: Iterable[str]) -> str:
    return " ".join(str(ox.NamedNode(v)) for v in values)


def _pairs(plans: Iterable[str]) -> str:
    return " ".join(f"({ox.NamedNode(p)} {ox.NamedNode(summary_graph(p))})" for p in plans)


def merge(store: Store | RemoteStore, runs: Iterable[str]) -> None:
    """Add what ``runs`` (not counted yet) add to their plans' summaries, reading only those
    runs: one atomic update per ``RUNS_AN_UPDATE`` runs."""
    runs = sorted(set(runs))
    for start in range(0, len(runs), RUNS_AN_UPDATE):
        chunk = runs[start : start + RUNS_AN_UPDATE]
        plans = _plans_of(store, chunk)
        if plans:
            _update(store, _PREFIXES + _MERGE.format(runs=f"VALUES ?run {{ {_iris(chunk)} }}", pairs=_pairs(plans)))


def refresh(store: Store | RemoteStore, plans: Iterable[str]) -> None:
    """Recompute the summaries of ``plans`` from all their runs: one atomic update a plan."""
    for plan in sorted(set(plans)):
        _update(store, _PREFIXES + _CLEAR.format(summaries=_iris([summary_graph(plan)])) + " ;"
                + _MERGE.format(runs=f"VALUES ?plan {{ {_iris([plan])} }}", pairs=_pairs([plan])))


def _plans_of(store: Store | RemoteStore, runs: list[str]) -> list[str]:
    return _plans(store, _PLANS_OF_RUNS.format(runs=_iris(runs))) if runs else []


def _mark_built(store: Store | RemoteStore) -> None:
    marker = ox.NamedNode(MARKER_GRAPH)
    store.replace_graph(MARKER_GRAPH, [ox.Triple(marker, ox.NamedNode(vocab.MLPROV + "summariesBuilt"), ox.Literal("1"))])
    for older in _OLDER_MARKERS:
        if store.has_graph(older):
            store.remove_graph(older)


def refresh_runs(store: Store | RemoteStore, runs: Iterable[str], *, new: bool = False) -> None:
    """After runs were written: ``new`` ones (their graphs did not exist) merged into their
    plans' summaries, others' plans recomputed (every plan the first time); inside
    :func:`deferred`, noted for its end."""
    runs = sorted(set(runs))
    with _one_at_a_time:
        if id(store) in _deferred:
            written = _deferred[id(store)]
            (written.new if new else written.again).update(runs)
        elif not store.has_graph(MARKER_GRAPH):
            rebuild(store)
        elif new:
            merge(store, runs)
        else:
            refresh(store, _plans_of(store, runs))


@contextmanager
def deferred(store: Store | RemoteStore) -> Iterator[None]:
    """Many runs written, their summaries brought up to date once at the end: the new runs
    merged (reading only them), the plans of runs written again recomputed.

    The marker graph is removed first: an import stopped before its end leaves none, and
    the next write rebuilds every summary.
    """
    built = store.has_graph(MARKER_GRAPH)
    if built:
        store.remove_graph(MARKER_GRAPH)
    _deferred[id(store)] = _Written()
    try:
        yield
    finally:
        written = _deferred.pop(id(store))
    if built:
        merge(store, written.new - written.again)
        refresh(store, _plans_of(store, sorted(written.again)))
        _mark_built(store)
    else:
        rebuild(store)


def rebuild(store: Store | RemoteStore) -> None:
    """Every run's direct start and every plan's summary from the store, then the marker
    that says they are built (the marker absent meanwhile: a rebuild stopped part way is
    done again by the next write)."""
    if store.has_graph(MARKER_GRAPH):
        store.remove_graph(MARKER_GRAPH)
    _update(store, _BACKFILL)
    _backfill_seconds(store)
    plans = _plans(store, _EVERY_PLAN)
    log.info("building the run summaries of %d plans", len(plans))
    if plans:
        _update(store, _CLEAR.format(summaries=_iris(summary_graph(p) for p in plans)))
    merge(store, [row["run"].value for row in store.query(_EVERY_RUN)])
    _mark_built(store)


def _backfill_seconds(store: Store | RemoteStore) -> None:
    """Each run without one gets the second it started in (written by an earlier mlprov)."""
    second = ox.NamedNode(vocab.START_SECOND)
    rows = [(row["graph"], row["run"], row["started"].value) for row in store.query(_UNDATED)]
    for start in range(0, len(rows), SECONDS_AN_UPDATE):
        quads = " ".join(f"GRAPH {graph} {{ {run} {second} {ox.Literal(start_windows.start_second(started))} }}"
                         for graph, run, started in rows[start : start + SECONDS_AN_UPDATE])
        _update(store, f"INSERT DATA {{ {quads} }}")


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
