"""The legacy run: what one MLProvCodeGen file recorded, as a run graph like those capture writes."""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyoxigraph as ox

from .. import series, vocab
from ..plan import Plan
from .mapping import Mapped
from .source import Source
from .values import as_int, as_float, as_matrix, as_text, as_vector, decode, norm, slug


def author(src: Source) -> tuple[str | None, str | None]:
    agents = src.data.get("agent")
    if isinstance(agents, dict):
        for key, attrs in agents.items():
            attrs = attrs if isinstance(attrs, dict) else {}
            given = next((decode(v) for k, v in attrs.items() if norm(k) in ("givenname", "name", "label")), None)
            label = str(given) if given else key.split(":", 1)[-1]
            return key, label
    return None, None


def _time(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(decode(raw)))
    except (TypeError, ValueError):
        return None


def _seconds(raw: Any) -> float | None:
    m = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", str(decode(raw)).strip())
    if not m:
        return None
    days, h, mnt, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mnt) * 60 + float(s)


_STEPS = {  # MLProvCodeGen's activity → mlprov step class
    "setexperimentinfo": "SetupStep", "sethardwareinfo": "SetupStep", "setpackages": "SetupStep",
    "setdataingestion": "DataIngestionStep", "setdatapreparation": "DataPreparationStep",
    "setdatasegregation": "DataSegregationStep", "setmodelparameters": "ModelDefinitionStep",
    "settraining": "TrainingStep", "setevaluation": "EvaluationStep",
}


@dataclass
class Activity:
    name: str
    step_class: str
    start: datetime | None
    end: datetime | None
    seconds: float | None


def _activities(src: Source) -> list[Activity]:
    acts = src.data.get("activity") if isinstance(src.data.get("activity"), dict) else {}
    started = {}
    for rel in (src.data.get("wasStartedBy") or {}).values():
        if isinstance(rel, dict) and rel.get("prov:activity") and rel.get("prov:time"):
            started[rel["prov:activity"]] = _time(rel["prov:time"])
    out = []
    for name, attrs in acts.items():
        step = _STEPS.get(norm(name.replace("()", "")))
        if step is None:
            continue
        attrs = attrs if isinstance(attrs, dict) else {}
        start = _time(attrs.get("prov:startTime")) if attrs.get("prov:startTime") else started.get(name)
        end = _time(attrs.get("prov:endTime")) if attrs.get("prov:endTime") else None
        seconds = _seconds(attrs["prov:executionTime"]) if attrs.get("prov:executionTime") else None
        if start is None:
            continue
        out.append(Activity(name, step, start, end, seconds))
    return sorted(out, key=lambda a: a.start)


def _xsd(name: str) -> ox.NamedNode:
    return ox.NamedNode(vocab.XSD + name)


def _lit(value: Any) -> ox.Literal:
    """Typed as capture types what a notebook logs."""
    if isinstance(value, bool):
        return ox.Literal("true" if value else "false", datatype=_xsd("boolean"))
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=_xsd("integer"))
    if isinstance(value, float):
        return ox.Literal(repr(value) if math.isfinite(value) else ("NaN" if value != value else ("INF" if value > 0 else "-INF")), datatype=_xsd("double"))
    if isinstance(value, datetime):
        return ox.Literal(value.isoformat(), datatype=_xsd("dateTime"))
    if isinstance(value, (list, dict)):
        return ox.Literal(json.dumps(value), datatype=ox.NamedNode(vocab.RDF + "JSON"))
    if value is None:
        return ox.Literal("default")
    return ox.Literal(str(value))


def _memory_bytes(text: str) -> int | None:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGTP]?)B?\s*", text or "", re.I)
    if not m:
        return None
    return int(round(float(m.group(1)) * 1024 ** "_KMGTP".index(m.group(2).upper() or "_")))


class _Graph:
    def __init__(self):
        self.triples: list[ox.Triple] = []

    def add(self, s: str, p: str, o) -> None:
        self.triples.append(ox.Triple(ox.NamedNode(s), ox.NamedNode(p), o if not isinstance(o, str) else ox.NamedNode(o)))

    def type(self, s: str, *classes: str) -> None:
        for cls in classes:
            self.add(s, vocab.RDF + "type", cls)


def legacy_run_id(src: Source, activities: list[Activity]) -> str:
    """``YYYYMMDDTHHMMSS-xxxxxxxx`` like every run: its first activity's start (else the time in the
    file's name, ``Provenance_..._20220323-105144.json``), the file's sha256."""
    start = activities[0].start if activities else None
    named = re.search(r"(\d{4})-?(\d{2})-?(\d{2})-+(\d{2})-?(\d{2})-?(\d{2})", src.path.name)
    stamp = (start.strftime("%Y%m%dT%H%M%S") if start else
             "{}{}{}T{}{}{}".format(*named.groups()) if named else "19700101T000000")
    return f"{stamp}-{src.sha256[:8]}"


