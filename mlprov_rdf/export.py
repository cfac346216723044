"""`mlprov export`: a plan or a run out of the store, as RDF or as W3C PROV.

RDF formats (rdflib): ``turtle`` and ``jsonld`` merge the graphs; ``trig`` and ``nquads``
keep the named graphs (a run's bundle ``urn:mlprov:bundle:ID``, the descriptions of the
environment nodes it links in ``urn:mlprov:environment``, and its plan's graph).

PROV formats (the ``prov`` package): ``prov-json``, ``provn`` and ``prov-xml`` (PROV-XML
needs lxml). Nodes typed as PROV activities, entities and agents (directly or through the
subclass axioms of the shipped ontologies: ``mls:Run`` is an activity, ``p-plan:Plan`` an
entity) become PROV elements; nodes of other types (P-Plan steps and variables) become
entities whose ``prov:type`` says what they are. The PROV relations mlprov writes become
PROV relations: used, wasGeneratedBy, wasDerivedFrom, wasRevisionOf, wasInformedBy,
wasAssociatedWith (with the plan, from ``prov:qualifiedAssociation``/``prov:hadPlan``),
wasAttributedTo, hadMember, wasInfluencedBy, specializationOf, alternateOf;
``prov:startedAtTime``/``endedAtTime`` become an activity's times, ``rdfs:label``
``prov:label``, ``rdf:type`` ``prov:type``, and every other property an attribute. A run's
records go into a PROV bundle named by its bundle IRI, its plan's records into the document.
"""

from __future__ import annotations

import io
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import rdflib
from rdflib import RDF, RDFS, XSD, BNode, Literal, URIRef

from . import vocab
from .arguments import run_or_iri
from .errors import UserError
from .plan import normalise
from .resources import ontology_dir
from .run_record import shared_environment
from .store import Store

log = logging.getLogger(__name__)

RDF_FORMATS = {"turtle": "turtle", "trig": "trig", "jsonld": "json-ld", "nquads": "nquads"}
PROV_FORMATS = {"prov-json": "json", "provn": "provn", "prov-xml": "xml"}
FORMATS = tuple(RDF_FORMATS) + tuple(PROV_FORMATS)
#: A file extension per format, for messages and default file names.
EXTENSIONS = {
    "turtle": ".ttl", "trig": ".trig", "jsonld": ".jsonld", "nquads": ".nq",
    "prov-json": ".json", "provn": ".provn", "prov-xml": ".xml",
}

P = rdflib.Namespace(vocab.PROV)


@dataclass
class Collected:
    """What an IRI names in the store: its kind and its named graphs (name → graph)."""

    kind: str  # "plan" | "run" | "graph"
    iri: str
    graphs: dict[str, rdflib.Graph]


def collect(store: Store, iri: str) -> Collected:
    """A run (its bundle plus its plan's graph), a plan, or any other named graph, by IRI.

    A bundle IRI or a bare run id are taken as the run, as 'mlprov browse' does.
    """
    iri = run_or_iri(iri, argument="IRI")
    if iri.startswith(vocab.RUN_BASE):
        bundle = vocab.bundle_iri(vocab.run_id_of(iri))
        if store.has_graph(bundle):
            graphs = {bundle: with_implied_types(normalise(store.rdflib_graph(bundle)))}
            graphs[bundle].remove((URIRef(iri), URIRef(vocab.RUN_RECORD), None))  # a cache of the graph itself
            # The environment nodes it links, kept once for all runs: part of a complete run.
            environment = rdflib.Graph().parse(data=shared_environment(store, iri, bundle), format="nt")
            if len(environment):
                graphs[vocab.ENV_GRAPH] = with_implied_types(environment)
            for plan in sorted(str(p) for p in graphs[bundle].objects(URIRef(iri), URIRef(vocab.MLPROV + "plan"))):
                if store.has_graph(plan):
                    graphs[plan] = normalise(store.rdflib_graph(plan))
                else:
                    log.warning("%s: its plan %s is not in the store; exporting the run alone", iri, plan)
            return Collected("run", iri, graphs)
    elif store.has_graph(iri):
        graph = normalise(store.rdflib_graph(iri))
        kind = "plan" if (URIRef(iri), RDF.type, URIRef(vocab.PPLAN + "Plan")) in graph else "graph"
        return Collected(kind, iri, {iri: graph})
    raise UserError(
        f"{iri}: no plan or run with this IRI in the store {getattr(store.location, 'display', store.location.home)}; "
        "list runs with 'mlprov runs' and plans with 'mlprov query plans'"
    )


