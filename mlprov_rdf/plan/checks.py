"""Checks of the whole graph before its structure is read: terms the store holds, statements
about the plan's own nodes only, one plan, and the SHACL shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pyoxigraph as ox
import rdflib
from rdflib import RDF, BNode, Literal, URIRef

from .. import vocab
from ..errors import UserError
from ..resources import ontology_dir
from .model import PLAN_CLASSES, PPLAN, PROV, SAFE_IRI
from .naming import compact, node_name, short, shown
from .problems import Problems, every_problem
from .reading import rdflib_warnings_silenced

def check_terms(graph: rdflib.Graph, source: str) -> None:
    """Every statement must be one the store holds as it is, so a plan that validates is stored whole.

    Plain RDF only (no N3 formulas or variables), no lone surrogates, literals valid for
    their datatype; then Oxigraph parses the graph as ingest hands it over, which checks
    IRIs (a second ``#``), language tags and datatypes by Oxigraph's own rules.
    """
    problems = []
    for s, p, o in sorted(graph, key=lambda t: (str(t[0]), str(t[1]), str(t[2]))):
        where = f"{source}: node {shown(node_name(s))}, property {shown(compact(p))}"
        if not (isinstance(s, (URIRef, BNode)) and isinstance(p, URIRef) and isinstance(o, (URIRef, BNode, Literal))):
            problems.append(f"{where}: a statement RDF cannot hold (an N3 formula, variable or literal subject); "
                            "a plan is plain RDF: write it without them")
            continue
        surrogate = next((t for t in (s, p, o) if any("\ud800" <= ch <= "\udfff" for ch in str(t))), None)
        if surrogate is not None:
            problems.append(f'{where}: "{shown(str(surrogate))[:80]}" holds a lone surrogate (half of a UTF-16 pair), '
                            "which is no text; fix the escape")
        elif isinstance(o, Literal) and getattr(o, "ill_typed", False):
            problems.append(f"{where}: {short(o)} is not a valid {compact(o.datatype)}; fix the value")
    if problems:
        raise UserError(every_problem(source, problems))
    lines = sorted(graph.serialize(format="nt", encoding="utf-8").splitlines(keepends=True))
    try:
        for _ in ox.parse(b"".join(lines), format=ox.RdfFormat.N_TRIPLES):
            pass
    except SyntaxError as error:
        line = lines[error.lineno - 1]
        term = line.decode("utf-8")[error.offset - 1:error.end_offset - 1]  # columns are 1-based
        detail = re.sub(r"^Parser error at line \d+[^:]*: ", "", error.msg)
        with rdflib_warnings_silenced():
            s, p, _ = next(iter(rdflib.Graph().parse(data=line, format="nt")))
        raise UserError(
            f"{source}: node {shown(node_name(s))}, property {shown(compact(p))}: {shown(term)[:120]}: {shown(detail)}; "
            "the store cannot hold this statement: fix it"
        ) from None


#: IRIs a plan may not make statements about: what mlprov mints (runs, bundles, cells,
#: reproductions) and the terms of the vocabularies plans and runs are written in
#: (``https://w3id.org/mlprov`` covers mlprov:, param:, the metric namespaces and the ontology graph).
RESERVED_PREFIXES = ("urn:mlprov:", "https://w3id.org/mlprov", vocab.PROV, vocab.PPLAN, vocab.REPR, vocab.MLS,
                     vocab.DCTERMS, vocab.RDF, vocab.RDFS, vocab.OWL, vocab.SH, vocab.XSD)


def step_variables(graph: rdflib.Graph, step: URIRef, *, output: bool) -> set:
    """A step's input (or output) variables, named from either side of the P-Plan link."""
    forward, inverse = (PPLAN.hasOutputVar, PPLAN.isOutputVarOf) if output else (PPLAN.hasInputVar, PPLAN.isInputVarOf)
    return set(graph.objects(step, forward)) | set(graph.subjects(inverse, step))


def own_nodes(graph: rdflib.Graph, plan: URIRef) -> set[rdflib.term.Node]:
    """The nodes a plan's graph may describe: the plan, its steps, their variables, its author,
    and the blank nodes reachable from them (lists, qualified relations)."""
    steps = set(graph.subjects(PPLAN.isStepOfPlan, plan))
    own = {plan, *steps, *graph.objects(plan, PROV.wasAttributedTo), *graph.subjects(PPLAN.isVariableOfPlan, plan)}
    for step in steps:
        own |= step_variables(graph, step, output=False) | step_variables(graph, step, output=True)
    pending = list(own)
    while pending:
        for value in graph.objects(pending.pop(), None):
            if isinstance(value, BNode) and value not in own:
                own.add(value)
                pending.append(value)
    return own


def check_own_nodes(graph: rdflib.Graph, plan: URIRef, source: str) -> None:
    """A plan's graph is stored as it is and queried with every run: it may speak of its own nodes only.

    Nodes refused for one reason are one problem: a plan named under ``urn:mlprov:`` has
    every node there, and fixing the name fixes them all.
    """
    own = own_nodes(graph, plan)
    nodes = sorted({*own, *graph.subjects(unique=True)}, key=lambda n: (isinstance(n, BNode), str(n)))
    reserved = [n for n in nodes if isinstance(n, URIRef) and str(n).startswith(RESERVED_PREFIXES)]
    foreign = [n for n in nodes if n not in own and n not in reserved]
    problems = Problems(source)
    if reserved:
        problems.add(
            f"{source}: {_some(reserved)}: a plan may not describe a term of a known vocabulary (mlprov:, prov:, "
            "p-plan:, repr:, mls:, rdf:, rdfs:, owl:, sh:, xsd:, dcterms:) or a node mlprov mints (urn:mlprov:…: runs, "
            "bundles, cells); remove these statements, or give the node an IRI of your own"
        )
    if foreign:
        problems.add(
            f"{source}: statements about {_some(foreign)}, which {'is' if len(foreign) == 1 else 'are'} not part of plan "
            f"{node_name(plan)}; a plan file describes only the plan, its steps, their variables and its author: "
            "remove them or link the node to the plan"
        )
    problems.raise_any()


def _some(nodes: list) -> str:
    """The first nodes of a list, named, and how many more: one line for any number."""
    named = ", ".join(shown(node_name(n)) for n in nodes[:3])
    return named + (f" (and {len(nodes) - 3} more nodes)" if len(nodes) > 3 else "")


def the_plan(graph: rdflib.Graph, source: str) -> URIRef:
    plans = sorted({s for cls in PLAN_CLASSES for s in graph.subjects(RDF.type, cls)}, key=str)
    if not plans:
        if len(graph) == 0:
            raise UserError(f"{source}: the file holds no triples; write a plan (see 'mlprov init')")
        raise UserError(
            f"{source}: no plan found: declare one node as 'a p-plan:Plan' "
            "(or start from 'mlprov init --task multiclass-classification plan.ttl')"
        )
    if len(plans) > 1:
        names = ", ".join(f"<{p}>" for p in plans)
        raise UserError(f"{source}: {len(plans)} plans ({names}); keep one plan per file")
    plan = plans[0]
    if not isinstance(plan, URIRef) or not SAFE_IRI.match(str(plan)):
        raise UserError(f"{source}: the plan must be named by an IRI, not a blank node; give it one")
    return plan


@dataclass(frozen=True)
class _SparqlConstraint:
    message: str
    select: str  # the constraint's query, with $this as a variable


@cache
def _shapes() -> tuple[rdflib.Graph, tuple[_SparqlConstraint, ...]]:
    """The shapes, and apart from them their SPARQL constraints.

    pyshacl parses a SPARQL constraint's query anew for every focus node (2 s for a plan
    of 40 parameters). Each of ours binds ``$this`` in its own pattern, so running it once
    over the whole graph finds the same results, at one parse per constraint.
    """
    shapes = rdflib.Graph().parse(ontology_dir() / "shapes.ttl", format="turtle")
    sh = rdflib.Namespace(vocab.SH)
    prefixes = "".join(f"PREFIX {name}: <{ns}>\n" for name, ns in vocab.PREFIXES.items())
    constraints = []
    for shape, constraint in sorted(shapes.subject_objects(sh.sparql), key=str):
        shapes.remove((shape, sh.sparql, constraint))
        select = str(shapes.value(constraint, sh.select)).replace("$this", "?this")
        constraints.append(_SparqlConstraint(str(shapes.value(constraint, sh.message)), prefixes + select))
    return shapes, tuple(constraints)


def check_shapes(graph: rdflib.Graph, source: str) -> None:
    import pyshacl  # slow to import; only validation needs it

    shapes, constraints = _shapes()
    conforms, report, _ = pyshacl.validate(graph, shacl_graph=shapes, inference="none")
    sh = rdflib.Namespace(vocab.SH)
    problems = [
        (report.value(r, sh.focusNode), report.value(r, sh.resultPath), str(report.value(r, sh.resultMessage)))
        for r in report.subjects(RDF.type, sh.ValidationResult)
    ]
    for constraint in constraints:
        for row in graph.query(constraint.select):
            bound = row.asdict()
            message = re.sub(r"\{\?(\w+)\}", lambda m: str(bound.get(m.group(1), "")), constraint.message)
            problems.append((bound["this"], None, message))
    if not problems:
        return
    problems.sort(key=lambda p: (str(p[0]), p[2]))
    raise UserError(every_problem(source, [
        f"{source}: node {node_name(focus)}" + (f", property {compact(path)}" if path is not None else "") + f": {message}"
        for focus, path, message in problems
    ]))

