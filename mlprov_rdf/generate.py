"""Plan → notebook, one markdown and one code cell per step, through Jinja templates.

Plan values reach generated code through :func:`py_literal` alone: the Jinja
environment refuses to print anything that did not pass through it, so a plan
literal can never become code. The output depends on the typed plan only, so the
same plan gives byte-identical notebooks.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import nbformat

from . import __version__, vocab
from .arguments import write_output
from .code_names import code_names
from .errors import UserError
from .kernel import notebook_kernelspec
from .plan import Plan, Step
from .resources import templates_dir
from .tasks import CODE_STEP

NBFORMAT_MINOR = 5


class PyCode(str):
    """Text that is safe to place in generated Python source."""


def py_literal(value: Any, indent: int = 0) -> PyCode:
    """The one escaping function: a Python value from a plan → a Python literal.

    Only plain data is accepted; long containers are written one item per line,
    indented by ``indent`` spaces, so templates stay readable.
    """
    if value is None or isinstance(value, bool):
        return PyCode(repr(value))
    if isinstance(value, int):
        return PyCode(repr(int(value)))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("non-finite floats have no literal")
        return PyCode(repr(value))
    if isinstance(value, str):
        return PyCode(repr(value))
    if isinstance(value, (list, tuple, dict)):
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("dictionary keys must be strings")
            items = [f"{py_literal(k)}: {py_literal(v, indent + 4)}" for k, v in value.items()]
            open_, close = "{", "}"
        else:
            items = [py_literal(v, indent + 4) for v in value]
            open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        inline = open_ + ", ".join(items) + ("," if isinstance(value, tuple) and len(items) == 1 else "") + close
        if len(inline) + indent <= 88 and "\n" not in inline:
            return PyCode(inline)
        pad = " " * (indent + 4)
        return PyCode(open_ + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + close)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _finalize(value: Any) -> Any:
    if isinstance(value, PyCode):
        return value
    raise TypeError(f"template printed {value!r} without the |py filter")


def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        # the task's own templates, then the shared ones ({% include "import_capture.py.j2" %})
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(directory)),
                                    jinja2.FileSystemLoader(str(templates_dir() / "_common"))]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=_finalize,
    )
    env.filters["py"] = py_literal
    return env


def code_hash(body: str) -> str:
    """Short digest of generated code, written into the cell's marker line."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]


def step_marker(step_iri: str, body: str) -> str:
    return f"{vocab.STEP_MARKER}{py_literal(step_iri)} (generated code sha256 {code_hash(body)})"


def cell_id(iri: str, suffix: str) -> str:
    """A valid nbformat cell id (at most 64 of [A-Za-z0-9_-]) derived from a step IRI."""
    local = re.split(r"[#/:]", iri.rstrip("#/"))[-1]
    local = re.sub(r"[^A-Za-z0-9_-]+", "-", local).strip("-")[:40] or "step"
    return f"{local}-{hashlib.sha1(iri.encode('utf-8')).hexdigest()[:8]}-{suffix}"


#: Markdown's link syntax (``[x](javascript:…)``, ``[x][ref]``, ``[ref]: url``) and its escape character.
MARKDOWN_LINK_CHARS = re.compile(r"([\\\[\]()])")


def md(text: str) -> str:
    """Plan text for markdown cells: HTML escaped and link syntax backslash-escaped, so it
    displays as written and never runs or becomes a link (``javascript:`` included)."""
    return MARKDOWN_LINK_CHARS.sub(r"\\\1", html.escape(text, quote=False))


