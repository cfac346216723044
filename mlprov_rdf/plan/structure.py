"""The plan's structure, read against its task: steps in the order of their graph, the
names each needs and provides, code steps, and every parameter typed and in range."""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import rdflib
from rdflib import RDF, RDFS, XSD, Literal, URIRef

from .. import vocab
from ..code_names import CodeNames, code_names
from ..errors import UserError
from ..step_order import topological_order
from ..tasks import CODE_STEP, ParameterSpec, StepSpec, Task, all_tasks, task_by_iri
from .checks import step_variables
from .model import DCTERMS, MLPROV, PPLAN, PROV, SAFE_IRI, OutputVariable, Parameter, Plan, Step
from .naming import compact, iri_name, label_of, node_name, short, shown, text_of
from .problems import Problems
from .reading import digest

def build(graph: rdflib.Graph, plan: URIRef, source: str, base_dir: Path | None) -> Plan:
    """The typed plan, or every structure problem found, a line each.

    Checks of separate nodes (each step, each variable) go on past a problem. A check stops
    where a problem makes the ones after it meaningless: an unknown task (every other check
    reads it), a cycle (no order to check against), a step of no known class or a code step
    without code (the task's steps and the names they provide are not known then), code that
    does not parse (see :func:`_check_names`).
    """
    where = f"{source}: plan {node_name(plan)}"
    task_iri = graph.value(plan, MLPROV.task)
    task = task_by_iri(str(task_iri)) if task_iri is not None else None
    if task is None:
        known = ", ".join(f"{compact(URIRef(t.iri))} ({t.name})" for t in all_tasks().values())
        got = compact(task_iri) if task_iri is not None else "no mlprov:task"
        raise UserError(f"{where}: task {got} is not one mlprov knows; set mlprov:task to one of {known}")

    problems = Problems(source)
    step_nodes = sorted(set(graph.subjects(PPLAN.isStepOfPlan, plan)), key=str)
    for node in step_nodes:
        with problems.catching():
            _check_iri(node, source, "step")
    steps_by_class = _classify_steps(graph, step_nodes, task, source, problems)
    ordered = _order_steps(graph, step_nodes, source, problems)
    known_steps = len(steps_by_class) == len(step_nodes)
    before_task_steps = len(problems)
    if known_steps:
        _check_task_steps(ordered, steps_by_class, task, source, problems)
    task_steps_ok = known_steps and len(problems) == before_task_steps

    seen_names: dict[str, URIRef] = {}
    steps = []
    before_parameters, code_problems = len(problems), 0
    for index, node in enumerate(ordered or step_nodes, start=1):
        spec = steps_by_class.get(node)
        if spec is None:
            continue
        if spec is CODE_STEP:
            inputs = _code_inputs(graph, node, task, source, seen_names, problems)
        else:
            inputs = _parameters(graph, node, spec, task, source, base_dir, seen_names, problems)
        code: dict[str, Any] = {}
        if spec is CODE_STEP:
            with problems.catching():
                code = _code(graph, node, source)
            if not code:
                code_problems += 1
        outputs = tuple(
            sorted(
                (OutputVariable(str(v), label_of(graph, v), text_of(graph, v, MLPROV.parameterName) or None)
                 for v in step_variables(graph, node, output=True)),
                key=lambda o: o.iri,
            )
        )
        position = graph.value(node, MLPROV.position)
        steps.append(
            Step(
                iri=str(node),
                spec=spec,
                label=text_of(graph, node, RDFS.label) or spec.label,
                description=text_of(graph, node, DCTERMS.description) or spec.description,
                index=index,
                position=int(position.toPython()) if position is not None else None,
                inputs=inputs,
                outputs=outputs,
                **code,
            )
        )
    if len(problems) == before_parameters:  # a parameter refused could be the one that makes another required
        all_values = {p.name: p.value for s in steps for p in s.inputs}
        _check_required(all_values, task, source, problems)
    if ordered is not None and task_steps_ok and not code_problems:  # names need the steps' order, classes and code
        _check_names(steps, set(seen_names), task, source, problems)
    problems.raise_any()

    author = graph.value(plan, PROV.wasAttributedTo)
    return Plan(
        iri=str(plan),
        title=text_of(graph, plan, DCTERMS.title) or str(plan),
        description=text_of(graph, plan, DCTERMS.description) or "",
        author_iri=str(author) if isinstance(author, URIRef) else None,
        author_label=label_of(graph, author) if author is not None else None,
        task=task,
        steps=tuple(steps),
        digest=digest(graph),
    )


