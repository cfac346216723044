"""Shared fixtures: real plans, a real on-disk store, real executed runs."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from mlprov_rdf.ingest import KEEP_PLAIN_JOURNALS
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import run

pytest_plugins = ["tests.web_support"]

# Generated notebooks name the 'mlprov' kernel where one is installed: kernels the user
# registered (~/.local/share/jupyter) are hidden, so that notebooks come out as on a fresh machine.
# Set on import, before anything reads it; removed when the session ends.
JUPYTER_DATA_DIR = os.environ["JUPYTER_DATA_DIR"] = tempfile.mkdtemp(prefix="mlprov-tests-jupyter-")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(JUPYTER_DATA_DIR, ignore_errors=True)


TASK = "multiclass-classification"


def make_plan(path: Path, *, task: str = TASK, title: str = "Iris test plan", **values) -> Path:
    """A plan from `mlprov init`, with some prov:value literals replaced (Turtle syntax)."""
    write_plan(all_tasks()[task], path, title=title, author="Test Author")
    text = path.read_text()
    for name, literal in values.items():
        text, n = re.subn(
            rf'(mlprov:parameterName "{name}" ;\n    prov:value )[^\n]+ \.',
            lambda m, literal=literal: f"{m.group(1)}{literal} .",
            text,
        )
        assert n == 1, name
    path.write_text(text)
    return path


def record_run(root: Path, **values) -> dict:
    """Execute an Iris plan in a real kernel into a store of its own under ``root``."""
    plan_file = make_plan(root / "iris.ttl", **values)
    location = StoreLocation(root / "store")
    # Its journal stays plain text: tests build other journals from it (``RUN.nt.gz`` is tested on its own).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEEP_PLAIN_JOURNALS, "1")
        outcome = run(plan_file, location, output=root / "iris.ipynb")
    assert outcome.ok, outcome.error
    return {"plan_file": plan_file, "location": location, "outcome": outcome, "plan": load(plan_file).plan, "root": root}


@pytest.fixture(scope="session")
def executed_run(tmp_path_factory):
    """One real Iris run: plan file, store location, outcome and typed plan."""
    return record_run(tmp_path_factory.mktemp("iris-run"), epochs="30")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """`mlprov init --task image-classification`, then `mlprov run` of it with its defaults (a
    small CNN on digits), in a kernel like the image tests': one intra-op thread, an empty torch cache."""
    from click.testing import CliRunner

    from mlprov_rdf.cli import main

    root = tmp_path_factory.mktemp("digits-run")
    plan_file = root / "digits.ttl"
    runner = CliRunner()
    initialised = runner.invoke(main, ["init", "--task", "image-classification", str(plan_file)])
    assert initialised.exit_code == 0, initialised.output
    (root / "empty-torch-home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("TORCH_HOME", str(root / "empty-torch-home"))
        result = runner.invoke(main, ["run", str(plan_file), "--store", str(root / "store")])
    assert result.exit_code == 0, result.output
    run_iri = re.search(r"run (urn:mlprov:run:\S+): completed", result.output).group(1)
    return {"plan_file": plan_file, "location": StoreLocation(root / "store"), "run": run_iri, "root": root}


def copied_store(executed_run: dict, folder: Path) -> StoreLocation:
    """A copy of the session run's store (journal included) in ``folder``, for a test that
    writes to it: ``executed_run`` itself is read-only for every test."""
    shutil.copytree(executed_run["location"].home, folder / "store")
    return StoreLocation(folder / "store")
