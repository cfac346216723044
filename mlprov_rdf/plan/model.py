"""The typed plan that everything downstream of validation reads, and the namespaces it is read in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import rdflib

from .. import vocab
from ..tasks import CODE_STEP, ParameterSpec, StepSpec, Task

PROV = rdflib.Namespace(vocab.PROV)
PPLAN = rdflib.Namespace(vocab.PPLAN)
REPR = rdflib.Namespace(vocab.REPR)
MLPROV = rdflib.Namespace(vocab.MLPROV)
DCTERMS = rdflib.Namespace(vocab.DCTERMS)

PLAN_CLASSES = (PPLAN.Plan, REPR.Experiment)
#: IRIs end up in generated comments and cell ids; this is what an IRI may contain.
SAFE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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
    name: str | None = None  # mlprov:parameterName: a code step's Python variable, recorded after its cell


@dataclass(frozen=True)
class Step:
    iri: str
    spec: StepSpec
    label: str
    description: str
    index: int  # 1-based place in the plan's order
    position: int | None  # mlprov:position, where the plan gives one
    inputs: tuple[Parameter, ...]
    outputs: tuple[OutputVariable, ...]
    code: str | None = None  # a code step's source
    code_file: str | None = None  # where it was read from, relative to the plan
    code_sha256: str | None = None

    @property
    def is_code(self) -> bool:
        return self.spec is CODE_STEP


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
        """Every parameter the notebook may read: the plan's values, else the task's defaults,
        and the code steps' inputs."""
        values = {spec.name: spec.default for spec in self.task.parameters}
        values.update((p.name, p.value) for p in self.parameters)
        return values


@dataclass(frozen=True)
class LoadedPlan:
    graph: rdflib.Graph
    plan: Plan
