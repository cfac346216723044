"""Task manifests: the steps, templates and parameters of each task, and where tasks come from.

A task is a folder: ``task.toml`` and the Jinja templates it names. Its manifest is the
single source of truth that `init` writes plans from, `validate` checks plans against
and `generate` renders. Installed distributions register task folders in the entry-point
group ``mlprov.tasks``, mlprov-rdf's own tasks included, so a new task needs no change
to mlprov.
"""

from __future__ import annotations

import importlib.util
import keyword
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from . import vocab
from .errors import UserError

log = logging.getLogger(__name__)

#: The Python entry-point group that installed tasks register in (see docs/extending.md).
ENTRY_POINT_GROUP = "mlprov.tasks"

PARAMETER_TYPES = ("string", "integer", "number", "boolean", "path", "directory", "integer-list")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    step: str  # local name of the step class in the mlprov namespace
    type: str
    default: Any
    comment: str
    choices: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    allow_default: bool = False  # the literal "default" means: the library's own default
    required_when: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSpec:
    """One step class of a task, or ``CODE_STEP`` for the author's own code.

    ``needs`` and ``provides`` are Python names (``X_train``, ``model``): validation
    refuses an order in which a step needs a name that no earlier step provides.
    """

    cls: str  # local name, e.g. "DataIngestionStep"
    template: str
    label: str
    description: str
    outputs: tuple[str, ...]
    needs: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    optional: bool = False  # a plan may leave the step out
    repeatable: bool = False  # a plan may have more than one step of this class

    @property
    def iri(self) -> str:
        return vocab.MLPROV + self.cls


#: The author's own code: ``mlprov:CodeStep``, in any task, anywhere in the order.
CODE_STEP = StepSpec(
    cls="CodeStep",
    template="",
    label="Your code",
    description="",
    outputs=(),
    optional=True,
    repeatable=True,
)


@dataclass(frozen=True)
class Task:
    name: str  # e.g. "multiclass-classification"
    iri: str
    title: str
    description: str
    directory: Path
    steps: tuple[StepSpec, ...]
    parameters: tuple[ParameterSpec, ...]
    source: TaskSource | None = None  # the distribution that registered it

    def step(self, cls_iri: str) -> StepSpec | None:
        return next((s for s in self.steps if s.iri == cls_iri), None)

    def parameters_of(self, step: StepSpec) -> list[ParameterSpec]:
        return [p for p in self.parameters if p.step == step.cls]

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)


class TaskError(UserError):
    """A task folder or its entry point cannot be used: says which file or plugin, what, and what to do."""


_REQUIRED = object()
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # line breaks are fine in descriptions, other controls are not


