"""Code steps on real kernels: the plan author's own Python runs as a cell of the notebook,
and the values it leaves in its output variables are recorded, queryable and reproduced.

The plan is Iris with two code steps and a step that follows two others: one code step adds
a feature after loading (before the split, which follows it and the preparation), the other
summarises the training (after it, before the evaluation) in an int, a float, a string and
a numpy array.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf import vocab
from mlprov_rdf.cli import main
from mlprov_rdf.store import StoreLocation, open_store
from tests.conftest import make_plan

PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())

FEATURE_CODE = """\
# the product of the first two features, scaled by the plan's factor
X = np.column_stack([X, X[:, 0] * X[:, 1] * factor])
n_features = X.shape[1]"""

SUMMARY_CODE = """\
train_size = len(y_train)
train_share = train_size / (train_size + len(y_test))
model_name = type(classifier).__name__
first_rows = np.round(X_train[:3], 6)"""

CODE_STEPS = '''
:features a mlprov:CodeStep ;
    rdfs:label "Add a feature" ;
    p-plan:isStepOfPlan <{plan}> ;
    p-plan:isPrecededBy :data-ingestion ;
    mlprov:code """{feature_code}""" ;
    p-plan:hasInputVar :factor ;
    p-plan:hasOutputVar :n-features .

:factor a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "factor" ; prov:value 2 .
:n-features a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "n_features" .

:summary a mlprov:CodeStep ;
    rdfs:label "Summarise the training" ;
    p-plan:isStepOfPlan <{plan}> ;
    p-plan:isPrecededBy :training ;
    mlprov:code """{summary_code}""" ;
    p-plan:hasOutputVar :train-size, :train-share, :model-name, :first-rows .

:train-size a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "train_size" .
:train-share a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "train_share" .
:model-name a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "model_name" .
:first-rows a p-plan:Variable ; p-plan:isVariableOfPlan <{plan}> ; mlprov:parameterName "first_rows" .
'''


def code_step_plan(path: Path, summary_code: str = SUMMARY_CODE) -> tuple[Path, str]:
    """The Iris plan of `mlprov init` (logistic regression, for speed) with the two code steps;
    the split follows both the preparation and the feature step. Returns (file, plan IRI)."""
    make_plan(path, model='"logistic_regression"')
    text = re.sub(r"\n    mlprov:position \d+ ;", "", path.read_text())  # the graph orders the steps
    plan = re.search(r"^<([^>]+)> a p-plan:Plan", text, re.M).group(1)
    for old, new in (
        ("p-plan:isPrecededBy :data-preparation ;", "p-plan:isPrecededBy :data-preparation, :features ;"),
        ("p-plan:isPrecededBy :training ;", "p-plan:isPrecededBy :summary ;"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text + CODE_STEPS.format(plan=plan, feature_code=FEATURE_CODE, summary_code=summary_code))
    return path, plan


def mlprov(*args: str):
    return CliRunner().invoke(main, list(args))


def select(location: StoreLocation, sparql: str, **bindings: str) -> list[dict]:
    with open_store(location, read_only=True) as store:
        solutions = store.query(PREFIXES + sparql, {k: ox.NamedNode(v) for k, v in bindings.items()})
        names = [v.value for v in solutions.variables]
        return [{name: s[name] for name in names} for s in solutions]


def the_run(location: StoreLocation) -> str:
    rows = select(location, "SELECT ?run WHERE { ?run a mls:Run }")
    assert len(rows) == 1, rows
    return rows[0]["run"].value


@pytest.fixture(scope="module")
def code_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("code-steps")
    plan_file, plan = code_step_plan(root / "iris.ttl")
    location = StoreLocation(root / "store")
    result = mlprov("run", str(plan_file), "--store", str(location.home), "--output", str(root / "iris.ipynb"))
    assert result.exit_code == 0, result.output + result.stderr
    return {"root": root, "plan_file": plan_file, "plan": plan, "location": location, "run": the_run(location)}


def test_a_plan_with_two_code_steps_runs_to_completed_in_the_order_of_its_graph(code_run):
    plan, location = code_run["plan"], code_run["location"]
    status = select(location, "SELECT ?run ?s WHERE { ?run mlprov:status ?s }", run=code_run["run"])
    assert status[0]["s"].value == vocab.MLPROV + "Completed"
    cells = select(location, """SELECT ?run ?step ?order ?status WHERE {
        ?cell dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step ; mlprov:executionOrder ?order ;
              mlprov:status ?status } ORDER BY ?order""", run=code_run["run"])
    steps = [row["step"].value.rsplit("#", 1)[1] for row in cells]
    # the split follows both branches; the branches, unordered by the graph, go by IRI
    assert steps == ["setup", "data-ingestion", "data-preparation", "features", "data-segregation",
                     "model-definition", "training", "summary", "evaluation"]
    assert {row["status"].value for row in cells} == {vocab.MLPROV + "Completed"}
    assert all(row["step"].value.startswith(plan + "#") for row in cells)


def test_code_step_outputs_are_entities_of_the_cell_that_ran_the_step_with_their_values(code_run):
    plan = code_run["plan"]
    rows = select(code_run["location"], """SELECT ?run ?name ?var ?step ?value ?type ?hash WHERE {
        ?out a prov:Entity ; mlprov:parameterName ?name ; p-plan:correspondsToVariable ?var ;
             prov:wasGeneratedBy ?cell .
        ?cell dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step ; a repr:CellExecution .
        ?step a mlprov:CodeStep .
        ?step p-plan:hasOutputVar ?var .
        OPTIONAL { ?out prov:value ?value } OPTIONAL { ?out mlprov:valueType ?type } OPTIONAL { ?out mlprov:sha256 ?hash }
    }""", run=code_run["run"])
    found = {row["name"].value: row for row in rows}
    assert sorted(found) == ["first_rows", "model_name", "n_features", "train_share", "train_size"]
    step_of = {name: row["step"].value for name, row in found.items()}
    assert step_of["n_features"] == plan + "#features" and step_of["train_size"] == plan + "#summary"
    assert found["n_features"]["var"].value == plan + "#n-features"

    def typed(name):
        value = found[name]["value"]
        return value.value, value.datatype.value

    assert typed("n_features") == ("5", vocab.XSD + "integer")  # Iris's four features and the product
    assert typed("train_size") == ("120", vocab.XSD + "integer")
    assert typed("train_share") == ("0.8", vocab.XSD + "double")
    assert typed("model_name") == ("LogisticRegression", vocab.XSD + "string")
    rows_of = found["first_rows"]
    assert rows_of["value"] is None and rows_of["type"].value == "numpy.ndarray"
    assert re.fullmatch(r"[0-9a-f]{64}", rows_of["hash"].value)


def test_an_array_output_is_hashed_from_its_shape_dtype_and_bytes(code_run):
    """The same hash as the array rebuilt here from the run's own data: content, not identity."""
    from sklearn import datasets, model_selection

    rows = select(code_run["location"], """SELECT ?run ?hash WHERE {
        ?out mlprov:parameterName "first_rows" ; mlprov:sha256 ?hash ; prov:wasGeneratedBy/dcterms:isPartOf ?run }""",
        run=code_run["run"])
    iris = datasets.load_iris()
    X = iris.data.astype("float64")
    X = np.column_stack([X, X[:, 0] * X[:, 1] * 2])
    values = {name: literal for name, literal in re.findall(
        r'mlprov:parameterName "(\w+)" ;\n    prov:value ([^\n]+) \.', code_run["plan_file"].read_text())}
    X_train, *_ = model_selection.train_test_split(
        X, iris.target, test_size=float(values["test_size"]), random_state=int(values["split_random_state"]),
        stratify=iris.target if values["stratify"] == "true" else None,
    )
    notebook = (code_run["root"] / "iris.ipynb").read_text()
    scaled = "feature_scaler.fit_transform(X_train" in notebook
    if scaled:  # the split step scales the training split before the summary reads it
        from sklearn import preprocessing

        X_train = {"standard": preprocessing.StandardScaler, "minmax": preprocessing.MinMaxScaler}[
            values["scaler"].strip('"')]().fit_transform(X_train)
    first = np.round(X_train[:3], 6)
    expected = hashlib.sha256(f"{first.shape}|{first.dtype}|".encode() + first.tobytes()).hexdigest()
    assert rows[0]["hash"].value == expected