def _check_iri(node, source: str, what: str) -> None:
    if not isinstance(node, URIRef) or not SAFE_IRI.match(str(node)):
        raise UserError(f"{source}: a {what} is a blank node or has an unusable IRI ({node!s:.80}); name it with an IRI")


def _classify_steps(graph, step_nodes, task: Task, source: str, problems: Problems) -> dict[URIRef, StepSpec]:
    """Each step's class in the task; a step of none (or of several) is a problem, and left out."""
    out = {}
    for node in step_nodes:
        classes = sorted(str(c) for c in graph.objects(node, RDF.type) if str(c).startswith(vocab.MLPROV))
        known = [task.step(c) or (CODE_STEP if c == CODE_STEP.iri else None) for c in classes]
        known = [k for k in known if k is not None]
        if len(known) != 1:
            names = ", ".join(f"mlprov:{s.cls}" for s in (*task.steps, CODE_STEP))
            got = ", ".join(compact(URIRef(c)) for c in classes) or "no mlprov step class"
            problems.add(
                f"{source}: step {node_name(node)} has type {got}, which task {task.name} has no template for; "
                f"give it exactly one of {names}"
            )
            continue
        out[node] = known[0]
        if known[0] is not CODE_STEP and graph.value(node, MLPROV.code) is not None:
            problems.add(
                f"{source}: step {node_name(node)} has mlprov:code but is a mlprov:{known[0].cls}, whose code the task's "
                "template writes; make it a mlprov:CodeStep (a step of your own) or remove the code"
            )
    return out


def _order_steps(graph, step_nodes, source: str, problems: Problems) -> list[URIRef] | None:
    """The steps in an order the ``p-plan:isPrecededBy`` graph allows: a step after all it follows;
    None when the links form a cycle.

    Steps the graph leaves unordered go by ``mlprov:position`` where given (checked against
    the graph), then by IRI, so that the order never depends on how the file was written.
    A link to a node that is no step is a problem, and left out of the order.
    """
    steps = set(step_nodes)
    before: dict[URIRef, list[URIRef]] = {}
    for node in step_nodes:
        before[node] = []
        for previous in sorted(set(graph.objects(node, PPLAN.isPrecededBy)), key=str):
            if previous in steps:
                before[node].append(previous)
            else:
                problems.add(
                    f"{source}: step {node_name(node)} is preceded by {node_name(previous)}, which is not a step of this plan; "
                    "point p-plan:isPrecededBy at a step of the plan"
                )
    positions = {n: int(graph.value(n, MLPROV.position).toPython()) for n in step_nodes
                 if graph.value(n, MLPROV.position) is not None}
    ordered = topological_order(step_nodes, before, key=lambda n: (positions.get(n, math.inf), str(n)))
    if len(ordered) < len(step_nodes):
        cycle = _a_cycle(before, [n for n in step_nodes if n not in set(ordered)])
        problems.add(
            f"{source}: the steps' p-plan:isPrecededBy links form a cycle ({' → '.join(node_name(n) for n in cycle)}); "
            "remove one link"
        )
        return None
    for node in step_nodes:
        for previous in before[node]:
            if node in positions and previous in positions and positions[previous] >= positions[node]:
                problems.add(
                    f"{source}: step {node_name(node)} has mlprov:position {positions[node]} but follows {node_name(previous)} "
                    f"(p-plan:isPrecededBy), whose position is {positions[previous]}; give a step a higher position "
                    "than the steps it follows, or leave positions out"
                )
    return ordered


