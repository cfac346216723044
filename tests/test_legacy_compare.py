"""Comparing a run imported from MLProvCodeGen with a new run: `mlprov reproduce` and `mlprov diff`.

The legacy run is the real reference file imported through the CLI into a real store; the
new runs execute in real kernels. MLProvCodeGen measured some things mlprov does not (its
AUC is micro-averaged, mlprov's one-vs-rest) and recorded its last epoch's loss only; the
comparison must map each measure to mlprov's and say what cannot be compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf import vocab
from mlprov_rdf.cli import main
from mlprov_rdf.diff import diff_runs
from mlprov_rdf.legacy_measures import class_pairs, counterpart, seed_note
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import run
from tests.conftest import make_plan

REFERENCE = Path(__file__).parent / "data" / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json"
PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())
MAPPED_CHECKS = [
    "accuracy (test)", "confusion_matrix (test)", "f1 (test, setosa)", "f1 (test, versicolor)", "f1 (test, virginica)",
    "mae (test)", "mse (test)", "roc_auc_micro (test)", "training_loss (train, epoch 100)",
]


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """The reference file imported, then reproduced once with a global and a per-measure tolerance."""
    root = tmp_path_factory.mktemp("legacy-compare")
    store = root / "store"
    imported = CliRunner().invoke(main, ["import-mlprovcodegen", str(REFERENCE), "-o", str(root / "legacy.ttl"), "--store", str(store)])
    assert imported.exit_code == 0, imported.output + imported.stderr
    legacy_run = re.search(r"stored legacy run (\S+):", imported.stdout).group(1)
    reproduced = CliRunner().invoke(main, ["reproduce", legacy_run, "--store", str(store), "--dir", str(root / "nb"),
                                           "--tolerance", "0.1", "--tolerance", "accuracy=0.05"])
    assert reproduced.exit_code in (0, 1), reproduced.output + reproduced.stderr
    record = re.search(r"record <(urn:mlprov:reproduction:[^>]+)>", reproduced.stdout).group(1)
    new_run = re.search(r"new run (urn:mlprov:run:\S+?);", reproduced.stdout).group(1)
    return {"root": root, "store": store, "run": legacy_run, "result": reproduced, "record": record, "new_run": new_run}


def _rows(table: str) -> dict[str, list[str]]:
    """The reproduction table's rows by check name, split into their columns."""
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["check", "original", "new", "verdict"], table
    return {cols[0]: cols for cols in (re.split(r"\s{2,}", line) for line in lines[2:-1])}


def test_reproducing_a_legacy_run_lists_each_mapped_check_with_the_no_seed_note(legacy):
    out, err = legacy["result"].stdout, legacy["result"].stderr
    rows = _rows(out)
    assert sorted(rows) == MAPPED_CHECKS
    assert "(missing)" not in out
    assert err.count("recorded no seed") == 1 and "cannot be matched" in err
    roc = rows["roc_auc_micro (test)"]
    assert roc[1] == "0.98111" and roc[2].endswith("(roc_auc_ovr)") and roc[3] == "not comparable"
    assert "the original measured roc_auc_micro" in roc[4] and "mlprov measures roc_auc_ovr" in roc[4]
    assert rows["training_loss (train, epoch 100)"][1] == "0.6593589782714844"  # MLProvCodeGen's last epoch
    assert rows["accuracy (test)"][4] == "tolerance 0.05"
    assert "1 not comparable" in out.splitlines()[-1] and "tolerance 0.1 (accuracy=0.05)" in out.splitlines()[-1]


def test_the_recorded_legacy_checks_follow_each_measures_tolerance_and_skip_what_is_not_comparable(legacy):
    with open_store(StoreLocation(legacy["store"])) as store:
        solutions = store.query(PREFIXES + """SELECT ?g ?name ?ok ?diff ?comment ?note ?overall WHERE { GRAPH ?g {
            ?act mlprov:check ?c ; mlprov:reproduced ?overall ; rdfs:comment ?note .
            ?c mlprov:checkName ?name ; mlprov:reproduced ?ok .
            OPTIONAL { ?c mlprov:relativeDifference ?diff } OPTIONAL { ?c rdfs:comment ?comment } } }""",
                                {"g": ox.NamedNode(legacy["record"])})
        checks = {s["name"].value: s for s in solutions}
    assert sorted(checks) == MAPPED_CHECKS
    assert "recorded no seed" in checks["accuracy (test)"]["note"].value
    assert checks["roc_auc_micro (test)"]["comment"].value.startswith("not comparable: the original measured roc_auc_micro")
    compared = {name: c for name, c in checks.items() if name not in ("roc_auc_micro (test)", "confusion_matrix (test)")}
    for name, check in compared.items():
        tolerance = 0.05 if name.startswith("accuracy") else 0.1
        assert (check["ok"].value == "true") == (float(check["diff"].value) <= tolerance), name
    comparable_ok = all(c["ok"].value == "true" for n, c in checks.items() if n != "roc_auc_micro (test)")
    assert (checks["accuracy (test)"]["overall"].value == "true") == comparable_ok


def test_a_bad_or_unknown_per_measure_tolerance_is_one_line_and_runs_nothing(legacy, tmp_path):
    for value, message in (("accuracy=much", "give a relative tolerance of 0 or more"),
                           ("=0.1", "give a relative tolerance of 0 or more"),
                           ("silhouette=0.1", "recorded no measure 'silhouette'; its measures are accuracy")):
        result = CliRunner().invoke(main, ["reproduce", legacy["run"], "--store", str(legacy["store"]),
                                           "--dir", str(tmp_path / "nb"), "--tolerance", value])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "nb").exists()


