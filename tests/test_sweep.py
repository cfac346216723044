"""`mlprov sweep` on a real Dask LocalCluster: real kernels, a real store, real faults.

The plan is the multiclass task's scikit-learn logistic regression on Iris, a run of a
few seconds. Worker processes are killed by PID, the client is interrupted with SIGINT,
kernels are started eight at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from mlprov_rdf import queries
from mlprov_rdf.runs_table import load_runs_table
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.sweep import record
from mlprov_rdf.sweep.executor import DaskExecutor, LocalExecutor
from mlprov_rdf.sweep.grid import parse_axes
from mlprov_rdf.sweep.running import Settings, sweep
from mlprov_rdf.sweep.task import KernelStartFailed, NotebookJob
from tests.conftest import make_plan

GRID = ["-p", "logreg_C=0.1,1", "-p", "logreg_max_iter=50,100"]


@pytest.fixture
def plan(tmp_path) -> Path:
    return make_plan(tmp_path / "iris.ttl", model='"logistic_regression"')


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MLPROV_STORE", "MLPROV_JOURNAL_DIR")}


def _mlprov(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlprov_rdf", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**_env(), **(env or {})}, cwd=cwd)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _sweeps(location: StoreLocation) -> list[dict]:
    with open_store(location, create=False, read_only=True) as st:
        result = queries.run(st, queries.resolve("sweeps"))
    return [dict(zip(result.columns, (t.value if t is not None else None for t in row))) for row in result.rows]


def _runs(location: StoreLocation, sweep_iri: str) -> list[dict]:
    with open_store(location, create=False, read_only=True) as st:
        result = queries.run(st, queries.resolve("sweep-summary"), {"sweep": sweep_iri})
    return [dict(zip(result.columns, (t.value if t is not None else None for t in row))) for row in result.rows]


def _members(location: StoreLocation, sweep_iri: str) -> list[str]:
    with open_store(location, create=False, read_only=True) as st:
        return sorted(row["b"].value for row in st.query(
            f"SELECT ?b WHERE {{ GRAPH <{sweep_iri}> {{ <{sweep_iri}/runs> <http://www.w3.org/ns/prov#hadMember> ?b }} }}"))


def test_a_2x2_grid_on_two_workers_gives_four_completed_runs_in_one_sweep_queried_back(plan, tmp_path):
    location = StoreLocation(tmp_path / "store")
    outcome = sweep(plan, location, parse_axes(GRID[1::2]), Settings("dask", workers=2))
    assert outcome.status == "Completed"
    assert sorted(p.status for p in outcome.outcomes) == ["Completed"] * 4

    [row] = _sweeps(location)
    assert row["sweep"] == outcome.sweep and row["sweep"].startswith("urn:mlprov:sweep:")
    assert (row["status"], row["executor"], row["workers"], row["points"], row["runs"], row["completed"]) == (
        "Completed", "dask", "2", "4", "4", "4")
    assert row["ended"] > row["started"]
    runs = _runs(location, outcome.sweep)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"Completed"}
    assert len({r["plan"] for r in runs}) == 4  # each point run once
    assert {frozenset(r["settings"].split(", ")) for r in runs} == {
        frozenset({f"logreg_C = {c}", f"logreg_max_iter = {i}"}) for c in ("0.1", "1") for i in ("50", "100")}
    assert _members(location, outcome.sweep) == sorted(f"urn:mlprov:bundle:{r['run'].rsplit(':', 1)[1]}" for r in runs)
    with open_store(location, create=False, read_only=True) as st:
        stored = record.read(st, outcome.sweep)
        assert [(a.name, a.values) for a in stored.axes] == [("logreg_C", ("0.1", "1")), ("logreg_max_iter", ("50", "100"))]
        assert record.completed_plans(st, outcome.sweep) == {p.plan for p in stored.points}
        # the sweep is a prov:Activity that generated a prov:Collection of its runs' bundles
        assert st.query(f"""ASK {{ <{outcome.sweep}> a <https://w3id.org/mlprov#Sweep> ;
            <http://www.w3.org/ns/prov#generated> ?c . ?c a <https://w3id.org/mlprov#SweepRuns> }}""")

    listed = subprocess.run([sys.executable, "-m", "mlprov_rdf", "runs", "--sweep", outcome.sweep, "--store",
                             str(location.home), "--format", "json"], capture_output=True, text=True, env=_env())
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["results"]["bindings"]) == 4

    # the serve runs page has the sweep as a column: a filter on it selects the sweep's runs
    table = load_runs_table(location, timeout_s=60)
    assert set(table.frame["sweep"]) == {outcome.sweep}
    assert table.columns["sweep"].choices == (outcome.sweep,)
    view = table.view({"f.sweep": [outcome.sweep]})
    assert sorted(table.select(view).page["run"]) == sorted(r["run"] for r in runs)


def _kernel_of_worker(root: psutil.Process) -> psutil.Process | None:
    """A worker process of the sweep that is running a kernel (the kernel's parent)."""
    for child in root.children(recursive=True):
        try:
            if any("ipykernel_launcher" in part for part in child.cmdline()):
                return child.parent()
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_worker_killed_mid_sweep_still_ends_with_every_run_stored_once(plan, tmp_path):
    store, scratch = tmp_path / "store", tmp_path / "tmp"
    scratch.mkdir()
    proc = _mlprov("sweep", str(plan), *GRID, "--workers", "2", "--store", str(store), "--format", "json", cwd=tmp_path,
                   env={"TMPDIR": str(scratch)})
    root = psutil.Process(proc.pid)
    deadline, killed = time.monotonic() + 240, None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        worker = _kernel_of_worker(root)
        if worker is not None and worker.pid != proc.pid:
            worker.kill()
            killed = worker.pid
        time.sleep(0.2)
    code, out, err = _finish(proc)
    assert killed is not None, "no worker was running a kernel"
    assert code == 0, err[-3000:]
    assert list(scratch.glob("mlprov-sweep-*")) == []  # the killed worker's task folder too
    shown = [line for line in err.splitlines() if line.startswith("sweeping: ")]  # progress in a log: plain lines
    assert shown[-1] == "sweeping: 4/4 runs" and set(shown) <= {f"sweeping: {i}/4 runs" for i in range(1, 5)}, err
    location = StoreLocation(store)
    [row] = _sweeps(location)
    assert (row["status"], row["runs"], row["completed"]) == ("Completed", "4", "4")
    runs = _runs(location, row["sweep"])
    assert len(runs) == 4 and len({r["plan"] for r in runs}) == 4
    assert len(json.loads(out)["results"]["bindings"]) == 4


def test_ctrl_c_records_the_sweep_interrupted_and_resume_completes_it(plan, tmp_path):
    store = tmp_path / "store"
    journals = store / "journal"
    proc = _mlprov("sweep", str(plan), *GRID, "--workers", "2", "--store", str(store), cwd=tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(journals.glob("*.ingested")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    code, _, err = _finish(proc)
    assert code == 130, err[-3000:]
    location = StoreLocation(store)
    [row] = _sweeps(location)
    assert row["status"] == "Interrupted" and 1 <= int(row["completed"]) < 4, row
    kept = {r["run"] for r in _runs(location, row["sweep"])}

    code, out, err = _finish(_mlprov("sweep", "--resume", row["sweep"], "--executor", "local", "--store", str(store),
                                     "--format", "json", "--quiet", cwd=tmp_path))
    assert code == 0, err[-3000:]
    assert not any(line.startswith("sweeping: ") for line in err.splitlines()), err  # --quiet: no progress
    [row] = _sweeps(location)
    assert (row["status"], row["points"], row["completed"]) == ("Completed", "4", "4")
    runs = _runs(location, row["sweep"])
    assert kept <= {r["run"] for r in runs}  # what finished before is kept
    completed = [r["plan"] for r in runs if r["status"] == "Completed"]
    assert sorted(completed) == sorted(set(completed)) and len(completed) == 4  # no point completed twice


def _one_cell_notebook(path: Path) -> NotebookJob:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.getpid())")])
    nbformat.write(nb, str(path))
    return NotebookJob(path.stem, path.name, path.read_text(), str(path.parent))


def test_eight_kernels_started_at_once_through_the_retrying_executor_all_start(tmp_path):
    jobs = [_one_cell_notebook(tmp_path / f"cell-{i}.ipynb") for i in range(8)]
    with DaskExecutor(workers=8, retries=3) as executor:
        outcomes = list(executor.outcomes(jobs))
    results = [r for _, r in outcomes]
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)
    assert all(r.ok and r.error is None for r in results)
    assert len({r.worker_pid for r in results}) > 1  # started on several workers at once


def test_a_kernel_that_dies_on_start_is_started_again_then_reported(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
                 "p.write_text(p.read_text() + 'x'); sys.exit(1)", str(tmp_path / "starts"), "{connection_file}"],
        "display_name": "dies at once", "language": "python"}))
    (tmp_path / "starts").write_text("")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    job = _one_cell_notebook(tmp_path / "cell.ipynb")
    [(_, outcome)] = list(LocalExecutor(retries=2).outcomes([job]))
    assert isinstance(outcome, KernelStartFailed)
    assert (tmp_path / "starts").read_text() == "xxx"  # the first start and two retries


def test_a_bad_grid_value_is_one_line_exit_2_and_runs_nothing(plan, tmp_path):
    store = tmp_path / "store"
    code, out, err = _finish(_mlprov("sweep", str(plan), "-p", "logreg_C=0.1,-1", "-p", "logreg_max_iter=50",
                                     "--store", str(store), cwd=tmp_path), timeout=120)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "logreg_C=-1" in err, err
    assert not store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.ttl"]
