"""`mlprov import-mlprovcodegen`: MLProvCodeGen's provenance files → a valid plan and a legacy run.

``tests/data/Provenance_MulticlassClassification_2022-05-19--11-09-37.json`` is a real file
MLProvCodeGen wrote (fusion-jena/MLProvCodeGen @57f80a4); its plan must validate, generate
and run here. ``tests/data/Provenance_ImageClassification_example.json`` was written with the
``prov`` package by the provenance code of MLProvCodeGen's image-classification notebook
(the same calls, fixed values), so it has prov 3's spellings (typed values as strings).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf import vocab
from mlprov_rdf.cli import main
from mlprov_rdf.generate import build_notebook
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.tasks import all_tasks

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json"
IMAGE = DATA / "Provenance_ImageClassification_example.json"
PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())


def _import(path: Path, out: Path, store: Path, *extra: str):
    return CliRunner().invoke(main, ["import-mlprovcodegen", str(path), "-o", str(out), "--store", str(store), *extra])


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlprovcodegen")
    result = _import(REFERENCE, root / "legacy.ttl", root / "store")
    assert result.exit_code == 0, result.output + result.stderr
    run_iri = re.search(r"stored legacy run (\S+):", result.stdout).group(1)
    return {"root": root, "plan_file": root / "legacy.ttl", "store": root / "store", "run": run_iri, "output": result.stdout}


def _rows(store: Path, sparql: str, **values) -> list[dict]:
    with open_store(StoreLocation(store)) as st:
        return [{k: (v.value if v is not None else None) for k, v in ((k, row[k]) for k in re.findall(r"\?(\w+)", sparql.split("WHERE")[0]))}
                for row in st.query(PREFIXES + sparql, {k: ox.NamedNode(v) for k, v in values.items()})]


def test_the_reference_file_imports_validates_generates_and_runs(imported):
    assert "valid multiclass-classification plan <https://example.org/plans/legacy>" in imported["output"]
    assert "completed, 9 metrics" in imported["output"]
    plan = load(imported["plan_file"]).plan
    values = plan.values()
    assert values["dataset"] == "iris" and values["scaler"] == "standard"
    assert values["test_size"] == 0.2 and values["split_random_state"] == 2
    assert values["hidden_neurons"] == 50 and values["hidden_layers"] == 2 and values["activation"] == "relu"
    assert values["optimizer"] == "Adam" and values["loss"] == "CrossEntropyLoss" and values["epochs"] == 100
    assert values["learning_rate"] is None  # "None": the optimizer's default, written "default"
    assert plan.author_label == "Tarek Al Mustafa" and "MLProvCodeGen" in plan.title
    text = imported["plan_file"].read_text()
    assert '"default"' in text and "sha256" in text.splitlines()[0]

    validate = CliRunner().invoke(main, ["validate", str(imported["plan_file"])])
    assert validate.exit_code == 0, validate.output
    notebook = imported["root"] / "legacy.ipynb"
    generated = CliRunner().invoke(main, ["generate", str(imported["plan_file"]), "-o", str(notebook), "--store", str(imported["store"])])
    assert generated.exit_code == 0, generated.output + generated.stderr
    ran = CliRunner().invoke(main, ["run", str(notebook), "--store", str(imported["store"])])
    assert ran.exit_code == 0, ran.output + ran.stderr
    assert re.search(r"run urn:mlprov:run:\S+: completed", ran.stdout)
    assert "accuracy" in ran.stdout


def test_the_legacy_run_holds_what_the_file_recorded(imported):
    store, run_iri = imported["store"], imported["run"]
    assert run_iri == "urn:mlprov:run:20220519T110933-" + __import__("hashlib").sha256(REFERENCE.read_bytes()).hexdigest()[:8]
    (facts,) = _rows(store, """SELECT ?run ?status ?plan ?start ?end ?sha WHERE {
        ?run a mlprov:LegacyRun, mls:Run ; mlprov:status ?status ; mlprov:plan ?plan ;
             prov:startedAtTime ?start ; prov:endedAtTime ?end ; mlprov:provenanceSource ?src . ?src mlprov:sha256 ?sha }""",
                     run=run_iri)
    assert facts["status"] == vocab.MLPROV + "Completed" and facts["plan"] == "https://example.org/plans/legacy"
    assert facts["start"] == "2022-05-19T11:09:33.556482" and facts["end"] == "2022-05-19T11:09:37.635325"
    metrics = {(r["measure"].rsplit("#", 1)[1], r["cls"], r["epoch"]): r["value"] for r in _rows(store, """
        SELECT ?run ?measure ?value ?cls ?epoch WHERE { ?run mls:hasOutput ?m . ?m mls:specifiedBy ?measure ; mls:hasValue ?value .
        OPTIONAL { ?m mlprov:forClass ?cls } OPTIONAL { ?m mlprov:epoch ?epoch } }""", run=run_iri)}
    assert float(metrics[("accuracy", None, None)]) == 0.9333333373069763
    assert float(metrics[("training_loss", None, "100")]) == 0.6593589782714844  # the last epoch's training loss
    assert float(metrics[("roc_auc_micro", None, None)]) == 0.98111
    assert float(metrics[("mae", None, None)]) == float(metrics[("mse", None, None)]) == 0.06666666666666667
    assert json.loads(metrics[("confusion_matrix", None, None)]) == [[13, 1, 0], [0, 7, 1], [0, 0, 8]]
    assert [float(metrics[("f1", c, None)]) for c in ("setosa", "versicolor", "virginica")] == [0.96296296, 0.875, 0.94117647]
    settings = {r["name"]: r["value"] for r in _rows(store, """SELECT ?run ?name ?value WHERE {
        ?run mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?value }""", run=run_iri)}
    assert settings["learning_rate"] == "default" and settings["optimizer"] == "Adam" and settings["epochs"] == "100"
    (hardware,) = _rows(store, """SELECT ?run ?cpu ?memory ?gpu WHERE { ?run repr:hasSetting ?h .
        ?h a mlprov:Hardware ; mlprov:cpuModel ?cpu ; mlprov:memoryBytes ?memory ; mlprov:gpuModel ?gpu }""", run=run_iri)
    assert hardware["cpu"] == "AMD Ryzen 7 3700X 8-Core Processor" and hardware["gpu"] == "NVIDIA GeForce GTX 1060 6GB"
    assert int(hardware["memory"]) == round(15.95 * 2**30)
    packages = {r["name"]: r["version"] for r in _rows(store, """SELECT ?run ?name ?version WHERE { ?run repr:hasSetting ?p .
        ?p a repr:Package ; mlprov:packageName ?name ; mlprov:version ?version }""", run=run_iri)}
    assert packages["torch"] == "1.10.2+cpu" and packages["pytorch-model-summary"] == "0.1.2" and len(packages) == 13
    cells = _rows(store, """SELECT ?run ?cell ?step ?start ?end WHERE { ?cell dcterms:isPartOf ?run ; mlprov:executionOrder ?o ;
        p-plan:correspondsToStep ?step ; prov:startedAtTime ?start . OPTIONAL { ?cell prov:endedAtTime ?end } } ORDER BY ?o""", run=run_iri)
    assert [c["step"].rsplit("#", 1)[1] for c in cells] == ["setup"] * 3 + [
        "data-ingestion", "data-preparation", "data-segregation", "model-definition", "training", "evaluation"]
    assert cells[3]["start"] == "2022-05-19T11:09:37.053343" and cells[3]["end"] == "2022-05-19T11:09:37.056346"


def test_reproducing_the_legacy_run_compares_mlprovcodegens_numbers_and_says_they_differ(imported, tmp_path):
    result = CliRunner().invoke(main, ["reproduce", imported["run"], "--store", str(imported["store"]), "--dir", str(tmp_path)])
    assert result.exit_code == 1, result.output + result.stderr
    rows = {re.split(r"\s{2,}", line)[0]: line for line in result.stdout.splitlines()[2:-1]}
    assert rows["accuracy (test)"].split()[2] == "0.9333333373069763"  # MLProvCodeGen's float32 accuracy
    assert "not comparable" in rows["roc_auc_micro (test)"]  # mlprov measures roc_auc_ovr instead
    assert "the new run also recorded" in result.stdout.splitlines()[-1]


def _variant(data: dict) -> dict:
    """The reference file in other spellings: no prefixes, other cases and separators, strings for numbers."""
    data = copy.deepcopy(data)
    entity = data["entity"]
    entity["model_parameters_data"] = {
        "optimizer": "torch.optim.SGD(",
        "optimizer_default_learning_rate": 0,
        "optimizer_learning_rate": "0.01",
        "loss_function": "nn.NLLLoss()",
        "neuron_number": {"$": "64", "type": "xsd:int"},
        "activation_function": "F.softmax(self.layer3(x), dim=1)",
        "gpu_enable": "0",
    }
    del entity["ex:Model Parameters Data"]
    entity["ex:Data Ingestion Data"] = {"ex:dataset_id": "Spiral", "ex:samples_total": "240", "ex:output_dimensions": 4}
    entity["EX:TRAINING DATA"] = {"EX:EPOCHS": {"$": "12", "type": "xsd:integer"}}
    del entity["ex:Training Data"]
    entity["ex:Data Segregation Data"]["ex:test_size"] = "0.25"
    entity["ex:Data Preparation Data"]["ex:transformation"] = "sklearn.preprocessing.MinMaxScaler"
    return data


def test_spelling_variants_and_a_learning_rate_string_are_read(tmp_path):
    source = tmp_path / "variant.json"
    source.write_text(json.dumps(_variant(json.loads(REFERENCE.read_text()))))
    result = _import(source, tmp_path / "variant.ttl", tmp_path / "store")
    assert result.exit_code == 0, result.output + result.stderr
    values = load(tmp_path / "variant.ttl").plan.values()
    assert values["learning_rate"] == 0.01  # "0.01" is 0.01, not the 0 MLProvCodeGen's [0] gave
    assert values["optimizer"] == "SGD" and values["loss"] == "NLLLoss" and values["hidden_neurons"] == 64
    assert values["scaler"] == "minmax" and values["test_size"] == 0.25
    assert values["epochs"] == 12 and values["use_gpu"] is False
    if "spiral" in all_tasks()["multiclass-classification"].parameter("dataset").choices:
        assert values["dataset"] == "spiral"  # MLProvCodeGen's own spiral.csv, shipped with mlprov
    else:
        assert values["dataset"] == "spirals" and values["generated_samples"] == 240


@pytest.mark.skipif("image-classification" not in all_tasks(), reason="no image-classification task in this checkout")
def test_an_image_classification_file_imports_validates_and_generates(tmp_path):
    result = _import(IMAGE, tmp_path / "image.ttl", tmp_path / "store")
    assert result.exit_code == 0, result.output + result.stderr
    assert "valid image-classification plan" in result.stdout and "completed, 2 metrics" in result.stdout
    plan = load(tmp_path / "image.ttl").plan
    values = plan.values()
    assert values["dataset"] == "FakeData" and values["optimizer"] == "Adam" and values["loss"] == "CrossEntropyLoss"
    assert values["learning_rate"] == 0.001 and values["epochs"] == 3 and values["seed"] == 2
    task = plan.task
    for name, expected in (("architecture", "resnet18"), ("batch_size", 128), ("fake_size", 110), ("fake_classes", 10),
                           ("pretrained", False), ("resize", 256), ("center_crop", 224)):
        if task.parameter(name) is not None:
            assert values[name] == expected, name
    assert len(build_notebook(plan).cells) == 2 * len(plan.steps) + 2
    run_iri = re.search(r"stored legacy run (\S+):", result.stdout).group(1)
    metrics = {r["m"].rsplit("/metric/", 1)[1]: float(r["v"]) for r in _rows(
        tmp_path / "store", "SELECT ?run ?m ?v WHERE { ?run mls:hasOutput ?m . ?m mls:hasValue ?v }", run=run_iri)}
    assert metrics == {"accuracy/test": 0.1, "loss/test": 2.3912417888641357}


def _without(data: dict, *path: str) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


def _with(data: dict, value, *path: str) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


REF = json.loads(REFERENCE.read_text())
BROKEN = {
    "no-task-type": (_without(REF, "entity", "ex:Experiment Info Data", "ex:task_type"),
                     "missing key entity['ex:Experiment Info Data']['ex:task_type']"),
    "no-optimizer": (_without(REF, "entity", "ex:Model Parameters Data", "ex:optimizer"),
                     "missing key entity['ex:Model Parameters Data']['ex:optimizer']"),
    "no-training-section": (_without(REF, "entity", "ex:Training Data"), "missing key entity['ex:Training Data']"),
    "no-entities": (_without(REF, "entity"), "missing key ['entity']"),
    "bad-epochs": (_with(REF, {"$": "many", "type": "xsd:int"}, "entity", "ex:Training Data", "ex:epochs"),
                   "entity['ex:Training Data']['ex:epochs'] = {\"$\": \"many\", \"type\": \"xsd:int\"}: not a valid xsd:int"),
    "unknown-dataset": (_with(REF, "Banana", "entity", "ex:Data Ingestion Data", "ex:dataset_id"),
                        "entity['ex:Data Ingestion Data']['ex:dataset_id'] = 'Banana' has no counterpart"),
    "unknown-task": (_with(REF, "Regression", "entity", "ex:Experiment Info Data", "ex:task_type"),
                     "entity['ex:Experiment Info Data']['ex:task_type'] = 'Regression': not a task mlprov imports"),
    "not-json": ('{"entity": {', "not JSON"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_file_it_cannot_read_is_one_line_naming_the_key_and_nothing_is_written(case, tmp_path):
    data, message = BROKEN[case]
    source = tmp_path / f"{case}.json"
    source.write_text(data if isinstance(data, str) else json.dumps(data))
    result = _import(source, tmp_path / "plan.ttl", tmp_path / "store")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"mlprov: error: {source}"), result.stderr
    assert message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no plan, no store


def test_an_existing_plan_file_is_kept_unless_forced(imported, tmp_path):
    existing = tmp_path / "plan.ttl"
    existing.write_text("# mine\n")
    kept = _import(REFERENCE, existing, tmp_path / "store")
    assert kept.exit_code == 2 and "exists already" in kept.stderr and existing.read_text() == "# mine\n"
    forced = _import(REFERENCE, existing, tmp_path / "store", "--force")
    assert forced.exit_code == 0 and load(existing).plan.task.name == "multiclass-classification"
