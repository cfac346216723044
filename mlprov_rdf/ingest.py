"""Moving records into the store: plans, the ontology, and run journals.

A journal is append-only, so a value logged twice (a cell run again by hand) appears
twice; ingest keeps the last, derives what only the whole journal can tell (the run's
status and end, cells cut off by a dead kernel, the direct values that queries over
many runs read) and replaces the run's named graph in one atomic write. A run is
``Completed`` when every planned step finished and the last cell did not fail,
``Failed`` when the last cell raised, ``Interrupted`` when the journal stops short.
Ingesting the same journal again gives the same graph.

Statements stay in N-Triples text from the journal to the store: ingest reads only the
few terms it needs, and Oxigraph parses the rest as it writes (see ``ingest_journals``).
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import logging
import os
import re
import warnings
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyoxigraph as ox
import rdflib

from . import capture, run_record, run_summaries, series, vocab, worker_pool
from .errors import StoreUnreachable, UserError
from .plan import Plan
from .resources import ontology_dir
from .start_windows import start_second
from .store import RemoteStore, Store

log = logging.getLogger(__name__)

def _nt(iri: str) -> str:
    return f"<{iri}>"


# Terms as the journal writes them (N-Triples), which is how ingest compares them.
RDF_TYPE = _nt(vocab.RDF + "type")
STATUS = _nt(vocab.MLPROV + "status")
STARTED = _nt(vocab.PROV + "startedAtTime")
ENDED = _nt(vocab.PROV + "endedAtTime")
RUN_STARTED = _nt(vocab.MLPROV + "runStarted")
START_SECOND = _nt(vocab.START_SECOND)
DURATION = _nt(vocab.MLPROV + "duration")
PART_OF = _nt(vocab.DCTERMS + "isPartOf")
ORDER = _nt(vocab.MLPROV + "executionOrder")
COMPLETED = _nt(vocab.MLPROV + "Completed")
FAILED = _nt(vocab.MLPROV + "Failed")
INTERRUPTED = _nt(vocab.MLPROV + "Interrupted")
HAS_INPUT = _nt(vocab.MLS + "hasInput")
HAS_OUTPUT = _nt(vocab.MLS + "hasOutput")
HAS_VALUE = _nt(vocab.MLS + "hasValue")
SPECIFIED_BY = _nt(vocab.MLS + "specifiedBy")
PARAMETER_NAME = _nt(vocab.MLPROV + "parameterName")
SPLIT_NAME = _nt(vocab.MLPROV + "splitName")
EPOCH = _nt(vocab.MLPROV + "epoch")
FOR_CLASS = _nt(vocab.MLPROV + "forClass")
SERIES = _nt(vocab.MLPROV + "series")
SERIES_CHUNK = _nt(vocab.MLPROV + "seriesChunk")
_SUMMARISED = {HAS_VALUE, PARAMETER_NAME, SPECIFIED_BY, SPLIT_NAME, EPOCH, FOR_CLASS}

#: Properties with one value per subject; in a journal the last line wins.
FUNCTIONAL = {
    HAS_VALUE,
    _nt(vocab.RDFS + "label"),
    ENDED,
    DURATION,
    _nt(vocab.MLPROV + "codeDrifted"),
    _nt(vocab.MLPROV + "parameterCount"),
    _nt(vocab.MLPROV + "architecture"),
    _nt(vocab.MLPROV + "sha256"),
    _nt(vocab.MLPROV + "sampleCount"),
    *(_nt(vocab.MLPROV + name) for name in ("cpuUserTime", "cpuSystemTime", "peakMemory", "processPeakMemory",
                                           "peakGpuMemory", "energyConsumed", "carbonEmissions")),  # a run's totals and peaks, written after each cell
}
#: Predicates of the journal lines whose terms ingest reads.
_READ = frozenset(FUNCTIONAL | _SUMMARISED | {STATUS, STARTED, PART_OF, ORDER, HAS_INPUT, HAS_OUTPUT, SERIES_CHUNK})
#: Lines (quads) in one bulk write (see :meth:`Store.add_graphs`), at most
#: ``Store.BULK_LOAD_ATOMIC_QUADS``: each write adds a set of files to RocksDB, which keeps
#: the newest uncompressed, so fewer, larger writes make a smaller store.
BULK_QUADS = 800_000
#: A batch smaller than this goes in a transaction a run: a bulk write adds files to RocksDB
#: even for a handful of quads.
MIN_BULK_QUADS = 10_000
#: Journals from which an import reads them in worker processes: starting those costs
#: about half a second, the reading of a journal 5 to 10 ms.
PARALLEL_JOURNALS = 200
#: Bulk writes under way at once (Oxigraph parses and sorts without the GIL, so one
#: batch's parsing overlaps the other's sorting while the next is read).
WRITERS = 2
#: An import that grew the embedded store by this share of what it held before, and by
#: ``COMPACT_MIN_BYTES`` at least, ends by compacting it (:meth:`Store.compact`): the
#: compactions then rewrite a bounded multiple of what imports wrote, however many.
COMPACT_GROWTH = 0.25
COMPACT_MIN_BYTES = 64 << 20
JOURNAL_LINE = re.compile(r"^mlprov: recording run (\S+) \(journal: (.+\.nt)\)$", re.M)


@dataclass(frozen=True)
class IngestResult:
    run: str
    status: str  # Completed | Failed | Interrupted
    triples: int
    journal: Path


# -- plans and ontology ----------------------------------------------------------------


def _ox_triples(graph: rdflib.Graph) -> list[ox.Triple]:
    data = graph.serialize(format="nt", encoding="utf-8")
    return list(ox.parse(data, format=ox.RdfFormat.N_TRIPLES))


def inferred_graph_iri(plan_iri: str) -> str:
    return vocab.INFERRED_BASE + hashlib.sha256(plan_iri.encode("utf-8")).hexdigest()[:16]


def ensure_ontology(store: Store) -> None:
    if store.has_graph(vocab.ONTOLOGY_GRAPH):
        return
    graph = rdflib.Graph().parse(ontology_dir() / "mlprov.ttl", format="turtle")
    store.replace_graph(vocab.ONTOLOGY_GRAPH, _ox_triples(graph))


def store_plan(store: Store, graph: rdflib.Graph, plan: Plan) -> None:
    """Keep the plan's exact triples in its own graph, the inverse P-Plan links beside it."""
    ensure_ontology(store)
    store.replace_graph(plan.iri, _ox_triples(graph))
    pplan = rdflib.Namespace(vocab.PPLAN)
    inferred = rdflib.Graph()
    for step in plan.steps:
        for p in step.inputs:
            inferred.add((rdflib.URIRef(p.iri), pplan.isInputVarOf, rdflib.URIRef(step.iri)))
        for o in step.outputs:
            inferred.add((rdflib.URIRef(o.iri), pplan.isOutputVarOf, rdflib.URIRef(step.iri)))
    store.replace_graph(inferred_graph_iri(plan.iri), _ox_triples(inferred))
    log.info("stored plan %s (%d triples)", plan.iri, len(graph))