def test_the_notebook_marks_the_code_cells_as_the_authors_code(code_run):
    import nbformat

    notebook = nbformat.read(code_run["root"] / "iris.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code" and c.metadata.get("mlprov", {}).get("step", "").endswith("#features")]
    assert len(code) == 1 and code[0].source.endswith(FEATURE_CODE)
    assert "author" in notebook.cells[notebook.cells.index(code[0]) - 1].source.lower()
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert re.search(r"^factor = 2\b", parameters.source, re.M)


def test_reproducing_a_run_compares_the_code_step_outputs_too(code_run, tmp_path):
    result = mlprov("reproduce", code_run["run"], "--store", str(code_run["location"].home), "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output + result.stderr
    rows = {re.split(r"\s{2,}", line)[0]: line for line in result.stdout.splitlines()[2:-1]}
    outputs = {name: line for name, line in rows.items() if "(output of " in name}
    assert sorted(outputs) == ["first_rows (output of summary)", "model_name (output of summary)",
                               "n_features (output of features)", "train_share (output of summary)",
                               "train_size (output of summary)"]
    assert all(line.endswith(" reproduced") and "NOT" not in line for line in outputs.values())
    assert re.search(r"n_features \(output of features\)\s+5\s+5\s+reproduced", outputs["n_features (output of features)"])
    graph = re.search(r"record <(urn:mlprov:reproduction:[^>]+)>", result.stdout).group(1)
    checks = select(code_run["location"], """SELECT ?g ?check ?a ?b WHERE { GRAPH ?g {
        ?check a mlprov:ReproductionCheck ; mlprov:originalValue ?a ; mlprov:newValue ?b ;
               mlprov:checkName "train_share (output of summary)" } }""", g=graph)
    assert len(checks) == 1 and checks[0]["check"].value == graph + "/check/output/summary/train_share"
    assert checks[0]["a"] == checks[0]["b"] == ox.Literal("0.8", datatype=ox.NamedNode(vocab.XSD + "double"))


def test_a_code_step_that_raises_fails_its_cell_and_the_run_and_keeps_the_record(tmp_path):
    plan_file, plan = code_step_plan(tmp_path / "iris.ttl", summary_code=SUMMARY_CODE + "\nraise ValueError('no summary today')")
    location = StoreLocation(tmp_path / "store")
    result = mlprov("run", str(plan_file), "--store", str(location.home), "--output", str(tmp_path / "iris.ipynb"))
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
    run = the_run(location)
    status = select(location, "SELECT ?run ?s WHERE { ?run mlprov:status ?s }", run=run)
    assert status[0]["s"].value == vocab.MLPROV + "Failed"
    cells = select(location, """SELECT ?run ?step ?status ?error WHERE {
        ?cell dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step ; mlprov:status ?status .
        OPTIONAL { ?cell mlprov:error ?error } }""", run=run)
    by_step = {row["step"].value.rsplit("#", 1)[1]: row for row in cells}
    assert by_step["summary"]["status"].value == vocab.MLPROV + "Failed"
    assert by_step["summary"]["error"].value == "ValueError: no summary today"
    assert by_step["training"]["status"].value == vocab.MLPROV + "Completed"
    assert "evaluation" not in by_step  # execution stopped at the failing cell
    names = {row["name"].value for row in select(location, """SELECT ?run ?name WHERE {
        ?out mlprov:parameterName ?name ; prov:wasGeneratedBy/dcterms:isPartOf ?run }""", run=run)}
    assert names == {"n_features"}  # the feature step's output is kept; the failed cell recorded none


def test_an_output_the_code_does_not_define_is_noted_on_the_cell_and_the_run_completes(tmp_path):
    """The code assigns the name only on a branch that does not run: validation accepts it,
    the run does not fail, and the cell says which output it lacked."""
    code = SUMMARY_CODE.replace("model_name = type(classifier).__name__",
                                "if train_size < 0:\n    model_name = type(classifier).__name__")
    plan_file, _ = code_step_plan(tmp_path / "iris.ttl", summary_code=code)
    location = StoreLocation(tmp_path / "store")
    result = mlprov("run", str(plan_file), "--store", str(location.home), "--output", str(tmp_path / "iris.ipynb"))
    assert result.exit_code == 0, result.output + result.stderr
    run = the_run(location)
    missing = select(location, """SELECT ?run ?step ?name WHERE {
        ?cell dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step ; mlprov:missingOutput ?name }""", run=run)
    assert [(row["step"].value.rsplit("#", 1)[1], row["name"].value) for row in missing] == [("summary", "model_name")]
    status = select(location, "SELECT ?run ?s WHERE { ?run mlprov:status ?s }", run=run)
    assert status[0]["s"].value == vocab.MLPROV + "Completed"
