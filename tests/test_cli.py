"""The command line as users meet it: help, formats, the store option, the demo."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlprov_rdf.cli import main

VERBS = ["init", "validate", "generate", "run", "ingest", "runs", "query", "regenerate", "browse", "demo"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    result = CliRunner().invoke(main, [verb, "--help"])
    assert result.exit_code == 0
    assert "Usage: main " + verb in result.output or f"{verb} [OPTIONS]" in result.output
    if verb not in ("init", "validate", "demo"):
        assert "--store" in result.output


def test_init_writes_a_plan_that_validates_and_refuses_to_overwrite(tmp_path):
    plan = tmp_path / "mine.ttl"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(plan)]).exit_code == 0
    assert runner.invoke(main, ["validate", str(plan)]).exit_code == 0
    again = runner.invoke(main, ["init", str(plan)])
    assert again.exit_code == 2 and "exists already" in again.stderr
    unknown = runner.invoke(main, ["init", "--task", "nope", str(tmp_path / "x.ttl")])
    assert unknown.exit_code == 2 and "unknown task" in unknown.stderr


def test_runs_and_query_formats_on_a_real_run(executed_run):
    store = str(executed_run["location"].home)
    runner = CliRunner()
    table = runner.invoke(main, ["runs", "--store", store])
    assert table.exit_code == 0 and executed_run["outcome"].run in table.output
    as_json = json.loads(runner.invoke(main, ["runs", "--store", store, "--format", "json"]).output)
    assert as_json["head"]["vars"][0] == "run"
    assert as_json["results"]["bindings"][0]["run"] == {"type": "uri", "value": executed_run["outcome"].run}
    rows = list(csv.DictReader(io.StringIO(runner.invoke(main, ["runs", "--store", store, "--format", "csv"]).output)))
    assert rows[0]["run"] == executed_run["outcome"].run
    params = runner.invoke(main, ["query", "run-params", "--param", f"run={executed_run['outcome'].run}", "--store", store])
    assert params.exit_code == 0 and "optimizer" in params.output and "Adam" in params.output
    sparql = runner.invoke(main, ["query", "SELECT (COUNT(*) AS ?n) WHERE { ?r a <http://www.w3.org/ns/mls#Run> }", "--store", store, "--format", "csv"])
    assert sparql.exit_code == 0 and sparql.output.splitlines()[1] == "1"


def test_runs_lists_a_page_of_runs(executed_run):
    store = str(executed_run["location"].home)
    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["runs", "--limit", "1", "--store", store, "--format", "json"]).output)
    assert [b["run"]["value"] for b in first["results"]["bindings"]] == [executed_run["outcome"].run]
    beyond = json.loads(runner.invoke(main, ["runs", "--offset", "1", "--store", store, "--format", "json"]).output)
    assert beyond["results"]["bindings"] == []
    assert runner.invoke(main, ["runs", "--limit", "-1", "--store", store]).exit_code == 2
    bad = runner.invoke(main, ["query", "runs", "-p", "limit=x", "--store", store])
    assert bad.exit_code == 2 and bad.stderr.strip().splitlines() == [
        "mlprov: error: query runs: parameter limit: 'x' is not a whole number of rows (0 or more)"
    ]


def test_query_with_a_bad_parameter_or_syntax_is_one_line_and_exit_2(executed_run):
    store = str(executed_run["location"].home)
    runner = CliRunner()
    bad_iri = runner.invoke(main, ["query", "run-params", "--param", "run=urn:x> } ; DROP ALL ; #", "--store", store])
    assert bad_iri.exit_code == 2 and len(bad_iri.stderr.strip().splitlines()) == 1
    bad_sparql = runner.invoke(main, ["query", "SELECT WHERE {", "--store", store])
    assert bad_sparql.exit_code == 2 and "syntax" in bad_sparql.stderr.lower()
    unknown = runner.invoke(main, ["query", "no-such-query", "--store", store])
    assert unknown.exit_code == 2


def test_store_comes_from_the_environment(executed_run, monkeypatch):
    monkeypatch.setenv("MLPROV_STORE", str(executed_run["location"].home))
    result = CliRunner().invoke(main, ["runs"])
    assert result.exit_code == 0 and executed_run["outcome"].run in result.output


def test_browse_writes_a_graph_of_the_run_with_readable_labels(executed_run, tmp_path):
    out = tmp_path / "run.html"
    result = CliRunner().invoke(main, ["browse", executed_run["outcome"].run, "-o", str(out), "--store", str(executed_run["location"].home)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    for label in ("Load the data", "Train the model", "trained model", "accuracy", "iris"):
        assert label in html, label
    unknown = CliRunner().invoke(main, ["browse", "urn:mlprov:run:nope", "-o", str(tmp_path / "x.html"), "--store", str(executed_run["location"].home)])
    assert unknown.exit_code == 2 and not (tmp_path / "x.html").exists()


def test_demo_runs_the_five_jobs_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mlprov_rdf", "demo", "--dir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical to the generated notebook: yes" in proc.stdout
    for artefact in ("iris.ttl", "iris.ipynb", "iris-regenerated.ipynb", "graph.html"):
        assert (tmp_path / "demo" / artefact).is_file()
