"""The fault suite for ``mlprov run``: SIGINT, SIGTERM, kill -9, --timeout and a dead kernel.

Real ``mlprov run`` subprocesses and real kernels. A stop prints one line, saves the
notebook with the outputs of the cells that ran, stores the run Interrupted (cells before
Completed, the stopped one Interrupted, an ``mlprov:stopReason`` saying why and where)
without a separate ingest, and leaves no kernel behind; kill -9 of ``mlprov run`` itself
loses no finished cell: ``mlprov ingest`` stores them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest

from mlprov_rdf import vocab
from mlprov_rdf.store import StoreLocation, open_store
from tests.bad_input import MLPROV, error_lines, mlprov
from tests.conftest import make_plan

#: A bound on every wait: a run that neither reaches its cell nor ends fails the test.
WAIT_S = 180


@dataclass
class Stopped:
    """A finished ``mlprov run`` process and what it left."""

    returncode: int
    stderr_lines: list[str]
    journal: Path
    run: str


def sleepy_notebook(path: Path, cells: list[str], *, completes: bool = False) -> Path:
    """A small recording notebook: cell 1 starts capture, then each given cell runs; every
    cell prints that it finished, so the saved notebook shows which ran. Its plan has a step
    no cell runs (the run ends Interrupted) unless it ``completes``."""
    steps = {} if completes else {"https://example.org/plans/sleepy#never": "a step never run"}
    start = (
        "from mlprov_rdf import capture\n"
        'run = capture.start(plan="https://example.org/plans/sleepy", title="sleepy", plan_digest="0" * 64,\n'
        f"                    steps={steps!r}, parameters={{}})\n"
    )
    sources = [start + cells[0], *cells[1:]]
    code = [nbformat.v4.new_code_cell(f"import time\n{source}\nprint('cell {k} done')") for k, source in enumerate(sources, 1)]
    nbformat.write(nbformat.v4.new_notebook(cells=code), str(path))
    return path


def _cell_started(journal: Path, cell: int) -> bool:
    return f"/cell/{cell}> <{vocab.PROV}startedAtTime>" in journal.read_text(encoding="utf-8")


def run_until(args: list[str], *, cwd: Path, home: Path, cell: int, send: int | None, after_s: float = 1.0) -> Stopped:
    """Start ``mlprov run ARGS``, wait until the journal shows ``cell`` started, send ``send``
    to the mlprov process (None: let it end by itself), and wait for it to end."""
    journal_dir = home / "journal"
    env = {k: v for k, v in os.environ.items() if k != "MLPROV_STORE"} | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*MLPROV, "run", *map(str, args), "--store", str(home)], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        journal = None
        while time.monotonic() < deadline and process.poll() is None:
            journals = sorted(journal_dir.glob("*.nt")) if journal_dir.is_dir() else []
            if journals and _cell_started(journals[0], cell):
                journal = journals[0]
                break
            time.sleep(0.1)
        assert journal is not None, f"cell {cell} never started: {process.poll()}"
        time.sleep(after_s)  # well inside the cell
        if send is not None:
            process.send_signal(send)
        _, stderr = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Stopped(process.returncode, error_lines(stderr), journal,
                   vocab.run_iri(journal.stem))


def recorded(home: Path, run: str) -> tuple[str, dict[int, str], list[str]]:
    """The run's status, each cell's status by execution order, and its stop reasons, from the store."""
    with open_store(StoreLocation(home), create=False) as store:
        def values(sparql: str) -> list:
            return list(store.query(sparql.replace("RUN", f"<{run}>")))

        status = [s["s"].value for s in values(f"SELECT ?s WHERE {{ RUN <{vocab.MLPROV}status> ?s }}")]
        cells = {
            int(s["o"].value): s["s"].value.rsplit("#", 1)[1]
            for s in values(f"SELECT ?o ?s WHERE {{ ?c <{vocab.DCTERMS}isPartOf> RUN ; "
                            f"<{vocab.MLPROV}executionOrder> ?o ; <{vocab.MLPROV}status> ?s }}")
        }
        reasons = [s["r"].value for s in values(f"SELECT ?r WHERE {{ RUN <{vocab.MLPROV}stopReason> ?r }}")]
    assert len(status) == 1, status
    return status[0].rsplit("#", 1)[1], cells, reasons


def kernels_of(home: Path) -> list[psutil.Process]:
    """Kernel processes started for this store's journal folder (found by their environment)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("MLPROV_JOURNAL_DIR") == str(home / "journal"):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def assert_no_kernel_left(home: Path, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while kernels_of(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not kernels_of(home), f"kernels left behind: {kernels_of(home)}"