# -- journals --------------------------------------------------------------------------

#: One statement as N-Triples terms: subject, predicate, object.
Statement = tuple[str, str, str]


def _line(statement: Statement) -> str:
    """A statement as one N-Triples line, without its line break."""
    return " ".join(statement) + " ."


@dataclass(frozen=True)
class PreparedRun:
    """A journal made ready for the store: the run graph as N-Triples lines, and the run's status."""

    journal: Path
    run: str
    graph: str
    body: str  # the run graph's statements, one N-Triples line each
    count: int  # distinct statements
    status: str
    shared: tuple[str, ...] = ()  # lines of the environment nodes the run links (``vocab.env_iri``), for ``vocab.ENV_GRAPH``

    @property
    def has_blank_nodes(self) -> bool:
        return "_:" in self.body  # or a literal that holds "_:": then it merely takes the update path

    def nquads(self, environment: Iterable[str] | None = None) -> str:
        """The run graph as N-Quads: each line's " ." becomes " <GRAPH> .".

        N-Quads, not a TriG block, because its parser takes one statement a line and
        nothing else (no prefixes, no ``;``, no ``[ ]``, no graph blocks): a journal line
        that is not one plain statement makes the write fail instead of saying more than
        it seems to. Every line of ``body`` ends in " ." and holds no carriage return
        (see ``_quick_scan``), so the replacement meets line ends only. The environment
        nodes go into the graph all runs share (written again, they change nothing):
        ``environment``, the lines of ``shared`` a batch has not written yet, or all of them.
        """
        lines = self.shared if environment is None else environment
        return self.body.replace(" .\n", f" <{self.graph}> .\n") + _environment_nquads(lines)

    @property
    def nquad_lines(self) -> int:
        """Lines of :meth:`nquads`, the shared environment's included: what a bulk write's bound counts."""
        return self.body.count("\n") + len(self.shared)

    def quads(self) -> list[ox.Quad]:
        """The run graph's quads (without the shared environment: :meth:`shared_quads`)."""
        return list(ox.parse(self.body.replace(" .\n", f" <{self.graph}> .\n"), format=ox.RdfFormat.N_QUADS))

    def shared_quads(self) -> list[ox.Quad]:
        return list(ox.parse(_environment_nquads(self.shared), format=ox.RdfFormat.N_QUADS))


_IN_ENV_GRAPH = f" <{vocab.ENV_GRAPH}> .\n"


def _environment_nquads(lines: Iterable[str]) -> str:
    """Environment lines (N-Triples) as N-Quads in ``vocab.ENV_GRAPH``."""
    return "".join(line[:-2] + _IN_ENV_GRAPH for line in lines)


@dataclass(frozen=True)
class Finished:
    """What ingest changes in a journal: the statements it leaves out, those it adds."""

    dropped: frozenset[Statement]  # superseded values, and the run's status as the kernel saw it
    derived: list[Statement]  # status, ends, direct values, the bundle's own description
    status: str  # Completed | Failed | Interrupted


class JournalRefused(UserError):
    """One journal that cannot be stored as it is; the message names it, the line and what to do."""

    def __init__(self, journal: Path, message: str):
        super().__init__(message)
        self.journal = journal

    def __reduce__(self):  # from a worker process (``worker_pool``): both arguments
        return type(self), (self.journal, str(self))


class JournalsRefused(UserError):
    """Some journals were refused (none of them stored or marked); every other one was stored."""

    def __init__(self, stored: list[IngestResult], refused: list[JournalRefused]):
        self.stored, self.refused = stored, refused
        if len(refused) == 1:
            others = f"; {_journals(len(stored), 'other')} stored" if stored else ""
            message = f"{refused[0]}{others}"
        else:
            message = f"{len(refused)} journals refused, {len(stored)} stored; the first: {refused[0]}"
        super().__init__(message)


def _journals(n: int, which: str) -> str:
    return f"the {which} journal was" if n == 1 else f"the {n} {which} journals were"


class RunsNotStored(UserError):
    """A store write failed: the runs it names are not stored, their journals kept and not marked."""


_AGENT_CLASSES = {_nt(vocab.PROV + c) for c in ("Agent", "Person", "SoftwareAgent")}
#: What a journal may say about the agents that every run shares (see capture's ``_describe_run``).
_AGENT_PREDICATES = {RDF_TYPE, _nt(vocab.RDFS + "label"), _nt(vocab.MLPROV + "version")}
_RUN_CLASS = _nt(vocab.MLS + "Run")
_ENV_SUBJECT = "<" + vocab.ENV_BASE


def _shared_environment(path: Path, lines: list[str]) -> tuple[list[str], list[str]]:
    """The journal's lines apart from those describing environment nodes, and those (distinct).

    An environment node is named by what it says (``vocab.env_iri``): a node whose lines
    do not give back its name, or that holds a blank node or a line the parser cannot read,
    is refused, so that a journal cannot change another run's environment.
    """
    own, shared = [], {}
    for number, line in enumerate(lines, 1):
        if line.startswith(_ENV_SUBJECT):
            shared.setdefault(line, number)
        else:
            own.append(line)
    if not shared:
        return own, []
    found = _environment_problem(tuple(shared))
    if found is not None:
        index, problem = found
        line, number = list(shared.items())[index]
        if problem is None:
            _line_statement(path, number, line)  # refuses a statement in a named graph as such
            problem = ("an environment node's statement that is not one N-Triples statement without blank nodes; "
                       "remove the line")
        raise JournalRefused(path, f"{path}: line {number}: {problem}")
    return own, list(shared)


