"""`mlprov import-mlprovcodegen`: a provenance file written by MLProvCodeGen → a plan and a legacy run.

MLProvCodeGen (the JupyterLab extension mlprov succeeds) writes one PROV-JSON file per run,
made with the ``prov`` package: entities such as ``ex:Model Parameters Data`` whose
attributes hold what its form was set to and what the run measured. This module reads such
a file, both of its tasks (``MulticlassClassification`` and ``ImageClassification_pytorch``),
and the spellings its versions used: keys with or without the ``ex:`` prefix, in any case,
with spaces or underscores; typed values ``{"$": 3, "type": "xsd:int"}`` and plain strings;
code fragments (``"torch.optim.Adam("``, ``"nn.CrossEntropyLoss()"``); the learning rate as
``"None"`` (the optimizer's default) or ``"0.01"`` (0.01, not the 0 MLProvCodeGen itself
read back).

It writes two things, and nothing before everything has been read and validated:

- a plan in mlprov's vocabulary, written by :mod:`mlprov_rdf.scaffold` for the right task
  with the values the file recorded (everything else keeps the task's default), validated
  by :func:`mlprov_rdf.plan.load` and stored;
- a legacy run in the store, a run graph like those capture writes: ``mlprov:LegacyRun``,
  ``mlprov:provenanceSource`` (the file, with its sha256), status, the settings, the metrics
  (accuracy, loss, ROC AUC, per-class F1, MAE, MSE, confusion matrix), the model, the data
  set's size, hardware, packages, and one cell execution per MLProvCodeGen step activity
  with its ``prov:startTime``/``prov:endTime``.

A file it cannot read is refused with one line that names the key.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pyoxigraph as ox
import rdflib

from . import ingest, vocab
from .arguments import check_output, write_output
from .errors import UserError
from .plan import Plan, from_graph, load
from .scaffold import plan_text, turtle_literal
from .store import StoreLocation, open_store
from .tasks import ParameterSpec, Task, task_by_iri

log = logging.getLogger(__name__)

MLPROVCODEGEN_NS = "https://github.com/TarekAlMustafa/MLProvCodeGen1.0/"
TASK_TYPES = {  # MLProvCodeGen's task_type → mlprov task IRI
    "multiclassclassification": vocab.MLPROV + "MulticlassClassification",
    "imageclassificationpytorch": vocab.MLPROV + "ImageClassification",
    "imageclassification": vocab.MLPROV + "ImageClassification",
}
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


class _Unreadable(Exception):
    """A value that cannot be read as what it must be: the caller adds which key."""


def _norm(key: str) -> str:
    """``ex:Data Ingestion Data`` ≡ ``data_ingestion_data`` ≡ ``DataIngestionData``."""
    return re.sub(r"[^a-z0-9]", "", key.split(":", 1)[1].lower() if ":" in key else key.lower())


def _show_key(*path: str) -> str:
    return "".join(f"[{p!r}]" for p in path)


# -- reading the file --------------------------------------------------------------------


@dataclass
class Source:
    """The provenance file, with lookups that accept its spelling variants."""

    path: Path
    data: dict
    sha256: str

    def section(self, kind: str, name: str) -> dict | None:
        """``section("entity", "ex:Training Data")``: the attribute dict, or None."""
        block = self.data.get(kind)
        if not isinstance(block, dict):
            return None
        want = _norm(name)
        for key, value in block.items():
            if isinstance(key, str) and _norm(key) == want:
                return value if isinstance(value, dict) else {}
        return None

    def raw(self, entity: str, *keys: str) -> tuple[str, Any] | None:
        """The first of ``keys`` that ``entity`` has: (key as written in the file, raw value)."""
        attrs = self.section("entity", entity)
        if not attrs:
            return None
        normalised = {_norm(k): k for k in attrs if isinstance(k, str)}
        for key in keys:
            if _norm(key) in normalised:
                found = normalised[_norm(key)]
                return found, attrs[found]
        return None

    def where(self, entity: str, key: str) -> str:
        return f"entity{_show_key(entity, key)}"

    def value(self, entity: str, *keys: str, as_: Callable[[Any], Any] = lambda v: v, required: bool = False) -> Any:
        """A decoded value, converted by ``as_``; a missing required key or a bad value is a UserError."""
        found = self.raw(entity, *keys)
        if found is None:
            if required:
                section = self.section("entity", entity)
                missing = f"entity{_show_key(entity)}" if section is None else self.where(entity, keys[0])
                raise UserError(
                    f"{self.path}: missing key {missing}; "
                    "is this a provenance file written by MLProvCodeGen (its Provenance_*.json)?"
                )
            return None
        key, raw = found
        try:
            return as_(decode(raw))
        except _Unreadable as error:
            raise UserError(f"{self.path}: {self.where(entity, key)} = {_short(raw)}: {error}") from None


def _short(raw: Any) -> str:
    text = json.dumps(raw, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def decode(raw: Any) -> Any:
    """One PROV-JSON attribute value as Python: typed values by their type, lists by their first."""
    if isinstance(raw, list):
        if not raw:
            return None
        raw = raw[0]
    if isinstance(raw, dict):
        if "$" not in raw:
            raise _Unreadable('a typed value needs "$" and "type"')
        value, vtype = raw["$"], str(raw.get("type", "")).split(":")[-1].lower()
        try:
            if vtype in ("int", "integer", "long", "short", "byte", "nonnegativeinteger", "positiveinteger"):
                return int(value) if not isinstance(value, float) or value.is_integer() else _bad("not an integer")
            if vtype in ("double", "float", "decimal"):
                return float(value)
            if vtype == "boolean":
                return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1")
        except (TypeError, ValueError):
            raise _Unreadable(f"not a valid {raw.get('type')}") from None
        return value
    return raw


def _bad(message: str):
    raise _Unreadable(message)


# -- value converters (each raises _Unreadable) -------------------------------------------


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if isinstance(value, str) and (m := re.search(r"(\d+)\s*$", value)):  # "Number of datapoints: 100"
        return int(m.group(1))
    raise _Unreadable("not an integer")


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Unreadable("not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())  # "0.01" is 0.01 (MLProvCodeGen's own [0] made it 0)
        except ValueError:
            pass
    raise _Unreadable("not a number")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _Unreadable("not a boolean (true/false or 1/0)")


def as_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise _Unreadable("not text")
    return str(value)


def as_learning_rate(value: Any) -> float | None:
    """``"None"``, ``None`` or empty: the optimizer's default (None); else the number."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "", "default")):
        return None
    rate = as_float(value)
    if not rate > 0 or not math.isfinite(rate):
        raise _Unreadable("a learning rate must be a number greater than 0, or None for the optimizer's default")
    return rate


