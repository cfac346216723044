"""Every canned query, on real runs executed in a real kernel and stored on disk."""

from __future__ import annotations

import json

import nbformat
import pytest

from mlprov_rdf import queries
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import generate_notebook, run
from tests.conftest import make_plan


_TWO_RUNS: dict = {}


def make_two_runs(tmp_path_factory) -> dict:
    """The two runs, executed once per test session whichever module asks first.

    test_diff.py and test_api.py use them too: a fixture imported into another module
    would be a second fixture, and execute the notebooks again.
    """
    if not _TWO_RUNS:
        _TWO_RUNS.update(_execute_two_runs(tmp_path_factory))
    return _TWO_RUNS


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
    """Run A as generated; run B with a hand-edited evaluation cell and a failing extra cell."""
    return make_two_runs(tmp_path_factory)


def _execute_two_runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("two-runs")
    location = StoreLocation(root / "store")
    plan_file = make_plan(root / "iris.ttl", epochs="8")
    plan = generate_notebook(plan_file, root / "a.ipynb", location).plan
    first = run(root / "a.ipynb", location)
    nb = nbformat.read(str(root / "a.ipynb"), as_version=4)
    evaluation = next(c for c in nb.cells if c.cell_type == "code" and c.metadata.get("mlprov", {}).get("step", "").endswith("#evaluation"))
    evaluation.source += "\nprint('edited by hand')"
    nb.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(nb, str(root / "b.ipynb"))
    second = run(root / "b.ipynb", location)
    assert first.ok and not second.ok
    return {"location": location, "plan": plan, "a": first.run, "b": second.run, "root": root}


def _rows(two_runs, name, **params):
    with open_store(two_runs["location"]) as store:
        result = queries.run(store, queries.resolve(name), params)
    return [dict(zip(result.columns, (t.value if t is not None else None for t in row))) for row in result.rows]


def test_runs_lists_both_runs_newest_first_with_status_and_accuracy(two_runs):
    rows = _rows(two_runs, "runs")
    assert [r["run"] for r in rows] == [two_runs["b"], two_runs["a"]]
    assert [r["status"] for r in rows] == ["Failed", "Completed"]  # B ended in its failing extra cell
    assert all(0.5 <= float(r["accuracy"]) <= 1 for r in rows)
    assert rows[0]["plan_title"] == "Iris test plan"


def test_run_params_shows_the_used_and_planned_values(two_runs):
    rows = {r["parameter"]: r for r in _rows(two_runs, "run-params", run=two_runs["a"])}
    assert len(rows) == 16  # what an Iris MLP notebook reads, and the model and data set that chose its code
    assert {"model", "dataset", "epochs", "optimizer"} <= set(rows) and not {"svm_C", "csv_path"} & set(rows)
    assert rows["epochs"]["value"] == "8" and rows["epochs"]["planned_value"] == "8"
    assert rows["optimizer"]["variable"] == "https://example.org/plans/iris#optimizer"


def test_run_metrics_lists_scalar_metrics_without_the_epoch_series(two_runs):
    rows = _rows(two_runs, "run-metrics", run=two_runs["a"])
    measures = sorted(r["measure"].rsplit("#", 1)[-1] for r in rows)
    assert measures == [
        "accuracy", "confusion_matrix", "f1", "f1", "f1", "loss", "macro_f1", "mae", "mse", "roc_auc_ovr", "training_accuracy"
    ]
    assert sorted(r["class"] for r in rows if r["class"]) == ["setosa", "versicolor", "virginica"]


def test_run_cells_are_in_order_with_steps_and_the_failure(two_runs):
    rows = _rows(two_runs, "run-cells", run=two_runs["b"])
    assert [int(r["order"]) for r in rows] == list(range(1, 10))
    assert rows[-1]["step"] is None and "ZeroDivisionError" in rows[-1]["error"]
    assert [r["drifted"] for r in rows if r["step"]][-1] == "true"


def test_cell_trials_counts_executions_per_step(two_runs):
    rows = _rows(two_runs, "cell-trials", plan=two_runs["plan"].iri)
    assert len(rows) == 7
    assert all(int(r["executions"]) == 2 for r in rows)
    assert [int(r["position"]) for r in rows] == list(range(1, 8))