class _Table:
    """One table of a task.toml, read field by field, so that a bad or unknown field names itself."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise TaskError(f"{where}: must be a table; see docs/extending.md")
        self.data, self.where, self.read = data, where, set()

    def get(self, key: str, kinds: type | tuple[type, ...], default: Any = _REQUIRED, *, what: str) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise TaskError(f"{self.where}: field '{key}' is missing; add it ({what})")
            return default
        value = self.data[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise TaskError(f"{self.where}: field '{key}' = {value!r}: must be {what}")
        if isinstance(value, str) and _CONTROL.search(value):
            raise TaskError(f"{self.where}: field '{key}' holds a control character; remove it")
        return value

    def names(self, key: str, *, what: str) -> tuple[str, ...]:
        """A list of Python names (``needs``, ``provides``)."""
        value = self.get(key, list, [], what=what)
        for name in value:
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise TaskError(f"{self.where}: field '{key}': {name!r} is not a Python name; {what}")
        return tuple(value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise TaskError(f"{self.where}: unknown field '{unknown[0]}'; the fields are {', '.join(sorted(self.read))}")


def _default_fits(spec: ParameterSpec) -> bool:
    value = spec.default
    if spec.allow_default and value == "default":
        return True
    if spec.type in ("string", "path", "directory"):
        return isinstance(value, str)
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _step(data: Any, where: str, folder: Path) -> StepSpec:
    table = _Table(data, where)
    spec = StepSpec(
        cls=table.get("class", str, what="the local name of an mlprov step class, such as 'TrainingStep'"),
        template=table.get("template", str, what="the file name of the step's Jinja template in this folder"),
        label=table.get("label", str, what="a short label, such as 'Train the model'"),
        description=table.get("description", str, what="a sentence or two on what the step does"),
        outputs=tuple(table.get("outputs", list, [], what="a list of labels of what the step makes")),
        needs=table.names("needs", what="list the Python names the step's code reads from earlier steps"),
        provides=table.names("provides", what="list the Python names the step's code defines for later steps"),
        optional=table.get("optional", bool, False, what="true or false"),
        repeatable=table.get("repeatable", bool, False, what="true or false"),
    )
    table.done()
    if not spec.cls.isidentifier() or spec.cls == CODE_STEP.cls:
        raise TaskError(f"{where}: field 'class' = {spec.cls!r}: must name an mlprov step class other than CodeStep")
    template = folder / spec.template
    if Path(spec.template).name != spec.template or not template.is_file():
        raise TaskError(f"{where}: field 'template' = {spec.template!r}: no such file in {folder}; add it or fix the name")
    return spec


def _parameter(data: Any, where: str) -> ParameterSpec:
    table = _Table(data, where)
    number = (int, float)
    spec = ParameterSpec(
        name=table.get("name", str, what="the parameter's Python name"),
        step=table.get("step", str, what="the class of the step whose code reads it"),
        type=table.get("type", str, what=f"one of {', '.join(PARAMETER_TYPES)}"),
        default=table.get("default", (str, int, float, bool, list), what="the value a plan gets when it does not set one"),
        comment=table.get("comment", str, what="one line on what the parameter does, written into plans"),
        choices=tuple(table.get("choices", list, [], what="a list of the allowed values")),
        min=table.get("min", number, None, what="a number"),
        max=table.get("max", number, None, what="a number"),
        exclusive_min=table.get("exclusive_min", bool, False, what="true or false"),
        allow_default=table.get("allow_default", bool, False, what="true or false"),
        required_when=dict(table.get("required_when", dict, {}, what="a table of parameter = value")),
    )
    table.done()
    if not spec.name.isidentifier() or keyword.iskeyword(spec.name):
        raise TaskError(f"{where}: field 'name' = {spec.name!r}: must be a Python name")
    if spec.type not in PARAMETER_TYPES:
        raise TaskError(f"{where}: field 'type' = {spec.type!r}: must be one of {', '.join(PARAMETER_TYPES)}")
    if not _default_fits(spec) or (spec.choices and spec.default not in spec.choices and not spec.allow_default):
        raise TaskError(f"{where}: field 'default' = {spec.default!r}: not a valid {spec.type} value for this parameter")
    return spec


def load_task(folder: Path, source: TaskSource | None = None) -> Task:
    """Read and check ``folder/task.toml``: every problem is one `TaskError` naming the file and field."""
    path = folder / "task.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TaskError(f"{path}: cannot be read ({error}); a task folder holds task.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise TaskError(f"{path}: not valid TOML: {error}") from None
    top = _Table(data, str(path))
    name = top.get("name", str, what="the task's name, lower case with hyphens, such as 'my-task'")
    iri = top.get("iri", str, what="the task's IRI, which plans name in mlprov:task")
    title = top.get("title", str, what="a title, such as 'Multiclass classification'")
    description = top.get("description", str, what="a sentence or two on what the task does")
    step_tables = top.get("steps", list, what="a list of [[steps]] tables, in the order of the notebook")
    parameter_tables = top.get("parameters", list, [], what="a list of [[parameters]] tables")
    top.done()
    if not _NAME.fullmatch(name):
        raise TaskError(f"{path}: field 'name' = {name!r}: use lower-case letters, digits and single hyphens")
    if not _IRI.fullmatch(iri):
        raise TaskError(f"{path}: field 'iri' = {iri!r}: must be an absolute IRI, such as 'https://example.org/tasks#MyTask'")
    if not step_tables:
        raise TaskError(f"{path}: field 'steps' is empty; add a [[steps]] table for each notebook cell")
    steps = tuple(_step(s, f"{path}: [[steps]] {i}", folder) for i, s in enumerate(step_tables, start=1))
    params = tuple(_parameter(p, f"{path}: [[parameters]] {i}") for i, p in enumerate(parameter_tables, start=1))
    classes = [s.cls for s in steps]
    for i, spec in enumerate(steps, start=1):
        if classes.index(spec.cls) != i - 1:
            raise TaskError(f"{path}: [[steps]] {i}: class {spec.cls} appears twice; a class is one step of the task (use repeatable = true)")
    seen: set[str] = set()
    for i, spec in enumerate(params, start=1):
        where = f"{path}: [[parameters]] {i} ({spec.name})"
        if spec.name in seen:
            raise TaskError(f"{where}: a second parameter of this name; give each parameter its own name")
        seen.add(spec.name)
        if spec.step not in classes:
            raise TaskError(f"{where}: field 'step' = {spec.step!r}: not a step class of this task; use one of {', '.join(classes)}")
    for i, spec in enumerate(params, start=1):
        for other in spec.required_when:
            if other not in seen:
                raise TaskError(f"{path}: [[parameters]] {i} ({spec.name}): field 'required_when' names {other!r}, which is no parameter of this task")
    return Task(name, iri, title, description, folder, steps, params, source)


# -- discovery: the entry-point group mlprov.tasks -----------------------------------------


@dataclass(frozen=True)
class TaskSource:
    """Where an installed task comes from: the distribution and its entry point."""

    distribution: str
    version: str
    entry_point: str  # as written in the distribution's pyproject: "name = value"

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class LeftOut:
    """A registered task that mlprov could not use, and the one line that says why."""

    name: str  # the entry point's name, which is the task's name
    iri: str | None  # when task.toml could be read that far
    reason: str


@dataclass(frozen=True)
class Catalog:
    tasks: dict[str, Task]
    left_out: tuple[LeftOut, ...]


def _source(ep: EntryPoint) -> TaskSource:
    dist = ep.dist
    name, version = (dist.name, dist.version) if dist is not None else ("an unknown distribution", "")
    return TaskSource(name, version, f"{ep.name} = {ep.value}")


def _folder(ep: EntryPoint) -> Path:
    """The folder an entry point names: a package's own folder (found without importing it),
    or a path, or a callable returning one."""
    if ep.attr is None:
        spec = importlib.util.find_spec(ep.module)
        if spec is None:
            raise TaskError(f"no module named {ep.module!r} is installed")
        if not spec.submodule_search_locations:
            raise TaskError(f"{ep.module!r} is a module, not a package; name the package whose folder holds task.toml")
        return Path(next(iter(spec.submodule_search_locations)))
    target = ep.load()
    if callable(target):
        target = target()
    if not isinstance(target, (str, os.PathLike)):
        raise TaskError(f"{ep.value!r} gives a {type(target).__name__}, not a path; give the task folder's path")
    return Path(target)


def _load_entry_point(ep: EntryPoint, source: TaskSource) -> Task:
    plugin = f"task plugin {ep.name!r} ({source}, entry point {source.entry_point!r})"
    try:
        folder = _folder(ep)
    except TaskError as error:
        raise TaskError(f"{plugin}: {error}") from None
    except Exception as error:  # third-party code: whatever it raises leaves only this task out
        raise TaskError(f"{plugin}: fails to load: {type(error).__name__}: {error}; fix or uninstall {source.distribution}") from None
    if not (folder / "task.toml").is_file():
        raise TaskError(f"{plugin}: {folder} holds no task.toml; point the entry point at the task's folder")
    try:
        task = load_task(folder, source)
    except TaskError as error:
        raise TaskError(f"task plugin {ep.name!r} ({source}): {error}") from None
    if task.name != ep.name:
        raise TaskError(f"{plugin}: its task.toml names the task {task.name!r}; give the entry point the same name")
    return task


def _toml_iri(ep: EntryPoint) -> str | None:
    """The IRI a broken plugin's task.toml gives, if it gives one, so a plan that asks for it hears why."""
    try:
        iri = tomllib.loads((_folder(ep) / "task.toml").read_text(encoding="utf-8")).get("iri")
    except Exception:  # a broken plugin: only a better message is at stake
        return None
    return iri if isinstance(iri, str) else None


