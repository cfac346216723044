"""MLProvCodeGen's recorded values → the parameters of mlprov's task, with why each was chosen."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import vocab
from ..errors import UserError
from ..tasks import ParameterSpec, Task, all_tasks, task_by_iri
from .source import Source
from .values import (Unreadable, as_bool, as_float, as_int, as_learning_rate, as_text, code_name,
                     decode, norm, short)

TASK_TYPES = {  # MLProvCodeGen's task_type → mlprov task IRI
    "multiclassclassification": vocab.MLPROV + "MulticlassClassification",
    "imageclassificationpytorch": vocab.MLPROV + "ImageClassification",
    "imageclassification": vocab.MLPROV + "ImageClassification",
}
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


@dataclass
class Mapped:
    """What the file says, in mlprov's terms."""

    task: Task
    values: dict[str, Any] = field(default_factory=dict)  # parameter name → value
    origins: dict[str, str] = field(default_factory=dict)  # parameter name → "entity[...][...] = raw"
    dataset: str = ""
    class_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # each choice the file does not state, and why


def _choice(spec: ParameterSpec, value: str, src: Source, entity: str, key: str, aliases: dict[str, str] | None = None) -> str:
    """``value`` as one of the parameter's choices, matched loosely (``FakeData`` ≡ ``fakedata``)."""
    wanted = norm((aliases or {}).get(norm(value), value))
    for choice in spec.choices:
        if norm(str(choice)) == wanted:
            return choice
    if not spec.choices:
        return value
    options = ", ".join(str(c) for c in spec.choices)
    raise UserError(
        f"{src.path}: {src.where(entity, key)} = {value!r} has no counterpart in mlprov's {spec.name!r} "
        f"of task {src_task_name(spec)}; mlprov offers {options}"
    )


