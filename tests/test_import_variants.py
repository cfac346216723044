"""Every format of MLProvCodeGen's history imports, with its own semantics, one file or a folder at once.

``tests/data/variants/`` holds one real file of each format MLProvCodeGen's versions wrote
(snake-case entities, the oldest ``experimentinfo:`` keys, mixed naming, entities as JSON
lists, Python reprs in numeric fields, the plain JSON without ``entity``, R15 as data set).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.legacy.mapping import map_source
from mlprov_rdf.legacy.source import read_source
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation, open_store

DATA = Path(__file__).parent / "data"
VARIANTS = DATA / "variants"
ALL_FILES = sorted(VARIANTS.glob("Provenance_*.json")) + sorted(DATA.glob("Provenance_*.json"))
MULTICLASS_FILES = [p for p in ALL_FILES if "Multiclass" in p.name]


def _import(path: Path, out: Path, store: Path, *extra: str):
    return CliRunner().invoke(main, ["import-mlprovcodegen", str(path), "-o", str(out), "--store", str(store), *extra])


def _values(name: str) -> dict:
    mapped = map_source(read_source(VARIANTS / name))
    return {**mapped.values, "_notes": mapped.notes}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_file_of_the_history_imports_to_a_valid_plan_and_a_stored_legacy_run(path, tmp_path):
    result = _import(path, tmp_path / "plan.ttl", tmp_path / "store")
    assert result.exit_code == 0, result.output + result.stderr
    run_iri = re.search(r"stored legacy run (\S+):", result.stdout).group(1)
    assert not run_iri.startswith("urn:mlprov:run:1970"), "the run is dated from the file"
    assert CliRunner().invoke(main, ["validate", str(tmp_path / "plan.ttl")]).exit_code == 0
    with open_store(StoreLocation(tmp_path / "store")) as store:
        notes = [r["n"].value for r in store.query(
            "SELECT ?run ?n WHERE { ?run <https://w3id.org/mlprov#importNote> ?n }", {"run": ox.NamedNode(run_iri)})]
    plan_text = (tmp_path / "plan.ttl").read_text()
    for note in notes:  # each note is in the run, in the plan as a comment, and in the summary
        assert f"#   {note}" in plan_text and f"  {note}" in result.stdout


def test_the_oldest_format_with_prefixed_keys_reads_every_value():
    values = _values("Provenance_MulticlassClassification_20220330-104252.json")
    assert values["dataset"] == "iris" and values["test_size"] == 0.2 and values["split_random_state"] == 2
    assert values["optimizer"] == "Adam" and values["learning_rate"] == 0.002 and values["epochs"] == 100
    assert values["hidden_neurons"] == 50 and values["loss"] == "CrossEntropyLoss"
    assert any(n.startswith("seed = 42:") for n in values["_notes"])  # no seed recorded: said so


@pytest.mark.parametrize("name", ["Provenance_MulticlassClassification_20220422-093047.json",
                                  "Provenance_MulticlassClassification_20220422-130937.json",
                                  "Provenance_MulticlassClassification_20220422-131207.json"])
def test_snake_case_mixed_naming_and_entities_as_lists_read_the_same_values(name):
    values = _values(name)
    assert values["dataset"] == "iris" and values["scaler"] == "standard" and values["epochs"] == 100
    assert values["hidden_neurons"] == 50 and values["optimizer"] == "Adam"


def test_the_split_is_not_stratified_and_adams_default_learning_rate_is_torchs():
    values = _values("Provenance_MulticlassClassification_2022-04-28--09-11-52.json")
    assert values["stratify"] is False
    assert values["learning_rate"] is None  # "default": torch's Adam default, as MLProvCodeGen left it
    assert any("torch's default learning rate" in n for n in values["_notes"])


def test_sgd_with_the_default_learning_rate_is_lr_1_as_mlprovcodegens_template_had_it(tmp_path):
    source = tmp_path / "Provenance_MulticlassClassification_sgd.json"
    text = (DATA / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json").read_text()
    source.write_text(text.replace('"torch.optim.Adam("', '"torch.optim.SGD("'))
    result = _import(source, tmp_path / "sgd.ttl", tmp_path / "store")
    assert result.exit_code == 0, result.stderr
    assert load(tmp_path / "sgd.ttl").plan.values()["learning_rate"] == 1
    assert "learning_rate = 1: MLProvCodeGen's \"default\" for SGD is lr = 1" in result.stdout


def test_the_output_activation_goes_to_the_mlps_last_layer():
    assert _values("Provenance_MulticlassClassification_2022-04-28--09-11-52.json")["output_activation"] == "softmax"


def test_r15_is_mlprovcodegens_shipped_data_set_not_a_generated_one():
    values = _values("Provenance_MulticlassClassification_2022-04-28--09-11-52.json")
    assert values["dataset"] == "r15" and "generated_samples" not in values


def test_python_reprs_in_numeric_fields_give_their_number_or_the_field_that_agrees():
    with_numbers = _values("Provenance_ImageClassification_2022-04-29--09-11-24.json")  # "Number of datapoints: 80>"
    assert with_numbers["fake_size"] == 88 and with_numbers["test_fraction"] == round(8 / 88, 6)
    assert with_numbers["resize"] == 256 and with_numbers["center_crop"] == 224
    wrappers = _values("Provenance_ImageClassification_2022-04-26--11-35-53.json")  # "<method-wrapper '__len__' ...>"
    assert wrappers["fake_size"] == 4 and wrappers["test_fraction"] == 0.5  # ex:training_samples, ex:testing_samples
    assert wrappers["fake_image_size"] == 224 and wrappers["fake_classes"] == 10


def test_the_plain_json_file_names_mnist_but_holds_fakedata_and_the_evidence_is_followed():
    values = _values("Provenance_ImageClassification_PyTorch_20220323-105144.json")
    assert values["dataset"] == "FakeData" and values["fake_size"] == 2000
    assert values["architecture"] == "resnet18" and values["epochs"] == 1 and values["batch_size"] == 128
    assert any("names 'MNIST'" in n and "evidence is followed" in n for n in values["_notes"])


def test_an_empty_file_is_one_line_naming_it(tmp_path):
    empty = tmp_path / "Provenance_MulticlassClassification_empty.json"
    empty.write_text("\n")
    result = _import(empty, tmp_path / "plan.ttl", tmp_path / "store")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"mlprov: error: {empty}: the file is empty")


def test_a_folder_imports_every_file_reports_each_and_exits_2_after_storing_the_rest(tmp_path):
    history = tmp_path / "history"
    history.mkdir()
    for path in ALL_FILES:
        shutil.copy(path, history)
    (history / "Provenance_MulticlassClassification_2022-05-20--09-00-00.json").write_text("")
    result = CliRunner().invoke(main, ["import-mlprovcodegen", str(history), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2, result.output + result.stderr
    assert f"{len(ALL_FILES)} imported, 1 refused, of {len(ALL_FILES) + 1} files" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("Provenance_")]
    assert len(rows) == len(ALL_FILES) + 1 and sum("  imported: " in r for r in rows) == len(ALL_FILES)
    assert "2022-05-20--09-00-00.json  refused: the file is empty" in result.stdout
    with open_store(StoreLocation(tmp_path / "store")) as store:
        runs = list(store.query("SELECT ?r WHERE { ?r a <https://w3id.org/mlprov#LegacyRun> }"))
    assert len(runs) == len(ALL_FILES)


@pytest.mark.parametrize("path", MULTICLASS_FILES, ids=lambda p: p.name)
def test_an_imported_multiclass_plan_of_each_format_runs_to_completion(path, tmp_path):
    result = _import(path, tmp_path / "plan.ttl", tmp_path / "store")
    assert result.exit_code == 0, result.stderr
    ran = CliRunner().invoke(main, ["run", str(tmp_path / "plan.ttl"), "--store", str(tmp_path / "store")])
    assert ran.exit_code == 0, ran.output + ran.stderr
    assert re.search(r"run urn:mlprov:run:\S+: completed", ran.stdout)
