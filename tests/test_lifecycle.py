"""Runs that mlprov does not drive, runs that die, and plans read back from the store."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import papermill
import pyoxigraph as ox
from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import run
from tests.conftest import make_plan

STATUS_AND_CELLS = """
PREFIX mlprov: <https://w3id.org/mlprov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX p-plan: <http://purl.org/net/p-plan#>
SELECT ?run ?status ?cell ?cellStatus ?step WHERE {
  ?run mlprov:status ?status .
  ?cell dcterms:isPartOf ?run ; mlprov:executionOrder ?order ; mlprov:status ?cellStatus .
  OPTIONAL { ?cell p-plan:correspondsToStep ?step }
} ORDER BY ?run ?order
"""


def _runs(location):
    with open_store(location) as store:
        rows = [[t.value if t is not None else None for t in row] for row in store.query(STATUS_AND_CELLS)]
    runs: dict[str, dict] = {}
    for run_iri, status, _cell, cell_status, step in rows:
        entry = runs.setdefault(run_iri, {"status": status.rsplit("#")[1], "cells": []})
        entry["cells"].append((cell_status.rsplit("#")[1], step))
    return runs


def _generate(tmp_path, store, **values):
    plan = make_plan(tmp_path / "iris.ttl", **values)
    notebook = tmp_path / "iris.ipynb"
    result = CliRunner().invoke(main, ["generate", str(plan), "-o", str(notebook), "--store", str(store)])
    assert result.exit_code == 0, result.output
    return plan, notebook


def test_kernel_killed_mid_run_leaves_an_interrupted_run_with_the_finished_cells(tmp_path):
    store = tmp_path / "store"
    _plan, notebook = _generate(tmp_path, store, epochs="5")
    nb = nbformat.read(str(notebook), as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("mlprov", {}).get("step", "").endswith("#model-definition"))
    nb.cells.insert(index, nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    nbformat.write(nb, str(notebook))

    outcome = run(notebook, StoreLocation(store))

    assert not outcome.ok
    recorded = _runs(StoreLocation(store))[outcome.run]
    assert recorded["status"] == "Interrupted"
    statuses = [s for s, _ in recorded["cells"]]
    assert statuses == ["Completed"] * 5 + ["Interrupted"]
    assert [step.rsplit("#")[1] for _, step in recorded["cells"] if step] == [
        "setup", "data-ingestion", "data-preparation", "data-segregation"
    ]


def test_failing_cell_gives_a_failed_run_and_exit_1(tmp_path):
    store = tmp_path / "store"
    _plan, notebook = _generate(tmp_path, store, epochs="5")
    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('boom')"))
    nbformat.write(nb, str(notebook))
    result = CliRunner().invoke(main, ["run", str(notebook), "--store", str(store)])
    assert result.exit_code == 1
    assert "ValueError: boom" in result.stderr
    (entry,) = _runs(StoreLocation(store)).values()
    assert entry["status"] == "Failed"  # every planned step finished, but the notebook ended in an error
    assert entry["cells"][-1] == ("Failed", None)


def test_notebook_run_by_papermill_is_recorded_completely_after_ingest(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _plan, notebook = _generate(tmp_path, store, epochs="5")
    monkeypatch.setenv("MLPROV_STORE", str(store))
    papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), parameters={"epochs": 3}, progress_bar=False, kernel_name="python3", cwd=str(tmp_path))
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "out.ipynb")])
    assert result.exit_code == 0, result.output
    (run_iri, entry), = _runs(StoreLocation(store)).items()
    assert entry["status"] == "Completed"
    assert [s for s, _ in entry["cells"]] == ["Completed"] * 9  # 7 steps, parameters, papermill's injected cell
    with open_store(StoreLocation(store)) as st:
        (row,) = st.query(
            "SELECT ?run ?v WHERE { ?run <http://www.w3.org/ns/mls#hasInput> ?s . ?s <https://w3id.org/mlprov#parameterName> 'epochs' ; <http://www.w3.org/ns/mls#hasValue> ?v }",
            {"run": ox.NamedNode(run_iri)},
        )
    assert row["v"].value == "3"  # the value actually used, not the plan's


def test_notebook_run_by_nbconvert_is_recorded_after_ingest_of_the_journal_folder(tmp_path):
    store = tmp_path / "store"
    _plan, notebook = _generate(tmp_path, store, epochs="5")
    env = {"MLPROV_STORE": str(store), "PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(notebook), "--output", "done.ipynb"],
        check=True, capture_output=True, env=env,
    )
    result = CliRunner().invoke(main, ["ingest", "--store", str(store)])
    assert result.exit_code == 0, result.output
    (entry,) = _runs(StoreLocation(store)).values()
    assert entry["status"] == "Completed" and len(entry["cells"]) == 8
    again = CliRunner().invoke(main, ["ingest", "--store", str(store)])
    assert "nothing new to ingest" in again.output


def test_regenerate_from_the_stored_plan_iri_is_byte_identical(tmp_path):
    store = tmp_path / "store"
    plan, notebook = _generate(tmp_path, store)
    regenerated = tmp_path / "again.ipynb"
    result = CliRunner().invoke(main, ["regenerate", "https://example.org/plans/iris", "-o", str(regenerated), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert regenerated.read_bytes() == notebook.read_bytes()


def test_regenerate_of_an_unknown_plan_is_a_clear_error(tmp_path):
    store = tmp_path / "store"
    _generate(tmp_path, store)
    result = CliRunner().invoke(main, ["regenerate", "https://example.org/nope", "-o", str(tmp_path / "x.ipynb"), "--store", str(store)])
    assert result.exit_code == 2
    assert "no plan with this IRI" in result.stderr
    assert not (tmp_path / "x.ipynb").exists()


def test_regenerate_is_byte_identical_when_the_store_rewrites_numbers(tmp_path):
    store = tmp_path / "store"
    _plan, notebook = _generate(tmp_path, store, learning_rate="1.0", test_size="0.20")  # Oxigraph keeps "1", "0.2"
    regenerated = tmp_path / "again.ipynb"
    result = CliRunner().invoke(main, ["regenerate", "https://example.org/plans/iris", "-o", str(regenerated), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert regenerated.read_bytes() == notebook.read_bytes()
