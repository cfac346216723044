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

import hashlib
import logging
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

import pyoxigraph as ox
import rdflib

from . import vocab
from .errors import UserError
from .plan import Plan
from .resources import ontology_dir
from .store import RemoteStore, Store

log = logging.getLogger(__name__)

def _nt(iri: str) -> str:
    return f"<{iri}>"


# Terms as the journal writes them (N-Triples), which is how ingest compares them.
RDF_TYPE = _nt(vocab.RDF + "type")
STATUS = _nt(vocab.MLPROV + "status")
STARTED = _nt(vocab.PROV + "startedAtTime")
ENDED = _nt(vocab.PROV + "endedAtTime")
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
}
#: Predicates of the journal lines whose terms ingest reads.
_READ = frozenset(FUNCTIONAL | _SUMMARISED | {STATUS, STARTED, PART_OF, ORDER, HAS_INPUT, HAS_OUTPUT})
#: Quads in one bulk write (see :meth:`Store.add_graphs`): enough that RocksDB gets few
#: files, few enough that reading the next batch overlaps writing this one.
BULK_QUADS = 100_000
#: Bulk writes under way at once.
WRITERS = 2
#: A journal's name is its run's id, which becomes part of IRIs.
_RUN_ID = re.compile(r"[A-Za-z0-9._-]+")
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

    @property
    def has_blank_nodes(self) -> bool:
        return "_:" in self.body  # or a literal that holds "_:": then it merely takes the update path

    def trig(self) -> tuple[str, str, str]:
        """The run graph as one TriG graph block, in parts: a batch joins them with no
        copy of each body."""
        return f"<{self.graph}> {{\n", self.body, "}\n"

    def quads(self) -> list[ox.Quad]:
        return list(ox.parse("".join(self.trig()), format=ox.RdfFormat.TRIG))


@dataclass(frozen=True)
class Finished:
    """What ingest changes in a journal: the statements it leaves out, those it adds."""

    dropped: frozenset[Statement]  # superseded values, and the run's status as the kernel saw it
    derived: list[Statement]  # status, ends, direct values, the bundle's own description
    status: str  # Completed | Failed | Interrupted


def _read(lines: list[str]) -> list[Statement]:
    """The statements of the lines whose predicates ingest reads (``_READ``), split at the
    first two spaces: an IRI or blank node has none, so the rest is the object."""
    statements: list[Statement] = []
    for line in lines:
        s, _, rest = line.partition(" ")
        p, _, o = rest.partition(" ")
        if p in _READ and s[:1] == "<" and o[-2:] == " .":
            statements.append((s, p, o[:-2]))
    return statements


def _parse_lines(path: Path, lines: list[str]) -> list[Statement]:
    statements: list[Statement] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            triples = list(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))
        except SyntaxError:
            log.warning("%s: skipped an unreadable journal line: %.80s", path, line)
            continue
        statements += [(str(t.subject), str(t.predicate), str(t.object)) for t in triples]
    return statements


def _last_wins(statements: list[Statement]) -> list[Statement]:
    """The journal without repeated statements and without superseded functional values."""
    latest = {(st[0], st[1]): st for st in statements if st[1] in FUNCTIONAL}
    kept = (st for st in statements if st[1] not in FUNCTIONAL or latest[(st[0], st[1])] == st)
    return list(dict.fromkeys(kept))


def _lexical(literal: str) -> str:
    """The lexical form of a literal in N-Triples form, for the plain values ingest reads."""
    return literal[1 : literal.rindex('"')]


def direct_values(statements: list[Statement], run: str) -> list[Statement]:
    """The run's settings and final evaluations as direct properties of the run.

    ``<run> param:optimizer "Adam"`` for each setting, ``<run> test:accuracy 0.97`` for
    each evaluation on a split that is neither per epoch nor per class: one lookup per
    value for queries over many runs, instead of a scan of the run's inputs and
    outputs. ``run`` and the statements are in N-Triples form, after last-wins.
    """
    inputs, outputs = [], []
    facts: dict[str, dict[str, str]] = {}
    for s, p, o in statements:
        if s == run:
            if p == HAS_INPUT:
                inputs.append(o)
            elif p == HAS_OUTPUT:
                outputs.append(o)
        elif p in _SUMMARISED:
            facts.setdefault(s, {})[p] = o
    out: list[Statement] = []
    for node in sorted(set(inputs)):
        f = facts.get(node, {})
        if PARAMETER_NAME in f and HAS_VALUE in f:
            out.append((run, _nt(vocab.param_property(_lexical(f[PARAMETER_NAME]))), f[HAS_VALUE]))
    for node in sorted(set(outputs)):
        f = facts.get(node, {})
        measure = f.get(SPECIFIED_BY)
        if measure is None or HAS_VALUE not in f or EPOCH in f or FOR_CLASS in f:
            continue
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


def _checked_name(path: Path) -> Path:
    """The journal's path, if its name is a run id: checked where journals come in."""
    path = Path(path)
    if not _RUN_ID.fullmatch(path.stem):
        raise UserError(f"{path}: not named as mlprov names journals (RUN-ID.nt, letters, digits, '.', '_' or '-'); "
                        "give it back the name its run wrote")
    return path