def code_name(value: Any) -> str:
    """The class or function a code fragment names: ``torch.optim.Adam(`` → ``Adam``,
    ``nn.CrossEntropyLoss()`` → ``CrossEntropyLoss``, ``F.softmax(self.layer3(x), dim=1)`` → ``softmax``."""
    text = as_text(value).strip()
    m = re.match(r"^\s*([A-Za-z_][\w.]*)", text)
    if not m:
        raise _Unreadable("names no class or function")
    return m.group(1).rsplit(".", 1)[-1]


def as_matrix(value: Any) -> list[list[int]]:
    """``"[[13  1  0]\\n [ 0  7  1]]"`` (numpy's print) or a JSON list → a list of rows."""
    if isinstance(value, list):
        return value
    text = as_text(value)
    rows = re.findall(r"\[([^\[\]]*)\]", text)
    try:
        matrix = [[int(float(x)) for x in re.split(r"[\s,]+", row.strip()) if x] for row in rows]
    except ValueError:
        raise _Unreadable("not a matrix of counts") from None
    if not matrix or len({len(r) for r in matrix}) != 1:
        raise _Unreadable("not a matrix of counts")
    return matrix


def as_vector(value: Any) -> list[float]:
    """``"[0.96296296 0.875      0.94117647]"`` (numpy's print) or a list → floats."""
    if isinstance(value, list):
        return [float(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    text = as_text(value).strip().strip("[]")
    try:
        return [float(x) for x in re.split(r"[\s,]+", text) if x]
    except ValueError:
        raise _Unreadable("not a list of numbers") from None


# -- the mapping onto mlprov's tasks -------------------------------------------------------


@dataclass
class Mapped:
    """What the file says, in mlprov's terms."""

    task: Task
    values: dict[str, Any] = field(default_factory=dict)  # parameter name → value
    origins: dict[str, str] = field(default_factory=dict)  # parameter name → "entity[...][...] = raw"
    dataset: str = ""
    class_names: list[str] = field(default_factory=list)


def _choice(spec: ParameterSpec, value: str, src: Source, entity: str, key: str, aliases: dict[str, str] | None = None) -> str:
    """``value`` as one of the parameter's choices, matched loosely (``FakeData`` ≡ ``fakedata``)."""
    wanted = _norm((aliases or {}).get(_norm(value), value))
    for choice in spec.choices:
        if _norm(str(choice)) == wanted:
            return choice
    if not spec.choices:
        return value
    options = ", ".join(str(c) for c in spec.choices)
    raise UserError(
        f"{src.path}: {src.where(entity, key)} = {value!r} has no counterpart in mlprov's {spec.name!r} "
        f"of task {src_task_name(spec)}; mlprov offers {options}"
    )


def src_task_name(spec: ParameterSpec) -> str:
    from .tasks import all_tasks

    return next((t.name for t in all_tasks().values() if spec in t.parameters), "this task")


class _Setter:
    """Sets a plan value when the task has a parameter of one of the given names."""

    def __init__(self, src: Source, mapped: Mapped):
        self.src, self.mapped = src, mapped

    def spec(self, *names: str) -> ParameterSpec | None:
        return next((self.mapped.task.parameter(n) for n in names if self.mapped.task.parameter(n)), None)

    def set(self, names: tuple[str, ...], entity: str, keys: tuple[str, ...], convert: Callable[[Any], Any],
            *, required: bool = False, aliases: dict[str, str] | None = None) -> Any:
        spec = self.spec(*names)
        found = self.src.raw(entity, *keys)
        value = self.src.value(entity, *keys, as_=convert, required=required)
        if spec is None or found is None:
            return value
        if isinstance(value, str) and spec.type in ("string",):
            value = _choice(spec, value, self.src, entity, found[0], aliases)
        value = _fit(spec, value, self.src, entity, found[0])
        self.mapped.values[spec.name] = value
        self.mapped.origins[spec.name] = f"{self.src.where(entity, found[0])} = {_short(found[1])}"
        return value


def _fit(spec: ParameterSpec, value: Any, src: Source, entity: str, key: str) -> Any:
    """A decoded value in the parameter's type, checked against its range."""
    where = f"{src.path}: {src.where(entity, key)}"
    if value is None:
        if spec.allow_default:
            return None
        raise UserError(f"{where}: no value, and mlprov's {spec.name!r} needs one")
    try:
        if spec.type == "integer":
            value = as_int(value)
        elif spec.type == "number":
            value = as_float(value)
        elif spec.type == "boolean":
            value = as_bool(value)
        elif spec.type in ("string", "path"):
            value = as_text(value)
    except _Unreadable as error:
        raise UserError(f"{where} = {value!r}: {error}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low_ok = spec.min is None or (value > spec.min if spec.exclusive_min else value >= spec.min)
        high_ok = spec.max is None or value <= spec.max
        if not (low_ok and high_ok):
            raise UserError(f"{where} = {value!r}: out of the range mlprov's {spec.name!r} allows ({spec.min} to {spec.max})")
    return value


_SCALERS = {"standardscaler": "standard", "minmaxscaler": "minmax", "none": "none"}
_MULTICLASS_DATASETS = {"spiral": "spirals", "spirals": "spirals"}


def _map_multiclass(src: Source, mapped: Mapped) -> None:
    s = _Setter(src, mapped)
    ingestion, preparation, segregation = "ex:Data Ingestion Data", "ex:Data Preparation Data", "ex:Data Segregation Data"
    model, training = "ex:Model Parameters Data", "ex:Training Data"
    dataset = s.set(("dataset",), ingestion, ("ex:dataset_id", "ex:dataset"), as_text, required=True,
                    aliases=_MULTICLASS_DATASETS)
    mapped.dataset = mapped.values.get("dataset", dataset)
    classes = src.value(ingestion, "ex:output_dimensions", "ex:classes", as_=as_int)
    if mapped.dataset == "iris":
        mapped.class_names = list(IRIS_CLASSES)
    elif classes:
        mapped.class_names = [str(i) for i in range(classes)]
    if mapped.dataset == "spirals":  # the generated data set's size and arms, under this task's names
        s.set(("generated_samples", "spiral_samples"), ingestion, ("ex:samples_total",), as_int)
        s.set(("generated_classes", "spiral_classes"), ingestion, ("ex:output_dimensions", "ex:classes"), as_int)
    transformation = src.raw(preparation, "ex:transformation", "ex:scaler")
    if transformation is not None:
        spec = s.spec("scaler")
        if spec is not None:
            name = src.value(preparation, "ex:transformation", "ex:scaler", as_=code_name)
            value = _choice(spec, _SCALERS.get(_norm(name), name), src, preparation, transformation[0])
            mapped.values["scaler"] = value
            mapped.origins["scaler"] = f"{src.where(preparation, transformation[0])} = {_short(transformation[1])}"
    elif src.value(preparation, "ex:number_operations", as_=as_int) == 0 and s.spec("scaler"):
        mapped.values["scaler"] = "none"
    s.set(("test_size",), segregation, ("ex:test_size",), as_float)
    s.set(("split_random_state",), segregation, ("ex:random_state", "ex:split_random_state"), as_int)
    _implied(mapped, "model", "mlp", "MLProvCodeGen's multiclass model is its PyTorch MLP")
    s.set(("hidden_neurons",), model, ("ex:neuron_number", "ex:hidden_neurons"), as_int)
    architecture = src.value(model, "ex:modelParameters", "ex:model_parameters", as_=as_text)
    if architecture and s.spec("hidden_layers"):
        linear = len(re.findall(r"\bLinear\(", architecture))
        if linear >= 2:
            mapped.values["hidden_layers"] = _fit(s.spec("hidden_layers"), linear - 1, src, model, "ex:modelParameters")
            mapped.origins["hidden_layers"] = f"{src.where(model, 'ex:modelParameters')}: {linear} Linear layers"
    # Its hidden layers are always F.relu; ex:activation_function is the output's (softmax
    # before the loss), which mlprov does not apply: its losses take logits.
    _implied(mapped, "activation", "relu", "MLProvCodeGen's hidden layers are F.relu")
    s.set(("optimizer",), model, ("ex:optimizer",), code_name, required=True)
    s.set(("loss",), model, ("ex:loss_function", "ex:loss"), code_name, required=True)
    _learning_rate(src, s, mapped, model)
    s.set(("use_gpu",), model, ("ex:gpu_enable", "ex:use_gpu"), as_bool)
    s.set(("epochs",), training, ("ex:epochs",), as_int, required=True)
    s.set(("seed",), training, ("ex:seed",), as_int)


def _learning_rate(src: Source, s: _Setter, mapped: Mapped, model: str) -> None:
    spec = s.spec("learning_rate", "lr")
    default_flag = src.value(model, "ex:optimizer_default_learning_rate", as_=as_bool)
    found = src.raw(model, "ex:optimizer_learning_rate", "ex:learning_rate", "ex:lr")
    if spec is None or (found is None and default_flag is None):
        return
    rate = src.value(model, "ex:optimizer_learning_rate", "ex:learning_rate", "ex:lr", as_=as_learning_rate)
    if default_flag:  # MLProvCodeGen sets the flag exactly when no learning rate was given
        rate = None
    key = found[0] if found else "ex:optimizer_default_learning_rate"
    mapped.values[spec.name] = _fit(spec, rate, src, model, key)
    mapped.origins[spec.name] = f"{src.where(model, key)} = {_short(found[1]) if found else 'default'}"


def _implied(mapped: Mapped, name: str, value: Any, why: str) -> None:
    """A value MLProvCodeGen's template fixed without recording it, when the task has it."""
    spec = mapped.task.parameter(name)
    if spec is not None and (not spec.choices or value in spec.choices):
        mapped.values[name] = value
        mapped.origins[name] = f"implied: {why}"


def _map_image(src: Source, mapped: Mapped) -> None:
    """The image task's parameters are looked up by their likely names: only those it has are set."""
    s = _Setter(src, mapped)
    ingestion, preparation, segregation = "ex:Data Ingestion Data", "ex:Data Preparation Data", "ex:Data Segregation Data"
    model, training = "ex:Model Parameters Data", "ex:Training Data"
    dataset = s.set(("dataset",), ingestion, ("ex:dataset_id", "ex:dataset"), as_text, required=True)
    mapped.dataset = mapped.values.get("dataset", dataset)
    classes = src.value(ingestion, "ex:classes", "ex:output_dimensions", as_=as_int)
    if classes:
        mapped.class_names = [str(i) for i in range(classes)]
    if _norm(str(mapped.dataset)) == "fakedata":
        s.set(("fake_classes", "num_classes"), ingestion, ("ex:classes",), as_int)
        train = src.value(ingestion, "ex:training_samples", as_=as_int)
        test = src.value(segregation, "ex:testing_dataset", as_=_datapoints)
        if train and test and s.spec("fake_size"):
            mapped.values["fake_size"] = _fit(s.spec("fake_size"), train + test, src, ingestion, "ex:training_samples")
            mapped.origins["fake_size"] = f"{src.where(ingestion, 'ex:training_samples')} + {src.where(segregation, 'ex:testing_dataset')}"
            if s.spec("test_fraction"):
                mapped.values["test_fraction"] = _fit(s.spec("test_fraction"), round(test / (train + test), 6), src, segregation, "ex:testing_dataset")
                mapped.origins["test_fraction"] = mapped.origins["fake_size"]
        _implied(mapped, "fake_image_size", 224, "MLProvCodeGen's FakeData images are 3 x 224 x 224")
        _implied(mapped, "fake_channels", 3, "MLProvCodeGen's FakeData images are 3 x 224 x 224")
    preprocessing = src.raw(preparation, "ex:preprocessing", "ex:transformation")
    if preprocessing is not None:
        text = src.value(preparation, "ex:preprocessing", "ex:transformation", as_=as_text)
        where = f"{src.where(preparation, preprocessing[0])}"
        for name, pattern in (("resize", r"Resize\(\s*(?:size=)?\(?(\d+)"), ("center_crop", r"CenterCrop\(\s*(?:size=)?\(?(\d+)")):
            m = re.search(pattern, text)
            spec = s.spec(name)
            if spec is not None:
                mapped.values[name] = _fit(spec, int(m.group(1)) if m else 0, src, preparation, preprocessing[0])
                mapped.origins[name] = where
        if s.spec("normalize"):
            mapped.values["normalize"] = "Normalize(" in text
            mapped.origins["normalize"] = where
    _implied(mapped, "validation_fraction", 0.0, "MLProvCodeGen validates on no split (val_loader = None)")
    _implied(mapped, "mixed_precision", False, "MLProvCodeGen trains in float32")
    s.set(("architecture", "model", "model_name"), model, ("ex:model_name", "ex:model"), as_text, required=True)
    s.set(("pretrained",), model, ("ex:pretrained",), as_bool)
    s.set(("save_checkpoint",), model, ("ex:save_checkpoint",), as_bool)
    s.set(("use_gpu",), model, ("ex:gpu_enable", "ex:use_gpu"), as_bool)
    s.set(("optimizer",), model, ("ex:optimizer",), code_name, required=True)
    s.set(("loss",), model, ("ex:loss_function", "ex:loss"), code_name, required=True)
    _learning_rate(src, s, mapped, model)
    s.set(("epochs",), training, ("ex:epochs",), as_int, required=True)
    s.set(("batch_size",), training, ("ex:batch_size",), as_int)
    s.set(("seed",), training, ("ex:seed",), as_int)


def _datapoints(value: Any) -> int:
    """``"Number of datapoints: 10Root location: ..."`` (its split summaries) → 10."""
    m = re.search(r"Number of datapoints:\s*(\d+)", as_text(value))
    if not m:
        return as_int(value)
    return int(m.group(1))


def read_source(path: Path) -> Source:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the Provenance_*.json file that MLProvCodeGen wrote")
    data_bytes = path.read_bytes()
    try:
        data = json.loads(data_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; give the Provenance_*.json file that MLProvCodeGen wrote") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not JSON ({error.msg}); give the Provenance_*.json file that MLProvCodeGen wrote") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a PROV-JSON document (the top level is not an object)")
    if not isinstance(data.get("entity"), dict):
        raise UserError(f"{path}: missing key ['entity']; is this a provenance file written by MLProvCodeGen?")
    return Source(path, data, hashlib.sha256(data_bytes).hexdigest())


def map_source(src: Source) -> Mapped:
    task_type = src.value("ex:Experiment Info Data", "ex:task_type", as_=as_text, required=True)
    task_iri = TASK_TYPES.get(_norm(task_type))
    if task_iri is None:
        raise UserError(
            f"{src.path}: {src.where('ex:Experiment Info Data', 'ex:task_type')} = {task_type!r}: not a task mlprov "
            "imports; MLProvCodeGen's tasks are MulticlassClassification and ImageClassification_pytorch"
        )
    task = task_by_iri(task_iri)
    if task is None:
        raise UserError(
            f"{src.path}: task {task_type!r} has no counterpart in this mlprov (no templates for "
            f"<{task_iri}>); update mlprov-rdf"
        )
    mapped = Mapped(task)
    (_map_image if task_iri.endswith("ImageClassification") else _map_multiclass)(src, mapped)
    return mapped


# -- the plan ---------------------------------------------------------------------------------


def _turtle_value(value: Any) -> str:
    if value is None:
        return '"default"'
    if isinstance(value, (list, dict)):
        return json.dumps(json.dumps(value)) + f"^^<{vocab.RDF}JSON>"
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # 1.0: still a decimal in Turtle, not an integer
    return turtle_literal(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def build_plan_text(src: Source, mapped: Mapped, name: str) -> str:
    info_title = src.value("ex:Experiment Info Data", "ex:title", as_=as_text) or mapped.task.title
    date = src.value("ex:Experiment Info Data", "ex:creation_date", as_=as_text)
    title = f"{info_title} (imported from MLProvCodeGen{', ' + date if date else ''})"
    text = plan_text(mapped.task, name, title, _author(src)[1] or "Your Name")
    for pname, value in mapped.values.items():
        text, n = re.subn(
            rf'(mlprov:parameterName "{re.escape(pname)}" ;\n    prov:value )[^\n]+ \.',
            lambda m, v=value: f"{m.group(1)}{_turtle_value(v)} .",
            text,
        )
        if n != 1:
            raise RuntimeError(f"scaffold wrote parameter {pname} {n} times")
    header = [
        f"# Imported by 'mlprov import-mlprovcodegen' from {src.path.name} (sha256 {src.sha256[:16]}).",
        "# The values MLProvCodeGen recorded are set below; every other parameter has the task's default:",
    ]
    header += [f"#   {p} = {_turtle_value(v)}  ({mapped.origins.get(p, 'implied')})" for p, v in mapped.values.items()]
    return "\n".join(header) + "\n" + text


# -- the legacy run ---------------------------------------------------------------------------


def _author(src: Source) -> tuple[str | None, str | None]:
    agents = src.data.get("agent")
    if isinstance(agents, dict):
        for key, attrs in agents.items():
            attrs = attrs if isinstance(attrs, dict) else {}
            given = next((decode(v) for k, v in attrs.items() if _norm(k) in ("givenname", "name", "label")), None)
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
        step = _STEPS.get(_norm(name.replace("()", "")))
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
    """``YYYYMMDDTHHMMSS-xxxxxxxx`` like every run: its first activity's start, the file's sha256."""
    start = activities[0].start if activities else None
    stamp = start.strftime("%Y%m%dT%H%M%S") if start else "19700101T000000"
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
    author_key, author_label = _author(src)
    person = None
    if author_label:
        person = vocab.AGENT_BASE + "person:" + (_slug(author_label) or "unknown")
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
    evaluation = src.section("entity", "ex:Evaluation Data")
    status = "Completed" if evaluation else "Interrupted"
    g.add(run, M + "status", M + status)
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
    packages = src.section("entity", "ex:Packages Data") or {}
    for key, raw in sorted(packages.items()):
        pname = key.split(":", 1)[-1]
        text = str(decode(raw)).strip()
        version = text.split()[-1] if text else ""
        setting(f"package/{_slug(pname)}", [REPR + "Package"], f"{pname} {version}".strip(), packageName=pname, version=version)

    # The data set, the model, the metrics.
    ingestion = "ex:Data Ingestion Data"
    if mapped.dataset:
        data = f"{run}/data/{_slug(str(mapped.dataset)) or 'data'}"
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
        node = f"{run}/metric/{name}/{split}" + (f"/class/{_slug(for_class)}" if for_class is not None else "") + (
            f"/epoch/{epoch}" if epoch is not None else "")
        g.type(node, P + "Entity", MLS + "ModelEvaluation")
        g.add(node, MLS + "specifiedBy", M + name)
        g.add(node, MLS + "hasValue", _lit(value))
        g.add(node, M + "splitName", _lit(split))
        if for_class is not None:
            g.add(node, M + "forClass", _lit(for_class))
        if epoch is not None:
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


# -- the job ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    plan_file: Path
    plan: Plan
    run: str
    status: str
    task_type: str
    settings: int
    metrics: int


def import_file(path: Path, location: StoreLocation, *, output: Path | None = None, force: bool = False) -> ImportResult:
    """Read, map and validate everything first; then write the plan file and the store."""
    src = read_source(path)
    mapped = map_source(src)
    output = Path(output) if output else src.path.with_suffix(".ttl")
    check_output(output, kind="file", inputs=[src.path], force=force)
    if output.suffix.lower() not in (".ttl", ".turtle"):
        raise UserError(f"-o {output}: the plan is written in Turtle; give a .ttl file name")
    name = _slug(output.stem) or "plan"
    text = build_plan_text(src, mapped, name)
    graph = rdflib.Graph().parse(data=text, format="turtle", publicID=output.absolute().as_uri())
    plan = from_graph(graph, source=f"the plan imported from {src.path}")  # validated before anything is written
    run, triples, status = legacy_run(src, mapped, plan)

    write_output(output, text.encode("utf-8"))
    loaded = load(output)
    with open_store(location) as store:
        ingest.store_plan(store, loaded.graph, loaded.plan)
        store.replace_graph(vocab.bundle_iri(vocab.run_id_of(run)), ingest.with_direct_values(run, triples))
    task_type = src.value("ex:Experiment Info Data", "ex:task_type", as_=as_text)
    metrics = sum(1 for t in triples if t.predicate.value == vocab.MLS + "specifiedBy")
    return ImportResult(output, loaded.plan, run, status, task_type, len(mapped.values), metrics)
