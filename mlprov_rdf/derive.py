"""Overrides are derived plans: ``-p NAME=VALUE`` makes a new plan, never a changed notebook.

A run with other values is a run of another experiment, so it is recorded as one: the
derived plan has its own IRI and is ``prov:wasDerivedFrom`` the original, its title says
what changed, and it is stored in its own graph like any plan. A plan's graph may describe
only its own nodes and the original's graph already describes the original's steps and
variables, so the derived plan names every node anew (``prov:wasDerivedFrom`` the node it
copies; its author ``owl:sameAs`` the original's). Its IRI depends only on the original's
IRI and the typed overrides: deriving the same overrides again gives the same plan, which
is what makes a sweep (a set of derived plans) safe to run twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import warnings
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

import rdflib
from rdflib import OWL, RDF, XSD, Literal, URIRef

from . import vocab
from .arguments import check_output, write_output
from .errors import UserError
from .plan import DCTERMS, MLPROV, PPLAN, PROV, REPR, Plan, own_nodes, rdflib_warnings_silenced, from_graph, typed_value
from .tasks import CODE_STEP, ParameterSpec

log = logging.getLogger(__name__)

#: The first line of every derived plan file: a later derivation may replace a file that starts with it.
FILE_MARKER = "# mlprov derived plan"
#: Overrides that make a longer file name are named by their digest instead.
MAX_NAME_CHARS = 60
_DATATYPES = {"integer": XSD.integer, "number": XSD.double, "boolean": XSD.boolean, "integer-list": RDF.JSON}
_TYPE_WORDS = {"integer": "a whole number", "number": "a finite number", "boolean": "true or false",
               "integer-list": "a JSON list of whole numbers"}


@dataclass(frozen=True)
class DerivedPlan:
    graph: rdflib.Graph
    plan: Plan
    original: str  # the original plan's IRI
    changes: tuple[tuple[str, Any], ...]  # (name, typed value), sorted by name

    @property
    def changed(self) -> str:
        """``epochs = 5, optimizer = SGD``: what the title and the description say."""
        return _changed(self.changes)

    @property
    def file_stem(self) -> str:
        """``epochs-5.optimizer-SGD``, or ``derived-<digest>`` when that is too long to be a good name."""
        stem = ".".join(f"{name}-{_shown(value)}" for name, value in self.changes)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")
        if not stem or len(stem) > MAX_NAME_CHARS:
            return "derived-" + self.plan.iri.rsplit("/", 1)[-1]
        return stem


# -- the command line ------------------------------------------------------------------


def parse_override(item: str) -> tuple[str, str]:
    """``NAME=VALUE`` → (name, value text); the text is typed later, against the task's manifest."""
    name, sep, text = item.partition("=")
    if not sep or not name.strip():
        raise UserError(f"-p {item}: write NAME=VALUE, such as -p epochs=5 (NAME is a parameter of the plan)")
    return name.strip(), text


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """Every ``-p`` of a command; a name given twice is refused rather than silently taking the last."""
    overrides: dict[str, str] = {}
    for item in items:
        name, text = parse_override(item)
        if name in overrides:
            raise UserError(f"-p {item}: {name} is given twice (also -p {name}={overrides[name]}); give it once")
        overrides[name] = text
    return overrides


# -- deriving --------------------------------------------------------------------------


