"""Plans: an RDF file or graph in, a validated, typed plan out.

Validation runs in three layers, each failing with one line that names the file and
node, says what is wrong and what to do: parsing, the SHACL shapes in
``ontology/shapes.ttl``, then the structure and parameters a task's templates need
(``templates/<task>/task.toml``). Everything downstream reads the typed plan only,
so a plan gives the same notebook whatever serialization or triple order it came in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import rdflib
from rdflib import RDF, RDFS, XSD, Literal, URIRef
from rdflib.compare import to_canonical_graph

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


def parse_file(path: Path) -> rdflib.Graph:
    """Parse any RDF file rdflib reads, choosing the syntax by extension."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the path of a plan (.ttl, .jsonld, .nt, .rdf)")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(
            f"{path}: not an RDF file (extension {path.suffix or 'none'}); "
            "write the plan in Turtle (.ttl), JSON-LD (.jsonld), N-Triples (.nt) or RDF/XML (.rdf)"
        )
    try:
        data = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; a plan is RDF text such as Turtle") from None
    graph = rdflib.Graph()
    try:
        graph.parse(data=data, format=fmt, publicID=path.absolute().as_uri())
    except Exception as error:  # rdflib raises many unrelated types for bad syntax
        raise UserError(_syntax_message(path, fmt, error)) from None
    return graph


def _syntax_message(path: Path, fmt: str, error: Exception) -> str:
    text = " ".join(str(error).split())
    line = getattr(error, "lines", None)
    if line is None:
        match = re.search(r"line (\d+)", text)
        line = int(match.group(1)) if match else None
    where = f"{path}:{line}" if line else f"{path}"
    detail = getattr(error, "message", None) or text
    detail = " ".join(str(detail).split())
    if len(detail) > 200:
        detail = detail[:200] + "…"
    return f"{where}: {fmt} syntax error: {detail}; fix the syntax and run 'mlprov validate {path}'"


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
    plan_iri = _the_plan(graph, source)
    _check_shapes(graph, source)
    return _build(graph, plan_iri, source, base_dir)


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
        raise UserError(f"{where}: {value.n3()} is not a valid {_compact(value.datatype)}; fix the value")
    py = value.toPython()
    dtype = value.datatype
    numeric = dtype is not None and isinstance(py, (int, float, Decimal)) and not isinstance(py, bool)
    if spec.type == "integer":
        if not numeric or not isinstance(py, int):
            raise UserError(f"{where}: {value.n3()} is not an integer; write a number without quotes, e.g. {spec.default}")
        result: Any = int(py)
    elif spec.type == "number":
        if not numeric:
            raise UserError(f"{where}: {value.n3()} is not a number; write a number without quotes, e.g. {spec.default}")
        result = float(py)
    elif spec.type == "boolean":
        if not isinstance(py, bool):
            raise UserError(f"{where}: {value.n3()} is not a boolean; write true or false without quotes")
        result = py
    elif spec.type == "integer-list":
        try:
            result = json.loads(str(value))
        except ValueError:
            result = None
        if not (isinstance(result, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in result)):
            raise UserError(f'{where}: {value.n3()} is not a JSON list of integers; write e.g. "[64, 32]"^^rdf:JSON')
    else:  # string, path, directory
        if dtype is not None and dtype != XSD.string:
            raise UserError(f'{where}: {value.n3()} is not text; write it in quotes, e.g. "{spec.default}"')
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
