"""The multiclass task's options, each run for real: a kernel executes the generated
notebook (real training, real figures), the run is ingested into a real store, and
everything is checked with SPARQL on that store.

Fourteen runs together use every data set, every model, and every optimizer, loss,
activation, output activation and scaler at least once (a test below checks that against task.toml, so
a new choice cannot go untested); two of them are run again to check determinism.
Each notebook holds only the code of its plan's data set and model, so each run records
exactly the settings that code used.
"""

from __future__ import annotations

from urllib.parse import urlparse
from urllib.request import url2pathname

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import papermill
import pyoxigraph as ox
import pytest
from click.testing import CliRunner
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from mlprov_rdf import series, vocab
from mlprov_rdf.cli import main
from mlprov_rdf.scaffold import turtle_literal
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import ingest_paths, run
from tests.conftest import TASK, make_plan

PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())

#: features and classes of each data set as the cases below load it
DATA = {
    "iris": (4, 3),
    "wine": (13, 3),
    "breast_cancer": (30, 2),
    "csv": (3, 3),
    "moons": (2, 2),
    "circles": (2, 2),
    "blobs": (2, 4),  # generated_classes = 4 below
    "spirals": (2, 3),
    "spiral": (2, 3),  # the shape sets shipped with mlprov
    "aggregation": (2, 7),
    "r15": (2, 8),
}
ARCHITECTURE = {
    "mlp": "Sequential(",
    "logistic_regression": "LogisticRegression(",
    "random_forest": "RandomForestClassifier(",
    "svm": "SVC(",
    "knn": "KNeighborsClassifier(",
    "gradient_boosting": "GradientBoostingClassifier(",
}
ESTIMATORS = {  # the prefix of each model's hyperparameters in the plan, and its class
    "logistic_regression": ("logreg_", LogisticRegression),
    "random_forest": ("rf_", RandomForestClassifier),
    "svm": ("svm_", SVC),
    "knn": ("knn_", KNeighborsClassifier),
    "gradient_boosting": ("gb_", GradientBoostingClassifier),
}
SMALL_MLP = {"hidden_layers": 1, "hidden_neurons": 8, "epochs": 4}

#: The settings a run records: those its data set's and its model's code read, and the rest
#: of every pipeline (written out here, not derived from the templates, so a template that
#: reads too much or too little shows).
EVERY_RUN = {"dataset", "model", "seed", "scaler", "test_size", "split_random_state", "stratify"}
DATA_SETTINGS = {
    "iris": set(), "wine": set(), "breast_cancer": set(),
    "moons": {"generated_samples", "generated_noise", "data_seed"},
    "circles": {"generated_samples", "generated_noise", "data_seed"},
    "blobs": {"generated_samples", "generated_noise", "generated_classes", "data_seed"},
    "spirals": {"generated_samples", "generated_noise", "generated_classes", "data_seed"},
    "spiral": set(), "aggregation": set(), "r15": set(),
    "csv": {"csv_path", "csv_label_column"},
}
MODEL_SETTINGS = {
    "mlp": {"use_gpu", "hidden_layers", "hidden_neurons", "activation", "output_activation", "optimizer", "learning_rate",
            "loss", "epochs"},
    "logistic_regression": {"logreg_C", "logreg_max_iter"},
    "random_forest": {"rf_n_estimators", "rf_max_depth"},
    "svm": {"svm_C", "svm_kernel", "svm_gamma"},
    "knn": {"knn_n_neighbors", "knn_weights"},
    "gradient_boosting": {"gb_n_estimators", "gb_learning_rate", "gb_max_depth"},
}


@dataclass(frozen=True)
class Case:
    """A plan: the values it sets, and the values papermill overrides when it runs it."""

    plan: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        return {**self.plan, **self.overrides}

    @property
    def model(self) -> str:
        return self.values.get("model", "mlp")

    @property
    def dataset(self) -> str:
        return self.values["dataset"]

    @property
    def settings(self) -> set[str]:
        """The parameters its notebook's code uses, and so the settings its run records."""
        return EVERY_RUN | DATA_SETTINGS[self.dataset] | MODEL_SETTINGS[self.model]