def md_code(text: str) -> str:
    """Plan text as a markdown code span, where nothing is markup: fenced by more backticks than it holds."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def _header(plan: Plan) -> str:
    lines = [f"# {md(plan.title)}", ""]
    if plan.description:
        lines += [md(plan.description), ""]
    lines += [
        f"- **Plan:** {md_code(plan.iri)}",
        f"- **Task:** {md(plan.task.title)}",
    ]
    if plan.author_label:
        lines.append(f"- **Author:** {md(plan.author_label)}")
    lines += [
        f"- **Plan digest:** `{plan.digest[:16]}`",
        "",
        f"Generated by mlprov-rdf {__version__}. Running this notebook (in JupyterLab, with papermill, "
        "nbconvert or `mlprov run`) records its provenance: every cell execution, tied to its plan step, "
        "with the data, model, settings, metrics, environment and hardware. "
        "After running it outside mlprov, `mlprov ingest` moves the record into the store.",
    ]
    return "\n".join(lines)


class TrackedValues(Mapping[str, Any]):
    """The plan's parameter values as templates see them (``values.model``).

    Remembers which ones a template read: those select the code that is rendered, so the
    plan fixes them; they are recorded from the plan, not read from the parameters cell.
    """

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        self.read.add(name)
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class _Rendering:
    """What the step cells are, and what follows from them for the parameters and for capture."""

    bodies: dict[str, str]  # step IRI → the cell's code, without its marker line
    fixed: dict[str, Any]  # parameters that selected the code, with their plan values
    read: list[str]  # parameters the code reads at run time, in parameters-cell order


def _render(plan: Plan, env: jinja2.Environment) -> _Rendering:
    """Render every step twice: once to learn which parameters the code reads and which
    select it, then with the capture call that those decide (it sits in the first step)."""
    values = plan.values()
    tracked = TrackedValues(values)
    context = _context(plan, tracked, parameters={}, fixed={})
    first = {step.iri: _body(env, plan, step, context) for step in plan.steps}
    fixed_names = tracked.read
    reads: set[str] = set()
    for step in plan.steps:
        try:
            names = code_names(first[step.iri]).reads
        except SyntaxError as error:
            raise TemplateBroken(f"{plan.task.directory / step.spec.template}: renders invalid Python "
                                 f"(line {error.lineno}: {error.msg})") from None
        clash = sorted(names & fixed_names)
        if clash and step.is_code:
            raise UserError(
                f"plan {plan.iri}: code step {step.iri} reads {clash[0]!r}, which selects the code of this notebook "
                "and so is fixed by the plan, not a variable; use the value it has in the plan instead"
            )
        if clash:
            raise TemplateBroken(f"{plan.task.directory / step.spec.template}: reads {clash[0]!r} as a variable "
                                 "but also selects code with values." + clash[0])
        reads |= names
    order = [spec.name for spec in plan.task.parameters] + [p.name for p in plan.parameters if p.spec.step == CODE_STEP.cls]
    read = [name for name in order if name in reads and name not in fixed_names]
    fixed = {name: values[name] for name in order if name in fixed_names}
    iris = {p.name: p.iri for p in plan.parameters}
    context = _context(plan, TrackedValues(values), parameters={n: iris.get(n, "") for n in read + list(fixed)},
                       fixed=fixed)
    bodies = {step.iri: _body(env, plan, step, context) for step in plan.steps}
    return _Rendering(bodies, fixed, read)


class TemplateBroken(Exception):
    """A task's template renders code that contradicts the rules templates follow: a bug in the task."""


def _context(plan: Plan, values: TrackedValues, *, parameters: dict[str, str], fixed: dict[str, Any]) -> dict[str, Any]:
    outputs = {s.iri: {o.name: o.iri for o in s.outputs if o.name} for s in plan.steps if s.is_code}
    return {
        "plan_iri": PyCode(py_literal(plan.iri)),
        "plan": plan,
        "values": values,
        "steps": {s.iri: s.label for s in plan.steps},
        "parameter_iris": parameters,
        "fixed": fixed,
        "outputs": {step: names for step, names in outputs.items() if names},
    }


def _body(env: jinja2.Environment, plan: Plan, step: Step, context: dict[str, Any]) -> str:
    if step.is_code:
        body = step.code or ""
    else:
        body = env.get_template(step.spec.template).render(step=step, **context)
    body = body.strip("\n")
    return "\n".join(line.rstrip() for line in body.splitlines())