def legacy_run(src: Source, mapped: Mapped, plan: Plan) -> tuple[str, list[ox.Triple], str]:
    """(run IRI, the triples of its bundle, status) for what the file recorded."""
    P, M, R, MLS, REPR, D = vocab.PROV, vocab.MLPROV, vocab.RDFS, vocab.MLS, vocab.REPR, vocab.DCTERMS
    activities = _activities(src)
    run_id = legacy_run_id(src, activities)
    run = vocab.run_iri(run_id)
    g = _Graph()
    bundle = vocab.bundle_iri(run_id)
    g.type(bundle, vocab.PPLAN + "Bundle", P + "Bundle")
    g.add(bundle, P + "wasGeneratedBy", run)
    source = f"{run}/source"
    g.add(bundle, P + "wasDerivedFrom", source)
    g.type(source, P + "Entity")
    g.add(source, R + "label", _lit(src.path.name))
    g.add(source, M + "sha256", _lit(src.sha256))
    g.add(source, D + "format", _lit("application/json (PROV-JSON written by MLProvCodeGen)"))

    g.type(run, P + "Activity", REPR + "Trial", MLS + "Run", M + "LegacyRun")
    start = activities[0].start if activities else None
    g.add(run, R + "label", _lit(f"{plan.title}, run {start:%Y-%m-%d %H:%M:%S}" if start else plan.title))
    g.add(run, M + "plan", plan.iri)
    g.add(run, M + "planDigest", _lit(plan.digest))
    g.add(run, M + "provenanceSource", source)
    software = vocab.AGENT_BASE + "software:mlprovcodegen"
    g.type(software, P + "Agent", P + "SoftwareAgent")
    g.add(software, R + "label", _lit("MLProvCodeGen"))
    g.add(run, P + "wasAssociatedWith", software)
    author_key, author_label = author(src)
    person = None
    if author_label:
        person = vocab.AGENT_BASE + "person:" + (slug(author_label) or "unknown")
        g.type(person, P + "Agent", P + "Person")
        g.add(person, R + "label", _lit(author_label))
        g.add(run, P + "wasAssociatedWith", person)
        association = f"{run}/association"
        g.add(run, P + "qualifiedAssociation", association)
        g.type(association, P + "Association")
        g.add(association, P + "agent", person)
        g.add(association, P + "hadPlan", plan.iri)
    if start:
        g.add(run, P + "startedAtTime", _lit(start))
    ends = [a.end for a in activities if a.end]
    if start and ends:
        g.add(run, P + "endedAtTime", _lit(max(ends)))
        g.add(run, M + "duration", ox.Literal(f"{(max(ends) - start).total_seconds():.6f}", datatype=_xsd("decimal")))
    evaluation = src.section("ex:Evaluation Data")
    status = "Completed" if evaluation else "Interrupted"
    g.add(run, M + "status", M + status)
    for note in mapped.notes:
        g.add(run, M + "importNote", _lit(note))
    if "seed" in mapped.values and src.raw("ex:Training Data", "ex:seed"):
        g.add(run, M + "seed", _lit(mapped.values["seed"]))

    # The notebook it ran, attributed to its author.
    nb_name = src.value("ex:notebook", "ex:name", as_=as_text)
    if nb_name:
        notebook = f"{run}/notebook"
        g.type(notebook, P + "Entity", REPR + "Notebook")
        g.add(notebook, R + "label", _lit(nb_name))
        if person:
            g.add(notebook, P + "wasAttributedTo", person)
        g.add(run, P + "used", notebook)

    # Cell executions: one per step activity, on the plan's steps.
    step_iri = {s.spec.cls: s.iri for s in plan.steps}
    step_label = {s.spec.cls: s.label for s in plan.steps}
    cells: dict[str, str] = {}
    previous = None
    for order, act in enumerate(activities, start=1):
        cell = f"{run}/cell/{order}"
        cells.setdefault(act.step_class, cell)
        cells[act.step_class] = cell  # the last cell of a step generates its results
        g.type(cell, P + "Activity", REPR + "CellExecution")
        g.add(cell, R + "label", _lit(f"{order}. {step_label.get(act.step_class, act.name)}"))
        g.add(cell, R + "comment", _lit(f"MLProvCodeGen activity {act.name}"))
        g.add(cell, D + "isPartOf", run)
        g.add(cell, M + "executionOrder", _lit(order))
        g.add(cell, M + "cellKind", M + "StepCell")
        if act.step_class in step_iri:
            g.add(cell, vocab.PPLAN + "correspondsToStep", step_iri[act.step_class])
        g.add(cell, P + "startedAtTime", _lit(act.start))
        if act.end:
            g.add(cell, P + "endedAtTime", _lit(act.end))
        seconds = act.seconds if act.seconds is not None else ((act.end - act.start).total_seconds() if act.end else None)
        if seconds is not None:
            g.add(cell, M + "duration", ox.Literal(f"{seconds:.6f}", datatype=_xsd("decimal")))
        g.add(cell, M + "status", M + "Completed")
        if previous:
            g.add(cell, P + "wasInformedBy", previous)
        previous = cell

    def generated(node: str, step: str) -> None:
        if step in cells:
            g.add(node, P + "wasGeneratedBy", cells[step])

    # Settings: the values it recorded, as mlprov's parameters.
    variables = {p.name: p.iri for p in plan.parameters}
    for name, value in mapped.values.items():
        node = f"{run}/setting/{name}"
        g.type(node, P + "Entity", MLS + "HyperParameterSetting")
        g.add(node, R + "label", _lit(f"{name} = {value!r}"))
        if name in variables:
            g.add(node, vocab.PPLAN + "correspondsToVariable", variables[name])
        g.add(node, M + "parameterName", _lit(name))
        g.add(node, MLS + "hasValue", _lit(value))
        g.add(node, R + "comment", _lit(f"MLProvCodeGen: {mapped.origins.get(name, 'implied')}"))
        g.add(run, MLS + "hasInput", node)

    # Environment and hardware, as recorded.
    def setting(suffix: str, classes: list[str], label: str, **values: Any) -> str:
        node = f"{run}/{suffix}"
        g.type(node, P + "Entity", *classes)
        g.add(node, R + "label", _lit(label))
        for key, value in values.items():
            if value not in (None, ""):
                g.add(node, M + key, _lit(value))
        g.add(run, REPR + "hasSetting", node)
        return node

    language = src.value("ex:notebook", "ex:programming_language", as_=as_text) or "Python"
    version_text = src.value("ex:notebook", "ex:programming_language_version", as_=as_text)
    if version_text:
        m = re.match(r"\d+(?:\.\d+)*", version_text)
        version = m.group(0) if m else version_text
        setting("python", [REPR + "ProgrammingLanguage"], f"{language} {version}", version=version)
    kernel = src.value("ex:notebook", "ex:kernel", as_=as_text)
    if kernel:
        setting("kernel", [P + "SoftwareAgent", REPR + "Kernel"], kernel)
    hw = "ex:Hardware Info Data"
    os_text = src.value(hw, "ex:Operating System", "ex:os", as_=as_text)
    if os_text:
        setting("os", [REPR + "OperatingSystem"], os_text, version=os_text)
    cpu = src.value(hw, "ex:CPU", as_=as_text)
    ram = src.value(hw, "ex:RAM", as_=as_text)
    gpus_text = src.value(hw, "ex:GPUs", as_=as_text)
    if cpu or ram or gpus_text:
        node = setting("hardware", [M + "Hardware"], ", ".join(x for x in (cpu, ram) if x) or "hardware",
                       cpuModel=cpu, memoryBytes=_memory_bytes(ram or ""))
        try:
            gpus = ast.literal_eval(gpus_text) if gpus_text else []
        except (ValueError, SyntaxError):
            gpus = [gpus_text]
        for gpu in gpus if isinstance(gpus, list) else []:
            gpu_name = gpu[1] if isinstance(gpu, tuple) and len(gpu) > 1 else gpu
            g.add(node, M + "gpuModel", _lit(str(gpu_name)))
    packages = src.section("ex:Packages Data") or {}
    for key, raw in sorted(packages.items()):
        pname = key.split(":", 1)[-1]
        text = str(decode(raw)).strip()
        version = text.split()[-1] if text else ""
        setting(f"package/{slug(pname)}", [REPR + "Package"], f"{pname} {version}".strip(), packageName=pname, version=version)

    # The data set, the model, the metrics.
    ingestion = "ex:Data Ingestion Data"
    if mapped.dataset:
        data = f"{run}/data/{slug(str(mapped.dataset)) or 'data'}"
        g.type(data, P + "Entity", MLS + "Dataset")
        g.add(data, R + "label", _lit(str(mapped.dataset)))
        g.add(data, D + "identifier", _lit(str(mapped.dataset)))
        description = src.value(ingestion, "ex:description", as_=as_text)
        if description:
            g.add(data, D + "description", _lit(description))
        for prop, keys in (("sampleCount", ("ex:samples_total",)), ("featureCount", ("ex:feature_dimensions",)),
                           ("classCount", ("ex:output_dimensions", "ex:classes"))):
            value = src.value(ingestion, *keys, as_=as_int)
            if value is not None:
                g.add(data, M + prop, _lit(value))
        generated(data, "DataIngestionStep")
    model_node = None
    architecture = src.value("ex:Model Parameters Data", "ex:modelParameters", as_=as_text)
    parameter_count = src.value("ex:Training Data", "ex:numberOfParameters", as_=as_int)
    model_name = src.value("ex:Model Parameters Data", "ex:model_name", as_=as_text)
    if architecture or parameter_count is not None or model_name:
        model_node = f"{run}/model/trained-model"
        g.type(model_node, P + "Entity", MLS + "Model")
        g.add(model_node, R + "label", _lit("trained model"))
        if architecture or model_name:
            g.add(model_node, M + "architecture", _lit(architecture or model_name))
        if parameter_count is not None:
            g.add(model_node, M + "parameterCount", _lit(parameter_count))
        generated(model_node, "TrainingStep")
        g.add(run, MLS + "hasOutput", model_node)

    def metric(name: str, value: Any, split: str, *, for_class: str | None = None, epoch: int | None = None, origin: str) -> None:
        node = f"{run}/metric/{name}/{split}" + (f"/class/{slug(for_class)}" if for_class is not None else "") + (
            series.SERIES_SEGMENT if epoch is not None else "")
        g.type(node, P + "Entity", MLS + "ModelEvaluation")
        g.add(node, MLS + "specifiedBy", M + name)
        g.add(node, MLS + "hasValue", _lit(value))
        g.add(node, M + "splitName", _lit(split))
        if for_class is not None:
            g.add(node, M + "forClass", _lit(for_class))
        if epoch is not None:  # a series of the one epoch recorded, its last epoch and value beside it as ingest writes them
            g.add(node, M + "series", ox.Literal(series.encode([(epoch, value)]), datatype=ox.NamedNode(vocab.RDF + "JSON")))
            g.add(node, M + "epoch", _lit(epoch))
        else:
            shown = f"{value:.4g}" if isinstance(value, float) else "…"
            g.add(node, R + "label", _lit(f"{name}{f' ({for_class})' if for_class is not None else ''} = {shown}"))
        g.add(node, R + "comment", _lit(f"MLProvCodeGen: {origin}"))
        if model_node:
            g.add(node, P + "wasDerivedFrom", model_node)
        generated(node, "EvaluationStep")
        g.add(run, MLS + "hasOutput", node)

    ev = "ex:Evaluation Data"
    epochs = mapped.values.get("epochs")
    image = mapped.task.iri.endswith("ImageClassification")
    for keys, convert, emit in (
        (("ex:Accuracy",), as_float, lambda v, o: metric("accuracy", v, "test", origin=o)),
        # Multiclass: the last epoch's training loss; images: ignite's loss on the test split.
        (("ex:Loss",), as_float, (lambda v, o: metric("loss", v, "test", origin=o)) if image
         else (lambda v, o: metric("training_loss", v, "train", epoch=epochs if isinstance(epochs, int) else None, origin=o))),
        # AUC of the one-hot labels against all probabilities, raveled: micro-averaged.
        (("ex:AUC", "ex:roc_auc"), as_float, lambda v, o: metric("roc_auc_micro", v, "test", origin=o)),
        (("ex:Mean Absolute Error", "ex:mae"), as_float, lambda v, o: metric("mae", v, "test", origin=o)),
        (("ex:Mean Squared Error", "ex:mse"), as_float, lambda v, o: metric("mse", v, "test", origin=o)),
        (("ex:Confusion Matrix",), as_matrix, lambda v, o: metric("confusion_matrix", v, "test", origin=o)),
        (("ex:F1 Score", "ex:f1"), as_vector, lambda v, o: [
            metric("f1", score, "test", for_class=_class_name(mapped, i), origin=o) for i, score in enumerate(v)]),
    ):
        found = src.raw(ev, *keys)
        if found is not None:
            emit(src.value(ev, *keys, as_=convert), f"{src.where(ev, found[0])}")
    return run, g.triples, status


def _class_name(mapped: Mapped, index: int) -> str:
    return mapped.class_names[index] if index < len(mapped.class_names) else str(index)