CASES = {
    "mlp-iris-Adam": Case(
        {"dataset": "iris", "optimizer": "Adam", "loss": "CrossEntropyLoss", "activation": "relu", "scaler": "standard", **SMALL_MLP}
    ),
    "mlp-spirals-SGD": Case(
        {"dataset": "spirals", "generated_samples": 90, "optimizer": "SGD", "learning_rate": 0.1, "loss": "NLLLoss",
         "activation": "tanh", "scaler": "minmax", **SMALL_MLP}
    ),
    "mlp-moons-RMSprop": Case(
        {"dataset": "moons", "generated_samples": 80, "optimizer": "RMSprop", "loss": "MultiMarginLoss",
         "activation": "sigmoid", "scaler": "none", **SMALL_MLP}
    ),
    "mlp-csv-Adagrad": Case(
        {"dataset": "csv", "csv_path": "data.csv", "csv_label_column": "species", "optimizer": "Adagrad",
         "loss": "CrossEntropyLoss", "activation": "relu", "scaler": "standard", **SMALL_MLP}
    ),
    "mlp-wine-Adadelta": Case(
        {"dataset": "wine", "optimizer": "Adadelta", "learning_rate": "default", "loss": "NLLLoss", "activation": "sigmoid",
         "scaler": "standard", **SMALL_MLP}
    ),
    "mlp-breast_cancer-Adamax": Case(
        {"dataset": "breast_cancer", "optimizer": "Adamax", "loss": "MultiMarginLoss", "activation": "tanh",
         "scaler": "minmax", **SMALL_MLP}
    ),
    "logistic_regression-blobs": Case(
        {"model": "logistic_regression", "dataset": "blobs", "generated_samples": 120, "generated_classes": 4,
         "generated_noise": 1.5, "data_seed": 3, "scaler": "none", "logreg_C": 0.5, "logreg_max_iter": 200}
    ),
    "random_forest-circles": Case(
        {"model": "random_forest", "dataset": "circles", "generated_samples": 100, "generated_noise": 0.1,
         "rf_n_estimators": 15, "rf_max_depth": 4}
    ),
    "svm-moons": Case(
        {"model": "svm", "dataset": "moons", "generated_samples": 100, "svm_C": 2.0, "svm_kernel": "rbf", "svm_gamma": "auto"}
    ),
    # papermill overrides two of the parameters that the notebook's code reads.
    "knn-spirals-by-papermill": Case(
        {"model": "knn", "dataset": "spirals", "generated_samples": 60, "knn_n_neighbors": 3, "knn_weights": "distance",
         "scaler": "standard", **SMALL_MLP},
        overrides={"generated_samples": 90, "knn_n_neighbors": 7},
    ),
    "gradient_boosting-iris": Case(
        {"model": "gradient_boosting", "dataset": "iris", "gb_n_estimators": 20, "gb_learning_rate": 0.2, "gb_max_depth": 2}
    ),
    "mlp-spiral-softmax": Case(
        {"dataset": "spiral", "output_activation": "softmax", "optimizer": "Adam", "loss": "NLLLoss", "activation": "relu",
         **SMALL_MLP}
    ),
    "mlp-aggregation-sigmoid": Case(
        {"dataset": "aggregation", "output_activation": "sigmoid", "optimizer": "Adam", "loss": "CrossEntropyLoss",
         "activation": "relu", **SMALL_MLP}
    ),
    "mlp-r15-tanh": Case(
        {"dataset": "r15", "output_activation": "tanh", "optimizer": "Adam", "loss": "MultiMarginLoss", "activation": "relu",
         **SMALL_MLP}
    ),
}