def _discover() -> Catalog:
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        by_name.setdefault(ep.name, []).append(ep)
    tasks: list[Task] = []
    left_out: list[LeftOut] = []
    for name, eps in sorted(by_name.items()):
        if len(eps) > 1:
            both = " and ".join(sorted(str(_source(ep)) for ep in eps))
            left_out.append(LeftOut(name, None, f"task {name!r} is registered by {both}; uninstall one of them"))
            continue
        try:
            tasks.append(_load_entry_point(eps[0], _source(eps[0])))
        except TaskError as error:
            left_out.append(LeftOut(name, _toml_iri(eps[0]), str(error)))
    by_iri: dict[str, list[Task]] = {}
    for task in tasks:
        by_iri.setdefault(task.iri, []).append(task)
    for iri, same in by_iri.items():
        if len(same) > 1:
            both = " and ".join(f"{t.name!r} ({t.source})" for t in same)
            for task in same:
                left_out.append(LeftOut(task.name, iri, f"tasks {both} have the same IRI <{iri}>; uninstall one of them"))
    clashing = {lo.name for lo in left_out}
    return Catalog({t.name: t for t in tasks if t.name not in clashing}, tuple(left_out))


@cache
def catalog() -> Catalog:
    """Every installed task, found once per process through the ``mlprov.tasks`` entry points."""
    return _discover()