def src_task_name(spec: ParameterSpec) -> str:
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
        self.mapped.origins[spec.name] = f"{self.src.where(entity, found[0])} = {short(found[1])}"
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
    except Unreadable as error:
        raise UserError(f"{where} = {value!r}: {error}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low_ok = spec.min is None or (value > spec.min if spec.exclusive_min else value >= spec.min)
        high_ok = spec.max is None or value <= spec.max
        if not (low_ok and high_ok):
            raise UserError(f"{where} = {value!r}: out of the range mlprov's {spec.name!r} allows ({spec.min} to {spec.max})")
    return value


_SCALERS = {"standardscaler": "standard", "minmaxscaler": "minmax", "none": "none"}
# MLProvCodeGen's shape sets: the CSV files it shipped (the multiclass task loads the same files).
_SHAPE_SETS = {"spiral": "spiral", "spirals": "spiral", "aggregation": "aggregation", "r15": "r15"}
_OUTPUT_ACTIVATIONS = {"softmax": "softmax", "logsoftmax": "softmax", "sigmoid": "sigmoid", "tanh": "tanh"}
_SEED_NOTE = "MLProvCodeGen recorded no seed (it set none for torch), so the task's default seed applies"


def _note(mapped: Mapped, text: str) -> None:
    mapped.notes.append(text)


def _dataset(src: Source, s: _Setter, mapped: Mapped, ingestion: str) -> None:
    """Its data set as the task's choice; its shape sets are the CSV files it shipped, which the task ships too."""
    recorded = src.value(ingestion, "ex:dataset_id", "ex:dataset", as_=as_text, required=True)
    shape = _SHAPE_SETS.get(norm(recorded))
    aliases = {norm(recorded): shape} if shape else {}
    s.set(("dataset",), ingestion, ("ex:dataset_id", "ex:dataset"), as_text, required=True, aliases=aliases)
    mapped.dataset = mapped.values.get("dataset", recorded)


def _map_multiclass(src: Source, mapped: Mapped) -> None:
    s = _Setter(src, mapped)
    ingestion, preparation, segregation = "ex:Data Ingestion Data", "ex:Data Preparation Data", "ex:Data Segregation Data"
    model, training = "ex:Model Parameters Data", "ex:Training Data"
    _dataset(src, s, mapped, ingestion)
    classes = src.value(ingestion, "ex:output_dimensions", "ex:classes", as_=as_int)
    if mapped.dataset == "iris":
        mapped.class_names = list(IRIS_CLASSES)
    elif classes:
        mapped.class_names = [str(i) for i in range(classes)]
    transformation = src.raw(preparation, "ex:transformation", "ex:scaler")
    if transformation is not None:
        spec = s.spec("scaler")
        if spec is not None:
            name = src.value(preparation, "ex:transformation", "ex:scaler", as_=code_name)
            value = _choice(spec, _SCALERS.get(norm(name), name), src, preparation, transformation[0])
            mapped.values["scaler"] = value
            mapped.origins["scaler"] = f"{src.where(preparation, transformation[0])} = {short(transformation[1])}"
    elif src.value(preparation, "ex:number_operations", as_=as_int) == 0 and s.spec("scaler"):
        mapped.values["scaler"] = "none"
    s.set(("test_size",), segregation, ("ex:test_size",), as_float)
    s.set(("split_random_state",), segregation, ("ex:random_state", "ex:split_random_state"), as_int)
    _implied(mapped, "stratify", False, "MLProvCodeGen split with train_test_split(test_size, random_state), "
             "not stratified (006_dataSegregation.jinja)")
    _implied(mapped, "model", "mlp", "MLProvCodeGen's multiclass model is its PyTorch MLP")
    s.set(("hidden_neurons",), model, ("ex:neuron_number", "ex:hidden_neurons"), as_int)
    architecture = src.value(model, "ex:modelParameters", "ex:model_parameters", as_=as_text)
    linear = len(re.findall(r"\bLinear\(", architecture or ""))
    if linear >= 2 and s.spec("hidden_layers"):
        mapped.values["hidden_layers"] = _fit(s.spec("hidden_layers"), linear - 1, src, model, "ex:modelParameters")
        mapped.origins["hidden_layers"] = f"{src.where(model, 'ex:modelParameters')}: {linear} Linear layers"
    else:
        _implied(mapped, "hidden_layers", 2, "MLProvCodeGen's MLP has layer1 and layer2 before its output layer "
                 "(008_model.jinja)")
    _implied(mapped, "activation", "relu", "MLProvCodeGen's hidden layers are F.relu (008_model.jinja)")
    _output_activation(src, s, mapped, model)
    s.set(("optimizer",), model, ("ex:optimizer",), code_name, required=True)
    s.set(("loss",), model, ("ex:loss_function", "ex:loss"), code_name, required=True)
    _learning_rate(src, s, mapped, model)
    s.set(("use_gpu",), model, ("ex:gpu_enable", "ex:use_gpu"), as_bool)
    s.set(("epochs",), training, ("ex:epochs",), as_int, required=True)
    _seed(src, s, mapped, training)


def _output_activation(src: Source, s: _Setter, mapped: Mapped, model: str) -> None:
    """``x = F.softmax(self.layer3(x), dim=1)``: the function on its last layer, or none."""
    found = src.raw(model, "ex:activation_function")
    spec = s.spec("output_activation")
    if found is None:
        return
    text = src.value(model, "ex:activation_function", as_=as_text)
    names = [n.rsplit(".", 1)[-1].lower() for n in re.findall(r"([A-Za-z_][\w.]*)\s*\(", text)]
    value = next((_OUTPUT_ACTIVATIONS[n] for n in names if n in _OUTPUT_ACTIVATIONS), "none")
    mapped.values[spec.name] = _fit(spec, value, src, model, found[0])
    mapped.origins[spec.name] = f"{src.where(model, found[0])} = {short(found[1])}"


def _seed(src: Source, s: _Setter, mapped: Mapped, training: str) -> None:
    if s.set(("seed",), training, ("ex:seed",), as_int) is None and s.spec("seed") is not None:
        _note(mapped, f"seed = {s.spec('seed').default!r}: {_SEED_NOTE}")


def _learning_rate(src: Source, s: _Setter, mapped: Mapped, model: str) -> None:
    """Its "default" learning rate as its template applied it: ``lr = 1`` for SGD, torch's default otherwise."""
    spec = s.spec("learning_rate", "lr")
    default_flag = src.value(model, "ex:optimizer_default_learning_rate", as_=as_bool)
    found = src.raw(model, "ex:optimizer_learning_rate", "ex:learning_rate", "ex:lr")
    if spec is None or (found is None and default_flag is None):
        return
    rate = src.value(model, "ex:optimizer_learning_rate", "ex:learning_rate", "ex:lr", as_=as_learning_rate)
    if default_flag:  # MLProvCodeGen sets the flag exactly when no learning rate was given
        rate = None
    key = found[0] if found else "ex:optimizer_default_learning_rate"
    origin = f"{src.where(model, key)} = {short(found[1]) if found else 'default'}"
    if rate is None:
        optimizer = mapped.values.get("optimizer")
        if optimizer == "SGD":
            rate = 1
            _note(mapped, "learning_rate = 1: MLProvCodeGen's \"default\" for SGD is lr = 1 (008_model.jinja)")
        else:
            _note(mapped, f"learning_rate = \"default\": MLProvCodeGen left {optimizer or 'the optimizer'} "
                  "at torch's default learning rate (008_model.jinja)")
    mapped.values[spec.name] = _fit(spec, rate, src, model, key)
    mapped.origins[spec.name] = origin


def _implied(mapped: Mapped, name: str, value: Any, why: str) -> None:
    """A value MLProvCodeGen's template fixed without recording it, when the task has it: set and noted."""
    spec = mapped.task.parameter(name)
    if spec is not None and (not spec.choices or value in spec.choices):
        mapped.values[name] = value
        mapped.origins[name] = f"implied: {why}"
        mapped.notes.append(f"{name} = {value!r}: {why}")


def _first_count(src: Source, mapped: Mapped, fields: list[tuple[str, str]]) -> tuple[int, str] | None:
    """The first of ``fields`` that holds a count; each one skipped (a Python repr without a number) is noted."""
    for entity, key in fields:
        found = src.raw(entity, key)
        if found is None:
            continue
        try:
            return as_int(decode(found[1])), src.where(entity, found[0])
        except Unreadable:
            _note(mapped, f"{src.where(entity, found[0])} = {short(found[1])} holds no number "
                  "(MLProvCodeGen logged a Python repr); the size is taken from the field that agrees with the rest")
    return None


def _evidence_dataset(src: Source, spec: ParameterSpec | None, segregation: str) -> str | None:
    """The data set its split summaries name (``Dataset FakeData``), when they name one the task offers."""
    texts = [str(decode(f[1])) for f in (src.raw(segregation, "ex:training_dataset"), src.raw(segregation, "ex:testing_dataset")) if f]
    named = {m for text in texts for m in re.findall(r"\bDataset (\w+)", text)}
    choices = {norm(str(c)): str(c) for c in (spec.choices if spec else [])}
    found = [choices[norm(n)] for n in named if norm(n) in choices]
    return found[0] if len(found) == 1 else None


def _map_image(src: Source, mapped: Mapped) -> None:
    """The image task's parameters are looked up by their likely names: only those it has are set."""
    s = _Setter(src, mapped)
    ingestion, preparation, segregation = "ex:Data Ingestion Data", "ex:Data Preparation Data", "ex:Data Segregation Data"
    model, training = "ex:Model Parameters Data", "ex:Training Data"
    dataset = s.set(("dataset",), ingestion, ("ex:dataset_id", "ex:dataset"), as_text, required=True,
                    aliases={"fakedata": "FakeData"})
    evidence = _evidence_dataset(src, s.spec("dataset"), segregation)
    if evidence and evidence != mapped.values.get("dataset", dataset):
        _note(mapped, f"dataset = {evidence!r}: {src.where(ingestion, 'ex:dataset_id')} names {dataset!r}, but its "
              f"split summaries ({src.where(segregation)}) are of {evidence}; the evidence is followed")
        mapped.values["dataset"] = evidence
        mapped.origins["dataset"] = f"{src.where(segregation)}: Dataset {evidence}"
    mapped.dataset = mapped.values.get("dataset", dataset)
    classes = src.value(ingestion, "ex:classes", "ex:feature_classes", "ex:output_dimensions", as_=as_int)
    if classes:
        mapped.class_names = [str(i) for i in range(classes)]
    if norm(str(mapped.dataset)) == "fakedata":
        s.set(("fake_classes", "num_classes"), ingestion, ("ex:classes", "ex:feature_classes"), as_int)
        train = _first_count(src, mapped, [(ingestion, "ex:training_samples"), (segregation, "ex:training_dataset")])
        test = _first_count(src, mapped, [(ingestion, "ex:testing_samples"), (segregation, "ex:testing_dataset")])
        if train and test and s.spec("fake_size"):
            total = train[0] + test[0]
            mapped.values["fake_size"] = _fit(s.spec("fake_size"), total, src, ingestion, "ex:training_samples")
            mapped.origins["fake_size"] = f"{train[1]} ({train[0]} training images) + {test[1]} ({test[0]} test images)"
            if s.spec("test_fraction"):
                mapped.values["test_fraction"] = _fit(s.spec("test_fraction"), round(test[0] / total, 6), src, segregation, "ex:testing_dataset")
                mapped.origins["test_fraction"] = mapped.origins["fake_size"]
        _implied(mapped, "fake_image_size", 224, "MLProvCodeGen's FakeData images are 3 x 224 x 224 (004_dataIngestion.jinja)")
        _implied(mapped, "fake_channels", 3, "MLProvCodeGen's FakeData images are 3 x 224 x 224 (004_dataIngestion.jinja)")
    _transforms(src, s, mapped, preparation, segregation)
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
    _seed(src, s, mapped, training)


def _transforms(src: Source, s: _Setter, mapped: Mapped, preparation: str, segregation: str) -> None:
    """Resize, CenterCrop and Normalize from every field that prints the transforms: its preprocessing
    list, or the split summaries (``Transform: Compose(Resize(...) ...)``) when that list is ``[]``."""
    fields = [f for f in (src.raw(preparation, "ex:preprocessing", "ex:transformation"),) if f]
    fields += [f for f in (src.raw(segregation, "ex:training_dataset"), src.raw(segregation, "ex:testing_dataset")) if f]
    if not fields:
        return
    text = "\n".join(str(decode(raw)) for _, raw in fields)
    where = ", ".join(src.where(preparation if i == 0 and src.raw(preparation, k) else segregation, k)
                      for i, (k, _) in enumerate(fields))
    for name, pattern in (("resize", r"Resize\(\s*(?:size=)?\(?(\d+)"), ("center_crop", r"CenterCrop\(\s*(?:size=)?\(?(\d+)")):
        m = re.search(pattern, text)
        spec = s.spec(name)
        if spec is not None:
            mapped.values[name] = _fit(spec, int(m.group(1)) if m else 0, src, preparation, fields[0][0])
            mapped.origins[name] = where
    if s.spec("normalize"):
        mapped.values["normalize"] = "Normalize(" in text
        mapped.origins["normalize"] = where


def map_source(src: Source) -> Mapped:
    task_type = src.value("ex:Experiment Info Data", "ex:task_type", as_=as_text, required=True)
    task_iri = TASK_TYPES.get(norm(task_type))
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