class Runs:
    """Runs each case once, on first use, into one store."""

    def __init__(self, root: Path):
        self.root = root
        self.location = StoreLocation(root / "store")
        self._runs: dict[str, str] = {}
        rng = np.random.default_rng(7)
        rows = ["a,b,c,species"] + [
            ",".join(f"{v:.4f}" for v in rng.normal(center, 1.0, 3)) + f",{name}"
            for _ in range(30)
            for center, name in ((0.0, "setosa-like"), (2.5, "mid"), (5.0, "far"))
        ]
        (root / "data.csv").write_text("\n".join(rows) + "\n")

    def plan(self, name: str) -> Path:
        path = self.root / f"{name}.ttl"
        if not path.exists():
            make_plan(path, **{k: turtle_literal(v) for k, v in CASES[name].plan.items()})
        return path

    def run(self, name: str, *, again: bool = False) -> str:
        if name in self._runs and not again:
            return self._runs[name]
        case, suffix = CASES[name], "-again" if again else ""
        notebook = self.root / f"{name}{suffix}.ipynb"
        if case.overrides:
            run_iri = self._run_with_papermill(self.plan(name), notebook, case.overrides)
        else:
            outcome = run(self.plan(name), self.location, output=notebook)
            assert outcome.ok and outcome.status == "Completed", (name, outcome.error)
            run_iri = outcome.run
        if not again:
            self._runs[name] = run_iri
        return run_iri

    def _run_with_papermill(self, plan: Path, notebook: Path, overrides: dict) -> str:
        result = CliRunner().invoke(main, ["generate", str(plan), "-o", str(notebook), "--store", str(self.location.home)])
        assert result.exit_code == 0, result.output
        executed = notebook.with_name(notebook.stem + "-executed.ipynb")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLPROV_JOURNAL_DIR", str(self.location.journal_dir))
            papermill.execute_notebook(
                str(notebook), str(executed), parameters=overrides, cwd=str(self.root), kernel_name="python3", progress_bar=False
            )
        (result,) = ingest_paths([executed], self.location)
        assert result.status == "Completed", result
        return result.run

    def select(self, run_iri: str, sparql: str) -> list[list[str | None]]:
        """Rows of a SELECT whose first projected variable is ?run, without it."""
        with open_store(self.location) as store:
            solutions = store.query(PREFIXES + sparql.replace("SELECT ", "SELECT ?run ", 1), {"run": ox.NamedNode(run_iri)})
            return [[None if t is None else t.value for t in list(row)[1:]] for row in solutions]

    def metrics(self, run_iri: str) -> dict[tuple, str]:
        """(measure, split, class, epoch) → the value as recorded (its lexical form)."""
        rows = self.select(
            run_iri,
            """SELECT ?measure ?split ?class ?epoch ?value WHERE {
                 ?run mls:hasOutput ?e . ?e a mls:ModelEvaluation ; mls:specifiedBy ?measure ; mls:hasValue ?value .
                 OPTIONAL { ?e mlprov:splitName ?split } OPTIONAL { ?e mlprov:forClass ?class } OPTIONAL { ?e mlprov:epoch ?epoch }
               }""",
        )
        return {(m.rsplit("#", 1)[1], s, c, e): v for m, s, c, e, v in rows}

    def figures(self, run_iri: str) -> dict[str, dict]:
        rows = self.select(
            run_iri,
            """SELECT ?label ?kind ?location ?sha ?source WHERE {
                 ?run mls:hasOutput ?a . ?a a mlprov:Artifact ; rdfs:label ?label ; mlprov:artifactKind ?kind ;
                    prov:atLocation ?location ; mlprov:sha256 ?sha ; prov:wasDerivedFrom ?model .
                 ?model rdfs:label ?source .
               }""",
        )
        return {label: {"kind": kind, "location": Path(url2pathname(urlparse(loc).path)), "sha256": sha, "source": src} for label, kind, loc, sha, src in rows}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("multiclass-options"))


def _two_dimensional(case: Case) -> bool:
    return DATA[case.dataset][0] == 2


# -- every option runs and records what it did ------------------------------------------