def derive_plan(
    graph: rdflib.Graph, plan: Plan, overrides: Mapping[str, Any], *, base_dir: Path | None = None
) -> DerivedPlan:
    """The plan that ``plan`` (read from ``graph``) becomes with ``overrides``, validated like any plan.

    An override's value is command-line text (``"5"``, ``"[64, 32]"``, ``"true"``) or a
    Python value; either is typed and checked by the rules a plan value meets. ``base_dir``
    is where relative paths in the plan are looked up.
    """
    if not overrides:
        raise ValueError("derive_plan needs at least one override")
    plan_node = URIRef(plan.iri)
    targets = [_target(plan, name, _text(value), base_dir) for name, value in sorted(overrides.items())]
    changes = tuple((t.name, t.value) for t in targets)
    digest = hashlib.sha256(json.dumps([plan.iri, changes], sort_keys=True).encode("utf-8")).hexdigest()[:12]
    derived = URIRef(f"{plan.iri.rstrip('#/')}/derived/{digest}")
    own = own_nodes(graph, plan_node)
    names = _derived_names((n for n in own if isinstance(n, URIRef) and n != plan_node), plan.iri, str(derived))
    names[plan_node] = derived
    author = graph.value(plan_node, PROV.wasAttributedTo)
    overridden = {t.variable for t in targets if t.variable is not None}

    out = rdflib.Graph()
    for s, p, o in graph:
        if p == PROV.wasDerivedFrom and s in names:
            continue  # the derived plan says what it comes from: the plan it was derived from, directly
        if s == plan_node and p in (DCTERMS.title, DCTERMS.description):
            continue
        if s in overridden and p == PROV.value:
            continue
        out.add((names.get(s, s), p, names.get(o, o)))
    for node, new in names.items():
        out.add((new, OWL.sameAs if node == author else PROV.wasDerivedFrom, node))
    changed = _changed(changes)
    out.add((derived, DCTERMS.title, Literal(f"{plan.title} ({changed})")))
    said = f"Derived from plan <{plan.iri}> with {changed}."
    out.add((derived, DCTERMS.description, Literal(f"{plan.description} {said}" if plan.description else said)))
    for target in targets:
        variable = names[target.variable] if target.variable is not None else _new_variable(out, derived, target.name, names)
        if target.variable is None:
            out.add((names[target.step], PPLAN.hasInputVar, variable))
        out.add((variable, PROV.value, target.literal))

    source = f"plan <{plan.iri}> with " + " ".join(f"-p {t.name}={t.text}" for t in targets)
    derived_plan = from_graph(out, source=source, base_dir=base_dir)
    log.info("derived plan %s from %s (%s)", derived, plan.iri, changed)
    return DerivedPlan(out, derived_plan, plan.iri, changes)


@dataclass(frozen=True)
class _Target:
    """Where one override goes: the variable it replaces the value of, or the step it adds one to."""

    name: str
    text: str
    value: Any  # typed, as the notebook will hold it
    literal: Literal  # as the derived plan states it
    variable: URIRef | None
    step: URIRef | None = None


def _target(plan: Plan, name: str, text: str, base_dir: Path | None) -> _Target:
    where = f"-p {name}={text}"
    parameter = next((p for p in plan.parameters if p.name == name), None)
    spec = parameter.spec if parameter is not None else plan.task.parameter(name)
    if spec is None:
        code_inputs = [p.name for p in plan.parameters if p.spec.step == CODE_STEP.cls]
        known = [p.name for p in plan.task.parameters] + code_inputs
        raise UserError(
            f"{where}: plan <{plan.iri}> (task {plan.task.name}) has no parameter {name!r}; "
            f"its parameters are {', '.join(known)}"
        )
    value = typed_value(_command_line_literal(text, spec, where), spec, where, base_dir)
    literal = _plan_literal(value, spec)
    if parameter is not None:
        return _Target(name, text, value, literal, URIRef(parameter.iri))
    step = next((URIRef(s.iri) for s in plan.steps if s.spec.cls == spec.step), None)
    if step is None:
        raise UserError(
            f"{where}: the plan has no mlprov:{spec.step} step, which is the step that takes {name}; "
            f"add that step to the plan first"
        )
    return _Target(name, text, value, literal, None, step)