def prepare(path: Path, *, line_by_line: bool = False) -> PreparedRun:
    """One journal, read and finished; a line cut off by a killed kernel is dropped.

    The capture writes one statement a line, IRIs and literals in N-Triples form: ingest
    reads the terms of the lines whose predicates it needs (``_READ``) and keeps the
    others as they are; Oxigraph's parser checks every line when the run is written.
    With ``line_by_line`` (a journal that did not parse) every line goes through that
    parser first, and a line it cannot read is skipped with a warning.
    """
    path = Path(path)
    run = vocab.run_iri(path.stem)
    complete, _, cut = path.read_text(encoding="utf-8").rpartition("\n")
    if cut:
        log.warning("%s: dropped a line cut off at the end: %.80s", path, cut)
    lines = complete.split("\n") if complete else []
    if line_by_line:
        statements = _parse_lines(path, lines)
        finished = finish_run(statements, run)
        lines = [_line(st) for st in statements if st not in finished.dropped]
    else:
        finished = finish_run(_read(lines), run)
        if finished.dropped:
            drop = {_line(st) for st in finished.dropped}
            lines = [line for line in lines if line not in drop]
    derived = [_line(st) for st in finished.derived]
    count = len(set(lines).union(derived))
    body = "\n".join(lines + derived) + "\n"
    return PreparedRun(path, run, vocab.bundle_iri(path.stem), body, count, finished.status)


def _write(store: Store | RemoteStore, prepared: PreparedRun) -> IngestResult:
    try:
        quads = prepared.quads()
    except SyntaxError:  # a line that looked whole but is not N-Triples: read line by line
        prepared = prepare(prepared.journal, line_by_line=True)
        quads = prepared.quads()
    return _recorded(prepared, store.replace_graph(prepared.graph, quads))


def _recorded(prepared: PreparedRun, count: int) -> IngestResult:
    """A run now in the store: its journal marked as ingested, and the result."""
    _mark_ingested(prepared.journal)
    log.info("ingested %s: %s, %d triples", prepared.run, prepared.status, count)
    return IngestResult(prepared.run, prepared.status, count, prepared.journal)


def ingest_journal(store: Store | RemoteStore, path: Path) -> IngestResult:
    """One journal into its run's named graph: one transaction, idempotent."""
    return _write(store, prepare(_checked_name(path)))


def ingest_journals(
    store: Store | RemoteStore, paths: Iterable[Path], *, on_run: Callable[[int, int], None] | None = None
) -> list[IngestResult]:
    """Many journals, each run written whole or not at all, as :func:`ingest_journal` does.

    On the embedded store, runs whose graphs do not exist yet go in batches of about
    ``BULK_QUADS`` quads through :meth:`Store.add_graphs`, one atomic write a batch and
    ``WRITERS`` under way at once: several times faster than a transaction a run. A run
    already in the store is replaced in a transaction of its own. A server store gets
    one request a run. Results come in the order of ``paths``; a journal named twice is
    ingested once. ``on_run(done, total)`` is called as runs reach the store.
    """
    unique = list(dict.fromkeys(_checked_name(p) for p in paths))  # all, before any is written
    results: dict[Path, IngestResult] = {}

    def done(written: Iterable[IngestResult]) -> None:
        results.update((r.journal, r) for r in written)
        if on_run is not None:
            on_run(len(results), len(unique))

    if not isinstance(store, Store):
        for path in unique:
            done([_write(store, prepare(path))])
        return [results[p] for p in unique]
    batch: list[PreparedRun] = []
    size = 0
    # Two batches are written at once (Oxigraph parses and sorts without the GIL, and one
    # batch's parsing overlaps the other's sorting) while the next is read.
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="mlprov-ingest") as writers:
        pending: deque[Future] = deque()

        def collect(keep: int = 0) -> None:
            while len(pending) > keep:
                done(pending.popleft().result())

        for path in unique:
            prepared = prepare(path)
            if prepared.has_blank_nodes or store.has_graph(prepared.graph):
                collect()
                done([_write(store, prepared)])
                continue
            batch.append(prepared)
            size += prepared.count
            if size >= BULK_QUADS:
                collect(keep=WRITERS - 1)
                pending.append(writers.submit(_write_batch, store, batch, size))
                batch, size = [], 0
        collect()
    done(_write_batch(store, batch, size))
    return [results[p] for p in unique]


def _write_batch(store: Store, batch: list[PreparedRun], size: int) -> list[IngestResult]:
    """New runs in one atomic write; a few runs (the bulk loader would add files to RocksDB
    for a handful of quads), or a batch that does not parse, in a transaction each."""
    if size < BULK_QUADS // 10:
        return [_write(store, p) for p in batch]
    try:
        store.add_graphs("".join(part for p in batch for part in p.trig()), [p.graph for p in batch])
    except SyntaxError as error:  # a journal line the quick reading let through
        log.warning("a batch of %d runs did not parse (%s); writing them one by one", len(batch), error)
        return [_write(store, p) for p in batch]
    return [_recorded(p, p.count) for p in batch]


def _marker(path: Path) -> Path:
    return path.with_suffix(".ingested")


def _mark_ingested(path: Path) -> None:
    _marker(path).write_text(str(path.stat().st_size), encoding="utf-8")


def pending_journals(journal_dir: Path) -> list[Path]:
    """Journals that are new or have grown since they were last ingested."""
    pending = []
    for path in sorted(Path(journal_dir).glob("*.nt")):
        marker = _marker(path)
        if not marker.exists() or marker.read_text(encoding="utf-8").strip() != str(path.stat().st_size):
            pending.append(path)
    return pending


def journals_of_notebook(notebook: Path) -> list[Path]:
    """The journals an executed notebook announced in its outputs."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", ()):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for match in JOURNAL_LINE.finditer(text):
                found.append(Path(match.group(2)))
    return found