def test_the_cases_use_every_data_set_model_optimizer_loss_activation_and_scaler():
    task = all_tasks()[TASK]
    mlp_cases = [c for c in CASES.values() if c.model == "mlp"]
    covered = {
        "dataset": {c.dataset for c in CASES.values()},
        "model": {c.model for c in CASES.values()},
        "scaler": {c.values.get("scaler", task.parameter("scaler").default) for c in CASES.values()},
        # these three only matter to the MLP
        "optimizer": {c.values["optimizer"] for c in mlp_cases},
        "loss": {c.values["loss"] for c in mlp_cases},
        "activation": {c.values["activation"] for c in mlp_cases},
        "output_activation": {c.values.get("output_activation", "none") for c in mlp_cases},
    }
    for name, values in covered.items():
        assert values == set(task.parameter(name).choices), name
    assert set(DATA) == set(task.parameter("dataset").choices)
    # every parameter is recorded by some case, so the settings each case expects miss none
    assert set(DATA_SETTINGS) == set(DATA) and set(MODEL_SETTINGS) == set(task.parameter("model").choices)
    assert EVERY_RUN.union(*DATA_SETTINGS.values(), *MODEL_SETTINGS.values()) == {p.name for p in task.parameters}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_each_case_completes_and_records_its_settings_data_and_model(runs, name):
    case = CASES[name]
    run_iri = runs.run(name)
    (status,) = runs.select(run_iri, "SELECT ?status WHERE { ?run mlprov:status ?status }")
    assert status == [vocab.MLPROV + "Completed"]

    settings = dict(runs.select(run_iri, "SELECT ?name ?value WHERE { ?run mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?value }"))
    assert set(settings) == case.settings
    for parameter, value in case.values.items():  # the store keeps numbers canonical: 2.0 comes back as "2"
        if parameter not in case.settings:
            continue  # set in the plan, but read by no code of this notebook
        recorded = float(settings[parameter]) if isinstance(value, float) else settings[parameter]
        assert recorded == (value if isinstance(value, float) else str(value)), parameter

    features, classes = DATA[case.dataset]
    data = runs.select(
        run_iri,
        """SELECT ?features ?classes WHERE {
             ?d a mls:Dataset ; dcterms:identifier ?id ; mlprov:featureCount ?features ; mlprov:classCount ?classes ;
                prov:wasGeneratedBy/dcterms:isPartOf ?run }""",
    )
    assert data == [[str(features), str(classes)]]

    models = dict(
        (label, (architecture, count))
        for label, architecture, count in runs.select(
            run_iri,
            """SELECT ?label ?architecture ?count WHERE {
                 ?m a mls:Model ; rdfs:label ?label ; mlprov:architecture ?architecture ; prov:wasGeneratedBy/dcterms:isPartOf ?run .
                 OPTIONAL { ?m mlprov:parameterCount ?count } }""",
        )
    )
    architecture, count = models["trained model"]
    assert architecture.startswith(ARCHITECTURE[case.model])
    assert (count is not None) == (case.model == "mlp")  # torch modules only: sklearn models have no parameters()
    if case.model != "mlp":
        # The estimator's repr names the hyperparameters that differ from scikit-learn's defaults.
        prefix, estimator = ESTIMATORS[case.model]
        defaults, shown = estimator().get_params(), " ".join(architecture.split())
        for parameter, value in case.values.items():
            name = parameter.removeprefix(prefix)
            if parameter.startswith(prefix) and defaults[name] != value:
                assert f"{name}={value!r}" in shown, (parameter, shown)
        if "random_state" in defaults:
            assert "random_state=42" in shown  # the plan's seed


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_each_case_records_every_evaluation_metric_and_the_parity_mae_and_mse(runs, name):
    case = CASES[name]
    metrics = runs.metrics(runs.run(name))
    _features, classes = DATA[case.dataset]
    scalars = {m: float(v) for (m, split, cls, epoch), v in metrics.items() if split == "test" and cls is None and m != "confusion_matrix"}
    assert set(scalars) == {"accuracy", "loss", "macro_f1", "roc_auc_ovr", "mae", "mse"}
    assert 0 <= scalars["accuracy"] <= 1 and 0 <= scalars["roc_auc_ovr"] <= 1 and scalars["loss"] >= 0
    assert len([k for k in metrics if k[0] == "f1" and k[2] is not None]) == classes

    # accuracy, MAE and MSE all follow from the confusion matrix: the latter two are distances
    # between class indices (MLProvCodeGen's metrics, kept for parity)
    confusion = np.array(json.loads(metrics[("confusion_matrix", "test", None, None)]))
    assert confusion.shape == (classes, classes)
    true, predicted = np.indices(confusion.shape)
    total = confusion.sum()
    assert scalars["accuracy"] == pytest.approx(np.trace(confusion) / total)
    assert scalars["mae"] == pytest.approx((confusion * abs(true - predicted)).sum() / total)
    assert scalars["mse"] == pytest.approx((confusion * (true - predicted) ** 2).sum() / total)

    assert 0 <= float(metrics[("training_accuracy", "train", None, None)]) <= 1
    losses = runs.select(runs.run(name), "SELECT ?s WHERE { ?run mls:hasOutput ?e . ?e mls:specifiedBy mlprov:training_loss ; mlprov:series ?s }")
    epochs = [epoch for (text,) in losses for epoch, _ in series.decode(text)]
    assert epochs == (list(range(1, case.values["epochs"] + 1)) if case.model == "mlp" else [])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_two_feature_data_gets_a_decision_boundary_figure_and_the_mlp_a_loss_curve(runs, name):
    case = CASES[name]
    figures = runs.figures(runs.run(name))
    expected = {"decision boundary"} if _two_dimensional(case) else set()
    expected |= {"loss curve"} if case.model == "mlp" else set()
    assert set(figures) == expected
    for figure in figures.values():
        assert figure["kind"] == "figure" and figure["source"] == "trained model"
        assert figure["location"].parent.parent == runs.location.artifact_dir  # the run's folder of the store's
        data = figure["location"].read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert figure["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_papermill_overrides_take_effect_and_are_recorded_beside_the_planned_values(runs):
    run_iri = runs.run("knn-spirals-by-papermill")
    rows = dict(
        (name, (used, planned))
        for name, used, planned in runs.select(
            run_iri,
            """SELECT ?name ?used ?planned WHERE {
                 ?run mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?used ;
                    p-plan:correspondsToVariable/prov:value ?planned }""",
        )
    )
    assert rows["generated_samples"] == ("90", "60") and rows["knn_n_neighbors"] == ("7", "3")
    assert rows["model"] == ("knn", "knn") and rows["dataset"] == ("spirals", "spirals")  # fixed by the plan
    (samples,) = runs.select(
        run_iri,
        """SELECT ?n WHERE { ?d a mls:Dataset ; dcterms:identifier "spirals" ; mlprov:sampleCount ?n ;
                              prov:wasGeneratedBy/dcterms:isPartOf ?run }""",
    )
    assert samples == ["90"]  # the overridden value reached the code
    (architecture,) = runs.select(run_iri, 'SELECT ?a WHERE { ?run mls:hasOutput ?m . ?m rdfs:label "trained model" ; mlprov:architecture ?a }')
    assert "n_neighbors=7" in architecture[0]
    assert "decision boundary" in runs.figures(run_iri) and "loss curve" not in runs.figures(run_iri)


# -- determinism --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp-spirals-SGD", "random_forest-circles"])
def test_the_same_plan_run_twice_gives_exactly_the_same_metrics_and_figures(runs, name):
    first = runs.run(name)
    second = runs.run(name, again=True)
    assert first != second
    assert runs.metrics(first) == runs.metrics(second)
    assert len(runs.metrics(first)) >= 10
    assert {k: f["sha256"] for k, f in runs.figures(first).items()} == {k: f["sha256"] for k, f in runs.figures(second).items()}


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, message",
    [
        ({"model": "random_forest", "rf_n_estimators": 0}, ["'rf_n_estimators'", "0 is out of range; it must be at least 1"]),
        ({"model": "svm", "svm_C": 0.0}, ["'svm_C'", "0.0 is out of range; it must be greater than 0.0"]),
        ({"model": "knn", "knn_n_neighbors": -3}, ["'knn_n_neighbors'", "-3 is out of range; it must be at least 1"]),
        ({"model": "gradient_boosting", "gb_max_depth": 5000}, ["'gb_max_depth'", "5000 is out of range; it must be at most 1000"]),
        ({"model": "svm", "svm_kernel": "cubic"}, ["'svm_kernel'", "'cubic' is not allowed; use one of rbf, linear, poly, sigmoid"]),
        ({"model": "xgboost"}, ["'model'", "'xgboost' is not allowed; use one of mlp, logistic_regression, random_forest, svm, knn, gradient_boosting"]),
    ],
    ids=["rf_n_estimators", "svm_C", "knn_n_neighbors", "gb_max_depth", "svm_kernel", "model"],
)
def test_sklearn_hyperparameter_out_of_range_gives_one_line_and_exit_2(tmp_path, values, message):
    plan = make_plan(tmp_path / "bad.ttl", **{k: turtle_literal(v) for k, v in values.items()})
    out = tmp_path / "out.ipynb"
    result = CliRunner().invoke(main, ["generate", str(plan), "-o", str(out), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"{plan}: parameter " in lines[0]
    for part in message:
        assert part in lines[0]
    assert not out.exists()