def assert_stopped_at(home: Path, stopped: Stopped, cell: int, reason: str, notebook: Path) -> None:
    """The run is stored Interrupted: cells before ``cell`` Completed, ``cell`` Interrupted,
    one stop reason matching ``reason``; the saved notebook holds the outputs of the cells that ran."""
    assert len(stopped.stderr_lines) == 1 and stopped.stderr_lines[0].startswith("mlprov: "), stopped.stderr_lines
    assert "Traceback" not in stopped.stderr_lines[0]
    status, cells, reasons = recorded(home, stopped.run)
    assert status == "Interrupted"
    assert cells == {k: "Completed" for k in range(1, cell)} | {cell: "Interrupted"}, cells
    assert len(reasons) == 1 and re.fullmatch(reason, reasons[0]), reasons
    assert reasons[0] in stopped.stderr_lines[0]
    code_cells = [c for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells[: cell - 1]), "the cells that ran are saved executed"
    assert "mlprov: recording run" in "".join(o.get("text", "") for o in code_cells[0].outputs), "with their outputs"
    assert all(c.execution_count is None for c in code_cells[cell:]), "cells after the stop did not run"
    assert_no_kernel_left(home)


@pytest.fixture(scope="module")
def long_iris_plan(tmp_path_factory) -> Path:
    """The real Iris plan with a training cell (cell 7) that runs for minutes."""
    return make_plan(tmp_path_factory.mktemp("iris-long") / "iris.ttl", epochs="100000")


TRAINING_CELL = 7


def test_sigint_in_the_training_cell_stores_the_run_interrupted_and_exits_130(long_iris_plan, tmp_path):
    notebook, home = tmp_path / "iris.ipynb", tmp_path / "home"
    stopped = run_until([long_iris_plan, "-o", notebook], cwd=tmp_path, home=home, cell=TRAINING_CELL, send=signal.SIGINT)
    assert stopped.returncode == 130
    assert_stopped_at(home, stopped, TRAINING_CELL, f"SIGINT received in cell {TRAINING_CELL}", notebook)


def test_sigint_in_an_early_cell_stores_the_cells_before_it(tmp_path):
    notebook, home = sleepy_notebook(tmp_path / "sleepy.ipynb", ["", "time.sleep(600)", ""]), tmp_path / "home"
    stopped = run_until([notebook], cwd=tmp_path, home=home, cell=2, send=signal.SIGINT)
    assert stopped.returncode == 130
    assert_stopped_at(home, stopped, 2, "SIGINT received in cell 2", notebook)


def test_sigterm_is_handled_as_ctrl_c_and_exits_143(tmp_path):
    notebook, home = sleepy_notebook(tmp_path / "sleepy.ipynb", ["", "", "time.sleep(600)", ""]), tmp_path / "home"
    stopped = run_until([notebook], cwd=tmp_path, home=home, cell=3, send=signal.SIGTERM)
    assert stopped.returncode == 143
    assert_stopped_at(home, stopped, 3, "SIGTERM received in cell 3", notebook)


@pytest.mark.parametrize("cell, cells", [(1, ["time.sleep(600)", ""]), (4, ["", "", "", "time.sleep(600)", ""])],
                         ids=["in-cell-1", "in-cell-4"])
def test_a_timeout_is_recorded_the_same_way_wherever_it_strikes(tmp_path, cell, cells):
    notebook, home = sleepy_notebook(tmp_path / "sleepy.ipynb", cells), tmp_path / "home"
    stopped = run_until([notebook, "--timeout", "3"], cwd=tmp_path, home=home, cell=cell, send=None)
    assert stopped.returncode == 1
    assert_stopped_at(home, stopped, cell, f"timeout after 3 s in cell {cell}", notebook)


def test_a_kernel_death_is_one_line_exit_1_and_the_run_stored(tmp_path):
    notebook = sleepy_notebook(tmp_path / "dies.ipynb", ["", "", "import os; os.kill(os.getpid(), 9)", ""])
    home = tmp_path / "home"
    stopped = run_until([notebook], cwd=tmp_path, home=home, cell=3, send=None, after_s=0)
    assert stopped.returncode == 1
    assert_stopped_at(home, stopped, 3, "kernel died in cell 3", notebook)


@pytest.mark.parametrize("where", ["training-cell", "early-cell"])
def test_kill_9_of_mlprov_run_loses_no_finished_cell(long_iris_plan, tmp_path, where):
    home = tmp_path / "home"
    if where == "training-cell":
        args, cell = [long_iris_plan, "-o", tmp_path / "iris.ipynb"], TRAINING_CELL
    else:
        args, cell = [sleepy_notebook(tmp_path / "sleepy.ipynb", ["", "", "time.sleep(600)", ""])], 3
    stopped = run_until(args, cwd=tmp_path, home=home, cell=cell, send=signal.SIGKILL)
    assert stopped.returncode == -signal.SIGKILL
    assert_no_kernel_left(home)  # the kernel sees its parent gone and exits
    ingested = mlprov(["ingest", "--store", home], cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    status, cells, reasons = recorded(home, stopped.run)
    assert status == "Interrupted" and reasons == []
    assert cells == {k: "Completed" for k in range(1, cell)} | {cell: "Interrupted"}, cells