#: Types a run's store graph leaves implied (the ontology makes them so), each with the class implying it.
IMPLIED_TYPES = {
    cls: vocab.PROV + "Entity"
    for cls in (vocab.MLS + "ModelEvaluation", vocab.MLS + "HyperParameterSetting", vocab.MLS + "Dataset",
                vocab.MLS + "Model", vocab.MLPROV + "Artifact", vocab.MLPROV + "Hardware", vocab.REPR + "Package",
                vocab.REPR + "ProgrammingLanguage", vocab.REPR + "OperatingSystem", vocab.REPR + "Kernel")
}


def with_implied_types(graph: rdflib.Graph) -> rdflib.Graph:
    """``graph`` with the types capture leaves implied written out: an export is a complete run."""
    for cls, implied in IMPLIED_TYPES.items():
        for node in list(graph.subjects(RDF.type, URIRef(cls))):
            graph.add((node, RDF.type, URIRef(implied)))
    return graph


def export(collected: Collected, fmt: str) -> str:
    """The collected graphs as text in ``fmt`` (one of FORMATS)."""
    if fmt in RDF_FORMATS:
        return to_rdf(collected, fmt)
    if fmt in PROV_FORMATS:
        return serialize_prov(to_prov(collected), fmt)
    raise UserError(f"--format {fmt}: unknown; use one of {', '.join(FORMATS)}")


# -- RDF -------------------------------------------------------------------------------


def _quads(collected: Collected, *, named: bool) -> list:
    """The collected triples as Oxigraph quads (in their graphs, or in the default graph)."""
    import pyoxigraph as ox

    quads = []
    for name, graph in collected.graphs.items():
        target = ox.NamedNode(name) if named else ox.DefaultGraph()
        data = graph.serialize(format="nt", encoding="utf-8")
        for t in ox.parse(data, format=ox.RdfFormat.N_TRIPLES):
            quads.append(ox.Quad(t.subject, t.predicate, t.object, target))
    return sorted(set(quads), key=str)


def to_rdf(collected: Collected, fmt: str) -> str:
    """Oxigraph writes the literals exactly as stored (rdflib's Turtle writer rounds doubles)."""
    import pyoxigraph as ox

    if fmt in ("trig", "nquads"):
        quads = _quads(collected, named=True)
        out_format = ox.RdfFormat.TRIG if fmt == "trig" else ox.RdfFormat.N_QUADS
        return ox.serialize(quads, format=out_format, prefixes=_prefixes(collected)).decode("utf-8")
    if fmt == "jsonld":  # rdflib's JSON-LD writer keeps lexical forms and compacts with a context
        merged = rdflib.Graph()
        for graph in collected.graphs.values():
            for triple in graph:
                merged.add(triple)
        return merged.serialize(format="json-ld", context=_prefixes(collected), indent=2)
    triples = [ox.Triple(q.subject, q.predicate, q.object) for q in _quads(collected, named=False)]
    return ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=_prefixes(collected)).decode("utf-8")


def _prefixes(collected: Collected) -> dict[str, str]:
    prefixes = dict(vocab.PREFIXES)
    for name in collected.graphs:
        if name.startswith(vocab.BUNDLE_BASE):
            prefixes["run"] = vocab.RUN_BASE + name[len(vocab.BUNDLE_BASE):] + "/"
        elif not name.startswith("urn:mlprov:"):
            prefixes.setdefault("plan", name + "#")
    return prefixes