@functools.lru_cache(maxsize=64)
def _environment_problem(lines: tuple[str, ...]) -> tuple[int, str | None] | None:
    """The first of the environment lines that cannot be stored (its index, and why, None
    for a line that is not one N-Triples statement without blank nodes), or None.

    Cached: the runs of one machine share their environment, so an import of many of
    them checks the same lines (a package list: a fifth of a run's lines) once.
    """
    try:  # one parse for all of them; a line at a time only to name the one that does not parse
        parsed = list(ox.parse("\n".join(lines), format=ox.RdfFormat.N_TRIPLES))
    except SyntaxError:
        parsed = []
    if len(parsed) != len(lines) or any(isinstance(t.object, ox.BlankNode) for t in parsed):
        for index, line in enumerate(lines):
            try:
                one = list(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))
            except SyntaxError:
                one = []
            if len(one) != 1 or isinstance(one[0].object, ox.BlankNode):
                return index, None
    described: dict[str, list[str]] = {}
    for line in lines:
        subject, _, rest = line.partition(" ")
        described.setdefault(subject, []).append(rest[:-2])
    for subject, description in described.items():
        kind = subject[len(_ENV_SUBJECT):-1].rpartition(":")[0]
        if not kind or vocab.env_iri(kind, description) != subject[1:-1]:
            index = next(i for i, line in enumerate(lines) if line.startswith(subject + " "))
            return index, (f"the environment node {subject} is not named by what its lines say "
                           f"({vocab.ENV_BASE}KIND:HASH, see docs/data-model.md); a journal cannot change a shared "
                           "node: remove its lines, or ingest the journal capture wrote")
    return None


def _about_own_run(subject: str, predicate: str, obj: str, run: str) -> bool:
    """Whether a statement (N-Triples terms) is one the run's journal may hold: about the
    run, a node under ``RUN/``, its bundle, the shared agents as capture describes them, or
    an environment node (whose name ``_shared_environment`` checks against what it says)."""
    if subject == f"<{run}>" or subject.startswith(f"<{run}/") or subject.startswith(_ENV_SUBJECT):
        return True
    if subject == _nt(vocab.bundle_iri(vocab.run_id_of(run))):
        return True
    return (
        subject.startswith(f"<{vocab.AGENT_BASE}")
        and predicate in _AGENT_PREDICATES
        and (predicate != RDF_TYPE or obj in _AGENT_CLASSES)
    )


def _line_statement(path: Path, number: int, line: str) -> Statement | None:
    """The statement of one journal line, parsed; None for a comment or a line that is not
    exactly one N-Triples statement. A statement in a named graph is refused: a journal's
    graph is its run's."""
    try:
        quads = list(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))
    except SyntaxError:
        try:
            quads = list(ox.parse(line, format=ox.RdfFormat.N_QUADS))
        except SyntaxError:
            return None
        raise JournalRefused(
            path, f"{path}: line {number}: a statement in the named graph {quads[0].graph_name}; a journal holds "
            "N-Triples about its own run only: remove the graph name or the line"
        ) from None
    if len(quads) != 1:  # a comment, or a carriage return that makes one line two statements
        return None
    q = quads[0]
    return str(q.subject), str(q.predicate), str(q.object)


def _one_iri(term: str) -> bool:
    return term[:1] == "<" and term.find(">") == len(term) - 1


def _plain_literal(rest: str) -> bool:
    """Whether ``rest`` (what follows the predicate, ending in " .") is one literal, told
    without a parser: no quote before the closing one, then nothing, a datatype or a language."""
    close = rest.find('"', 1)
    if close < 0 or rest[close - 1] == "\\":
        return False
    tail = rest[close + 1 : -2]
    if not tail:
        return True
    if tail[:3] == "^^<":
        return tail.find(">") == len(tail) - 1
    return tail[:1] == "@" and tail[1:].replace("-", "").isalnum()


@dataclass
class _Scan:
    """What one reading of a journal's lines found."""

    statements: list[Statement]  # those whose predicates ingest reads (``_READ``)
    strict: bool  # a line that is not plain N-Triples: the lines must each go through the parser


def _scan(path: Path, lines: list[str], run: str) -> _Scan:
    """Read the journal's lines, and refuse it unless it records its run and only its run.

    A line that starts with the run's IRI and is one plain N-Triples statement is told by
    looking at it (the quick reading ingest needs at 10,000 runs); any other line goes
    through the parser, and its subject must be the journal's own (``_about_own_run``).
    A journal that names no run, or another run than its file name, is refused first.
    """
    quick = _quick_scan(lines, run)
    if quick is not None:
        return quick
    own, under = f"<{run}> ", f"<{run}/"
    statements: list[Statement] = []
    strict = False
    has_run = False
    other_runs: list[tuple[int, str]] = []
    foreign: tuple[int, str] | None = None
    for number, line in enumerate(lines, 1):
        s, _, rest = line.partition(" ")
        p, _, o = rest.partition(" ")
        # One IRI, one IRI, one IRI or literal, " .": the N-Quads parser reads it as the statement it seems.
        # (Written out here rather than called: this runs for every line of every journal.)
        plain = (
            line.startswith((own, under)) and s.find(">") == len(s) - 1 and p[:1] == "<" and p.find(">") == len(p) - 1
            and o[-2:] == " ." and (o.find(">") == len(o) - 3 if o[:1] == "<" else o[:1] == '"' and _plain_literal(o))
        )
        if not plain:
            statement = _line_statement(path, number, line)
            if statement is None:
                strict = strict or bool(line.strip()) and not line.lstrip().startswith("#")
                continue
            s, p, o = statement
            o += " ."
            if foreign is None and not _about_own_run(s, p, o[:-2], run):
                foreign = (number, s)
        if p == RDF_TYPE and o[:-2] == _RUN_CLASS:
            if s == own[:-1]:
                has_run = True
            else:
                other_runs.append((number, s))
        elif p in _READ:
            statements.append((s, p, o[:-2]))
    if not has_run:
        if other_runs:
            named = other_runs[0][1][1:-1]
            fix = (f"rename it {vocab.run_id_of(named)}.nt" if named.startswith(vocab.RUN_BASE)
                   else "give the journal file its run wrote")
            raise JournalRefused(path, f"{path}: the journal of run <{named}> (line {other_runs[0][0]}), "
                                       f"but its name says run <{run}>: {fix}")
        raise JournalRefused(path, f"{path}: records no run (no line '<{run}> a mls:Run'): it is empty, cut "
                                   "short before its first cell or not a journal; ingest the journal a notebook wrote")
    if other_runs:
        number, named = other_runs[0]
        raise JournalRefused(path, f"{path}: line {number}: describes a second run {named}; a journal records "
                                   f"its own run <{run}> only: remove the line")
    if foreign is not None:
        number, subject = foreign
        raise JournalRefused(path, f"{path}: line {number}: a statement about {subject}, which is not this "
                                   f"journal's run <{run}>; a journal holds statements about its own run only: "
                                   "remove the line")
    return _Scan(statements, strict)


