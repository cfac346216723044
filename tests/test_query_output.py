"""Query output and input habits: ``--format jsonl`` (one flat JSON object a row, for jq; ``json`` stays SPARQL 1.1 results JSON), runs given by their bare id."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mlprov_rdf.cli import main


def _invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_jsonl_gives_one_flat_object_a_row_with_json_numbers(executed_run):
    run, store = executed_run["outcome"].run, str(executed_run["location"].home)
    lines = _invoke("query", "run-metrics", "-p", f"run={run}", "--store", store, "--format", "jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    standard = json.loads(_invoke("query", "run-metrics", "-p", f"run={run}", "--store", store, "--format", "json"))
    assert len(rows) == len(standard["results"]["bindings"]) > 0
    assert all(set(row) == set(standard["head"]["vars"]) for row in rows)  # every column, unbound as null
    accuracy = [r for r in rows if r["measure"].endswith("#accuracy") and r["split"] == "test"]  # IRIs as their text
    assert accuracy and isinstance(accuracy[0]["value"], float) and 0 <= accuracy[0]["value"] <= 1


def test_jsonl_of_runs_keeps_times_as_their_text_and_an_ask_as_one_object(executed_run):
    store = str(executed_run["location"].home)
    [row] = [json.loads(line) for line in _invoke("runs", "--store", store, "--format", "jsonl").splitlines()]
    assert row["run"] == executed_run["outcome"].run and row["started"].startswith("20")
    asked = _invoke("query", "ASK { ?s ?p ?o }", "--store", store, "--format", "jsonl")
    assert json.loads(asked) == {"boolean": True}


def test_jsonl_of_the_tasks_is_one_task_a_line():
    tasks = [json.loads(line) for line in _invoke("tasks", "--format", "jsonl").splitlines()]
    assert {"multiclass-classification", "image-classification"} <= {t["name"] for t in tasks}


def test_a_query_takes_a_run_as_its_bare_id(executed_run):
    run, store = executed_run["outcome"].run, str(executed_run["location"].home)
    short = run.rsplit(":", 1)[1]
    by_id = _invoke("query", "run-params", "-p", f"run={short}", "--store", store, "--format", "jsonl")
    assert by_id == _invoke("query", "run-params", "-p", f"run={run}", "--store", store, "--format", "jsonl") != ""
