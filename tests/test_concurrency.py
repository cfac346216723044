"""Eight `mlprov run` processes started at once against one embedded store.

Oxigraph admits one writer process. Each `mlprov run` opens the store three times
(store the plan, ingest the journal, print the metrics) and waits, with backoff, while
another process holds it; the kernel only appends to its journal, so nothing that
waits is lost. All eight runs must arrive, complete, with every cell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mlprov_rdf import ingest
from mlprov_rdf.store import StoreLocation, open_store
from tests.conftest import make_plan

RUNS = 8

CELLS = """
PREFIX mlprov: <https://w3id.org/mlprov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX p-plan: <http://purl.org/net/p-plan#>
SELECT ?run ?status ?cell ?cell_status ?step WHERE {
  ?run a <http://www.w3.org/ns/mls#Run> ; mlprov:status ?status .
  ?cell dcterms:isPartOf ?run ; mlprov:status ?cell_status .
  OPTIONAL { ?cell p-plan:correspondsToStep ?step }
}
"""


def test_eight_runs_started_at_once_all_arrive_complete(tmp_path):
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k not in ("MLPROV_STORE", "MLPROV_JOURNAL_DIR")}
    plans = [make_plan(tmp_path / f"iris-{i}.ttl", epochs="3") for i in range(RUNS)]  # plan IRIs .../iris-{i}
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlprov_rdf", "run", str(plan), "--store", str(store), "-o", str(tmp_path / f"out-{i}.ipynb")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        for i, plan in enumerate(plans)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(10, 400 - (time.monotonic() - started))))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-3000:]}"
        assert "completed" in out
    location = StoreLocation(store)
    assert ingest.pending_journals(location.journal_dir) == []  # every journal went in
    assert len(list(location.journal_dir.glob("*.nt.gz"))) == RUNS  # each compressed once ingested
    with open_store(location, create=False) as st:
        rows = [[t.value if t is not None else None for t in row] for row in st.query(CELLS)]
        planned = [
            (row["run"].value, row["step"].value)
            for row in st.query(
                "SELECT ?run ?step WHERE { ?run <https://w3id.org/mlprov#plan> ?plan . "
                "?step <http://purl.org/net/p-plan#isStepOfPlan> ?plan }"
            )
        ]
    runs: dict[str, dict] = {}
    for run_iri, status, cell, cell_status, step in rows:
        entry = runs.setdefault(run_iri, {"status": status, "cells": {}})
        entry["cells"][cell] = (cell_status, step)
    assert len(runs) == RUNS
    steps: dict[str, set] = {}
    for run_iri, step in planned:
        steps.setdefault(run_iri, set()).add(step)
    for run_iri, entry in runs.items():
        assert len(steps[run_iri]) == 7, run_iri
        assert entry["status"].endswith("#Completed"), run_iri
        assert len(entry["cells"]) == 8, run_iri  # the seven steps and the parameters cell
        assert all(s.endswith("#Completed") for s, _ in entry["cells"].values()), run_iri
        assert {step for _, step in entry["cells"].values() if step} == steps[run_iri], run_iri


OPEN_NEW_STORE = """
import sys
from mlprov_rdf.store import StoreLocation, open_store
with open_store(StoreLocation.resolve(sys.argv[1])) as store:
    store.query("ASK {}")
"""


def test_processes_creating_one_new_store_at_once_never_see_it_damaged(tmp_path):
    """A database being created has files but no CURRENT yet; only the lock decides."""
    for trial in range(5):
        store = tmp_path / f"store-{trial}"
        procs = [
            subprocess.Popen([sys.executable, "-c", OPEN_NEW_STORE, str(store)], stderr=subprocess.PIPE, text=True)
            for _ in range(RUNS)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
