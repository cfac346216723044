"""Every canned query, on real runs executed in a real kernel and stored on disk."""

from __future__ import annotations

import json

import nbformat
import pytest

from mlprov_rdf import queries
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import generate_notebook, run
from tests.conftest import make_plan


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Run A as generated; run B with a hand-edited evaluation cell and a failing extra cell."""
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
    return {"location": location, "plan": plan, "a": first.run, "b": second.run}


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
    assert len(rows) == 33  # every parameter of the task, the other models' hyperparameters included
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


def test_agents_names_the_person_the_software_and_the_plan_author(two_runs):
    text = json.dumps(_rows(two_runs, "agents", run=two_runs["a"]))
    assert "mlprov-rdf" in text and "Test Author" in text and "person" in text


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
    samples = {"run": two_runs["a"], "other": two_runs["b"], "plan": two_runs["plan"].iri}
    for name, query in queries.load_library().items():
        params = {p.name: samples[p.name] for p in query.params if p.name in samples}
        rows = _rows(two_runs, name, **params)
        if name not in ("drifted-cells", "failed-cells"):
            assert rows, name


def test_json_output_is_sparql_results_json(two_runs):
    with open_store(two_runs["location"]) as store:
        result = queries.run(store, queries.resolve("runs"), {})
    data = json.loads(queries.to_sparql_json(result))
    assert data["head"]["vars"][0] == "run"
    assert data["results"]["bindings"][0]["run"]["type"] == "uri"
