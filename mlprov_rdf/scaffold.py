"""`mlprov init`: a complete, commented plan for a task, ready for a person to edit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .tasks import ParameterSpec, Task


def turtle_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _local(cls: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.removesuffix("Step")).lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _choices(spec: ParameterSpec) -> str:
    return " | ".join(str(c) for c in spec.choices)


def plan_text(task: Task, name: str, title: str, author: str) -> str:
    base = f"https://example.org/plans/{name}"
    lines = [
        f"# A {task.title.lower()} plan for mlprov-rdf. Edit the values, then:",
        f"#   mlprov validate {name}.ttl && mlprov run {name}.ttl",
        "# Replace example.org with IRIs you control before you share the plan.",
        "",
        "@prefix dcterms: <http://purl.org/dc/terms/> .",
        "@prefix mlprov:  <https://w3id.org/mlprov#> .",
        "@prefix p-plan:  <http://purl.org/net/p-plan#> .",
        "@prefix prov:    <http://www.w3.org/ns/prov#> .",
        "@prefix rdfs:    <http://www.w3.org/2000/01/rdf-schema#> .",
        "@prefix repr:    <https://w3id.org/reproduceme#> .",
        f"@prefix :        <{base}#> .",
        "",
        f"<{base}> a p-plan:Plan, repr:Experiment ;",
        f"    dcterms:title {turtle_literal(title)} ;",
        f"    dcterms:description {turtle_literal(task.description)} ;",
        "    prov:wasAttributedTo :author ;",
        f"    mlprov:task <{task.iri}> .",
        "",
        f":author a prov:Person ; rdfs:label {turtle_literal(author)} .",
    ]
    previous = None
    for position, step in enumerate(task.steps, start=1):
        local = _local(step.cls)
        params = task.parameters_of(step)
        outputs = [f":{_slug(o)}" for o in step.outputs]
        lines += ["", f"# -- step {position}: {step.label} " + "-" * max(0, 60 - len(step.label))]
        body = [
            f":{local} a mlprov:{step.cls} ;",
            f"    rdfs:label {turtle_literal(step.label)} ;",
            f"    dcterms:description {turtle_literal(step.description)} ;",
            f"    p-plan:isStepOfPlan <{base}> ;",
            f"    mlprov:position {position}",
        ]
        if previous:
            body[-1] += " ;"
            body.append(f"    p-plan:isPrecededBy :{previous}")
        if params:
            body[-1] += " ;"
            body.append("    p-plan:hasInputVar " + ", ".join(f":{p.name}" for p in params))
        if outputs:
            body[-1] += " ;"
            body.append("    p-plan:hasOutputVar " + ", ".join(outputs))
        body[-1] += " ."
        lines += body
        for spec in params:
            lines.append("")
            lines.append(f"# {spec.comment}" + (f"  One of: {_choices(spec)}." if spec.choices else ""))
            lines += [
                f":{spec.name} a p-plan:Variable, repr:Parameter ;",
                f"    p-plan:isVariableOfPlan <{base}> ;",
                f"    mlprov:parameterName {turtle_literal(spec.name)} ;",
                f"    prov:value {turtle_literal(spec.default)} .",
            ]
        for output, label in zip(outputs, step.outputs):
            lines += ["", f"{output} a p-plan:Variable ; rdfs:label {turtle_literal(label)} ; p-plan:isVariableOfPlan <{base}> ."]
        previous = local
    return "\n".join(lines) + "\n"


def write_plan(task: Task, path: Path, *, title: str | None = None, author: str = "Your Name") -> Path:
    path = Path(path)
    name = _slug(path.stem) or "plan"
    text = plan_text(task, name, title or f"{task.title}: {name}", author)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