def _a_cycle(before: dict[URIRef, list[URIRef]], stuck: list[URIRef]) -> list[URIRef]:
    """One cycle among the steps that never became ready, written in the order they run (A → B: B follows A)."""
    path, node = [], stuck[0]
    while node not in path:
        path.append(node)
        node = next(p for p in before[node] if p in set(stuck))
    cycle = path[path.index(node):] + [node]
    return cycle[::-1]


def _check_task_steps(ordered: list[URIRef] | None, steps_by_class, task: Task, source: str, problems: Problems) -> None:
    """The task's required steps are there, unrepeatable ones once, and its first step (which
    starts recording) comes first (where there is an order)."""
    nodes_in_order = ordered if ordered is not None else sorted(steps_by_class, key=str)
    classes = [steps_by_class[n] for n in nodes_in_order]
    optional = ", ".join(f"mlprov:{s.cls}" for s in task.steps if s.optional) or "none"
    missing = [s for s in task.steps if not s.optional and s not in classes]
    if missing:
        problems.add(
            f"{source}: the plan lacks " + ", ".join(f"mlprov:{s.cls}" for s in missing)
            + f"; task {task.name} needs a step of each of its classes except the optional ones ({optional}): add it"
        )
    for spec in task.steps:
        nodes = [n for n in nodes_in_order if steps_by_class[n] is spec]
        if len(nodes) > 1 and not spec.repeatable:
            problems.add(
                f"{source}: the plan repeats mlprov:{spec.cls} ({', '.join(node_name(n) for n in nodes)}); task {task.name} "
                "takes one step of this class: keep one"
            )
    first = task.steps[0]
    starter = next((n for n in nodes_in_order if steps_by_class[n] is first), None)
    if ordered and starter is not None and steps_by_class[ordered[0]] is not first:
        problems.add(
            f"{source}: step {node_name(ordered[0])} comes before {node_name(starter)}, the mlprov:{first.cls} that starts "
            f"recording the run; make every step follow it (p-plan:isPrecededBy)"
        )