def _text(value: Any) -> str:
    """A Python value as the command-line text that means it; text as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if value is None:
        return "default"
    return repr(value)


def _command_line_literal(text: str, spec: ParameterSpec, where: str) -> Literal:
    """The text as the literal a plan would hold, so that ``plan.typed_value`` checks it as it checks
    a plan (choices, range, one line); text that is not of the parameter's type is refused here,
    in the words of the command line rather than of Turtle."""
    if (spec.allow_default and text == "default") or spec.type not in _DATATYPES:
        return Literal(text)
    text = text.strip().lower() if spec.type == "boolean" else text.strip()
    with rdflib_warnings_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdflib warns of a "weird boolean"; the check below says it in one line
        literal = Literal(text, datatype=_DATATYPES[spec.type])
    if not _of_type(literal, spec.type):
        words = _TYPE_WORDS[spec.type]
        raise UserError(f"{where}: {text!r} is not {words}, which {spec.name} takes; give {words} such as {_shown(spec.default)}")
    return literal


def _of_type(literal: Literal, type_: str) -> bool:
    if getattr(literal, "ill_typed", False):
        return False
    if type_ == "boolean":
        return str(literal) in ("true", "false", "1", "0")  # rdflib takes any other word for false
    if type_ == "number":
        return math.isfinite(float(literal.toPython()))
    if type_ == "integer-list":
        try:
            items = json.loads(str(literal))
        except (ValueError, RecursionError):
            return False
        return isinstance(items, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in items)
    return True


def _plan_literal(value: Any, spec: ParameterSpec) -> Literal:
    """A typed value in the form a plan author would write it (``5``, ``0.01``, ``"[64, 32]"^^rdf:JSON``)."""
    if value is None:
        return Literal("default")
    if spec.type == "integer-list":
        return Literal(json.dumps(value), datatype=RDF.JSON)
    if spec.type == "number":
        return Literal(format(Decimal(repr(value)), "f"), datatype=XSD.decimal)
    return Literal(value)


def _derived_names(nodes: Iterable[URIRef], original: str, derived: str) -> dict[URIRef, URIRef]:
    """A new IRI for each node: the original's relative part kept (``#epochs``), else its last segment."""
    separator = "/" if "#" in derived else "#"
    names: dict[URIRef, URIRef] = {}
    used: set[str] = {derived}
    for node in sorted(nodes, key=str):
        text = str(node)
        rest = text[len(original):]
        if text.startswith(original) and rest[:1] in ("#", "/") and not ("#" in derived and "#" in rest):
            candidate = derived + rest
        else:
            local = re.sub(r"[^A-Za-z0-9_.-]+", "-", re.split(r"[#/:]", text.rstrip("#/"))[-1]).strip("-.")
            candidate = f"{derived}{separator}{local or 'node'}"
        if candidate in used:
            candidate += "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        used.add(candidate)
        names[node] = URIRef(candidate)
    return names


def _new_variable(graph: rdflib.Graph, derived: URIRef, name: str, names: Mapping[URIRef, URIRef]) -> URIRef:
    """A variable for a parameter the original plan left at the task's default."""
    separator = "/" if "#" in str(derived) else "#"
    variable = URIRef(f"{derived}{separator}{name}")
    if variable in names.values():
        variable = URIRef(f"{variable}-parameter")
    graph.add((variable, RDF.type, PPLAN.Variable))
    graph.add((variable, RDF.type, REPR.Parameter))
    graph.add((variable, PPLAN.isVariableOfPlan, derived))
    graph.add((variable, MLPROV.parameterName, Literal(name)))
    return variable


def _changed(changes: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(f"{name} = {_shown(value)}" for name, value in changes)


def _shown(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# -- the plan file ---------------------------------------------------------------------


def turtle(derived: DerivedPlan) -> bytes:
    """The derived plan as a Turtle file a person can read, run and derive from again."""
    graph = rdflib.Graph()
    for prefix, namespace in vocab.PREFIXES.items():
        graph.bind(prefix, namespace, replace=True)
    separator = "/" if "#" in derived.plan.iri else "#"
    graph.bind("", derived.plan.iri + separator, replace=True)
    for triple in derived.graph:
        graph.add(triple)
    header = (
        f"{FILE_MARKER} <{derived.plan.iri}>: plan <{derived.original}> with {derived.changed}.\n"
        "# Written by mlprov ('mlprov run' or 'mlprov generate' with -p), which replaces it when it derives\n"
        "# this plan again; 'mlprov run' on this file runs the derived plan as it is.\n\n"
    )
    return (header + graph.serialize(format="turtle")).encode("utf-8")


def check_plan_file(path: Path, *, inputs: Iterable[Path], force: bool = False) -> Path:
    """``path`` if the derived plan may be written there: never over an input, and over an
    existing file only when mlprov derived it (or ``force``)."""
    path = Path(path)
    ours = path.is_file() and _derived_here(path)
    return check_output(path, kind="file", inputs=inputs, force=force or ours, option="derived plan")


def _derived_here(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.readline().startswith(FILE_MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def write_plan_file(derived: DerivedPlan, path: Path) -> Path:
    return write_output(Path(path), turtle(derived))
