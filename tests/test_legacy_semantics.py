"""The multiclass task does what MLProvCodeGen's notebooks did, so that a run imported from it
can be repeated: an MLP whose last layer has the output activation it chose (softmax, sigmoid,
tanh) with the losses applied as it applied them, and the Spiral, Aggregation and R15 CSV files
it shipped.

Six real runs into one store (about a minute on two cores); the notebook source is read
without a kernel.
"""

from __future__ import annotations

import math
import re
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest

from mlprov_rdf import api
from mlprov_rdf.capture import _sha256_of
from mlprov_rdf.generate import build_notebook
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import turtle_literal
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import run
from tests.conftest import TASK, make_plan

MLPROV = "https://w3id.org/mlprov#"
EXAMPLE = Path(__file__).resolve().parent.parent / "notebooks" / "multiclass-classification" / "iris-mlp.ttl"

#: The shape sets as MLProvCodeGen shipped them: file, points, classes, and the class names mlprov gives them.
SHAPE_SETS = {
    "spiral": ("spiral.csv", 312, 3, ["arm 1", "arm 2", "arm 3"]),
    "aggregation": ("Aggregation.csv", 788, 7, [f"cluster {n}" for n in range(1, 8)]),
    "r15": ("R15.csv", 320, 8, [f"cluster {n}" for n in range(1, 9)]),
}
SMALL_MLP = {"hidden_neurons": 8, "epochs": 5}

#: name → plan values: Iris with each output activation, and each shape set.
CASES = {
    "iris-softmax": {"output_activation": "softmax"},
    "iris-sigmoid": {"output_activation": "sigmoid", "epochs": 60},
    "iris-tanh": {"output_activation": "tanh", "epochs": 60},
    **{name: {"dataset": name, "output_activation": "softmax", "loss": "NLLLoss", **SMALL_MLP} for name in SHAPE_SETS},
}

#: The sha256 (first 12 hex digits) of each step cell after the setup of an MLP notebook on Iris, as
#: generated before output_activation existed: the default must leave that code as it was. (The
#: training step's since changed on its own: its loss-curve figure goes into the run's artifact folder.)
MLP_STEP_CODE_BEFORE = {
    "data-ingestion": "035747022559",
    "data-preparation": "5c27bd0ea0ee",
    "data-segregation": "129436c9c7e8",
    "model-definition": "278587bc33aa",
    "training": "740a657bae78",
    "evaluation": "a025cdf02eab",
}
MARKER = re.compile(r"# mlprov step '[^']*#([a-z-]+)' \(generated code sha256 ([0-9a-f]{12})\)")


def plan_file(path: Path, **values) -> Path:
    return make_plan(path, **{name: turtle_literal(value) for name, value in values.items()})


def code_cells(path: Path) -> list[str]:
    return [c.source for c in build_notebook(load(path).plan).cells if c.cell_type == "code"]