def _code(graph, node: URIRef, source: str) -> dict[str, Any]:
    """A code step's source (already copied in from its file, see :func:`with_code_files`)."""
    code = graph.value(node, MLPROV.code)
    code_file = graph.value(node, MLPROV.codeFile)
    if code is None:
        if code_file is not None:
            raise UserError(
                f"{source}: code step {node_name(node)} names mlprov:codeFile {shown(str(code_file))!r} but carries no code; "
                "store the plan from its file ('mlprov generate PLAN.ttl'), which copies the file's text in"
            )
        raise UserError(f"{source}: code step {node_name(node)} has no code; give it mlprov:code (the Python source) "
                        "or mlprov:codeFile (a .py file beside the plan)")
    text = str(code)
    sha = graph.value(node, MLPROV.codeSha256)
    if sha is not None and hashlib.sha256(text.encode("utf-8")).hexdigest() != str(sha):
        raise UserError(f"{source}: code step {node_name(node)}: mlprov:codeSha256 does not match its mlprov:code, "
                        "so the code was changed after it was read from its file; read it from the file again")
    return {"code": text, "code_file": str(code_file) if code_file is not None else None,
            "code_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _check_names(steps: list[Step], parameter_names: set[str], task: Task, source: str, problems: Problems) -> None:
    """Every step finds the names it reads in a step before it; a code step's code parses and
    assigns the outputs it declares."""
    parameters = {spec.name for spec in task.parameters} | parameter_names
    names_of: dict[str, CodeNames] = {}
    for step in steps:
        if step.is_code:
            with problems.catching():
                names_of[step.iri] = _parsed_code(step, source)
    if any(step.is_code and step.iri not in names_of for step in steps):
        return  # code that does not parse provides names no one knows: what the others need cannot be checked
    provided: dict[str, str] = {}  # name → the step that first provides it
    every_provider: dict[str, list[Step]] = {}
    for step in steps:
        for name in names_of[step.iri].binds if step.is_code else step.spec.provides:
            every_provider.setdefault(name, []).append(step)
    for step in steps:
        needs = sorted(names_of[step.iri].reads - parameters) if step.is_code else step.spec.needs
        what = "code step" if step.is_code else "step"
        for name in needs:
            if name in provided:
                continue
            later = [s for s in every_provider.get(name, ()) if s is not step]
            if later:
                problems.add(
                    f"{source}: {what} {iri_name(step.iri)} needs {name!r}, which no step before it provides "
                    f"({iri_name(later[0].iri)} does, later); make {iri_name(step.iri)} follow it (p-plan:isPrecededBy)"
                )
                continue
            hint = ("define it in the code, or add a step that provides it before this one" if step.is_code
                    else f"add a step that provides it (task {task.name}) before this one")
            problems.add(f"{source}: {what} {iri_name(step.iri)} needs {name!r}, which no step of the plan provides; {hint}")
        for name in names_of[step.iri].binds if step.is_code else step.spec.provides:
            provided.setdefault(name, step.iri)
        if step.is_code:
            for output in step.outputs:
                if output.name and output.name not in names_of[step.iri].binds:
                    problems.add(
                        f"{source}: code step {iri_name(step.iri)} declares output {output.name!r} "
                        f"({iri_name(output.iri)}), which its code never assigns; assign it, or fix the mlprov:parameterName"
                    )


def _parsed_code(step: Step, source: str) -> CodeNames:
    try:
        return code_names(step.code or "")
    except SyntaxError as error:
        where = f"{step.code_file}:{error.lineno}" if step.code_file else f"line {error.lineno} of its mlprov:code"
        raise UserError(
            f"{source}: code step {iri_name(step.iri)}, {where}: Python syntax error: {error.msg}; fix the code"
        ) from None


def _parameters(graph, step: URIRef, spec: StepSpec, task: Task, source, base_dir, seen: dict,
                problems: Problems) -> tuple[Parameter, ...]:
    """A template step's parameters, each checked on its own: a problem ends that parameter's checks only."""
    params = []
    for var in sorted(step_variables(graph, step, output=False), key=str):
        with problems.catching():
            params.append(_parameter(graph, step, var, spec, task, source, base_dir, seen))
    order = {p.name: i for i, p in enumerate(task.parameters)}
    return tuple(sorted(params, key=lambda p: order[p.name]))


def _parameter(graph, step: URIRef, var, spec: StepSpec, task: Task, source, base_dir, seen: dict) -> Parameter:
    _check_iri(var, source, "variable")
    name_lit = graph.value(var, MLPROV.parameterName)
    value = graph.value(var, PROV.value)
    if name_lit is None or value is None:
        raise UserError(
            f"{source}: input variable {node_name(var)} of step {node_name(step)} needs mlprov:parameterName and prov:value; add them"
        )
    name = str(name_lit)
    pspec = task.parameter(name)
    where = f"{source}: parameter {name!r} ({node_name(var)})"
    if pspec is None:
        known = ", ".join(p.name for p in task.parameters_of(spec))
        raise UserError(f"{where}: step {node_name(step)} has no parameter of this name; its parameters are {known}")
    if pspec.step != spec.cls:
        raise UserError(f"{where}: belongs to the mlprov:{pspec.step} step, not to {node_name(step)}; move it there")
    if name in seen:
        raise UserError(f"{where}: the plan sets it twice ({node_name(seen[name])} too); keep one")
    seen[name] = var
    return Parameter(str(var), name, typed_value(value, pspec, where, base_dir), pspec)


#: The parameter type a code step's input takes from its literal's datatype.
_CODE_INPUT_TYPES = {XSD.integer: "integer", XSD.decimal: "number", XSD.double: "number", XSD.boolean: "boolean",
                     XSD.string: "string", None: "string", RDF.JSON: "integer-list"}


def _code_inputs(graph, step: URIRef, task: Task, source: str, seen: dict, problems: Problems) -> tuple[Parameter, ...]:
    """A code step's input variables: parameters of the notebook, typed by their literals, each checked on its own."""
    params = []
    for var in sorted(step_variables(graph, step, output=False), key=str):
        with problems.catching():
            params.append(_code_input(graph, step, var, task, source, seen))
    return tuple(sorted(params, key=lambda p: p.name))


def _code_input(graph, step: URIRef, var, task: Task, source: str, seen: dict) -> Parameter:
    _check_iri(var, source, "variable")
    name_lit, value = graph.value(var, MLPROV.parameterName), graph.value(var, PROV.value)
    if name_lit is None or value is None:
        raise UserError(
            f"{source}: input variable {node_name(var)} of code step {node_name(step)} needs mlprov:parameterName and "
            "prov:value; add them"
        )
    name = str(name_lit)
    where = f"{source}: parameter {name!r} ({node_name(var)})"
    if task.parameter(name) is not None:
        raise UserError(
            f"{where}: task {task.name} has a parameter of this name; a code step reads the task's parameters "
            "as they are: remove this input, or give it a name of its own"
        )
    if name in seen:
        raise UserError(f"{where}: the plan sets it twice ({node_name(seen[name])} too); keep one")
    seen[name] = var
    kind = _CODE_INPUT_TYPES.get(value.datatype) if isinstance(value, Literal) else "string"
    if kind is None:
        raise UserError(f"{where}: {short(value)} has a datatype code steps do not take; write a string, number or boolean")
    spec = ParameterSpec(name=name, step=CODE_STEP.cls, type=kind, default=None,
                         comment=text_of(graph, var, RDFS.comment) or text_of(graph, var, RDFS.label) or f"input of {node_name(step)}")
    return Parameter(str(var), name, typed_value(value, spec, where, None), spec)


def typed_value(value, spec: ParameterSpec, where: str, base_dir: Path | None) -> Any:
    if not isinstance(value, Literal):
        raise UserError(f"{where}: prov:value is {node_name(value)}, not a literal; write the value itself")
    if spec.allow_default and value.datatype is None and str(value) == "default":
        return None
    if getattr(value, "ill_typed", False):
        raise UserError(f"{where}: {short(value)} is not a valid {compact(value.datatype)}; fix the value")
    py = value.toPython()
    dtype = value.datatype
    numeric = dtype is not None and isinstance(py, (int, float, Decimal)) and not isinstance(py, bool)
    if spec.type == "integer":
        if not numeric or not isinstance(py, int):
            raise UserError(f"{where}: {short(value)} is not an integer; write a number without quotes, e.g. {spec.default}")
        result: Any = int(py)
        if abs(result) >= 2**63:
            raise UserError(f"{where}: {short(value)} does not fit in 64 bits, which no parameter needs; write a smaller integer")
    elif spec.type == "number":
        if not numeric:
            raise UserError(f"{where}: {short(value)} is not a number; write a number without quotes, e.g. {spec.default}")
        result = float(py)
        if not math.isfinite(result):
            raise UserError(f"{where}: {short(value)} is not a finite number; write a number such as {spec.default}")
    elif spec.type == "boolean":
        if not isinstance(py, bool):
            raise UserError(f"{where}: {short(value)} is not a boolean; write true or false without quotes")
        result = py
    elif spec.type == "integer-list":
        try:
            result = json.loads(str(value))
        except (ValueError, RecursionError):
            result = None
        if not (isinstance(result, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in result)):
            raise UserError(f'{where}: {short(value)} is not a JSON list of integers; write e.g. "[64, 32]"^^rdf:JSON')
    else:  # string, path, directory
        if dtype is not None and dtype != XSD.string:
            raise UserError(f'{where}: {short(value)} is not text; write it in quotes, e.g. "{spec.default}"')
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


def _check_required(values: dict, task: Task, source: str, problems: Problems) -> None:
    """A parameter the plan leaves out takes the task's default, unless another value makes it required."""
    for spec in task.parameters:
        if not spec.required_when:
            continue
        condition = all(values.get(k, _default(task, k)) == v for k, v in spec.required_when.items())
        if condition and not values.get(spec.name):
            cond = ", ".join(f"{k} = {v!r}" for k, v in spec.required_when.items())
            problems.add(f"{source}: parameter {spec.name!r} is required when {cond}; set it on the mlprov:{spec.step} step")


def _default(task: Task, name: str) -> Any:
    spec = task.parameter(name)
    return spec.default if spec else None