@cache
def _warn_left_out() -> None:
    """Once per process, where mlprov goes on without them; a lookup that fails on one says why instead."""
    for lo in catalog().left_out:
        log.warning("%s; mlprov goes on without it", lo.reason)


def all_tasks() -> dict[str, Task]:
    """The usable installed tasks by name, sorted; broken plugins are left out (and logged)."""
    _warn_left_out()
    return catalog().tasks


def task_named(name: str) -> Task:
    """The task ``mlprov init --task NAME`` asks for, or one line on why there is none."""
    found = catalog()
    for lo in found.left_out:
        if lo.name == name:
            raise UserError(lo.reason)
    _warn_left_out()
    if name in found.tasks:
        return found.tasks[name]
    raise UserError(f"--task {name}: unknown task; use one of {', '.join(found.tasks)} (see 'mlprov tasks')")


def task_by_iri(iri: str) -> Task | None:
    """The installed task a plan names in ``mlprov:task``; None when none has that IRI.

    When the task with that IRI, or a plugin that might be it, was left out, the plan
    hears why (one line naming the plugin) instead of "unknown task".
    """
    found = catalog()
    task = next((t for t in found.tasks.values() if t.iri == iri), None)
    if task is None:
        for lo in found.left_out:
            if lo.iri == iri:
                raise UserError(lo.reason)
        unknown = [lo for lo in found.left_out if lo.iri is None]
        if unknown:
            raise UserError(f"task <{iri}> is not installed; a task plugin that failed to load may provide it: {unknown[0].reason}")
    _warn_left_out()
    return task


def describe(task: Task) -> dict[str, Any]:
    """What ``mlprov tasks`` shows of a task, as plain JSON values."""
    source = task.source or TaskSource("", "", "")
    return {
        "name": task.name,
        "iri": task.iri,
        "title": task.title,
        "distribution": source.distribution,
        "version": source.version,
        "entry_point": source.entry_point,
        "folder": str(task.directory),
        "steps": [
            {
                "class": s.cls,
                "label": s.label,
                "optional": s.optional,
                "repeatable": s.repeatable,
                "needs": list(s.needs),
                "provides": list(s.provides),
            }
            for s in task.steps
        ],
        "parameters": [p.name for p in task.parameters],
    }
