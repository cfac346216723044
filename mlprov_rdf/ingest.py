"""Moving records into the store: plans, the ontology, and run journals.

A journal is append-only, so a value logged twice (a cell run again by hand) appears
twice; ingest keeps the last, derives what only the whole journal can tell (the
run's status and end, cells cut off by a dead kernel). A run is ``Completed`` when
every planned step finished and the last cell did not fail, ``Failed`` when the last
cell raised, ``Interrupted`` when the journal stops short and replaces the run's named
graph in one transaction. Ingesting the same journal again gives the same graph.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyoxigraph as ox
import rdflib

from . import vocab
from .plan import Plan
from .resources import ontology_dir
from .store import Store

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


def read_journal(path: Path) -> list[ox.Triple]:
    """Every complete line of a journal; a line cut off by a killed kernel is dropped."""
    triples = []
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    try:
        triples = list(ox.parse(text, format=ox.RdfFormat.N_TRIPLES))
    except SyntaxError:
        for line in lines:
            try:
                triples.extend(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))
            except SyntaxError:
                log.warning("%s: skipped an unreadable journal line: %.80s", path, line)
    return triples


def _last_wins(triples: list[ox.Triple]) -> list[ox.Triple]:
    latest: dict[tuple, ox.Triple] = {}
    for t in triples:
        if t.predicate in FUNCTIONAL:
            latest[(t.subject, t.predicate)] = t
    out, seen = [], set()
    for t in triples:
        if t.predicate in FUNCTIONAL and latest[(t.subject, t.predicate)] != t:
            continue
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _time(term: ox.Literal) -> datetime:
    return datetime.fromisoformat(term.value)


def finish_run(triples: list[ox.Triple], run: str) -> tuple[list[ox.Triple], str]:
    """Derive status and end times; return the run graph's triples and the status."""
    run_node = ox.NamedNode(run)
    out = [t for t in _last_wins(triples) if not (t.subject == run_node and t.predicate == STATUS)]
    cells = {t.subject for t in triples if t.predicate == PART_OF and t.object == run_node}
    ended = {t.subject: t.object for t in out if t.predicate == ENDED}
    for cell in sorted(cells - set(ended), key=str):
        out.append(ox.Triple(cell, STATUS, INTERRUPTED))
    # The notebook ended where its last cell ended: in an error, cut off, or after the plan.
    order = {t.subject: int(t.object.value) for t in out if t.predicate == ORDER and t.subject in cells}
    cell_status = {t.subject: t.object for t in out if t.predicate == STATUS and t.subject in cells}
    last = cell_status.get(max(order, key=order.get)) if order else None
    planned_done = any(t.subject == run_node and t.predicate == STATUS and t.object == COMPLETED for t in triples)
    status = FAILED if last == FAILED else COMPLETED if planned_done and last == COMPLETED else INTERRUPTED
    out.append(ox.Triple(run_node, STATUS, status))
    if run_node not in ended:
        starts = [t.object for t in out if t.subject == run_node and t.predicate == STARTED]
        ends = sorted((ended[c] for c in cells if c in ended), key=_time)
        if starts:
            end = ends[-1] if ends else starts[0]
            seconds = (_time(end) - _time(starts[0])).total_seconds()
            out.append(ox.Triple(run_node, ENDED, end))
            out.append(ox.Triple(run_node, DURATION, ox.Literal(f"{seconds:.6f}", datatype=XSD_DECIMAL)))
    bundle = ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run)))
    out += [
        ox.Triple(bundle, RDF_TYPE, ox.NamedNode(vocab.PPLAN + "Bundle")),
        ox.Triple(bundle, RDF_TYPE, ox.NamedNode(vocab.PROV + "Bundle")),
        ox.Triple(bundle, ox.NamedNode(vocab.PROV + "wasGeneratedBy"), run_node),
    ]
    return out, status.value.rsplit("#", 1)[1]


def ingest_journal(store: Store, path: Path) -> IngestResult:
    path = Path(path)
    run = vocab.run_iri(path.stem)
    triples, status = finish_run(read_journal(path), run)
    count = store.replace_graph(vocab.bundle_iri(path.stem), triples)
    _mark_ingested(path)
    log.info("ingested %s: %s, %d triples", run, status, count)
    return IngestResult(run, status, count, path)


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