def _quick_scan(lines: list[str], run: str) -> _Scan | None:
    """The statements ingest reads, if every line is plainly about the run; else None.

    The reading ingest needs at 10,000 runs: one split of each line at its first two
    spaces. A line passes when its subject is the run, a node under ``RUN/``, its bundle or
    a shared agent (as ``_about_own_run`` allows), it ends in " ." and the journal has no
    carriage return; the run is typed ``mls:Run`` and nothing else is. Whether each line
    is one well-formed statement is then the N-Quads parser's to say when the run is
    written (see :meth:`PreparedRun.nquads`). Anything else takes the careful reading of
    ``_scan``, which names the line.
    """
    own, under = f"<{run}>", f"<{run}/"
    run_type = _RUN_CLASS + " ."
    statements: list[Statement] = []
    typed = False
    for line in lines:
        s, _, rest = line.partition(" ")
        p, _, o = rest.partition(" ")
        if o[-2:] != " ." or "\r" in line:
            return None
        # One object and no graph name after it (written out: this runs for every line).
        # A literal is looked at from its closing quote on, which is short.
        if o[:1] == "<":
            if o.find(">") != len(o) - 3:
                return None
        elif " " in (o[o.rfind('"') + 1 : -2] if o[:1] == '"' else o[:-2]):
            return None
        if p == RDF_TYPE and o == run_type:
            if s != own or typed:
                return None
            typed = True
        if not (s == own or s.startswith(under) or _about_own_run(s, p, o[:-2], run)):  # the first two: most lines
            return None
        if p in _READ:
            statements.append((s, p, o[:-2]))
    return _Scan(statements, strict=False) if typed else None


def _parse_lines(path: Path, lines: list[str]) -> list[Statement]:
    """Every statement, each line through the parser; a line it cannot read is skipped."""
    statements: list[Statement] = []
    for number, line in enumerate(lines, 1):
        statement = _line_statement(path, number, line)
        if statement is not None:
            statements.append(statement)
        elif line.strip() and not line.lstrip().startswith("#"):
            log.warning("%s: line %d: skipped an unreadable journal line: %.80s", path, number, line)
    return statements


def _last_wins(statements: list[Statement]) -> list[Statement]:
    """The journal without repeated statements and without superseded functional values."""
    latest = {(st[0], st[1]): st for st in statements if st[1] in FUNCTIONAL}
    kept = (st for st in statements if st[1] not in FUNCTIONAL or latest[(st[0], st[1])] == st)
    return list(dict.fromkeys(kept))


def _lexical(literal: str) -> str:
    """The lexical form of a literal in N-Triples form, for the plain values ingest reads."""
    return literal[1 : literal.rindex('"')]


#: The end of an evaluation's IRI when a second step of its class logged it (``.../metric/accuracy/test/step/9``).
REPEATED_STEP = re.compile(r"/step/[0-9]+>$")


def direct_values(statements: list[Statement], run: str) -> list[Statement]:
    """The run's settings and final evaluations as direct properties of the run.

    ``<run> param:optimizer "Adam"`` for each setting, ``<run> test:accuracy 0.97`` for
    each evaluation on a split that is neither per epoch nor per class: one lookup per
    value for queries over many runs, instead of a scan of the run's inputs and
    outputs. ``run`` and the statements are in N-Triples form, after last-wins.
    """
    inputs, outputs, starts = [], [], []
    facts: dict[str, dict[str, str]] = {}
    for s, p, o in statements:
        if s == run:
            if p == HAS_INPUT:
                inputs.append(o)
            elif p == HAS_OUTPUT:
                outputs.append(o)
            elif p == STARTED:
                starts.append(o)
        elif p in _SUMMARISED:
            facts.setdefault(s, {})[p] = o
    # The run's start under a property only runs have: the newest runs without reading every
    # cell's start; and its second, which pages of runs in start order are read by.
    out: list[Statement] = []
    if starts:
        out += [(run, RUN_STARTED, starts[0]), (run, START_SECOND, str(ox.Literal(start_second(_lexical(starts[0])))))]
    for node in sorted(set(inputs)):
        f = facts.get(node, {})
        if PARAMETER_NAME in f and HAS_VALUE in f:
            out.append((run, _nt(vocab.param_property(_lexical(f[PARAMETER_NAME]))), f[HAS_VALUE]))
    for node in sorted(set(outputs)):
        f = facts.get(node, {})
        measure = f.get(SPECIFIED_BY)
        if measure is None or HAS_VALUE not in f or EPOCH in f or FOR_CLASS in f or REPEATED_STEP.search(node):
            continue  # a repeated step's evaluations stay on their nodes: the run's direct values are the first step's
        split = _lexical(f[SPLIT_NAME]) if SPLIT_NAME in f else None
        name = measure[1:-1].rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        out.append((run, _nt(vocab.metric_namespace(split) + name), f[HAS_VALUE]))
    return out


def with_direct_values(run: str, triples: list[ox.Triple]) -> list[ox.Triple]:
    """A run graph written other than from a journal (an import), with its direct values."""
    statements = [(str(t.subject), str(t.predicate), str(t.object)) for t in triples]
    text = "".join(_line(st) + "\n" for st in direct_values(statements, _nt(run)))
    return triples + list(ox.parse(text, format=ox.RdfFormat.N_TRIPLES))


def _time(literal: str) -> datetime:
    return datetime.fromisoformat(_lexical(literal))


