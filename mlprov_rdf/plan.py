"""Plans: an RDF file or graph in, a validated, typed plan out.

Validation runs in three layers, each failing with one line that names the file and
node, says what is wrong and what to do: parsing, the SHACL shapes in
``ontology/shapes.ttl``, then the structure and parameters a task's templates need
(``templates/<task>/task.toml``). Everything downstream reads the typed plan only,
so a plan gives the same notebook whatever serialization or triple order it came in.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import stat
import xml.sax
import xml.sax.handler
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pyoxigraph as ox
import rdflib
from rdflib import RDF, RDFS, XSD, BNode, Literal, URIRef
from rdflib.compare import to_canonical_graph
from rdflib.plugins.parsers.notation3 import BadSyntax

from . import vocab
from .errors import UserError
from .resources import ontology_dir
from .tasks import ParameterSpec, StepSpec, Task, all_tasks, task_by_iri

log = logging.getLogger(__name__)

PROV = rdflib.Namespace(vocab.PROV)
PPLAN = rdflib.Namespace(vocab.PPLAN)
REPR = rdflib.Namespace(vocab.REPR)
MLPROV = rdflib.Namespace(vocab.MLPROV)
DCTERMS = rdflib.Namespace(vocab.DCTERMS)

PLAN_CLASSES = (PPLAN.Plan, REPR.Experiment)
#: IRIs end up in generated comments and cell ids; this is what an IRI may contain.
SAFE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FORMATS = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".nt": "nt",
    ".ntriples": "nt",
    ".n3": "n3",
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".trig": "trig",
    ".nq": "nquads",
}


@dataclass(frozen=True)
class Parameter:
    iri: str
    name: str
    value: Any  # str | int | float | bool | None (None: the library's default)
    spec: ParameterSpec


@dataclass(frozen=True)
class OutputVariable:
    iri: str
    label: str


@dataclass(frozen=True)
class Step:
    iri: str
    spec: StepSpec
    label: str
    description: str
    position: int
    inputs: tuple[Parameter, ...]
    outputs: tuple[OutputVariable, ...]


@dataclass(frozen=True)
class Plan:
    iri: str
    title: str
    description: str
    author_iri: str | None
    author_label: str | None
    task: Task
    steps: tuple[Step, ...]
    digest: str  # sha256 of the canonical plan graph

    @property
    def parameters(self) -> list[Parameter]:
        return [p for s in self.steps for p in s.inputs]

    def values(self) -> dict[str, Any]:
        """Every parameter the templates read: the plan's values, else the task's defaults."""
        values = {spec.name: spec.default for spec in self.task.parameters}
        values.update((p.name, p.value) for p in self.parameters)
        return values


@dataclass(frozen=True)
class LoadedPlan:
    graph: rdflib.Graph
    plan: Plan


# -- parsing -------------------------------------------------------------------------

#: A plan is a few kilobytes; a file this large is not one (rdflib reads about 1 MiB a second).
MAX_PLAN_BYTES = 4 * 1024 * 1024
#: Formats whose files hold named graphs: the plan is read from the one graph with triples.
DATASET_FORMATS = ("trig", "nquads")
KINDS = "Turtle (.ttl), TriG (.trig), JSON-LD (.jsonld), N-Triples (.nt), N-Quads (.nq) or RDF/XML (.rdf)"


def parse_file(path: Path) -> rdflib.Graph:
    """Parse any RDF file rdflib reads, choosing the syntax by extension.

    Only the named file is read: JSON-LD contexts must be inline and RDF/XML may not
    declare a DTD, so that reading a plan never fetches a URL, reads another file or
    expands entities without bound.
    """
    path = Path(path)
    raw = _read_plan_bytes(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: not an RDF file (extension {path.suffix or 'none'}); write the plan in {KINDS}")
    try:
        data = raw.decode("utf-8").removeprefix("\ufeff")  # editors on Windows start UTF-8 files with a BOM
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; a plan is RDF text such as Turtle") from None
    if fmt == "json-ld":
        _refuse_remote_contexts(path, data)
    if fmt == "xml":
        _refuse_dtd(path, raw)
    try:
        with _rdflib_warnings_silenced():
            return _parse_text(path, data, fmt)
    except UserError:
        raise
    except RecursionError:
        raise UserError(
            f"{path}: the {fmt} nests brackets or lists too deeply to read; a plan needs no deep nesting: flatten it"
        ) from None
    except Exception as error:  # rdflib raises many unrelated types for bad syntax
        raise UserError(_syntax_message(path, fmt, error)) from None


def _read_plan_bytes(path: Path) -> bytes:
    """The plan file's bytes; a folder, FIFO, device or symlink loop is named as what it is.

    The file is opened without blocking and checked before it is read, so a FIFO never hangs us.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        dangling = " (a symbolic link to nothing)" if path.is_symlink() else ""
        raise UserError(f"{path}: no such file{dangling}; give the path of a plan ({KINDS})") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(f"{path}: a symbolic link loop; point the link at a plan file") from None
        if error.errno == errno.EACCES:
            raise UserError(f"{path}: permission denied; make the plan readable") from None
        raise UserError(f"{path}: cannot be opened ({error.strerror}); give the path of a plan file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UserError(f"{path}: is a folder; give the path of a plan file inside it")
        raise UserError(f"{path}: is not a regular file (a FIFO, socket or device); give the path of a plan file")
    with os.fdopen(fd, "rb") as file:
        raw = file.read(MAX_PLAN_BYTES + 1)
    if len(raw) > MAX_PLAN_BYTES:
        raise UserError(f"{path}: larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB, which no plan is; give the plan file")
    return raw


def _refuse_remote_contexts(path: Path, data: str) -> None:
    """A JSON-LD ``@context`` or ``@import`` that names a document (URL, file) would be fetched: refuse it."""
    try:
        pending = [json.loads(data)]
    except ValueError as error:
        raise UserError(_syntax_message(path, "json-ld", error)) from None
    except RecursionError:
        raise UserError(f"{path}: the json-ld nests objects or arrays too deeply to read; flatten it") from None
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                refs = value if isinstance(value, list) else [value]
                if key in ("@context", "@import") and any(isinstance(r, str) for r in refs):
                    ref = next(r for r in refs if isinstance(r, str))
                    raise UserError(
                        f"{path}: remote {key} {_shown(ref)!r} is not fetched (a plan reads no other file or URL); "
                        "inline the context: write its prefixes into the file"
                    )
                pending.append(value)


def _refuse_dtd(path: Path, raw: bytes) -> None:
    """RDF/XML with a DTD could expand entities without bound or read external ones: refuse any DTD."""
    import defusedxml
    import defusedxml.sax

    try:
        defusedxml.sax.parseString(raw, xml.sax.handler.ContentHandler(), forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise UserError(
            f"{path}: the RDF/XML declares a DTD (<!DOCTYPE …>), which mlprov does not read (its entities can "
            "expand without bound or fetch files); remove the DOCTYPE and write the IRIs out in full"
        ) from None
    except xml.sax.SAXParseException as error:
        raise UserError(_syntax_message(path, "xml", error)) from None


@contextlib.contextmanager
def _rdflib_warnings_silenced() -> Iterator[None]:
    """rdflib logs a traceback for every ill-typed literal; validation reports them itself, in one line."""
    term_log = logging.getLogger("rdflib.term")
    term_log.addFilter(_drop)
    try:
        yield
    finally:
        term_log.removeFilter(_drop)


def _drop(record: logging.LogRecord) -> bool:
    return False


def _parse_text(path: Path, data: str, fmt: str) -> rdflib.Graph:
    """The file's triples; for TriG and N-Quads those of its one graph (default or named)."""
    base = path.absolute().as_uri()
    if fmt not in DATASET_FORMATS:
        return rdflib.Graph().parse(data=data, format=fmt, publicID=base)
    dataset = rdflib.Dataset()
    dataset.parse(data=data, format=fmt, publicID=base)
    graphs = sorted((g for g in dataset.graphs() if len(g)), key=lambda g: str(g.identifier))
    if len(graphs) > 1:
        names = ", ".join(_graph_name(g.identifier) for g in graphs)
        raise UserError(f"{path}: triples in {len(graphs)} graphs ({names}); a plan file holds one graph: keep the plan's")
    graph = rdflib.Graph()
    for triple in graphs[0] if graphs else ():
        graph.add(triple)
    return graph


def _graph_name(name) -> str:
    return "the default graph" if name == rdflib.graph.DATASET_DEFAULT_GRAPH_ID else f"<{name}>"


def _syntax_message(path: Path, fmt: str, error: Exception) -> str:
    line, detail = _syntax_detail(error)
    if isinstance(error, ValueError) and "integer string conversion" in detail:
        line, detail = None, "a number with more than 4300 digits, which no parameter takes"
    detail = _shown(" ".join(detail.split()))
    if len(detail) > 200:
        detail = detail[:200] + "…"
    where = f"{path}:{line}" if line else f"{path}"
    return f"{where}: {fmt} syntax error: {detail}; fix the syntax and run 'mlprov validate {path}'"


def _syntax_detail(error: Exception) -> tuple[int | None, str]:
    """The 1-based line and the parser's complaint, without rdflib's byte dumps."""
    if isinstance(error, BadSyntax):
        text = error._str.decode("utf-8", "replace")
        line = text.count("\n", 0, error._i) + 1  # rdflib's own counter is 0-based and counts some lines twice
        near = text[error._i:].split("\n", 1)[0].strip()[:40]
        return line, f"{error._why} at {near!r}" if near else f"{error._why} at the end of the file"
    if isinstance(error, json.JSONDecodeError):
        return error.lineno, error.msg
    if isinstance(error, xml.sax.SAXParseException):
        return error.getLineNumber(), error.getMessage()
    text = str(error)
    match = re.search(r"line (\d+)", text)
    return (int(match.group(1)) if match else None), text


def _short(value: Literal) -> str:
    """A literal as written in Turtle, cut to a length one line can show."""
    text = _shown(value.n3())
    return text if len(text) <= 80 else text[:80] + "…"


def _shown(text: str) -> str:
    """Text safe for one terminal line: control characters and lone surrogates escaped."""
    return "".join(ch if ch.isprintable() and not "\ud800" <= ch <= "\udfff" else ascii(ch)[1:-1] for ch in text)


def normalise(graph: rdflib.Graph) -> rdflib.Graph:
    """Literals in one canonical form, whatever wrote them.

    Stores type plain strings ``xsd:string`` and rewrite numbers (Oxigraph stores
    ``1.0`` as ``1``), so a plan read back from a store must digest like its file.
    """
    out = rdflib.Graph()
    for s, p, o in graph:
        if isinstance(o, Literal):
            o = _canonical(o)
        out.add((s, p, o))
    return out


def _canonical(literal: Literal) -> Literal:
    if literal.datatype == XSD.string:
        return Literal(str(literal))
    if literal.datatype in (XSD.decimal, XSD.double, XSD.float) and not getattr(literal, "ill_typed", False):
        try:
            number = Decimal(str(literal).strip())
        except ArithmeticError:
            return literal
        if number.is_finite():
            text = format(number.normalize(), "f")
            return Literal(text, datatype=literal.datatype)
    return literal


def digest(graph: rdflib.Graph) -> str:
    canonical = to_canonical_graph(normalise(graph))
    lines = sorted(canonical.serialize(format="nt").splitlines())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


# -- validation ----------------------------------------------------------------------


def load(path: Path) -> LoadedPlan:
    path = Path(path)
    graph = parse_file(path)
    return LoadedPlan(graph, from_graph(graph, source=str(path), base_dir=path.parent))


def from_graph(graph: rdflib.Graph, *, source: str, base_dir: Path | None = None) -> Plan:
    """Validate ``graph`` and build the typed plan; ``source`` names it in errors."""
    graph = normalise(graph)
    _check_terms(graph, source)
    plan_iri = _the_plan(graph, source)
    _check_own_nodes(graph, plan_iri, source)
    _check_shapes(graph, source)
    return _build(graph, plan_iri, source, base_dir)


def _check_terms(graph: rdflib.Graph, source: str) -> None:
    """Every statement must be one the store holds as it is, so a plan that validates is stored whole.

    Plain RDF only (no N3 formulas or variables), no lone surrogates, literals valid for
    their datatype; then Oxigraph parses the graph as ingest hands it over, which checks
    IRIs (a second ``#``), language tags and datatypes by Oxigraph's own rules.
    """
    for s, p, o in sorted(graph, key=lambda t: (str(t[0]), str(t[1]), str(t[2]))):
        where = f"{source}: node {_shown(_node(s))}, property {_shown(_compact(p))}"
        if not (isinstance(s, (URIRef, BNode)) and isinstance(p, URIRef) and isinstance(o, (URIRef, BNode, Literal))):
            raise UserError(
                f"{where}: a statement RDF cannot hold (an N3 formula, variable or literal subject); "
                "a plan is plain RDF: write it without them"
            )
        for term in (s, p, o):
            if any("\ud800" <= ch <= "\udfff" for ch in str(term)):
                raise UserError(
                    f'{where}: "{_shown(str(term))[:80]}" holds a lone surrogate (half of a UTF-16 pair), '
                    "which is no text; fix the escape"
                )
        if isinstance(o, Literal) and getattr(o, "ill_typed", False):
            raise UserError(f"{where}: {_short(o)} is not a valid {_compact(o.datatype)}; fix the value")
    lines = sorted(graph.serialize(format="nt", encoding="utf-8").splitlines(keepends=True))
    try:
        for _ in ox.parse(b"".join(lines), format=ox.RdfFormat.N_TRIPLES):
            pass
    except SyntaxError as error:
        line = lines[error.lineno - 1]
        term = line.decode("utf-8")[error.offset - 1:error.end_offset - 1]  # columns are 1-based
        detail = re.sub(r"^Parser error at line \d+[^:]*: ", "", error.msg)
        with _rdflib_warnings_silenced():
            s, p, _ = next(iter(rdflib.Graph().parse(data=line, format="nt")))
        raise UserError(
            f"{source}: node {_shown(_node(s))}, property {_shown(_compact(p))}: {_shown(term)[:120]}: {_shown(detail)}; "
            "the store cannot hold this statement: fix it"
        ) from None


#: IRIs a plan may not make statements about: what mlprov mints (runs, bundles, cells,
#: reproductions) and the terms of the vocabularies plans and runs are written in
#: (``https://w3id.org/mlprov`` covers mlprov:, param:, the metric namespaces and the ontology graph).
RESERVED_PREFIXES = ("urn:mlprov:", "https://w3id.org/mlprov", vocab.PROV, vocab.PPLAN, vocab.REPR, vocab.MLS,
                     vocab.DCTERMS, vocab.RDF, vocab.RDFS, vocab.OWL, vocab.SH, vocab.XSD)


def _own_nodes(graph: rdflib.Graph, plan: URIRef) -> set[rdflib.term.Node]:
    """The nodes a plan's graph may describe: the plan, its steps, their variables, its author,
    and the blank nodes reachable from them (lists, qualified relations)."""
    steps = set(graph.subjects(PPLAN.isStepOfPlan, plan))
    own = {plan, *steps, *graph.objects(plan, PROV.wasAttributedTo), *graph.subjects(PPLAN.isVariableOfPlan, plan)}
    for step in steps:
        own |= _vars(graph, step, output=False) | _vars(graph, step, output=True)
    pending = list(own)
    while pending:
        for value in graph.objects(pending.pop(), None):
            if isinstance(value, BNode) and value not in own:
                own.add(value)
                pending.append(value)
    return own


def _check_own_nodes(graph: rdflib.Graph, plan: URIRef, source: str) -> None:
    """A plan's graph is stored as it is and queried with every run: it may speak of its own nodes only."""
    own = _own_nodes(graph, plan)
    for node in sorted({*own, *graph.subjects(unique=True)}, key=lambda n: (isinstance(n, BNode), str(n))):
        reserved = isinstance(node, URIRef) and str(node).startswith(RESERVED_PREFIXES)
        if reserved:
            raise UserError(
                f"{source}: {_shown(_node(node))}: a plan may not describe a term of a known vocabulary (mlprov:, prov:, "
                "p-plan:, repr:, mls:, rdf:, rdfs:, owl:, sh:, xsd:, dcterms:) or a node mlprov mints (urn:mlprov:…: runs, "
                "bundles, cells); remove these statements, or give the node an IRI of your own"
            )
        if node not in own:
            raise UserError(
                f"{source}: statements about {_shown(_node(node))}, which is not part of plan {_node(plan)}; a plan file "
                "describes only the plan, its steps, their variables and its author: remove them or link the node to the plan"
            )


def _the_plan(graph: rdflib.Graph, source: str) -> URIRef:
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


_SHAPES: rdflib.Graph | None = None


def _check_shapes(graph: rdflib.Graph, source: str) -> None:
    global _SHAPES
    import pyshacl  # slow to import; only validation needs it

    if _SHAPES is None:
        _SHAPES = rdflib.Graph().parse(ontology_dir() / "shapes.ttl", format="turtle")
    conforms, report, _ = pyshacl.validate(graph, shacl_graph=_SHAPES, inference="none")
    if conforms:
        return
    sh = rdflib.Namespace(vocab.SH)
    results = sorted(
        report.subjects(RDF.type, sh.ValidationResult),
        key=lambda r: (str(report.value(r, sh.focusNode)), str(report.value(r, sh.resultMessage))),
    )
    first = results[0]
    focus = report.value(first, sh.focusNode)
    path = report.value(first, sh.resultPath)
    message = report.value(first, sh.resultMessage)
    where = f"node {_node(focus)}" + (f", property {_compact(path)}" if path is not None else "")
    more = f" ({len(results) - 1} more problems)" if len(results) > 1 else ""
    raise UserError(f"{source}: {where}: {message}{more}")


def _build(graph: rdflib.Graph, plan: URIRef, source: str, base_dir: Path | None) -> Plan:
    where = f"{source}: plan {_node(plan)}"
    task_iri = graph.value(plan, MLPROV.task)
    task = task_by_iri(str(task_iri)) if task_iri is not None else None
    if task is None:
        known = ", ".join(f"mlprov:{t.iri.rsplit('#', 1)[1]}" for t in all_tasks().values())
        got = _compact(task_iri) if task_iri is not None else "no mlprov:task"
        raise UserError(f"{where}: task {got} is not one mlprov knows; set mlprov:task to one of {known}")

    step_nodes = sorted(set(graph.subjects(PPLAN.isStepOfPlan, plan)), key=str)
    _check_iris(step_nodes, source, "step")
    steps_by_class = _classify_steps(graph, step_nodes, task, source)
    ordered = _order_steps(graph, step_nodes, source)
    _check_task_order(ordered, steps_by_class, task, source)

    seen_names: dict[str, URIRef] = {}
    steps = []
    for node in ordered:
        spec = steps_by_class[node]
        inputs = _parameters(graph, node, spec, task, source, base_dir, seen_names)
        outputs = tuple(
            sorted(
                (OutputVariable(str(v), _label(graph, v)) for v in _vars(graph, node, output=True)),
                key=lambda o: o.iri,
            )
        )
        steps.append(
            Step(
                iri=str(node),
                spec=spec,
                label=_text(graph, node, RDFS.label) or spec.label,
                description=_text(graph, node, DCTERMS.description) or spec.description,
                position=int(graph.value(node, MLPROV.position).toPython()),
                inputs=inputs,
                outputs=outputs,
            )
        )
    all_values = {p.name: p.value for s in steps for p in s.inputs}
    _check_required(all_values, seen_names, task, source)

    author = graph.value(plan, PROV.wasAttributedTo)
    return Plan(
        iri=str(plan),
        title=_text(graph, plan, DCTERMS.title) or str(plan),
        description=_text(graph, plan, DCTERMS.description) or "",
        author_iri=str(author) if isinstance(author, URIRef) else None,
        author_label=_label(graph, author) if author is not None else None,
        task=task,
        steps=tuple(steps),
        digest=digest(graph),
    )


def _check_iris(nodes, source: str, what: str) -> None:
    for node in nodes:
        if not isinstance(node, URIRef) or not SAFE_IRI.match(str(node)):
            raise UserError(f"{source}: a {what} is a blank node or has an unusable IRI ({node!s:.80}); name it with an IRI")


def _classify_steps(graph, step_nodes, task: Task, source: str) -> dict[URIRef, StepSpec]:
    out = {}
    for node in step_nodes:
        classes = sorted(str(c) for c in graph.objects(node, RDF.type) if str(c).startswith(vocab.MLPROV))
        known = [task.step(c) for c in classes if task.step(c) is not None]
        if len(known) != 1:
            names = ", ".join(f"mlprov:{s.cls}" for s in task.steps)
            got = ", ".join(_compact(URIRef(c)) for c in classes) or "no mlprov step class"
            raise UserError(
                f"{source}: step {_node(node)} has type {got}, which task {task.name} has no template for; "
                f"give it exactly one of {names}"
            )
        out[node] = known[0]
    return out


def _order_steps(graph, step_nodes, source: str) -> list[URIRef]:
    """Order by mlprov:position and check that p-plan:isPrecededBy says the same."""
    steps = set(step_nodes)
    for node in step_nodes:
        seen = [node]
        current = graph.value(node, PPLAN.isPrecededBy)
        while current is not None:
            if current in seen:
                cycle = " → ".join(_node(n) for n in seen + [current])
                raise UserError(f"{source}: the steps' p-plan:isPrecededBy links form a cycle ({cycle}); remove one link")
            if current not in steps:
                raise UserError(
                    f"{source}: step {_node(seen[-1])} is preceded by {_node(current)}, which is not a step of this plan; "
                    "point p-plan:isPrecededBy at a step of the plan"
                )
            seen.append(current)
            current = graph.value(current, PPLAN.isPrecededBy)
    ordered = sorted(step_nodes, key=lambda n: (int(graph.value(n, MLPROV.position).toPython()), str(n)))
    for index, node in enumerate(ordered, start=1):
        position = int(graph.value(node, MLPROV.position).toPython())
        if position != index:
            raise UserError(
                f"{source}: step {_node(node)} has mlprov:position {position}, but it is step {index} of "
                f"{len(ordered)}; number the steps 1 to {len(ordered)} without gaps or repeats"
            )
        before = graph.value(node, PPLAN.isPrecededBy)
        expected = ordered[index - 2] if index > 1 else None
        if before != expected:
            said = _node(before) if before is not None else "no step"
            want = _node(expected) if expected is not None else "no step (it is first)"
            raise UserError(
                f"{source}: step {_node(node)} is at mlprov:position {position} but p-plan:isPrecededBy says {said}; "
                f"by position it follows {want}: make the two agree"
            )
    return ordered


def _check_task_order(ordered, steps_by_class, task: Task, source: str) -> None:
    got = [steps_by_class[n].cls for n in ordered]
    want = [s.cls for s in task.steps]
    if got != want:
        missing = [c for c in want if c not in got]
        extra = sorted({c for c in got if got.count(c) > 1})
        if missing:
            problem = "lacks " + ", ".join(f"mlprov:{c}" for c in missing)
        elif extra:
            problem = "repeats " + ", ".join(f"mlprov:{c}" for c in extra)
        else:
            problem = "orders its steps " + " → ".join(got)
        raise UserError(
            f"{source}: the plan {problem}; task {task.name} needs one step of each class in this order: "
            + " → ".join(want)
        )


def _vars(graph, step: URIRef, *, output: bool) -> set:
    forward, inverse = (PPLAN.hasOutputVar, PPLAN.isOutputVarOf) if output else (PPLAN.hasInputVar, PPLAN.isInputVarOf)
    return set(graph.objects(step, forward)) | set(graph.subjects(inverse, step))


def _parameters(graph, step: URIRef, spec: StepSpec, task: Task, source, base_dir, seen: dict) -> tuple[Parameter, ...]:
    params = []
    for var in sorted(_vars(graph, step, output=False), key=str):
        _check_iris([var], source, "variable")
        name_lit = graph.value(var, MLPROV.parameterName)
        value = graph.value(var, PROV.value)
        if name_lit is None or value is None:
            raise UserError(
                f"{source}: input variable {_node(var)} of step {_node(step)} needs mlprov:parameterName and prov:value; add them"
            )
        name = str(name_lit)
        pspec = task.parameter(name)
        where = f"{source}: parameter {name!r} ({_node(var)})"
        if pspec is None:
            known = ", ".join(p.name for p in task.parameters_of(spec))
            raise UserError(f"{where}: step {_node(step)} has no parameter of this name; its parameters are {known}")
        if pspec.step != spec.cls:
            raise UserError(f"{where}: belongs to the mlprov:{pspec.step} step, not to {_node(step)}; move it there")
        if name in seen:
            raise UserError(f"{where}: the plan sets it twice ({_node(seen[name])} too); keep one")
        seen[name] = var
        params.append(Parameter(str(var), name, typed_value(value, pspec, where, base_dir), pspec))
    order = {p.name: i for i, p in enumerate(task.parameters)}
    return tuple(sorted(params, key=lambda p: order[p.name]))


def typed_value(value, spec: ParameterSpec, where: str, base_dir: Path | None) -> Any:
    if not isinstance(value, Literal):
        raise UserError(f"{where}: prov:value is {_node(value)}, not a literal; write the value itself")
    if spec.allow_default and value.datatype is None and str(value) == "default":
        return None
    if getattr(value, "ill_typed", False):
        raise UserError(f"{where}: {_short(value)} is not a valid {_compact(value.datatype)}; fix the value")
    py = value.toPython()
    dtype = value.datatype
    numeric = dtype is not None and isinstance(py, (int, float, Decimal)) and not isinstance(py, bool)
    if spec.type == "integer":
        if not numeric or not isinstance(py, int):
            raise UserError(f"{where}: {_short(value)} is not an integer; write a number without quotes, e.g. {spec.default}")
        result: Any = int(py)
        if abs(result) >= 2**63:
            raise UserError(f"{where}: {_short(value)} does not fit in 64 bits, which no parameter needs; write a smaller integer")
    elif spec.type == "number":
        if not numeric:
            raise UserError(f"{where}: {_short(value)} is not a number; write a number without quotes, e.g. {spec.default}")
        result = float(py)
        if not math.isfinite(result):
            raise UserError(f"{where}: {_short(value)} is not a finite number; write a number such as {spec.default}")
    elif spec.type == "boolean":
        if not isinstance(py, bool):
            raise UserError(f"{where}: {_short(value)} is not a boolean; write true or false without quotes")
        result = py
    elif spec.type == "integer-list":
        try:
            result = json.loads(str(value))
        except (ValueError, RecursionError):
            result = None
        if not (isinstance(result, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in result)):
            raise UserError(f'{where}: {_short(value)} is not a JSON list of integers; write e.g. "[64, 32]"^^rdf:JSON')
    else:  # string, path, directory
        if dtype is not None and dtype != XSD.string:
            raise UserError(f'{where}: {_short(value)} is not text; write it in quotes, e.g. "{spec.default}"')
        result = str(value)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in result):
            raise UserError(
                f"{where}: the value contains a line break or control character, which no parameter needs "
                "(and which is how code injection starts); write it on one line"
            )
    if spec.choices and result not in spec.choices:
        options = ", ".join(str(c) for c in spec.choices)
        raise UserError(f"{where}: {result!r} is not allowed; use one of {options}")
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        if spec.min is not None and (result < spec.min or (spec.exclusive_min and result == spec.min)):
            bound = f"greater than {spec.min}" if spec.exclusive_min else f"at least {spec.min}"
            raise UserError(f"{where}: {result} is out of range; it must be {bound}")
        if spec.max is not None and result > spec.max:
            raise UserError(f"{where}: {result} is out of range; it must be at most {spec.max}")
    if spec.type == "path" and result and base_dir is not None:
        if not (base_dir / result).is_file():
            raise UserError(f"{where}: file {result!r} does not exist (looked in {base_dir}); fix the path")
    if spec.type == "directory" and result and base_dir is not None:
        if not (base_dir / result).is_dir():
            raise UserError(f"{where}: folder {result!r} does not exist (looked in {base_dir}); fix the path")
    return result


def _check_required(values: dict, seen: dict, task: Task, source: str) -> None:
    for spec in task.parameters:
        condition = all(values.get(k, _default(task, k)) == v for k, v in spec.required_when.items())
        if spec.name not in seen and not spec.required_when:
            raise UserError(
                f"{source}: parameter {spec.name!r} is missing; add it as an input variable of the mlprov:{spec.step} "
                f"step (default: {spec.default!r})"
            )
        if spec.required_when and condition and not values.get(spec.name):
            cond = ", ".join(f"{k} = {v!r}" for k, v in spec.required_when.items())
            raise UserError(f"{source}: parameter {spec.name!r} is required when {cond}; set it on the mlprov:{spec.step} step")


def _default(task: Task, name: str) -> Any:
    spec = task.parameter(name)
    return spec.default if spec else None


# -- small helpers -------------------------------------------------------------------


def _text(graph, node, prop) -> str:
    value = graph.value(node, prop)
    return str(value) if value is not None else ""


def _label(graph, node) -> str:
    for prop in (RDFS.label, DCTERMS.title, rdflib.URIRef("http://xmlns.com/foaf/0.1/name")):
        value = graph.value(node, prop)
        if value is not None:
            return str(value)
    return _compact(node)


def _compact(node) -> str:
    text = str(node)
    for prefix, ns in vocab.PREFIXES.items():
        if text.startswith(ns) and len(text) > len(ns):
            return f"{prefix}:{text[len(ns):]}"
    return f"<{text}>"


def _node(node) -> str:
    if isinstance(node, URIRef):
        return _compact(node)
    return f"_:{str(node)[:12]}" if node is not None else "(none)"
