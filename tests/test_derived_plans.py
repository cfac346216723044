"""`-p NAME=VALUE` on `run` and `generate`: overrides become a derived plan with its own IRI,
stored in its own graph, generated and run like any plan; regenerated, listed and diffed by it.

Two real kernel runs (the original plan and the plan derived with epochs = 3) in one store.
"""

from __future__ import annotations

import re

import pytest
import rdflib

from mlprov_rdf import derive, generate, queries
from mlprov_rdf.diff import diff_runs
from mlprov_rdf.errors import UserError
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import generate_notebook, run
from tests.bad_input import mlprov, refuse
from tests.conftest import make_plan

PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
ORIGINAL = "https://example.org/plans/iris"


def records(result: queries.QueryResult) -> list[dict]:
    return [{c: queries.python_value(t) for c, t in zip(result.columns, row)} for row in result.rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The original plan run with the API, the derived one with `mlprov run PLAN -p epochs=3`."""
    root = tmp_path_factory.mktemp("derived")
    plan_file = make_plan(root / "iris.ttl", epochs="10")
    location = StoreLocation(root / "store")
    original = run(plan_file, location, output=root / "iris.ipynb")
    assert original.ok, original.error
    done = mlprov(["run", "iris.ttl", "-p", "epochs=3", "--store", "store"], cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr
    return {"root": root, "plan_file": plan_file, "location": location, "original": original.run, "cli": done}


def _derived_run(runs: dict) -> str:
    line = next(line for line in runs["cli"].stdout.splitlines() if line.startswith("run urn:mlprov:run:"))
    return line.split()[1].rstrip(":")


def _derived_iri(runs: dict) -> str:
    return load(runs["root"] / "iris.epochs-3.ttl").plan.iri


def test_run_with_an_override_runs_the_derived_plan_and_records_it(runs):
    root, cli = runs["root"], runs["cli"]
    assert "completed" in cli.stdout
    assert (root / "iris.epochs-3.ttl").is_file() and (root / "iris.epochs-3.ipynb").is_file()
    derived = _derived_iri(runs)
    assert derived.startswith(ORIGINAL + "/derived/") and derived != ORIGINAL
    run_iri = _derived_run(runs)
    with open_store(runs["location"], read_only=True) as store:
        assert store.has_graph(derived) and store.has_graph(ORIGINAL)
        graph = store.rdflib_graph(derived)
        plan_of_run = [s["plan"].value for s in store.query(f"SELECT ?plan WHERE {{ <{run_iri}> <https://w3id.org/mlprov#plan> ?plan }}")]
        settings = records(queries.run(store, queries.resolve("run-params"), {"run": run_iri}))
    assert plan_of_run == [derived]
    assert (rdflib.URIRef(derived), PROV.wasDerivedFrom, rdflib.URIRef(ORIGINAL)) in graph
    # every step and variable is named anew and points at the node it copies
    for step in graph.subjects(rdflib.URIRef("http://purl.org/net/p-plan#isStepOfPlan"), rdflib.URIRef(derived)):
        assert str(step).startswith(derived)
        assert str(graph.value(step, PROV.wasDerivedFrom)).startswith(ORIGINAL + "#")
    assert {r["parameter"]: r["value"] for r in settings}["epochs"] == 3
    assert load(root / "iris.epochs-3.ttl").plan.title == "Iris test plan (epochs = 3)"


def test_the_same_overrides_give_the_same_iri_turtle_and_notebook_bytes(runs, tmp_path):
    location = StoreLocation(tmp_path / "store")
    first = generate_notebook(runs["plan_file"], tmp_path / "a.ipynb", location, overrides={"epochs": "3", "optimizer": "SGD"})
    again = generate_notebook(runs["plan_file"], tmp_path / "b.ipynb", location, overrides={"optimizer": "SGD", "epochs": " 3"})
    assert first.plan.iri == again.plan.iri
    assert (tmp_path / "a.ipynb").read_bytes() == (tmp_path / "b.ipynb").read_bytes()
    assert first.derived_file.read_bytes() == again.derived_file.read_bytes()
    other = generate_notebook(runs["plan_file"], tmp_path / "c.ipynb", location, overrides={"epochs": "4", "optimizer": "SGD"})
    assert other.plan.iri != first.plan.iri
    # the file written is a plan like any other: it validates to the same plan and notebook
    reloaded = load(first.derived_file).plan
    assert reloaded.digest == first.plan.digest
    assert generate.notebook_bytes(reloaded) == (tmp_path / "a.ipynb").read_bytes()


def test_derive_plan_from_python_takes_typed_values_and_gives_the_cli_plan(runs):
    loaded = load(runs["plan_file"])
    derived = derive.derive_plan(loaded.graph, loaded.plan, {"epochs": 3})
    assert derived.plan.iri == _derived_iri(runs)
    assert derived.changes == (("epochs", 3),)
    assert {p.name: p.value for p in derived.plan.parameters}["epochs"] == 3
    assert (rdflib.URIRef(derived.plan.iri), PROV.wasDerivedFrom, rdflib.URIRef(ORIGINAL)) in derived.graph


def test_regenerate_on_the_derived_iri_gives_the_generated_bytes(runs, tmp_path):
    derived = _derived_iri(runs)
    generated = generate_notebook(runs["plan_file"], tmp_path / "fresh.ipynb", StoreLocation(tmp_path / "s"),
                                  overrides={"epochs": "3"})
    assert generated.plan.iri == derived
    done = mlprov(["regenerate", derived, "-o", tmp_path / "again.ipynb", "--store", runs["root"] / "store"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "again.ipynb").read_bytes() == (tmp_path / "fresh.ipynb").read_bytes()


def test_query_plans_shows_what_a_plan_was_derived_from_and_what_changed(runs):
    with open_store(runs["location"], read_only=True) as store:
        plans = records(queries.run(store, queries.resolve("plans"), {}))
    by_iri = {p["plan"]: p for p in plans}
    assert len(plans) == 2 == len(by_iri)  # one row each: the shared author does not double the original's
    derived = by_iri[_derived_iri(runs)]
    assert (derived["derived_from"], derived["changes"], derived["runs"]) == (ORIGINAL, "epochs = 3", 1)
    assert derived["author"] == by_iri[ORIGINAL]["author"] == "Test Author"
    assert by_iri[ORIGINAL]["derived_from"] is None and by_iri[ORIGINAL]["changes"] is None


def test_diff_of_original_and_derived_runs_aligns_their_steps_and_shows_epochs(runs):
    with open_store(runs["location"], read_only=True) as store:
        result = diff_runs(store, runs["original"], _derived_run(runs))
    steps = [g for g in result.groups if g.step]
    assert len(steps) == len(load(runs["plan_file"]).plan.steps)  # one group per step, not one per plan's step
    assert all(g.key.startswith(ORIGINAL + "#") for g in steps)
    training = result.group(ORIGINAL + "#training")
    epochs = next(i for i in training.items if i.kind == "setting" and i.name == "epochs")
    assert (epochs.a, epochs.b, epochs.same) == (10, 3, False)
    changed_settings = [i.name for _, i in result.differences if i.kind == "setting"]
    assert changed_settings == ["epochs"]
    data = next(g for g in steps if g.key == ORIGINAL + "#data-ingestion")
    assert all(i.same for i in data.items if i.kind == "data")  # the same data, aligned by step


def test_a_plan_derived_from_a_derived_plan_names_the_one_it_came_from(runs, tmp_path):
    location = StoreLocation(tmp_path / "store")
    first = generate_notebook(runs["plan_file"], tmp_path / "a.ipynb", location, overrides={"epochs": "3"})
    second = generate_notebook(first.derived_file, tmp_path / "b.ipynb", location, overrides={"optimizer": "SGD"})
    assert second.plan.title == "Iris test plan (epochs = 3) (optimizer = SGD)"
    derived_from = set(second.graph.objects(rdflib.URIRef(second.plan.iri), PROV.wasDerivedFrom))
    assert derived_from == {rdflib.URIRef(first.plan.iri)}
    with open_store(location, read_only=True) as store:
        plans = {p["plan"]: p for p in records(queries.run(store, queries.resolve("plans"), {}))}
    assert plans[second.plan.iri]["derived_from"] == first.plan.iri
    assert plans[second.plan.iri]["changes"] == "optimizer = SGD"


def test_a_structural_override_derives_a_valid_plan_with_that_value(runs):
    loaded = load(runs["plan_file"])
    derived = derive.derive_plan(loaded.graph, loaded.plan, {"model": "svm", "svm_C": "0.5"})
    values = derived.plan.values()
    assert (values["model"], values["svm_C"]) == ("svm", 0.5)
    assert derived.file_stem == "model-svm.svm_C-0.5"


def test_a_line_break_in_an_override_is_refused_like_one_in_a_plan(runs):
    loaded = load(runs["plan_file"])
    with pytest.raises(UserError, match="line break"):
        derive.derive_plan(loaded.graph, loaded.plan, {"csv_label_column": "a\nb"})


CODE_STEP = """
:features a mlprov:CodeStep ;
    rdfs:label "Scale the features" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris> ;
    p-plan:isPrecededBy :data-ingestion ;
    mlprov:code "X = X * factor" ;
    p-plan:hasInputVar :factor .

:factor a p-plan:Variable ; p-plan:isVariableOfPlan <https://example.org/plans/iris> ;
    mlprov:parameterName "factor" ; prov:value 2 .
"""


def test_a_code_step_input_is_overridden_with_the_type_its_plan_gave_it(tmp_path):
    plan_file = make_plan(tmp_path / "iris.ttl")
    plan_file.write_text(plan_file.read_text() + CODE_STEP)
    loaded = load(plan_file)
    derived = derive.derive_plan(loaded.graph, loaded.plan, {"factor": "3"})
    assert derived.plan.values()["factor"] == 3
    code = next(s for s in derived.plan.steps if s.is_code)
    assert code.code == "X = X * factor" and code.iri == derived.plan.iri + "#features"
    with pytest.raises(UserError, match="'three' is not a whole number"):
        derive.derive_plan(loaded.graph, loaded.plan, {"factor": "three"})


def test_a_parameter_the_plan_leaves_at_its_default_is_added_to_the_step_that_takes_it(tmp_path):
    plan_file = make_plan(tmp_path / "iris.ttl")
    text = plan_file.read_text().replace("    p-plan:hasInputVar :epochs ;\n", "")
    text = text.replace(", :epochs", "").replace(":epochs, ", "")
    text = re.sub(r":epochs a p-plan:Variable.*?\.\n", "", text, flags=re.S)
    plan_file.write_text(text)
    loaded = load(plan_file)
    assert "epochs" not in {p.name for p in loaded.plan.parameters}
    derived = derive.derive_plan(loaded.graph, loaded.plan, {"epochs": "4"})
    training = next(s for s in derived.plan.steps if s.spec.cls == "TrainingStep")
    assert {p.name: p.value for p in training.inputs}["epochs"] == 4


def test_a_parameter_of_a_step_the_plan_leaves_out_is_refused(tmp_path):
    plan_file = make_plan(tmp_path / "iris.ttl")
    text = re.sub(r":data-preparation a mlprov:DataPreparationStep ;.*?\.\n", "", plan_file.read_text(), flags=re.S)
    plan_file.write_text(text.replace("p-plan:isPrecededBy :data-preparation", "p-plan:isPrecededBy :data-ingestion"))
    loaded = load(plan_file)
    with pytest.raises(UserError, match="no mlprov:DataPreparationStep step"):
        derive.derive_plan(loaded.graph, loaded.plan, {"scaler": "minmax"})


BAD_OVERRIDES = {
    "unknown-name": (["-p", "epoch=3"], ["epoch", "its parameters are", "epochs"]),
    "wrong-type": (["-p", "epochs=three"], ["'three' is not a whole number"]),
    "a-fraction-for-an-integer": (["-p", "epochs=2.5"], ["whole number"]),
    "not-a-finite-number": (["-p", "learning_rate=nan"], ["finite number"]),
    "out-of-range": (["-p", "epochs=0"], ["out of range", "at least 1"]),
    "choice-not-allowed": (["-p", "optimizer=Lion"], ["not allowed", "Adam"]),
    "no-equals-sign": (["-p", "epochs"], ["NAME=VALUE"]),
    "no-name": (["-p", "=3"], ["NAME=VALUE"]),
    "given-twice": (["-p", "epochs=3", "-p", "epochs=4"], ["twice"]),
    "not-a-boolean": (["-p", "use_gpu=maybe"], ["true or false"]),
    "required-value-missing": (["-p", "dataset=csv"], ["csv_path", "required"]),
}


@pytest.mark.parametrize("command", ["run", "generate"])
@pytest.mark.parametrize("case", sorted(BAD_OVERRIDES))
def test_a_bad_override_is_one_line_exit_2_and_writes_nothing(runs, case, command):
    args, says = BAD_OVERRIDES[case]
    refuse([command, "iris.ttl", *args, "--store", "store"], cwd=runs["root"], store=runs["root"] / "store", says=says)


def test_an_override_on_a_notebook_is_refused(runs):
    refuse(["run", "iris.ipynb", "-p", "epochs=3", "--store", "store"], cwd=runs["root"], store=runs["root"] / "store",
           says=["-p derives a plan", "papermill"])


def test_the_derived_plan_file_is_never_written_over_a_file_mlprov_did_not_write(runs, tmp_path):
    plan_file = make_plan(tmp_path / "iris.ttl", epochs="10")
    (tmp_path / "iris.epochs-4.ttl").write_text("# my own notes\n")
    refuse(["generate", plan_file.name, "-p", "epochs=4", "--store", "store"], cwd=tmp_path, says=["exists already", "--force"])
    # a file that mlprov derived is replaced: deriving again is idempotent
    done = mlprov(["generate", plan_file.name, "-p", "epochs=5", "--store", "store"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = (tmp_path / "iris.epochs-5.ttl").read_bytes()
    done = mlprov(["generate", plan_file.name, "-p", "epochs=5", "--store", "store"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "iris.epochs-5.ttl").read_bytes() == before
    # and -o names both files: the notebook and the plan beside it, never the original plan
    refuse(["generate", plan_file.name, "-p", "epochs=5", "-o", "iris.ipynb", "--store", "store"], cwd=tmp_path,
           says=["input"])
