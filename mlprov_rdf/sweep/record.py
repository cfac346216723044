"""A sweep as provenance, in its own named graph ``urn:mlprov:sweep:ID`` (see docs/data-model.md).

PROV-O keeps activities and entities disjoint and ``prov:hadMember`` ranges over entities,
so a sweep is two nodes: the activity ``urn:mlprov:sweep:ID`` (an ``mlprov:Sweep``: when,
what it used, the grid, the executor, how it ended) and the collection it generated,
``urn:mlprov:sweep:ID/runs`` (an ``mlprov:SweepRuns``, whose members are the runs'
bundles, ``p-plan:Bundle`` entities). Each run says ``mlprov:partOfSweep`` in its own
bundle. The graph is rewritten whole as runs arrive: it is small, and a write is atomic.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyoxigraph as ox

from .. import ingest, vocab
from ..arguments import checked_iri
from ..errors import UserError
from ..store import RemoteStore, Store
from .grid import Axis, Point

log = logging.getLogger(__name__)

SWEEP_BASE = "urn:mlprov:sweep:"
STATUSES = ("Completed", "Interrupted", "Failed")
_M, _P = vocab.MLPROV, vocab.PROV


def new_sweep_iri() -> str:
    return SWEEP_BASE + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RecordedPoint:
    key: str  # the derived plan's digest
    plan: str  # the derived plan's IRI
    point: Point


@dataclass
class SweepRecord:
    iri: str
    plan: str  # the swept plan's IRI
    plan_file: str  # its file, absolute: what --resume derives the points from again
    axes: list[Axis]
    points: list[RecordedPoint]
    executor: str
    workers: int
    started: str
    sampling: str = "grid"  # or "random"
    seed: int | None = None
    scheduler: str | None = None
    ended: str | None = None
    status: str = "Interrupted"  # until it ends: a sweep whose client died is one that did not finish
    members: list[str] = field(default_factory=list)  # run IRIs

    @property
    def collection(self) -> str:
        return self.iri + "/runs"

    def triples(self) -> list[ox.Triple]:
        iri, lit = ox.NamedNode, ox.Literal
        s, c = iri(self.iri), iri(self.collection)
        xsd = vocab.XSD
        out = [
            (s, vocab.RDF + "type", iri(_M + "Sweep")),
            (s, vocab.RDFS + "label", lit(f"Sweep of <{self.plan}>: {' × '.join(a.name for a in self.axes)}, "
                                         f"{len(self.points)} points")),
            (s, _P + "used", iri(self.plan)),
            (s, _M + "planFile", lit(self.plan_file)),
            (s, _P + "startedAtTime", lit(self.started, datatype=iri(xsd + "dateTime"))),
            (s, _M + "status", iri(_M + self.status)),
            (s, _M + "executor", lit(self.executor)),
            (s, _M + "workers", lit(str(self.workers), datatype=iri(xsd + "integer"))),
            (s, _M + "sampling", lit(self.sampling)),
            (s, _P + "generated", c),
            (c, vocab.RDF + "type", iri(_M + "SweepRuns")),
            (c, vocab.RDFS + "label", lit(f"Runs of sweep <{self.iri}>")),
            (c, _P + "wasGeneratedBy", s),
        ]
        if self.ended is not None:
            out.append((s, _P + "endedAtTime", lit(self.ended, datatype=iri(xsd + "dateTime"))))
        if self.seed is not None:
            out.append((s, _M + "seed", lit(str(self.seed), datatype=iri(xsd + "integer"))))
        if self.scheduler is not None:
            out.append((s, _M + "scheduler", lit(self.scheduler)))
        for position, axis in enumerate(self.axes, 1):
            a = iri(f"{self.iri}/axis/{position}")
            out += [
                (s, _M + "sweepAxis", a),
                (a, vocab.RDF + "type", iri(_M + "SweepAxis")),
                (a, _M + "parameterName", lit(axis.name)),
                (a, _M + "axisOrder", lit(str(position), datatype=iri(xsd + "integer"))),
                (a, _M + "axisValues", lit(json.dumps(list(axis.values)), datatype=iri(vocab.RDF + "JSON"))),
            ]
        for p in self.points:
            n = iri(f"{self.iri}/point/{p.key}")
            out += [
                (s, _M + "sweepPoint", n),
                (n, vocab.RDF + "type", iri(_M + "SweepPoint")),
                (n, _M + "derivedPlan", iri(p.plan)),
                (n, _M + "overrides", lit(json.dumps(dict(p.point)), datatype=iri(vocab.RDF + "JSON"))),
            ]
        for run in self.members:
            out.append((c, _P + "hadMember", iri(vocab.bundle_iri(vocab.run_id_of(run)))))
        return [ox.Triple(subject, iri(predicate), obj) for subject, predicate, obj in out]


def write(store: Store | RemoteStore, record: SweepRecord) -> None:
    ingest.ensure_ontology(store)
    store.replace_graph(record.iri, record.triples())
    log.info("sweep %s: %s, %d runs", record.iri, record.status, len(record.members))


def sweep_line(run: str, sweep: str) -> str:
    """The journal line that puts a run in its sweep (a statement about the run, as a journal holds)."""
    return f"<{run}> <{_M}partOfSweep> <{sweep}> .\n"


def _rows(store: Store | RemoteStore, sparql: str) -> list:
    return list(store.query(sparql))


def read(store: Store | RemoteStore, iri: str) -> SweepRecord:
    """The sweep as stored, for ``--resume``."""
    iri = checked_iri(iri, argument="--resume", listing="'mlprov query sweeps' lists the sweeps")
    if not iri.startswith(SWEEP_BASE) or not store.has_graph(iri):
        raise UserError(f"--resume {iri}: no sweep with this IRI in the store {store.location.display}; "
                        "'mlprov query sweeps' lists the sweeps")
    g = f"GRAPH <{iri}>"
    head = _rows(store, f"""SELECT ?plan ?file ?started ?executor ?workers ?sampling ?seed ?scheduler WHERE {{ {g} {{
        <{iri}> <{_P}used> ?plan ; <{_M}planFile> ?file ; <{_P}startedAtTime> ?started ; <{_M}executor> ?executor ;
        <{_M}workers> ?workers ; <{_M}sampling> ?sampling .
        OPTIONAL {{ <{iri}> <{_M}seed> ?seed }} OPTIONAL {{ <{iri}> <{_M}scheduler> ?scheduler }} }} }}""")[0]
    axes = [Axis(r["name"].value, tuple(json.loads(r["values"].value))) for r in _rows(store, f"""
        SELECT ?name ?values WHERE {{ {g} {{ <{iri}> <{_M}sweepAxis> ?a . ?a <{_M}parameterName> ?name ;
        <{_M}axisOrder> ?position ; <{_M}axisValues> ?values }} }} ORDER BY ?position""")]
    names = [a.name for a in axes]
    points = []
    for r in _rows(store, f"""SELECT ?plan ?overrides WHERE {{ {g} {{ <{iri}> <{_M}sweepPoint> ?p .
            ?p <{_M}derivedPlan> ?plan ; <{_M}overrides> ?overrides }} }} ORDER BY ?p"""):
        overrides = json.loads(r["overrides"].value)
        point = tuple((n, overrides[n]) for n in names)
        points.append(RecordedPoint(r["plan"].value.rsplit("/", 1)[-1], r["plan"].value, point))
    # A run's own mlprov:partOfSweep is the truth: it is written with the run, in one transaction.
    members = [r["run"].value for r in _rows(store, f"""SELECT ?run WHERE {{ ?run <{_M}partOfSweep> <{iri}> ;
        a <{vocab.MLS}Run> }} ORDER BY ?run""")]
    seed = head["seed"]
    return SweepRecord(
        iri, head["plan"].value, head["file"].value, axes, points, head["executor"].value, int(head["workers"].value),
        head["started"].value, head["sampling"].value, int(seed.value) if seed is not None else None,
        head["scheduler"].value if head["scheduler"] is not None else None, members=members,
    )


def completed_plans(store: Store | RemoteStore, iri: str) -> set[str]:
    """The derived plans of the sweep's points that have a Completed run in the sweep."""
    rows = _rows(store, f"""SELECT DISTINCT ?plan WHERE {{
        ?run <{_M}partOfSweep> <{iri}> ; <{_M}plan> ?plan ; <{_M}status> <{_M}Completed> }}""")
    return {r["plan"].value for r in rows}