def _parameters_source(plan: Plan, rendering: _Rendering) -> str:
    values = plan.values()
    comments = {spec.name: spec.comment for spec in plan.task.parameters}
    comments.update((p.name, p.spec.comment) for p in plan.parameters if p.spec.step == CODE_STEP.cls)
    lines = [
        f"{vocab.PARAMETERS_MARKER}{py_literal(plan.iri)}",
        "# The plan's parameters that this notebook's code reads. This cell is tagged 'parameters':",
        "# papermill may override them.",
    ]
    for name in rendering.read:
        lines.append(f"{name} = {py_literal(values[name])}  # {' '.join(comments[name].split())}")
    if rendering.fixed:
        shown = ", ".join(f"{name} = {py_literal(value)}" for name, value in rendering.fixed.items())
        lines.append(f"# Fixed by the plan, since they chose the code below: {shown}.")
        lines.append("# To change one, derive a plan: mlprov run PLAN -p NAME=VALUE.")
    return "\n".join(lines)


def _step_number(plan: Plan, step: Step) -> int:
    """The step's number as the plan gives it (``mlprov:position``, when every step has one),
    else its place in the plan's order: headings then match the plan the author reads."""
    return step.position if all(s.position is not None for s in plan.steps) else step.index


def _step_markdown(plan: Plan, step: Step, rendering: _Rendering) -> str:
    lines = [f"## {_step_number(plan, step)}. {md(step.label)}"]
    if step.description:
        lines += ["", md(step.description)]
    if step.is_code:
        origin = f" (from {md_code(step.code_file)})" if step.code_file else ""
        lines += ["", f"*The plan author's own code{origin}, run as written.*"]
    used = [p.name for p in step.inputs if p.name in rendering.read or p.name in rendering.fixed]
    if used:
        lines += ["", "Parameters: " + ", ".join(f"`{name}`" for name in used)]
    recorded = [o.name for o in step.outputs if o.name]
    if step.is_code and recorded:
        lines += ["", "Values recorded after the cell: " + ", ".join(f"`{name}`" for name in recorded)]
    return "\n".join(lines).rstrip()


def build_notebook(plan: Plan) -> nbformat.NotebookNode:
    env = _environment(plan.task.directory)
    rendering = _render(plan, env)
    cells = [nbformat.v4.new_markdown_cell(_header(plan), id=cell_id(plan.iri, "title"))]
    for step in plan.steps:
        meta: dict[str, Any] = {"step": step.iri, "step_class": step.spec.iri}
        if step.is_code:
            meta["code_step"] = True
            if step.code_file:
                meta.update(code_file=step.code_file, code_sha256=step.code_sha256)
        cells.append(nbformat.v4.new_markdown_cell(_step_markdown(plan, step, rendering), id=cell_id(step.iri, "md"),
                                                   metadata={"mlprov": dict(meta)}))
        body = rendering.bodies[step.iri]
        tags = ["mlprov-step", "mlprov-code-step"] if step.is_code else ["mlprov-step"]
        cells.append(nbformat.v4.new_code_cell(step_marker(step.iri, body) + "\n" + body, id=cell_id(step.iri, "code"),
                                               metadata={"mlprov": meta, "tags": tags}))
        if step is plan.steps[0]:
            cells.append(
                nbformat.v4.new_code_cell(
                    _parameters_source(plan, rendering),
                    id=cell_id(plan.iri, "parameters"),
                    metadata={"tags": ["parameters"], "mlprov": {"parameters_of": plan.iri}},
                )
            )
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.nbformat_minor = NBFORMAT_MINOR
    nb.metadata = {
        "kernelspec": notebook_kernelspec(),
        "language_info": {"name": "python"},
        "mlprov": {
            "plan": plan.iri,
            "plan_digest": plan.digest,
            "task": plan.task.name,
            "generator": f"mlprov-rdf {__version__}",
        },
    }
    nbformat.validate(nb)
    return nb


def notebook_bytes(plan: Plan) -> bytes:
    return (nbformat.writes(build_notebook(plan)) + "\n").encode("utf-8")


def write_notebook(plan: Plan, path: Path) -> Path:
    """Write atomically: a crash never leaves half a notebook behind."""
    return write_output(Path(path), notebook_bytes(plan))