def test_diff_puts_a_legacy_runs_settings_and_metrics_beside_the_new_runs_with_the_mapping(legacy):
    with open_store(StoreLocation(legacy["store"]), read_only=True) as store:
        diff = diff_runs(store, legacy["run"], legacy["new_run"])
    assert diff.a.legacy and not diff.b.legacy
    items = {(i.kind, i.name): i for g in diff.groups for i in g.items}
    roc = items[("metric", "roc_auc_micro / roc_auc_ovr (test)")]
    assert roc.a == 0.98111 and isinstance(roc.b, float) and not roc.same and "not comparable" in roc.note
    assert ("metric", "roc_auc_ovr (test)") not in items and ("metric", "roc_auc_micro (test)") not in items
    loss = items[("metric", "training_loss (train) epoch 100")]
    assert loss.a == 0.6593589782714844 and isinstance(loss.b, float) and "epoch 100 only" in loss.note
    assert items[("metric", "f1 (test) [setosa]")].a == 0.96296296 and items[("metric", "f1 (test) [setosa]")].b is not None
    epochs = items[("setting", "epochs")]
    assert epochs.a == epochs.b == 100 and "entity['ex:Training Data']['ex:epochs']" in epochs.note
    code = [i for i in items.values() if i.kind == "code" and i.name == "code sha256"]
    assert code and all(i.source_diff is None and i.note == "MLProvCodeGen recorded no code" for i in code)
    step_titles = [g.title for g in diff.groups if g.step]
    assert step_titles[0].startswith("1. ") and len(step_titles) == 7


def test_diff_of_a_legacy_run_and_a_run_of_another_plan_aligns_by_step_position(legacy, tmp_path):
    plan = make_plan(tmp_path / "other.ttl", epochs="5")
    outcome = run(plan, StoreLocation(legacy["store"]), output=tmp_path / "other.ipynb")
    assert outcome.ok, outcome.error
    result = CliRunner().invoke(main, ["diff", legacy["run"], outcome.run, "--store", str(legacy["store"]), "--format", "json"])
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert data["a"]["legacy"] is True and data["a"]["plan"] != data["b"]["plan"]
    steps = [g for g in data["groups"] if g["group"] == "step"]
    assert [g["position"] for g in steps] == list(range(1, 8))  # one group per position, both runs' cells in it
    evaluation = {i["name"]: i for g in steps for i in g["items"] if i["kind"] == "metric"}
    assert evaluation["roc_auc_micro / roc_auc_ovr (test)"]["a"] == 0.98111
    assert evaluation["roc_auc_micro / roc_auc_ovr (test)"]["b"] is not None
    assert evaluation["training_loss (train) epoch 100"]["b"] is None  # the other run trained 5 epochs
    table = CliRunner().invoke(main, ["diff", legacy["run"], outcome.run, "--store", str(legacy["store"])])
    assert table.exit_code == 0 and "(A: MLProvCodeGen: entity['ex:Evaluation Data']['ex:AUC']; not comparable" in table.stdout


def test_a_legacy_run_whose_classes_are_indices_is_compared_class_by_class_in_label_order(tmp_path):
    """R15 (MLProvCodeGen's 2022-04-28 file): its F1 list is by label index, mlprov's classes are
    named "cluster 1" to "cluster 8" after the CSV's labels, which start at 1."""
    source = Path(__file__).parent / "data" / "variants" / "Provenance_MulticlassClassification_2022-04-28--09-11-52.json"
    store = tmp_path / "store"
    imported = CliRunner().invoke(main, ["import-mlprovcodegen", str(source), "-o", str(tmp_path / "r15.ttl"), "--store", str(store)])
    assert imported.exit_code == 0, imported.output + imported.stderr
    legacy_run = re.search(r"stored legacy run (\S+):", imported.stdout).group(1)
    result = CliRunner().invoke(main, ["reproduce", legacy_run, "--store", str(store), "--dir", str(tmp_path / "nb"), "--tolerance", "0.2"])
    assert result.exit_code in (0, 1), result.output + result.stderr
    rows = _rows(result.stdout)
    assert "(missing)" not in result.stdout
    for index in range(8):
        assert rows[f"f1 (test, {index})"][4] == f"the original's class {index} is mlprov's 'cluster {index + 1}'"
    assert rows["f1 (test, 0)"][1] == "0.0"  # MLProvCodeGen's F1 list, first value


def test_a_legacy_measure_maps_to_mlprovs_and_class_indices_to_class_names():
    assert counterpart("roc_auc_micro", {"roc_auc_ovr", "accuracy"}).measure == "roc_auc_ovr"
    assert not counterpart("roc_auc_micro", {"roc_auc_ovr"}).comparable
    assert counterpart("roc_auc_micro", {"roc_auc_micro"}).comparable  # a new run that records it is compared
    assert counterpart("mae", {"mae"}) == counterpart("mae", set())
    assert class_pairs({"setosa", "virginica"}, {"setosa", "versicolor", "virginica"}) == {"setosa": "setosa", "virginica": "virginica"}
    clusters = {f"cluster {n}" for n in range(1, 12)}  # R15's labels start at 1; 10 and 11 sort after 9
    assert class_pairs({str(i) for i in range(11)}, clusters) == {str(i): f"cluster {i + 1}" for i in range(11)}
    assert class_pairs({"0", "1"}, {"arm 0", "arm 1", "arm 2"}) == {}  # not the same classes


def test_the_seed_note_says_why_a_legacy_run_cannot_be_matched_whether_or_not_it_recorded_a_seed():
    assert "recorded no seed" in seed_note(None) and "within a tolerance" in seed_note(None)
    assert "seeded torch with 2 only after building its model" in seed_note("2")