# -- PROV ------------------------------------------------------------------------------


@cache
def _prov_kinds() -> dict[str, frozenset[str]]:
    """Every class that is (by rdfs:subClassOf*) a PROV activity, entity or agent."""
    onto = rdflib.Graph()
    for name in ("prov-o.ttl", "mls.ttl", "mlprov.ttl"):
        path = ontology_dir() / name
        if path.is_file():
            onto.parse(path, format="turtle")
    kinds = {}
    for kind in ("Activity", "Entity", "Agent", "Plan"):
        root = P[kind]
        found = {root}
        frontier = [root]
        while frontier:
            cls = frontier.pop()
            for sub in onto.subjects(RDFS.subClassOf, cls):
                if isinstance(sub, URIRef) and sub not in found:
                    found.add(sub)
                    frontier.append(sub)
        kinds[kind] = frozenset(str(c) for c in found)
    # PROV-O's own subclasses, in case the shipped copy is trimmed.
    kinds["Activity"] |= {vocab.PPLAN + "Activity", vocab.REPR + "Trial", vocab.REPR + "CellExecution", vocab.MLS + "Run"}
    kinds["Plan"] |= {vocab.PPLAN + "Plan", vocab.REPR + "Experiment"}
    kinds["Entity"] |= {P.Plan, P.Bundle, P.Collection, vocab.PPLAN + "Plan", vocab.PPLAN + "Bundle", vocab.PPLAN + "Entity"}
    kinds["Agent"] |= {P.Person, P.SoftwareAgent, P.Organization}
    return {k: frozenset(str(c) for c in v) for k, v in kinds.items()}


#: Local names that every PROV serialization (PROV-N's grammar is the strictest) accepts.
_SAFE_LOCAL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
_SAFE_PREFIX = re.compile(r"[^A-Za-z0-9_-]+")


class _Names:
    """IRIs → prov QualifiedNames, minting readable prefixes for the namespaces it meets."""

    def __init__(self, doc, collected: Collected):
        self.doc = doc
        self.namespaces: dict[str, Any] = {}
        prefixes = {p: ns for p, ns in vocab.PREFIXES.items() if p not in ("prov", "xsd")}
        prefixes.update({"agent-person": vocab.AGENT_BASE + "person:", "agent-software": vocab.AGENT_BASE + "software:",
                         "bundle": vocab.BUNDLE_BASE, "runs": vocab.RUN_BASE, "bnode": "urn:mlprov:bnode:"})
        for name in collected.graphs:
            if name.startswith(vocab.BUNDLE_BASE):
                prefixes["run"] = vocab.RUN_BASE + name[len(vocab.BUNDLE_BASE):] + "/"
            elif collected.kind == "plan" or not name.startswith("urn:mlprov:"):
                prefixes.setdefault("plan", name + "#")
        for prefix, ns in prefixes.items():
            self._add(prefix, ns)

    def _add(self, prefix: str, uri: str):
        ns = self.doc.add_namespace(prefix, uri)
        self.namespaces[uri] = ns
        return ns

    def __call__(self, node):
        if isinstance(node, BNode):
            return self.namespaces["urn:mlprov:bnode:"][re.sub(r"[^A-Za-z0-9_]", "_", str(node))]
        iri = str(node)
        if iri == vocab.PROV[:-1] or iri.startswith(vocab.PROV):
            from prov.constants import PROV

            return PROV[iri[len(vocab.PROV):]]
        if iri.startswith(vocab.XSD):
            from prov.constants import XSD as PXSD

            return PXSD[iri[len(vocab.XSD):]]
        for uri in sorted(self.namespaces, key=len, reverse=True):
            if iri.startswith(uri) and _SAFE_LOCAL.match(iri[len(uri):]):
                return self.namespaces[uri][iri[len(uri):]]
        # A new namespace: cut before the last '#', '/' or ':' and name it after what precedes.
        cut = max(iri.rfind("#"), iri.rfind("/"), iri.rfind(":"))
        uri, local = iri[: cut + 1], iri[cut + 1:]
        if not _SAFE_LOCAL.match(local or "-"):
            uri, local = iri, "_"
            log.debug("no PROV local name for %s; named %s_", iri, iri)
        stem = _SAFE_PREFIX.sub("-", uri.rstrip("#/:").rsplit("/", 1)[-1].rsplit(":", 1)[-1]).strip("-") or "ns"
        if not stem[0].isalpha():
            stem = "ns-" + stem
        prefix, n = stem, 1
        taken = {ns.prefix for ns in self.namespaces.values()}
        while prefix in taken:
            n += 1
            prefix = f"{stem}{n}"
        return self._add(prefix, uri)[local]