def finish_run(statements: list[Statement], run_iri: str) -> Finished:
    """Derive status, end, duration and the direct values from the journal's statements.

    ``statements`` may be only those with the predicates in ``_READ``.
    """
    run = _nt(run_iri)
    planned_done = False
    cells = set()
    for s, p, o in statements:
        if p == PART_OF:
            if o == run:
                cells.add(s)
        elif p == STATUS and o == COMPLETED and s == run:
            planned_done = True
    kept = _last_wins(statements)
    dropped = set(statements).difference(kept)
    ended, order, cell_status, starts = {}, {}, {}, []
    for st in kept:
        s, p, o = st
        if p == STATUS:
            if s == run:
                dropped.add(st)
            elif s in cells:
                cell_status[s] = o
        elif p == ENDED:
            ended[s] = o
        elif p == ORDER:
            if s in cells:
                order[s] = int(_lexical(o))
        elif p == STARTED and s == run:
            starts.append(o)
    derived: list[Statement] = []
    for cell in sorted(cells - set(ended)):
        derived.append((cell, STATUS, INTERRUPTED))
        cell_status[cell] = INTERRUPTED
    # The notebook ended where its last cell ended: in an error, cut off, or after the plan.
    last = cell_status.get(max(order, key=order.get)) if order else None
    status = FAILED if last == FAILED else COMPLETED if planned_done and last == COMPLETED else INTERRUPTED
    derived.append((run, STATUS, status))
    derived += direct_values(kept, run)
    dropped_chunks, series_statements = merged_series(statements)
    dropped |= dropped_chunks
    derived += series_statements
    if run not in ended and starts:
        ends = sorted((ended[c] for c in cells if c in ended), key=_time)
        end = ends[-1] if ends else starts[0]
        seconds = (_time(end) - _time(starts[0])).total_seconds()
        derived.append((run, ENDED, end))
        derived.append((run, DURATION, f'"{seconds:.6f}"^^<{vocab.XSD}decimal>'))
    bundle = _nt(vocab.bundle_iri(vocab.run_id_of(run_iri)))
    derived += [
        (bundle, RDF_TYPE, _nt(vocab.PPLAN + "Bundle")),
        (bundle, RDF_TYPE, _nt(vocab.PROV + "Bundle")),
        (bundle, _nt(vocab.PROV + "wasGeneratedBy"), run),
    ]
    return Finished(frozenset(dropped), derived, status[1:-1].rsplit("#", 1)[1])


def merged_series(statements: list[Statement]) -> tuple[set[Statement], list[Statement]]:
    """Each series' chunks (``mlprov:seriesChunk``, in journal order), to leave out, and
    the statements that replace them: the one ``mlprov:series`` literal, and its last epoch
    as ``mlprov:epoch`` and ``mls:hasValue`` (what a query without JSON reads: table1's
    final training loss)."""
    chunks: dict[str, list[list[tuple[int, object]]]] = {}
    dropped: set[Statement] = set()
    for st in statements:
        if st[1] == SERIES_CHUNK:
            try:
                chunks.setdefault(st[0], []).append(series.decode(capture.literal_text(st[2])))
            except (ValueError, KeyError, TypeError):  # a line edited by hand: kept as it is, not lost
                log.warning("%s: a series chunk that is not {\"epochs\":[...],\"values\":[...]}: kept unmerged: %.80s",
                            st[0], st[2])
                continue
            dropped.add(st)
    derived: list[Statement] = []
    for node, decoded in chunks.items():
        points = series.merged(decoded)
        if not points:
            continue
        epoch, value = points[-1]
        derived += [
            (node, SERIES, series.literal(points)),
            (node, EPOCH, capture._lit(epoch)),
            (node, HAS_VALUE, capture._lit(value)),
        ]
    return dropped, derived


#: An evaluation node an earlier mlprov wrote for each epoch: ``.../metric/training_loss/train/epoch/7``.
_EPOCH_NODE = re.compile(r"^(<.+)/epoch/[0-9]+((?:/step/[0-9]+)?>)$")
_PROV_ENTITY = _nt(vocab.PROV + "Entity")


def folded_epoch_nodes(statements: list[Statement]) -> list[Statement]:
    """A journal an earlier mlprov wrote, its per-epoch nodes as series chunks: each node's
    value becomes a one-epoch chunk of the series node its measure, split and class name,
    and its links (measure, split, cell, model, the run's output) the series node's."""
    nodes: dict[str, tuple[str, int]] = {}
    for s, p, o in statements:
        if p == EPOCH and (m := _EPOCH_NODE.match(s)):
            nodes[s] = (m[1] + series.SERIES_SEGMENT + m[2], int(_lexical(o)))
    if not nodes:
        return statements
    out: list[Statement] = []
    for s, p, o in statements:
        if s in nodes:
            node, epoch = nodes[s]
            if p == HAS_VALUE:
                value = capture.literal_text(o)
                number = float(value) if o.endswith(f"<{vocab.XSD}double>") else int(value) if o.endswith(f"<{vocab.XSD}integer>") else value
                out.append((node, SERIES_CHUNK, series.literal([(epoch, number)])))
            elif p != EPOCH and (p, o) != (RDF_TYPE, _PROV_ENTITY):
                out.append((node, p, o))
        else:
            out.append((s, p, nodes[o][0]) if o in nodes else (s, p, o))
    return list(dict.fromkeys(out))


def _checked_name(path: Path) -> Path:
    """The journal's path, if its name is a run id (``RUN-ID.nt``, or ``RUN-ID.nt.gz`` once ingested)."""
    path = Path(path)
    plain = plain_journal(path)
    if not vocab.RUN_ID.fullmatch(plain.stem) or plain.suffix != ".nt":
        raise JournalRefused(path, f"{path}: not named as mlprov names journals (RUN-ID.nt, letters, digits, "
                                   "'.', '_' or '-'); give it back the name its run wrote")
    return path


#: Keep ingested journals as plain text when this environment variable is set (not "", "0", "false", "no").
KEEP_PLAIN_JOURNALS = "MLPROV_KEEP_PLAIN_JOURNALS"


def plain_journal(path: Path) -> Path:
    """``RUN.nt`` for ``RUN.nt`` or ``RUN.nt.gz``: the name the run's journal has while it is written."""
    path = Path(path)
    return path.with_name(path.name[:-3]) if path.name.endswith(".nt.gz") else path


def compressed_journal(path: Path) -> Path:
    """``RUN.nt.gz``: what an ingested journal is kept as, unless plain text is asked for."""
    return plain_journal(path).with_name(plain_journal(path).name + ".gz")


def journal_exists(path: Path) -> bool:
    """Whether ``RUN.nt`` or ``RUN.nt.gz`` is there, as a file."""
    return plain_journal(path).is_file() or compressed_journal(path).is_file()


def read_journal(path: Path) -> bytes:
    """A journal's bytes, ``RUN.nt`` or ``RUN.nt.gz`` named: the compressed part ingested
    before, then the plain lines the kernel appended since (either may be absent)."""
    plain, packed = plain_journal(path), compressed_journal(path)
    data = gzip.decompress(packed.read_bytes()) if packed.is_file() else b""
    if plain.is_file() or not packed.is_file():
        data += plain.read_bytes()
    return data


