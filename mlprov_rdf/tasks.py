"""Task manifests: the steps, templates and parameters of each task.

One ``templates/<task>/task.toml`` per task is the single source of truth that
`init` writes plans from, `validate` checks plans against and `generate` renders.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import vocab
from .resources import templates_dir

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
    cls: str  # local name, e.g. "DataIngestionStep"
    template: str
    label: str
    description: str
    outputs: tuple[str, ...]

    @property
    def iri(self) -> str:
        return vocab.MLPROV + self.cls


@dataclass(frozen=True)
class Task:
    name: str  # e.g. "multiclass-classification"
    iri: str
    title: str
    description: str
    directory: Path
    steps: tuple[StepSpec, ...]
    parameters: tuple[ParameterSpec, ...]

    def step(self, cls_iri: str) -> StepSpec | None:
        return next((s for s in self.steps if s.iri == cls_iri), None)

    def parameters_of(self, step: StepSpec) -> list[ParameterSpec]:
        return [p for p in self.parameters if p.step == step.cls]

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)


def _load(path: Path) -> Task:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    steps = tuple(
        StepSpec(
            cls=s["class"],
            template=s["template"],
            label=s["label"],
            description=s["description"],
            outputs=tuple(s.get("outputs", ())),
        )
        for s in data["steps"]
    )
    params = []
    for p in data.get("parameters", ()):
        if p["type"] not in PARAMETER_TYPES:
            raise ValueError(f"{path}: parameter {p['name']}: unknown type {p['type']}")
        params.append(
            ParameterSpec(
                name=p["name"],
                step=p["step"],
                type=p["type"],
                default=p["default"],
                comment=p["comment"],
                choices=tuple(p.get("choices", ())),
                min=p.get("min"),
                max=p.get("max"),
                exclusive_min=p.get("exclusive_min", False),
                allow_default=p.get("allow_default", False),
                required_when=dict(p.get("required_when", {})),
            )
        )
    return Task(
        name=data["name"],
        iri=data["iri"],
        title=data["title"],
        description=data["description"],
        directory=path.parent,
        steps=steps,
        parameters=tuple(params),
    )


@cache
def all_tasks() -> dict[str, Task]:
    """Tasks by name, from every templates/*/task.toml."""
    tasks = (_load(p) for p in sorted(templates_dir().glob("*/task.toml")))
    return {t.name: t for t in tasks}


def task_by_iri(iri: str) -> Task | None:
    return next((t for t in all_tasks().values() if t.iri == iri), None)