def test_plan_io_lists_inputs_and_outputs_per_step(two_runs):
    rows = _rows(two_runs, "plan-io", plan=two_runs["plan"].iri)
    assert len(rows) == 7
    by_label = {r["label"]: r for r in rows}
    assert "optimizer=Adam" in by_label["Define the model"]["inputs"].replace(" ", "").replace('"', "")
    assert "trained model" in by_label["Train the model"]["outputs"]


def test_best_runs_filters_by_threshold_and_orders_best_first(two_runs):
    rows = _rows(two_runs, "best-runs", metric="accuracy", threshold="0")
    values = [float(r["value"]) for r in rows]
    assert len(rows) == 2 and values == sorted(values, reverse=True)
    assert _rows(two_runs, "best-runs", metric="accuracy", threshold="1.01") == []


def test_environment_lists_language_kernel_hardware_and_packages(two_runs):
    rows = _rows(two_runs, "environment", run=two_runs["a"])
    text = json.dumps(rows)
    for expected in ("Python", "ipykernel", "torch", "scikit-learn", "cpu"):
        assert expected.lower() in text.lower(), expected


def test_drifted_and_failed_cells_find_only_run_b(two_runs):
    drifted = _rows(two_runs, "drifted-cells")
    assert [r["run"] for r in drifted] == [two_runs["b"]] * len(drifted) and drifted
    failed = _rows(two_runs, "failed-cells")
    assert [r["run"] for r in failed] == [two_runs["b"]]


def test_metric_history_gives_one_value_per_epoch(two_runs):
    rows = _rows(two_runs, "metric-history", run=two_runs["a"], metric="training_loss")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))


def test_compare_runs_finds_the_same_settings_and_metrics(two_runs):
    rows = _rows(two_runs, "compare-runs", run=two_runs["a"], other=two_runs["b"])
    settings = [r for r in rows if "param" in r["kind"].lower() or "setting" in r["kind"].lower()]
    assert settings and all(r["differs"] == "false" for r in settings)


def test_every_library_query_runs_on_the_real_store(two_runs):
    # these runs were not made by a sweep: the sweep queries run and find nothing (tests/test_sweep.py runs them on sweeps)
    samples = {"run": two_runs["a"], "other": two_runs["b"], "plan": two_runs["plan"].iri, "sweep": "urn:mlprov:sweep:20261202T120000-00000000"}
    for name, query in queries.load_library().items():
        params = {p.name: samples[p.name] for p in query.params if p.name in samples}
        rows = _rows(two_runs, name, **params)
        if name not in ("drifted-cells", "failed-cells", "environment-diff", "clustering-table1", "sweeps", "sweep-summary"):  # may be empty
            assert rows, name


def test_json_output_is_sparql_results_json(two_runs):
    with open_store(two_runs["location"]) as store:
        result = queries.run(store, queries.resolve("runs"), {})
    data = json.loads(queries.to_sparql_json(result))
    assert data["head"]["vars"][0] == "run"
    assert data["results"]["bindings"][0]["run"]["type"] == "uri"


# -- the queries added for finding, comparing and explaining runs --------------------------


def test_runs_by_setting_filters_by_alternatives_and_ranges(two_runs):
    everything = _rows(two_runs, "runs-by-setting")
    assert [r["run"] for r in everything] == [two_runs["b"], two_runs["a"]]
    assert {(r["dataset"], r["model"], r["optimizer"], r["learning_rate"], r["epochs"]) for r in everything} == {
        ("iris", "mlp", "Adam", "0.01", "8")
    }
    both = {two_runs["a"], two_runs["b"]}

    def found(**params):
        return {r["run"] for r in _rows(two_runs, "runs-by-setting", **params)}

    assert found(optimizer="Adam,SGD") == both
    assert found(optimizer="SGD,RMSprop") == set()
    assert found(dataset="wine,iris", model="mlp,svm") == both
    assert found(dataset="wine") == set()
    assert found(min_learning_rate="0.001", max_learning_rate="0.01") == both
    assert found(min_learning_rate="0.02") == set()
    assert found(min_epochs="8", max_epochs="8") == both
    assert found(max_epochs="7") == set()
    assert found(plan=two_runs["plan"].iri, optimizer="Adam") == both
    assert found(plan="https://example.org/plans/other") == set()