def _journal_text(path: Path) -> str:
    """The journal's text; a journal that is not a readable UTF-8 file is refused."""
    packed = compressed_journal(path)
    if not journal_exists(path):
        what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        raise JournalRefused(path, f"{path}: {what}, not a journal; name the .nt file a run wrote")
    try:
        data = read_journal(path)
    except OSError as error:
        raise JournalRefused(path, f"{path}: cannot read the journal ({error.strerror}); "
                                   "make it readable and run 'mlprov ingest' again") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise JournalRefused(path, f"{packed}: the compressed journal is damaged ({error}); restore it from a "
                                   "backup, or remove it and its .ingested marker to keep only what the store holds") from None
    if not data or data.isspace():
        raise JournalRefused(path, f"{path}: the journal is empty, so it records no run; "
                                   "remove it, or ingest the journal the notebook wrote")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JournalRefused(path, f"{path}: not a journal: byte {error.start} is not UTF-8 text (a journal is "
                                   "the N-Triples a notebook wrote); give the journal file its run wrote") from None


def _set_aside(path: Path, run: str, lines: list[str]) -> list[capture.LargeValue]:
    """Over-size values of a journal written before capture kept them in files: each line
    is replaced by its preview (the pointer lines go at the end), as capture does now."""
    values = []
    for index, line in enumerate(lines):
        if len(line) <= capture.LARGE_VALUE_CHARS:
            continue
        s, _, rest = line.partition(" ")
        p, _, o = rest.partition(" ")
        where = f"{path}: line {index + 1}: a statement of {len(line):,} characters"
        if not (line.startswith((f"<{run}> ", f"<{run}/")) and _one_iri(s) and _one_iri(p)):
            raise JournalRefused(path, f"{where} about {s[:200]}, not about this journal's run <{run}>; "
                                       "remove the line")
        if o[:1] != '"' or o[-2:] != " ." or len(o) <= capture.LARGE_VALUE_CHARS:
            raise JournalRefused(path, f"{where} whose object is not a literal value; no store holds "
                                       "a term that long: remove the line")
        value = capture.large_value(capture.value_folder(path), run, s[1:-1], p[1:-1], o[:-2])
        lines[index] = value.preview
        lines += value.lines
        values.append(value)
    return values


def prepare(path: Path, *, line_by_line: bool = False) -> PreparedRun:
    """One journal, checked, read and finished; a line cut off by a killed kernel is dropped.

    A journal is refused (:class:`JournalRefused`) unless its name is a run id, it records
    that run, and every statement in it is about that run (see ``_scan``). The capture
    writes one statement a line, IRIs and literals in N-Triples form: ingest reads the terms
    of the lines whose predicates it needs (``_READ``) and keeps the others as they are;
    Oxigraph's parser checks every line when the run is written. With ``line_by_line`` (a
    journal that did not parse), or where a line is not plain N-Triples, every line goes
    through that parser first, and a line it cannot read is skipped with a warning. A value
    over ``capture.LARGE_VALUE_CHARS`` is moved to a file beside the journal, as capture
    does; the journal itself is never changed.
    """
    path = _checked_name(path)
    plain = plain_journal(path)  # the name the run's id comes from, compressed or not
    run = vocab.run_iri(plain.stem)
    complete, _, cut = _journal_text(path).rpartition("\n")
    if cut:
        log.warning("%s: dropped a line cut off at the end: %.80s", path, cut)
    lines = complete.split("\n") if complete else []
    values = _set_aside(plain, run, lines) if len(complete) > capture.LARGE_VALUE_CHARS else []
    scan = _scan(path, lines, run)
    lines, shared = _shared_environment(path, lines)
    for value in values:
        try:
            value.write()
        except OSError as error:
            raise JournalRefused(path, f"{value.path}: cannot keep a value of {len(value.data):,} bytes beside the "
                                       f"journal ({error.strerror}); free space there and run 'mlprov ingest' again") from None
    if line_by_line or scan.strict or any(st[1] == EPOCH for st in scan.statements):
        # (mlprov:epoch in a journal: an earlier mlprov's per-epoch nodes, folded into series)
        statements = folded_epoch_nodes(_parse_lines(path, lines))
        finished = finish_run(statements, run)
        lines = [_line(st) for st in statements if st not in finished.dropped]
    else:
        finished = finish_run(scan.statements, run)
        if finished.dropped:
            drop = {_line(st) for st in finished.dropped}
            lines = [line for line in lines if line not in drop]
    derived = [_line(st) for st in finished.derived]
    if kept := run_record.kept_record_line(run, lines + shared + derived):  # the run's page in one read
        derived.append(kept)
    count = len(set(lines).union(derived))
    body = "\n".join(lines + derived) + "\n"
    return PreparedRun(path, run, vocab.bundle_iri(plain.stem), body, count, finished.status, tuple(shared))