def _value(literal: Literal, names: _Names):
    """An RDF literal as a prov attribute value that survives every PROV serialization."""
    from prov.model import Literal as ProvLiteral

    dtype = literal.datatype
    if literal.language:
        return ProvLiteral(str(literal), langtag=literal.language)
    if dtype is None or dtype == XSD.string:
        return str(literal)
    py = literal.toPython()
    if dtype in (XSD.integer, XSD.int, XSD.long) and isinstance(py, int) and not isinstance(py, bool):
        return int(py)
    if dtype == XSD.boolean and isinstance(py, bool):
        return py
    if dtype in (XSD.double, XSD.float) and isinstance(py, float) and math.isfinite(py):
        return py
    if dtype == XSD.dateTime and isinstance(py, datetime):
        return py
    return ProvLiteral(str(literal), datatype=names(dtype))


_RELATIONS = {
    P.used: "used",
    P.wasGeneratedBy: "wasGeneratedBy",
    P.wasDerivedFrom: "wasDerivedFrom",
    P.wasRevisionOf: "wasRevisionOf",
    P.wasQuotedFrom: "wasQuotedFrom",
    P.hadPrimarySource: "hadPrimarySource",
    P.wasInformedBy: "wasInformedBy",
    P.wasAssociatedWith: "wasAssociatedWith",
    P.wasAttributedTo: "wasAttributedTo",
    P.actedOnBehalfOf: "actedOnBehalfOf",
    P.hadMember: "hadMember",
    P.wasInfluencedBy: "wasInfluencedBy",
    P.specializationOf: "specializationOf",
    P.alternateOf: "alternateOf",
    P.wasStartedBy: "wasStartedBy",
    P.wasEndedBy: "wasEndedBy",
    P.wasInvalidatedBy: "wasInvalidatedBy",
}
_ATTRIBUTE_NAMES = {RDFS.label: "prov:label", P.value: "prov:value", P.atLocation: "prov:location"}


