"""Moving records into the store: plans, the ontology, and run journals.

A journal is append-only, so a value logged twice (a cell run again by hand) appears
twice; ingest keeps the last, derives what only the whole journal can tell (the
run's status and end, cells cut off by a dead kernel). A run is ``Completed`` when
every planned step finished and the last cell did not fail, ``Failed`` when the last
cell raised, ``Interrupted`` when the journal stops short and replaces the run's named
graph in one transaction. Ingesting the same journal again gives the same graph.
``ingest_journals`` takes a batch, still one transaction per run; on the embedded store a
run graph that does not exist yet is written with ``Store.extend`` (see ``store``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox
import rdflib

from . import vocab
from .plan import Plan
from .resources import ontology_dir
from .store import RemoteStore, Store

log = logging.getLogger(__name__)

RDF_TYPE = ox.NamedNode(vocab.RDF + "type")
STATUS = ox.NamedNode(vocab.MLPROV + "status")
STARTED = ox.NamedNode(vocab.PROV + "startedAtTime")
ENDED = ox.NamedNode(vocab.PROV + "endedAtTime")
DURATION = ox.NamedNode(vocab.MLPROV + "duration")
PART_OF = ox.NamedNode(vocab.DCTERMS + "isPartOf")
ORDER = ox.NamedNode(vocab.MLPROV + "executionOrder")
COMPLETED = ox.NamedNode(vocab.MLPROV + "Completed")
FAILED = ox.NamedNode(vocab.MLPROV + "Failed")
INTERRUPTED = ox.NamedNode(vocab.MLPROV + "Interrupted")
XSD_DECIMAL = ox.NamedNode(vocab.XSD + "decimal")

#: Properties with one value per subject; in a journal the last line wins.
FUNCTIONAL = {
    ox.NamedNode(vocab.MLS + "hasValue"),
    ox.NamedNode(vocab.RDFS + "label"),
    ENDED,
    DURATION,
    ox.NamedNode(vocab.MLPROV + "codeDrifted"),
    ox.NamedNode(vocab.MLPROV + "parameterCount"),
    ox.NamedNode(vocab.MLPROV + "architecture"),
    ox.NamedNode(vocab.MLPROV + "sha256"),
    ox.NamedNode(vocab.MLPROV + "sampleCount"),
}
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


def read_journal(path: Path, graph: str | None = None) -> list[ox.Quad]:
    """Every complete line of a journal; a line cut off by a killed kernel is dropped.

    With ``graph``, the statements come back as quads in that named graph, read in one
    pass (the journal's N-Triples lines wrapped in a TriG graph block).
    """
    text = Path(path).read_text(encoding="utf-8")
    g = ox.NamedNode(graph) if graph else None
    try:
        if g is not None:
            return list(ox.parse(f"{g} {{\n{text}\n}}", format=ox.RdfFormat.TRIG))
        return list(ox.parse(text, format=ox.RdfFormat.N_TRIPLES))
    except SyntaxError:
        pass
    quads: list[ox.Quad] = []
    for line in text.splitlines(keepends=True):
        try:
            quads.extend(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))
        except SyntaxError:
            log.warning("%s: skipped an unreadable journal line: %.80s", path, line)
    if g is not None:
        quads = [ox.Quad(q.subject, q.predicate, q.object, g) for q in quads]
    return quads


def _last_wins(triples: list[ox.Quad]) -> list[ox.Quad]:
    """The journal without repeated statements and without superseded functional values."""
    predicates = [t.predicate for t in triples]
    latest: dict[tuple, ox.Quad] = {}
    for t, p in zip(triples, predicates):
        if p in FUNCTIONAL:
            latest[(t.subject, p)] = t
    out, seen = [], set()
    for t, p in zip(triples, predicates):
        if p in FUNCTIONAL and latest[(t.subject, p)] != t:
            continue
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _time(term: ox.Literal) -> datetime:
    return datetime.fromisoformat(term.value)


def finish_run(triples: list[ox.Triple | ox.Quad], run: str, graph: str | None = None) -> tuple[list, str]:
    """Derive status and end times; return the run graph's statements and the status.

    With ``graph``, the statements it adds are quads in that graph, like those that
    :func:`read_journal` returns for it; otherwise triples.
    """
    run_node = ox.NamedNode(run)
    if graph:
        g = ox.NamedNode(graph)

        def make(s, p, o):
            return ox.Quad(s, p, o, g)
    else:
        make = ox.Triple
    planned_done = False
    cells = set()
    for t in triples:
        p = t.predicate
        if p == PART_OF:
            if t.object == run_node:
                cells.add(t.subject)
        elif p == STATUS and t.object == COMPLETED and t.subject == run_node:
            planned_done = True
    out = []
    ended, order, cell_status, starts = {}, {}, {}, []
    for t in _last_wins(triples):
        p = t.predicate
        if p == STATUS:
            subject = t.subject
            if subject == run_node:
                continue
            if subject in cells:
                cell_status[subject] = t.object
        elif p == ENDED:
            ended[t.subject] = t.object
        elif p == ORDER:
            if t.subject in cells:
                order[t.subject] = int(t.object.value)
        elif p == STARTED and t.subject == run_node:
            starts.append(t.object)
        out.append(t)
    for cell in sorted(cells - set(ended), key=str):
        out.append(make(cell, STATUS, INTERRUPTED))
        cell_status[cell] = INTERRUPTED
    # The notebook ended where its last cell ended: in an error, cut off, or after the plan.
    last = cell_status.get(max(order, key=order.get)) if order else None
    status = FAILED if last == FAILED else COMPLETED if planned_done and last == COMPLETED else INTERRUPTED
    out.append(make(run_node, STATUS, status))
    if run_node not in ended and starts:
        ends = sorted((ended[c] for c in cells if c in ended), key=_time)
        end = ends[-1] if ends else starts[0]
        seconds = (_time(end) - _time(starts[0])).total_seconds()
        out.append(make(run_node, ENDED, end))
        out.append(make(run_node, DURATION, ox.Literal(f"{seconds:.6f}", datatype=XSD_DECIMAL)))
    bundle = ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run)))
    out += [
        make(bundle, RDF_TYPE, ox.NamedNode(vocab.PPLAN + "Bundle")),
        make(bundle, RDF_TYPE, ox.NamedNode(vocab.PROV + "Bundle")),
        make(bundle, ox.NamedNode(vocab.PROV + "wasGeneratedBy"), run_node),
    ]
    return out, status.value.rsplit("#", 1)[1]


def _prepare(path: Path) -> tuple[str, str, list[ox.Quad], str]:
    """Run IRI, graph IRI, the run graph's quads and the status, from one journal."""
    run = vocab.run_iri(path.stem)
    graph = vocab.bundle_iri(path.stem)
    quads, status = finish_run(read_journal(path, graph), run, graph)
    return run, graph, quads, status


def ingest_journal(store: Store | RemoteStore, path: Path) -> IngestResult:
    """One journal into its run's named graph: one transaction, idempotent."""
    path = Path(path)
    run, graph, quads, status = _prepare(path)
    count = store.replace_graph(graph, quads)
    _mark_ingested(path)
    log.info("ingested %s: %s, %d triples", run, status, count)
    return IngestResult(run, status, count, path)


def ingest_journals(store: Store | RemoteStore, paths: Iterable[Path], *, workers: int | None = None) -> list[IngestResult]:
    """Many journals, each run in its own transaction, as :func:`ingest_journal` does.

    On the embedded store with more than two cores, two threads read and write at once
    (pyoxigraph writes without the GIL); on two cores that measured no faster, so one
    does. A server store gets one request at a time on its one connection. Results come
    in the order of ``paths``; a journal named twice is ingested once.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) > 2 else 1
    if not isinstance(store, Store) or workers <= 1 or len(unique) <= 1:
        return [ingest_journal(store, p) for p in unique]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlprov-ingest") as pool:
        return list(pool.map(lambda p: ingest_journal(store, p), unique))


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
