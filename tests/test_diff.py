"""`mlprov diff`: two real runs compared step by step.

Run B is run A's notebook with the evaluation cell edited by hand and a failing cell
added; both ran with the same settings (tests/test_queries_real_runs.py executes them once
per session).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.diff import diff_runs
from mlprov_rdf.errors import UserError
from mlprov_rdf.store import open_store
from tests.test_queries_real_runs import make_two_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return make_two_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def diff(runs):
    with open_store(runs["location"], create=False) as store:
        return diff_runs(store, runs["a"], runs["b"])


def _store(runs) -> str:
    return str(runs["location"].home)


def test_groups_follow_the_plan_steps_then_cells_without_a_step_then_resources_then_the_environment(diff, runs):
    steps = [g for g in diff.groups if g.step]
    assert [g.position for g in steps] == list(range(1, 8))
    assert steps[0].title == "1. Set up" and steps[-1].title == "7. Evaluate the model"
    assert diff.groups[0].key == "run" and diff.groups[-1].key == "environment"
    assert [g.key for g in diff.groups if not g.step][1:-1] == ["parameters", "added", "usage"]
    assert diff.a.run == runs["a"] and diff.b.run == runs["b"]
    assert (diff.a.status, diff.b.status) == ("Completed", "Failed")


def test_the_edited_cell_shows_under_its_step_with_a_unified_diff(diff, runs):
    evaluation = diff.group(runs["plan"].iri + "#evaluation")
    code = next(i for i in evaluation.items if i.name == "code sha256")
    assert not code.same and len(code.a) == 64 and len(code.b) == 64
    assert code.source_diff.startswith("--- A cell 8\n+++ B cell 8\n@@ ")
    assert "+print('edited by hand')" in code.source_diff.splitlines()
    assert not any(line.startswith("-") and not line.startswith("---") for line in code.source_diff.splitlines())
    edited = next(i for i in evaluation.items if i.name == "edited by hand")
    assert (edited.a, edited.b, edited.same) == (False, True, False)
    # every other step ran the same code
    for group in diff.groups:
        if group.step and group is not evaluation:
            assert all(i.same for i in group.items if i.kind == "code"), group.title


def test_settings_data_and_metrics_are_identical(diff):
    settings = [i for g in diff.groups for i in g.items if i.kind == "setting"]
    assert len(settings) == 16 and all(i.same for i in settings)  # every setting an Iris MLP notebook records
    epochs = next(i for i in settings if i.name == "epochs")
    assert (epochs.a, epochs.b) == (8, 8)
    assert diff.group("other settings") is None  # each setting sits under the step that takes it
    ingestion = next(g for g in diff.groups if g.title == "2. Load the data")
    assert {i.name for i in ingestion.items if i.kind == "setting"} >= {"dataset"}
    data = [i for g in diff.groups for i in g.items if i.kind == "data"]
    assert len(data) == 3 and all(i.same and len(i.a) == 64 for i in data)  # data set, two splits
    metrics = [i for g in diff.groups for i in g.items if i.kind == "metric"]
    assert {"accuracy (test)", "f1 (test) [setosa]", "training_loss (train) per epoch"} <= {i.name for i in metrics}
    assert all(i.same for i in metrics)
    series = next(i for i in metrics if i.name.endswith("per epoch"))
    assert isinstance(series.a, list) and len(series.a) == 8


def test_the_added_failing_cell_and_the_status_differ(diff):
    added = diff.group("added")
    code = next(i for i in added.items if i.name == "added cell 1: code sha256")
    assert code.a is None and code.b and code.source_diff.splitlines()[-1] == "+1 / 0"
    error = next(i for i in added.items if i.name == "added cell 1: error")
    assert error.b.startswith("ZeroDivisionError")
    status = next(i for i in diff.group("run").items if i.name == "status")
    assert (status.a, status.b) == ("Completed", "Failed")
    kinds = {(g.key if not g.step else "step", i.kind) for g, i in diff.differences}
    assert kinds <= {("run", "run"), ("step", "code"), ("added", "code"), ("environment", "package")}


def test_a_run_compared_with_itself_is_identical(runs):
    with open_store(runs["location"], create=False) as store:
        same = diff_runs(store, runs["a"], runs["a"].rsplit(":", 1)[-1])  # an IRI and a bare id
    assert same.identical and same.differences == []
    assert "no differences" in same.to_table()


def test_table_groups_by_step_and_counts_identical_items(diff):
    table = diff.to_table()
    lines = table.splitlines()
    assert lines[0].startswith("run A  urn:mlprov:run:") and "Completed" in lines[0]
    assert "Failed" in lines[1] and "same plan digest" in lines[2]
    step = lines.index("7. Evaluate the model")
    block = lines[step: lines.index("Parameters cell")]
    assert any(line.startswith("≠ code") and "code sha256" in line for line in block)
    assert "      +print('edited by hand')" in block
    assert any(line.startswith("  also identical:") and "metric" in line for line in block)
    ingestion = lines[lines.index("2. Load the data") + 1]
    assert ingestion.startswith("  identical:") and "setting" in ingestion
    full = diff.to_table(show_all=True)
    assert len(full.splitlines()) > len(lines) and "  setting" in full


def test_cli_diff_prints_a_table_or_json_and_exits_0(runs):
    runner = CliRunner()
    table = runner.invoke(main, ["diff", runs["a"], runs["b"], "--store", _store(runs)])
    assert table.exit_code == 0, table.output
    assert "7. Evaluate the model" in table.output and "+print('edited by hand')" in table.output
    as_json = runner.invoke(main, ["diff", runs["a"], runs["b"], "--store", _store(runs), "--format", "json"])
    assert as_json.exit_code == 0
    document = json.loads(as_json.output)
    assert document["a"]["run"] == runs["a"] and document["identical"] is False
    evaluation = next(g for g in document["groups"] if g["step"] and g["step"].endswith("#evaluation"))
    code = next(i for i in evaluation["items"] if i["name"] == "code sha256")
    assert code["same"] is False and "+print('edited by hand')" in code["source_diff"]
    settings = [i for g in document["groups"] for i in g["items"] if i["kind"] == "setting"]
    assert settings and all(i["same"] for i in settings)
    assert document["differences"] == sum(1 for g in document["groups"] for i in g["items"] if not i["same"])


def test_an_unknown_run_is_one_line_and_exit_2(runs):
    runner = CliRunner()
    unknown = runner.invoke(main, ["diff", runs["a"], "urn:mlprov:run:20990101T000000-deadbeef", "--store", _store(runs)])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == (
        f"mlprov: error: run urn:mlprov:run:20990101T000000-deadbeef: not in the store {runs['location'].home}; "
        "'mlprov runs' lists the runs it has"
    )
    garbage = runner.invoke(main, ["diff", "not a run", runs["b"], "--store", _store(runs)])
    assert garbage.exit_code == 2 and len(garbage.stderr.strip().splitlines()) == 1
    with open_store(runs["location"], create=False) as store, pytest.raises(UserError, match="not in the store"):
        diff_runs(store, runs["a"], "urn:mlprov:run:nope")


def test_what_two_runs_used_is_shown_beside_and_never_counted_as_a_difference(executed_run):
    from mlprov_rdf.diff import diff_runs
    from mlprov_rdf.store import open_store

    run = executed_run["outcome"].run
    with open_store(executed_run["location"], read_only=True) as store:
        diff = diff_runs(store, run, run)
    used = diff.group("usage")
    assert used is not None and {i.name for i in used.items} >= {"CPU s, user", "peak memory, bytes"}
    assert all(i.same for i in used.items) and diff.identical
    assert "Resources used" in diff.to_table() and "peak memory, bytes" in diff.to_table()