def _fill(bundle, graph: rdflib.Graph, names: _Names, skip_subjects: set) -> None:
    """The PROV records of one RDF graph, added to ``bundle`` (a document or a bundle)."""
    from prov.constants import PROV

    kinds = _prov_kinds()
    associations = {}  # qualified association node → (agent, plan)
    for activity, node in graph.subject_objects(P.qualifiedAssociation):
        agent = graph.value(node, P.agent)
        if agent is not None:
            associations[node] = (activity, agent, graph.value(node, P.hadPlan))
    subjects = sorted({s for s in graph.subjects() if s not in associations and s not in skip_subjects}, key=str)
    for subject in subjects:
        types = sorted(str(t) for t in graph.objects(subject, RDF.type))
        is_kind = {k: any(t in kinds[k] for t in types) for k in ("Activity", "Entity", "Agent")}
        attributes = []
        start = end = None
        if any(t in kinds["Plan"] for t in types) and vocab.PROV + "Plan" not in types:
            types.insert(0, vocab.PROV + "Plan")  # a p-plan:Plan is a prov:Plan: say so in PROV's terms
        for t in types:
            if t not in (vocab.PROV + "Activity", vocab.PROV + "Entity", vocab.PROV + "Agent"):
                attributes.append((PROV["type"], names(URIRef(t))))
        for predicate, obj in sorted(graph.predicate_objects(subject), key=lambda po: (str(po[0]), str(po[1]))):
            if predicate == RDF.type or predicate in _RELATIONS or predicate == P.qualifiedAssociation:
                continue
            if predicate == P.startedAtTime and isinstance(obj, Literal) and isinstance(obj.toPython(), datetime):
                start = obj.toPython()
                continue
            if predicate == P.endedAtTime and isinstance(obj, Literal) and isinstance(obj.toPython(), datetime):
                end = obj.toPython()
                continue
            key = _ATTRIBUTE_NAMES.get(predicate) if isinstance(obj, Literal) else None
            key = key or names(predicate)
            attributes.append((key, _value(obj, names) if isinstance(obj, Literal) else names(obj)))
        identifier = names(subject)
        if is_kind["Activity"]:
            bundle.activity(identifier, startTime=start, endTime=end, other_attributes=attributes or None)
            attributes = None  # described once; other kinds get the bare record
        elif start or end:  # times on a non-activity: keep them as attributes
            attributes += [(names(P.startedAtTime), start)] if start else []
            attributes += [(names(P.endedAtTime), end)] if end else []
        if is_kind["Agent"]:
            bundle.agent(identifier, other_attributes=attributes or None)
            attributes = None
        if is_kind["Entity"] or not (is_kind["Activity"] or is_kind["Agent"]):
            bundle.entity(identifier, other_attributes=attributes or None)
    # Relations, in a stable order.
    qualified = {(str(a), str(agent)) for a, agent, _ in associations.values()}
    for node, (activity, agent, plan) in sorted(associations.items(), key=lambda kv: str(kv[0])):
        bundle.wasAssociatedWith(names(activity), names(agent), names(plan) if plan is not None else None)
    for subject, predicate, obj in sorted(graph, key=lambda t: tuple(map(str, t))):
        method = _RELATIONS.get(predicate)
        if method is None or isinstance(obj, Literal) or subject in skip_subjects:
            continue
        if method == "wasAssociatedWith" and (str(subject), str(obj)) in qualified:
            continue  # the qualified association above says it, with the plan
        getattr(bundle, method)(names(subject), names(obj))


def to_prov(collected: Collected):
    """A prov ProvDocument: plan records in the document, a run's records in its bundle."""
    from prov.constants import PROV
    from prov.model import ProvDocument

    doc = ProvDocument()
    names = _Names(doc, collected)
    for name, graph in collected.graphs.items():
        if name.startswith(vocab.BUNDLE_BASE):
            bundle_node = URIRef(name)
            inner = doc.bundle(names(bundle_node))
            _fill(inner, graph, names, skip_subjects={bundle_node})
            # The bundle as an entity of the document, generated by the run it records.
            doc.entity(names(bundle_node), other_attributes=[(PROV["type"], names(URIRef(vocab.PPLAN + "Bundle")))])
            for activity in sorted(graph.objects(bundle_node, P.wasGeneratedBy), key=str):
                doc.wasGeneratedBy(names(bundle_node), names(activity))
        else:
            _fill(doc, graph, names, skip_subjects=set())
    return doc


def serialize_prov(doc, fmt: str) -> str:
    name = PROV_FORMATS[fmt]
    if name == "xml":
        try:
            import lxml  # noqa: F401  prov's PROV-XML serializer needs it
        except ImportError:
            raise UserError("--format prov-xml needs lxml; install it with 'pip install lxml' (or prov[xml])") from None
    buffer = io.StringIO()
    if name == "json":
        doc.serialize(buffer, format="json", indent=2)
    else:
        doc.serialize(buffer, format=name)
    text = buffer.getvalue()
    return text if text.endswith("\n") else text + "\n"


def read_prov(text: str, fmt: str):
    """Parse an export back with prov's own reader (what the tests and users check with)."""
    import prov

    return prov.read(io.StringIO(text), format=PROV_FORMATS[fmt])
