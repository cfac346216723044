"""Notebooks specialised to their plan: the plan's data set and model choose the code that is
rendered, the parameters cell lists what that code reads, and a run records those settings.

The generated notebooks are read as source (no kernel) and two of them run for real in a
Jupyter kernel, into a real store, with mlprov and with papermill.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import papermill
import pyoxigraph as ox
import pytest
import rdflib

from mlprov_rdf import queries, vocab
from mlprov_rdf.generate import build_notebook, notebook_bytes
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import turtle_literal
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import generate_notebook, ingest_paths, run
from tests.conftest import TASK, make_plan

PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())
PPLAN = rdflib.Namespace(vocab.PREFIXES["p-plan"])
MLPROV = rdflib.Namespace(vocab.MLPROV)

#: Code that belongs to one data set or one model of the multiclass task, as it appears in a notebook.
DATA_CODE = {
    "iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer", "moons": "make_moons",
    "circles": "make_circles", "blobs": "make_blobs", "spirals": "make_spirals", "spiral": "spiral.csv",
    "aggregation": "Aggregation.csv", "r15": "R15.csv", "csv": "read_csv",
}
MODEL_CODE = {
    "mlp": "nn.Sequential", "logistic_regression": "LogisticRegression", "random_forest": "RandomForestClassifier",
    "svm": "SVC", "knn": "KNeighborsClassifier", "gradient_boosting": "GradientBoostingClassifier",
}
MLP_PARAMETERS = {"use_gpu", "hidden_layers", "hidden_neurons", "activation", "optimizer", "learning_rate", "loss", "epochs"}


def plan_file(path: Path, **values) -> Path:
    return make_plan(path, **{name: turtle_literal(value) for name, value in values.items()})


def code_cells(path: Path) -> tuple[str, list[str]]:
    """The parameters cell and the step cells of the notebook generated from ``path``."""
    cells = [c.source for c in build_notebook(load(path).plan).cells if c.cell_type == "code"]
    (parameters,) = [c for c in cells if c.startswith(vocab.PARAMETERS_MARKER)]
    return parameters, [c for c in cells if c is not parameters]


def assigned(cell: str) -> list[str]:
    return [t.id for node in ast.parse(cell).body if isinstance(node, ast.Assign) for t in node.targets]


def loaded_names(cell: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(cell)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def settings(location: StoreLocation, run_iri: str) -> dict[str, str]:
    """Name → recorded value of every setting of the run."""
    query = """SELECT ?run ?name ?value WHERE {
                 ?run mls:hasInput ?s . ?s a mls:HyperParameterSetting ; mlprov:parameterName ?name ; mls:hasValue ?value }"""
    with open_store(location) as store:
        return {row["name"].value: row["value"].value for row in store.query(PREFIXES + query, {"run": ox.NamedNode(run_iri)})}


def reordered(plan: Path, path: Path, *, prepare: str) -> Path:
    """The plan with its data preparation left out (``prepare="never"``) or moved after the split
    (``"after the split"``), as a scientist would write it; positions are left out, the
    p-plan:isPrecededBy links give the order."""
    graph = rdflib.Graph().parse(plan)
    ns = rdflib.Namespace(str(next(graph.subjects(rdflib.RDF.type, PPLAN.Plan))).rstrip("/") + "#")
    graph.remove((None, MLPROV.position, None))
    graph.remove((ns["data-segregation"], PPLAN.isPrecededBy, None))
    graph.remove((ns["model-definition"], PPLAN.isPrecededBy, None))
    if prepare == "never":
        doomed = [ns["data-preparation"], *graph.objects(ns["data-preparation"], PPLAN.hasInputVar),
                  *graph.objects(ns["data-preparation"], PPLAN.hasOutputVar)]
        for node in doomed:
            graph.remove((node, None, None))
            graph.remove((None, None, node))
        graph.add((ns["data-segregation"], PPLAN.isPrecededBy, ns["data-ingestion"]))
        graph.add((ns["model-definition"], PPLAN.isPrecededBy, ns["data-segregation"]))
    else:
        graph.remove((ns["data-preparation"], PPLAN.isPrecededBy, None))
        graph.add((ns["data-segregation"], PPLAN.isPrecededBy, ns["data-ingestion"]))
        graph.add((ns["data-preparation"], PPLAN.isPrecededBy, ns["data-segregation"]))
        graph.add((ns["model-definition"], PPLAN.isPrecededBy, ns["data-preparation"]))
    graph.serialize(path, format="turtle")
    return path


# -- the source of generated notebooks ---------------------------------------------------


def test_an_iris_mlp_notebook_holds_no_code_of_another_data_set_or_model(tmp_path):
    _parameters, steps = code_cells(plan_file(tmp_path / "iris.ttl"))
    code = "\n".join(steps)
    assert "load_iris" in code and "nn.Sequential" in code
    for other in [c for name, c in DATA_CODE.items() if name != "iris"] + [c for name, c in MODEL_CODE.items() if name != "mlp"]:
        assert other not in code, other
    for leftover in ('model == "mlp"', "dataset ==", "SKLEARN_MODELS", "LOADERS", "svm.", "ensemble", "linear_model", "neighbors"):
        assert leftover not in code, leftover
    assert "dataset" not in set().union(*map(loaded_names, steps)) and "model" not in set().union(*map(loaded_names, steps))


def test_an_svm_notebook_imports_no_torch_and_no_figure_code_for_four_features(tmp_path):
    _parameters, steps = code_cells(plan_file(tmp_path / "svm.ttl", model="svm"))
    code = "\n".join(steps)
    assert "svm.SVC(" in code and "from sklearn import datasets, metrics, model_selection, preprocessing, svm" in code
    for absent in ("torch", "matplotlib", "figure_path", "Image(", "epochs"):
        assert absent not in code, absent


def test_the_parameters_cell_lists_exactly_the_parameters_the_code_reads(tmp_path):
    parameters, steps = code_cells(plan_file(tmp_path / "iris.ttl"))
    listed = assigned(parameters)
    expected = {"seed", "scaler", "test_size", "split_random_state", "stratify"} | MLP_PARAMETERS
    assert sorted(listed) == sorted(expected)
    assert listed == [p.name for p in all_tasks()[TASK].parameters if p.name in expected]  # in task.toml's order
    read = set().union(*map(loaded_names, steps))
    assert set(listed) <= read  # every listed parameter is read by some step
    assert "# Fixed by the plan, since they chose the code below: dataset = 'iris', model = 'mlp', output_activation = 'none'." in parameters


@pytest.mark.parametrize("dataset, model", list(itertools.product(DATA_CODE, MODEL_CODE)))
def test_every_data_set_and_model_gives_valid_code_with_only_its_own_branches(tmp_path, dataset, model):
    extra = {}
    if dataset == "csv":
        (tmp_path / "data.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
        extra = {"csv_path": "data.csv"}
    parameters, steps = code_cells(plan_file(tmp_path / "p.ttl", dataset=dataset, model=model, **extra))
    code = "\n".join(steps)
    for cell in steps:
        compile(cell, "cell", "exec")
        assert "\n\n\n\n" not in cell  # no leftover blank-line runs
    assert DATA_CODE[dataset] in code and MODEL_CODE[model] in code
    assert not [c for name, c in {**DATA_CODE, **MODEL_CODE}.items() if name not in (dataset, model) and c in code]
    assert not {"dataset", "model"} & set().union(*map(loaded_names, steps))
    assert not {"dataset", "model"} & set(assigned(parameters))
    assert (set(assigned(parameters)) & MLP_PARAMETERS == MLP_PARAMETERS) == (model == "mlp")


def test_the_same_plan_gives_the_same_specialised_notebook_bytes(tmp_path):
    path = plan_file(tmp_path / "p.ttl", model="random_forest", dataset="moons")
    first = notebook_bytes(load(path).plan)
    assert notebook_bytes(load(path).plan) == first
    assert b"RandomForestClassifier(" in first


def test_a_plan_without_data_preparation_scales_nothing(tmp_path):
    plan = reordered(plan_file(tmp_path / "full.ttl"), tmp_path / "unscaled.ttl", prepare="never")
    parameters, steps = code_cells(plan)
    assert len(steps) == 6
    assert "scaler" not in "\n".join(steps) and "scaler" not in assigned(parameters)
    assert "the two features" not in "\n".join(steps)  # and no decision boundary that claims scaled axes


def test_a_plan_that_prepares_the_data_after_the_split_scales_the_splits_there(tmp_path):
    plan = reordered(plan_file(tmp_path / "full.ttl", dataset="moons"), tmp_path / "after.ttl", prepare="after the split")
    _parameters, steps = code_cells(plan)
    split, preparation = steps[2], steps[3]
    assert "model_selection.train_test_split" in split and "feature_scaler" not in split
    assert "X_train = feature_scaler.fit_transform(" in preparation and "X = " not in preparation


# -- real runs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def svm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("svm-run")
    location = StoreLocation(root / "store")
    plan = plan_file(root / "svm.ttl", model="svm", dataset="moons", generated_samples=80, svm_C=2.0)
    outcome = run(plan, location, output=root / "svm.ipynb")
    assert outcome.ok and outcome.status == "Completed", outcome.error
    return {"location": location, "run": outcome.run, "plan": plan}


@pytest.mark.slow
def test_an_svm_run_records_its_own_settings_and_no_mlp_parameter(svm_run):
    recorded = settings(svm_run["location"], svm_run["run"])
    assert not MLP_PARAMETERS & set(recorded)
    assert recorded["model"] == "svm" and recorded["dataset"] == "moons" and float(recorded["svm_C"]) == 2.0
    assert {"svm_kernel", "svm_gamma", "generated_samples", "seed", "test_size"} <= set(recorded)
    assert not {"hidden_layers", "rf_n_estimators", "knn_n_neighbors", "csv_path"} & set(recorded)


@pytest.mark.slow
def test_runs_by_setting_finds_the_svm_run_by_model_but_not_by_an_optimizer_it_never_used(svm_run):
    query = queries.load_library()["runs-by-setting"]

    def runs_for(**params) -> list[str]:
        with open_store(svm_run["location"]) as store:
            result = queries.run(store, query, params)
        index = result.columns.index("run")
        return [row[index].value for row in result.rows]

    assert runs_for() == [svm_run["run"]]
    assert runs_for(model="svm", dataset="moons") == [svm_run["run"]]
    assert runs_for(optimizer="Adam") == []
    assert runs_for(model="mlp") == []
    assert runs_for(min_epochs=1) == []  # no epochs recorded: a bound on them excludes the run


@pytest.mark.slow
def test_table1_answers_for_an_svm_run_with_the_model_and_no_optimizer(svm_run):
    with open_store(svm_run["location"]) as store:
        result = queries.run(store, queries.load_library()["table1"], {"run": svm_run["run"]})
    (row,) = result.rows
    values = {name: (term.value if term is not None else None) for name, term in zip(result.columns, row)}
    assert values["model_name"] == "svm" and values["ingestion_dataset"] == "moons"
    assert values["model_optimizer"] is None and values["evaluation_accuracy"] is not None


@pytest.mark.slow
def test_papermill_overrides_a_listed_parameter_of_a_specialised_notebook(tmp_path):
    location = StoreLocation(tmp_path / "store")
    plan = plan_file(tmp_path / "logreg.ttl", model="logistic_regression", logreg_C=1.0, test_size=0.2)
    notebook = tmp_path / "logreg.ipynb"
    generate_notebook(plan, notebook, location)
    parameters, _steps = code_cells(plan)
    assert "logreg_C" in assigned(parameters) and "test_size" in assigned(parameters)
    executed = tmp_path / "executed.ipynb"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLPROV_JOURNAL_DIR", str(location.journal_dir))
        papermill.execute_notebook(
            str(notebook), str(executed), parameters={"logreg_C": 0.25, "test_size": 0.5},
            cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
        )
    (result,) = ingest_paths([executed], location)
    assert result.status == "Completed", result
    recorded = settings(location, result.run)
    assert float(recorded["logreg_C"]) == 0.25 and float(recorded["test_size"]) == 0.5
    with open_store(location) as store:
        rows = list(store.query(
            PREFIXES + """SELECT ?run ?n ?a WHERE {
                ?split mlprov:splitName "test" ; mlprov:sampleCount ?n ; prov:wasGeneratedBy/dcterms:isPartOf ?run .
                ?run mls:hasOutput ?m . ?m rdfs:label "trained model" ; mlprov:architecture ?a }""",
            {"run": ox.NamedNode(result.run)},
        ))
    ((samples, architecture),) = [(r["n"].value, r["a"].value) for r in rows]
    assert samples == "75"  # half of iris's 150, as overridden
    assert "C=0.25" in architecture