def step_hashes(path: Path) -> dict[str, str]:
    """Step name → the code hash in its cell's marker line."""
    return dict(m.groups() for m in map(MARKER.match, code_cells(path)) if m)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every case run in a real kernel into one store: name → status, metrics, settings, data, model."""
    root = tmp_path_factory.mktemp("legacy-semantics")
    location = StoreLocation(root / "store")
    out = {}
    for name, values in CASES.items():
        outcome = run(plan_file(root / f"{name}.ttl", **values), location, output=root / f"{name}.ipynb")
        assert outcome.ok, (name, outcome.error)
        out[name] = {"status": outcome.status, "run": outcome.run}
    with api.open_store(location) as store:
        for name, case in out.items():
            metrics = store.query("run-metrics", run=case["run"])
            overall = metrics[metrics["class"].isna()]
            case["metrics"] = {(str(m).removeprefix(MLPROV), s): v for m, s, v in zip(overall["measure"], overall["split"], overall["value"])}
            case["classes"] = sorted(str(c) for c in metrics["class"].dropna())
            settings = store.query("run-params", run=case["run"])
            case["settings"] = dict(zip(settings["parameter"], settings["value"]))
            (case["data"],) = store.query(
                "SELECT ?source ?sha ?samples ?features ?classes WHERE { ?d a <http://www.w3.org/ns/mls#Dataset> ; "
                "<http://purl.org/dc/terms/source> ?source ; <%(m)ssha256> ?sha ; <%(m)ssampleCount> ?samples ; "
                "<%(m)sfeatureCount> ?features ; <%(m)sclassCount> ?classes ; "
                "<http://www.w3.org/ns/prov#wasGeneratedBy>/<http://purl.org/dc/terms/isPartOf> <%(r)s> }"
                % {"m": MLPROV, "r": case["run"]}
            ).astype(str).itertuples(index=False)
            (case["architecture"],) = store.query(
                "SELECT ?a WHERE { <%s> <http://www.w3.org/ns/mls#hasOutput> ?m . "
                "?m <http://www.w3.org/2000/01/rdf-schema#label> \"trained model\" ; <%sarchitecture> ?a }" % (case["run"], MLPROV)
            )["a"]
    return out


# -- the output activation --------------------------------------------------------------


def test_a_softmax_output_mlp_runs_to_completed_with_sensible_accuracy_on_iris(runs):
    case = runs["iris-softmax"]
    assert case["status"] == "Completed"
    assert case["settings"]["output_activation"] == "softmax"
    assert str(case["architecture"]).rstrip().endswith("(5): Softmax(dim=1)\n)")
    assert float(case["metrics"][("accuracy", "test")]) >= 0.9
    # CrossEntropyLoss on softmax outputs, as MLProvCodeGen applied it: those outputs lie in [0, 1],
    # so the loss is at least log(1 + (k - 1) / e) for k classes, which a logits model goes below.
    assert float(case["metrics"][("loss", "test")]) >= math.log(1 + 2 / math.e) - 1e-6


@pytest.mark.parametrize("name, layer, low, high", [("iris-sigmoid", "Sigmoid()", 0, 1), ("iris-tanh", "Tanh()", -1, 1)])
def test_sigmoid_and_tanh_outputs_train_and_bound_the_loss_as_their_ranges_do(runs, name, layer, low, high):
    case = runs[name]
    assert case["status"] == "Completed" and case["settings"]["output_activation"] == name.split("-")[1]
    assert str(case["architecture"]).rstrip().endswith(f"(5): {layer}\n)")
    assert float(case["metrics"][("accuracy", "test")]) >= 0.8
    assert float(case["metrics"][("loss", "test")]) >= math.log(1 + 2 * math.exp(low - high)) - 1e-6


def test_the_default_output_activation_leaves_the_mlp_step_code_as_it_was(tmp_path):
    default = step_hashes(plan_file(tmp_path / "default.ttl"))
    assert {step: default[step] for step in MLP_STEP_CODE_BEFORE} == MLP_STEP_CODE_BEFORE
    assert {step: step_hashes(EXAMPLE)[step] for step in MLP_STEP_CODE_BEFORE} == MLP_STEP_CODE_BEFORE
    model = next(c for c in code_cells(tmp_path / "default.ttl") if "#model-definition'" in c.splitlines()[0])
    assert "layers.append(nn.Linear(width, n_classes))  # logits" in model
    assert "nn.Softmax" not in model and "output layer" not in model


#: The output layer each output activation appends to the MLP, as the notebook writes it.
OUTPUT_LAYERS = {"softmax": "nn.Softmax(dim=1)]", "sigmoid": "nn.Sigmoid()]", "tanh": "nn.Tanh()]"}


@pytest.mark.parametrize("activation", list(OUTPUT_LAYERS))
def test_an_output_activation_is_fixed_by_the_plan_and_renders_only_its_own_layer(tmp_path, activation):
    cells = code_cells(plan_file(tmp_path / "p.ttl", output_activation=activation))
    parameters = next(c for c in cells if c.startswith("# mlprov parameters"))
    assert f"output_activation = {activation!r}." in parameters  # in the "Fixed by the plan" line, not a variable
    assert not re.search(r"^output_activation =", parameters, re.M)
    code = "\n".join(cells)
    assert f"layers += [nn.Linear(width, n_classes), {OUTPUT_LAYERS[activation]}" in code
    assert [layer for layer in OUTPUT_LAYERS.values() if layer in code] == [OUTPUT_LAYERS[activation]]
    assert "output_activation" not in "\n".join(cells[2:])  # the code never reads it


def test_a_scikit_learn_model_neither_reads_nor_records_the_output_activation(tmp_path):
    cells = code_cells(plan_file(tmp_path / "svm.ttl", model="svm", output_activation="softmax"))
    assert "output_activation" not in "\n".join(cells)


def test_output_activation_defaults_to_none_and_offers_the_predecessors_three():
    spec = all_tasks()[TASK].parameter("output_activation")
    assert spec.default == "none" and list(spec.choices) == ["none", "softmax", "sigmoid", "tanh"]
    assert spec.step == "ModelDefinitionStep"


# -- the shape sets ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SHAPE_SETS))
def test_a_shape_set_loads_the_shipped_points_and_its_run_completes(runs, name):
    file, points, classes, class_names = SHAPE_SETS[name]
    case = runs[name]
    assert case["status"] == "Completed"
    # The CSV as MLProvCodeGen read it: no header, x, y and the class numbered from 1.
    frame = pd.read_csv(files("mlprov_rdf.datasets") / file, names=["0", "1", "target"], header=None)
    assert len(frame) == points and frame["target"].nunique() == classes
    expected_sha = _sha256_of(frame[["0", "1"]].to_numpy(dtype="float64"), frame["target"].to_numpy() - 1, ())
    assert tuple(case["data"]) == (f"mlprov_rdf.datasets/{file}", expected_sha, str(points), "2", str(classes))
    assert case["classes"] == sorted(class_names)
    assert case["settings"]["dataset"] == name


@pytest.mark.parametrize("name", list(SHAPE_SETS))
def test_a_shape_set_notebook_reads_its_file_from_the_package_and_nothing_else(tmp_path, name):
    code = "\n".join(code_cells(plan_file(tmp_path / "p.ttl", dataset=name)))
    file = SHAPE_SETS[name][0]
    assert f'(files("mlprov_rdf.datasets") / {file!r})' in code
    assert not [other for other, *_ in SHAPE_SETS.values() if other != file and other in code]
    for absent in ("datasets.load_", "datasets.make_", "read_csv", "csv_path", "generated_samples", "make_spirals"):
        assert absent not in code, absent
    assert "decision-boundary" in code  # two features: the figure of the decision boundary