def _disk_full(error: OSError) -> bool:
    """ENOSPC or EDQUOT; Oxigraph reports RocksDB's as text without an errno."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT) or any(
        text in str(error) for text in ("No space left on device", "Disk quota exceeded"))


@contextmanager
def _storing(store: Store | RemoteStore, runs: list[PreparedRun]) -> Iterator[None]:
    """One store write; a failed one says which runs are not stored, and that their journals are kept."""
    named = f"run {runs[0].run} was" if len(runs) == 1 else f"runs {runs[0].run} and {len(runs) - 1} others were"
    kept = "its journal is" if len(runs) == 1 else "their journals are"
    try:
        yield
    except StoreUnreachable as error:
        raise RunsNotStored(f"{error}; {named} not stored: {kept} kept, and 'mlprov ingest --store "
                            f"{store.location.display}' records it once the server is back") from None
    except OSError as error:
        if _disk_full(error):
            raise RunsNotStored(f"the disk holding {store.location.display} is full: {named} not stored; {kept} "
                                "kept; free space and run 'mlprov ingest'") from None
        raise RunsNotStored(f"{store.location.display}: cannot write to the store ({error}): {named} not stored; "
                            f"{kept} kept; fix the store and run 'mlprov ingest'") from None


def _write(store: Store | RemoteStore, prepared: PreparedRun) -> IngestResult:
    try:
        quads = prepared.quads()
    except SyntaxError:  # a line that looked whole but is not N-Triples: read line by line
        prepared = prepare(prepared.journal, line_by_line=True)
        quads = prepared.quads()
    with _storing(store, [prepared]):
        new = not store.has_graph(prepared.graph)  # a run written again: its plan's summary recomputed
        count = store.replace_graph(prepared.graph, quads, shared=prepared.shared_quads())
        run_summaries.refresh_runs(store, [prepared.run], new=new)  # before the journal is marked: a crash between re-ingests it
    return _recorded(prepared, count)


def _write_one(store: Store | RemoteStore, prepared: PreparedRun) -> IngestResult | JournalRefused:
    """:func:`_write`, with a journal refused on its second reading returned, not raised."""
    try:
        return _write(store, prepared)
    except JournalRefused as refusal:
        return refusal


def _recorded(prepared: PreparedRun, count: int) -> IngestResult:
    """A run now in the store: its journal marked as ingested, and the result."""
    try:
        _mark_ingested(prepared.journal)
    except OSError as error:
        full = "the disk is full" if _disk_full(error) else error.strerror
        raise RunsNotStored(f"{_marker(prepared.journal)}: cannot mark the journal as ingested ({full}): run "
                            f"{prepared.run} is stored, the runs after it are not; free space and run 'mlprov "
                            "ingest' (it stores nothing twice)") from None
    log.info("ingested %s: %s, %d triples", prepared.run, prepared.status, count)
    return IngestResult(prepared.run, prepared.status, count, prepared.journal)


def _prepared(path: Path) -> PreparedRun | JournalRefused:
    """:func:`prepare`, a refusal returned, not raised (what a worker process hands back)."""
    try:
        return prepare(path)
    except JournalRefused as refusal:
        return refusal


def ingest_journal(store: Store | RemoteStore, path: Path) -> IngestResult:
    """One journal into its run's named graph: one transaction, idempotent."""
    return _write(store, prepare(path))


def _compact_if_grown(store: Store, before: int) -> None:
    """Compact the store when the import grew it enough (``COMPACT_GROWTH``). The runs are
    stored by now: a compaction that fails (a full disk) is a warning, not a lost import."""
    grown = store.data_bytes() - before
    if grown < COMPACT_MIN_BYTES or grown < COMPACT_GROWTH * before:
        return
    log.info("compacting the store after an import that grew it from %.0f MB by %.0f MB", before / 1e6, grown / 1e6)
    try:
        done = store.compact()
    except (OSError, RuntimeError) as error:
        log.warning("%s: the store was not compacted (%s); the runs are stored; `mlprov store compact` tries again",
                    store.location.display, error)
        return
    log.info("compacted the store in %.1f s: %.0f MB", done.seconds, done.after / 1e6)