def test_runs_by_setting_from_the_command_line(two_runs):
    from click.testing import CliRunner

    from mlprov_rdf.cli import main

    store = str(two_runs["location"].home)
    out = CliRunner().invoke(main, ["query", "runs-by-setting", "-p", "optimizer=Adam,SGD", "-p", "min_epochs=5",
                                    "--store", store, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["results"]["bindings"]) == 2
    bad = CliRunner().invoke(main, ["query", "runs-by-setting", "-p", "optimizer=Adam,,SGD", "--store", store])
    assert bad.exit_code == 2 and "empty item" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    listing = CliRunner().invoke(main, ["query", "--list"])
    assert "runs-by-setting" in listing.output and "optimizer (list) optional" in listing.output


def test_metric_across_runs_gives_one_value_per_run_oldest_first(two_runs):
    plan = two_runs["plan"].iri
    rows = _rows(two_runs, "metric-across-runs", plan=plan)
    assert [(r["run"], r["status"]) for r in rows] == [(two_runs["a"], "Completed"), (two_runs["b"], "Failed")]
    values = [float(r["value"]) for r in rows]
    assert 0.5 <= values[0] <= 1 and values[0] == values[1]  # same plan, same seed: same number
    assert len(_rows(two_runs, "metric-across-runs", plan=plan, metric="macro_f1")) == 2
    assert len(_rows(two_runs, "metric-across-runs", plan=plan, metric="train:training_accuracy")) == 2
    assert _rows(two_runs, "metric-across-runs", plan=plan, metric="validation:accuracy") == []


def test_model_lineage_goes_back_to_data_code_and_settings(two_runs):
    rows = _rows(two_runs, "model-lineage", run=two_runs["a"])
    models = {r["model"] for r in rows}
    trained = next(m for m in models if m.endswith("/model/trained-model"))
    assert any(m.endswith("/model/untrained-model") for m in models)
    mine = [r for r in rows if r["model"] == trained]
    by_relation = {}
    for r in mine:
        by_relation.setdefault(r["relation"], []).append(r)
    assert [r["label"] for r in by_relation["model"]] == ["untrained model"]
    artifacts = {r["artifact"]: r["sha256"] for r in _rows(two_runs, "run-artifacts", run=two_runs["a"])}
    data = {r["item"]: r["value"] for r in by_relation["data"]}
    assert len(data) == 2 and all(artifacts[item] == sha for item, sha in data.items())  # the data set, the train split
    code = by_relation["code"]
    assert code[-1]["step"].endswith("#training") and len(code) == 7  # setup, parameters, five steps
    assert all(len(r["value"]) == 64 for r in code)  # sha256 of each cell's code
    settings = {r["label"]: r["value"] for r in by_relation["setting"]}
    assert settings["epochs"] == "8" and settings["optimizer"] == "Adam" and settings["dataset"] == "iris"
    assert "test_size" in settings and "scaler" in settings  # steps before training count too
    only = _rows(two_runs, "model-lineage", run=two_runs["a"], model=trained)
    assert "model" not in only[0] and len(only) == len(mine)
    # B's edit came after training: its trained model has the same code lineage as A's.
    b_code = [r["value"] for r in _rows(two_runs, "model-lineage", run=two_runs["b"], model=trained.replace(two_runs["a"], two_runs["b"]))
              if r["relation"] == "code"]
    assert b_code == [r["value"] for r in code]


def test_environment_diff_lists_only_what_differs(two_runs):
    assert _rows(two_runs, "environment-diff", run=two_runs["a"], other=two_runs["a"]) == []
    rows = _rows(two_runs, "environment-diff", run=two_runs["a"], other=two_runs["b"])
    assert all(r["value"] != r["other_value"] for r in rows)
    assert {r["category"] for r in rows} <= {"kernel", "language", "os", "hardware", "package"}


def test_cq_step_sequence_gives_the_order_of_execution(two_runs):
    rows = _rows(two_runs, "cq-step-sequence", run=two_runs["b"])
    assert [int(r["order"]) for r in rows] == list(range(1, 10))
    positions = [int(r["position"]) for r in rows if r["position"]]
    assert positions == list(range(1, 8))
    assert rows[-1]["step"] is None and rows[0]["follows"] is None
    assert all(r["follows"] == prev["execution"] for prev, r in zip(rows, rows[1:]))


def test_cq_executions_per_cell_counts_each_step(two_runs):
    rows = _rows(two_runs, "cq-executions-per-cell", plan=two_runs["plan"].iri)
    assert [int(r["position"]) for r in rows] == list(range(1, 8))
    assert all(int(r["executions"]) == 2 and int(r["failed"]) == 0 for r in rows)  # B failed in an added cell


def test_cq_execution_duration_gives_the_run_then_each_cell(two_runs):
    rows = _rows(two_runs, "cq-execution-duration", run=two_runs["a"])
    assert rows[0]["order"] == "0" and rows[0]["activity"] == two_runs["a"]
    assert [int(r["order"]) for r in rows[1:]] == list(range(1, len(rows)))
    assert all(float(r["duration"]) >= 0 and r["ended"] >= r["started"] for r in rows)
    assert float(rows[0]["duration"]) >= max(float(r["duration"]) for r in rows[1:])


def test_cq_execution_source_gives_the_code_as_executed(two_runs):
    rows = _rows(two_runs, "cq-execution-source", run=two_runs["b"])
    assert len(rows) == 9 and all(r["source"] and len(r["code_hash"]) == 64 for r in rows)
    assert rows[-1]["source"] == "1 / 0" and rows[-1]["kind"] == "AddedCell"
    evaluation = two_runs["plan"].iri + "#evaluation"
    only = _rows(two_runs, "cq-execution-source", run=two_runs["b"], step=evaluation)
    assert len(only) == 1 and only[0]["drifted"] == "true" and "print('edited by hand')" in only[0]["source"]


def test_cq_execution_outputs_gives_what_each_cell_generated_and_planned(two_runs):
    rows = _rows(two_runs, "cq-execution-outputs", run=two_runs["a"])
    split = [r for r in rows if r["kind"] == "data split"]
    assert len(split) == 2 and all(len(r["value"]) == 64 for r in split)
    planned = {(r["step_label"], r["label"]) for r in rows if r["relation"] == "planned output"}
    assert ("Train the model", "trained model") in planned and ("Split the data", "test split") in planned
    metrics = [r for r in rows if r["kind"] == "metric" and r["step_label"] == "Evaluate the model"]
    assert any(r["label"].startswith("accuracy") for r in metrics)


def test_cq_responsible_agents_names_person_software_kernel_and_author(two_runs):
    rows = _rows(two_runs, "cq-responsible-agents", run=two_runs["a"])
    assert {r["kind"] for r in rows} == {"person", "software", "kernel"}
    person = next(r for r in rows if r["role"] == "ran the run, following the plan")
    assert person["plan"] == two_runs["plan"].iri and person["kind"] == "person"
    author = next(r for r in rows if r["role"] == "author of the plan")
    assert author["name"] == "Test Author"


def test_cq_last_execution_finds_the_latest_run_of_each_step(two_runs):
    rows = _rows(two_runs, "cq-last-execution", plan=two_runs["plan"].iri)
    assert [int(r["position"]) for r in rows] == list(range(1, 8))
    assert all(r["run"] == two_runs["b"] and r["execution"].startswith(two_runs["b"] + "/cell/") for r in rows)


def test_cq_environment_gives_settings_with_their_classes(two_runs):
    rows = _rows(two_runs, "cq-environment", run=two_runs["a"])
    classes = {r["class"].rsplit("#", 1)[-1] for r in rows}
    assert {"Notebook", "Kernel", "ProgrammingLanguage", "OperatingSystem", "Hardware", "Package"} <= classes
    packages = {r["name"]: r["version"] for r in rows if r["class"].endswith("#Package")}
    assert packages.get("torch") and packages.get("scikit-learn")