def ingest_journals(
    store: Store | RemoteStore, paths: Iterable[Path], *, on_run: Callable[[int, int], None] | None = None
) -> list[IngestResult]:
    """Many journals, each run written whole or not at all, as :func:`ingest_journal` does.

    On the embedded store, runs whose graphs do not exist yet go in batches of up to
    ``BULK_QUADS`` quads through :meth:`Store.add_graphs`, one atomic write a batch and
    ``WRITERS`` under way at once: several times faster than a transaction a run. A run
    already in the store (the store's graphs are read once, at the start) is replaced in a
    transaction of its own. From ``PARALLEL_JOURNALS`` journals on, worker processes (one
    a CPU) read them (:func:`prepare`, which is Python and most of the time) while this
    process writes. A server store gets one request a run. Results come in the
    order of ``paths``; a journal named twice is ingested once. ``on_run(done, total)`` is called as journals are stored or refused.

    A journal that is refused stops no other: every good one is stored, then
    :class:`JournalsRefused` names the refused ones (none of them stored or marked). A
    failed store write stops the import with :class:`RunsNotStored`; the runs stored
    before it are stored and marked.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    results: dict[Path, IngestResult] = {}
    refused: list[JournalRefused] = []

    def done(outcomes: Iterable[IngestResult | JournalRefused]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, JournalRefused):
                refused.append(outcome)
            else:
                results[outcome.journal] = outcome
        if on_run is not None:
            on_run(len(results) + len(refused), len(unique))

    def prepared_runs() -> Iterator[PreparedRun]:
        cpus = worker_pool.usable_cpus()
        if len(unique) >= PARALLEL_JOURNALS and cpus > 1:
            outcomes = worker_pool.ordered_map(_prepared, unique, workers=cpus)
        else:
            outcomes = map(_prepared, unique)
        for outcome in outcomes:
            if isinstance(outcome, JournalRefused):
                done([outcome])
            else:
                yield outcome

    before = store.data_bytes() if isinstance(store, Store) else 0
    with run_summaries.deferred(store):  # the plans' summaries once, after the last run
        if not isinstance(store, Store):
            for prepared in prepared_runs():
                done([_write_one(store, prepared)])
        else:
            # The graphs there are, read once: the store's write lock keeps them so meanwhile.
            known = store.graph_names()
            stored_environment: set[str] = set()  # lines a finished batch wrote: the next ones leave them out
            batch = _Batch(store, stored_environment)
            with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="mlprov-ingest") as writers:
                pending: deque[Future] = deque()

                def collect(keep: int = 0) -> None:
                    while len(pending) > keep:
                        done(pending.popleft().result())

                def submit() -> None:
                    nonlocal batch
                    batch.close()
                    collect(keep=WRITERS - 1)
                    pending.append(writers.submit(_write_batch, store, batch))
                    batch = _Batch(store, stored_environment)

                try:
                    for prepared in prepared_runs():
                        lines = prepared.nquad_lines
                        if prepared.has_blank_nodes or prepared.graph in known or lines > BULK_QUADS:
                            if any(p.graph == prepared.graph for p in batch.runs):  # one run twice, by two names
                                submit()
                            collect()
                            done([_write_one(store, prepared)])
                            continue
                        if batch.lines + lines > BULK_QUADS:
                            submit()
                        known.add(prepared.graph)
                        batch.add(prepared)
                    batch.close()
                    collect()
                except BaseException:  # the batches under way are written and marked all the same
                    batch.discard()
                    raise
            done(_write_batch(store, batch))
    if isinstance(store, Store):
        _compact_if_grown(store, before)
    stored = [results[p] for p in unique if p in results]
    if refused:
        raise JournalsRefused(stored, refused)
    return stored


@dataclass
class _Batch:
    """New runs on their way to one bulk write: their N-Quads in a file the loader streams
    (see :meth:`Store.bulk_file`), not in memory; the runs kept for their results.

    The environment lines go in once: those of ``stored`` (written by a batch of the same
    import that has finished) and those already in this batch are left out, which is most
    of a run's environment (its packages). A line counts as stored only once its batch is
    in the store, so a batch that fails takes nothing from the ones after it.
    """

    store: Store
    stored: set[str]
    path: Path = field(init=False)
    runs: list[PreparedRun] = field(default_factory=list)
    lines: int = 0
    environment: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.store.bulk_file()
        self._out = open(self.path, "w", encoding="utf-8", newline="")
        self.environment = set(self.stored)

    def add(self, prepared: PreparedRun) -> None:
        new = [line for line in prepared.shared if line not in self.environment]
        with _storing(self.store, [prepared]):  # the file is on the store's disk: a full one is named so
            self._out.write(prepared.nquads(new))
        self.environment.update(new)
        self.runs.append(replace(prepared, body=""))  # the text is in the file
        self.lines += prepared.body.count("\n") + len(new)

    def close(self) -> None:
        if not self.runs:
            self._out.close()
            return
        with _storing(self.store, self.runs):
            self._out.close()

    def discard(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


def _write_batch(store: Store, batch: _Batch) -> list[IngestResult | JournalRefused]:
    """New runs in one atomic write; a few runs (under ``MIN_BULK_QUADS``), or a batch that
    does not parse, read again and written in a transaction each."""
    try:
        if batch.lines >= MIN_BULK_QUADS:
            try:
                with _storing(store, batch.runs):
                    store.add_graphs(batch.path, batch.lines)
                    batch.stored.update(batch.environment)
                    run_summaries.refresh_runs(store, [p.run for p in batch.runs], new=True)
                return [_recorded(p, p.count) for p in batch.runs]
            except SyntaxError as error:  # a journal line the quick reading let through
                log.warning("a batch of %d runs did not parse (%s); writing them one by one", len(batch.runs), error)
    finally:
        batch.discard()
    return [_write_again(store, p.journal) for p in batch.runs]


def _write_again(store: Store, journal: Path) -> IngestResult | JournalRefused:
    """A journal of a batch that was not written whole, read again and written alone."""
    try:
        return _write_one(store, prepare(journal))
    except JournalRefused as refusal:  # changed since it was first read
        return refusal


def _marker(path: Path) -> Path:
    return plain_journal(path).with_suffix(".ingested")


def _keep_plain() -> bool:
    return os.environ.get(KEEP_PLAIN_JOURNALS, "").strip().lower() not in ("", "0", "false", "no")


def _mark_ingested(path: Path) -> None:
    """Written only once the run is in the store; a marker cut short by a full disk is removed.

    The marker holds the journal's length in bytes (compressed part uncompressed, plus the
    plain part). Unless plain text is asked for (``MLPROV_KEEP_PLAIN_JOURNALS``), the journal
    is then compressed (:func:`_compress`).
    """
    marker = _marker(path)
    try:
        marker.write_text(str(_journal_length(path)), encoding="utf-8")
    except OSError:
        marker.unlink(missing_ok=True)
        raise
    if not _keep_plain():
        _compress(path)


def _journal_length(path: Path) -> int:
    """The journal's length uncompressed: the gzip trailer's size (mod 2**32) and the plain file's."""
    plain, packed = plain_journal(path), compressed_journal(path)
    length = plain.stat().st_size if plain.is_file() else 0
    if packed.is_file():
        with open(packed, "rb") as stream:
            stream.seek(-4, os.SEEK_END)
            length += int.from_bytes(stream.read(4), "little")
    return length


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _compress(path: Path) -> None:
    """``RUN.nt`` appended to ``RUN.nt.gz``, then removed: the whole journal in one gzip member.

    The plain file is held under the lock capture takes for each append (``capture.append_locked``),
    so no line written meanwhile is lost; the gzip file is written to a temporary name, synced
    and renamed before the plain file goes. A crash between the rename and the removal leaves
    lines in both, which ingest reads twice to the same graph (a journal is a set of statements,
    the last value winning), and the next ingest compresses again; so the removal is not
    synced (an undone removal is that case). Level 1: the fastest, within a fifth of the
    size level 6 gives on journals (16.7 KB against 14.1 KB a run), in half the time.
    A failure leaves the plain journal as it was, with a warning.
    """
    import fcntl

    plain, packed = plain_journal(path), compressed_journal(path)
    if not plain.is_file():
        return
    temporary = packed.with_name(packed.name + ".tmp")
    try:
        with open(plain, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # released when closed, after the removal
            data = (gzip.decompress(packed.read_bytes()) if packed.is_file() else b"") + held.read()
            with open(temporary, "wb") as out:
                out.write(gzip.compress(data, compresslevel=1, mtime=0))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, packed)
            _fsync_dir(packed.parent)
            plain.unlink()
    except (OSError, EOFError, zlib.error) as error:
        temporary.unlink(missing_ok=True)
        log.warning("%s: kept as plain text, could not compress it (%s)", plain, getattr(error, "strerror", None) or error)


def pending_journals(journal_dir: Path) -> list[Path]:
    """Journals that are new or have grown since they were last ingested: each ``RUN.nt``
    (or ``RUN.nt.gz`` where no plain part is left) whose marker is missing or older."""
    pending = []
    found = {plain_journal(p) for pattern in ("*.nt", "*.nt.gz") for p in Path(journal_dir).glob(pattern)}
    for plain in sorted(found):
        path = plain if plain.is_file() else compressed_journal(plain)
        marker = _marker(path)
        if not marker.exists() or marker.read_text(encoding="utf-8").strip() != str(_journal_length(path)):
            pending.append(path)
    return pending


def journals_of_notebook(notebook: Path) -> list[Path]:
    """The journals an executed notebook announced in its outputs."""
    import nbformat

    try:
        with warnings.catch_warnings():  # nbformat warns on stderr about cells without ids: not ours to say
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(notebook), as_version=4)
    except Exception as error:  # nbformat raises whatever its JSON reading and validation raise
        raise UserError(f"{notebook}: not a readable notebook ({' '.join(str(error).split())[:200]}); "
                        "give the executed .ipynb file") from None
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", ()):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for match in JOURNAL_LINE.finditer(text):
                found.append(Path(match.group(2)))
    return found
