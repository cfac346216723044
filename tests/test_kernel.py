"""A kernel that has mlprov: `mlprov kernel install`, notebooks that name it, and papermill run
from a second environment (which has papermill and ipykernel but not mlprov-rdf)."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.store import StoreLocation, open_store
from tests.conftest import make_plan


@pytest.fixture()
def kernels(tmp_path, monkeypatch) -> Path:
    """`mlprov kernel install --prefix`, found through JUPYTER_PATH, as a user's would be."""
    prefix = tmp_path / "kernels"
    with pytest.MonkeyPatch.context() as scratch:  # ipykernel's install leaves its empty staging folder behind
        scratch.setattr(tempfile, "tempdir", str(tmp_path))
        result = CliRunner().invoke(main, ["kernel", "install", "--prefix", str(prefix)])
    assert result.exit_code == 0, result.output
    path = prefix / "share" / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(path))
    return path


@pytest.fixture(scope="session")
def other_env(tmp_path_factory) -> Path:
    """Another environment's Python, built once per session: papermill and ipykernel
    importable, mlprov_rdf not (its packages come from this one's site-packages as a plain
    path, so the editable install's .pth is not read)."""
    tmp_path = tmp_path_factory.mktemp("other-env")
    env = tmp_path / "other-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    [packages] = [p for p in site.getsitepackages() if p.endswith("site-packages")]
    [own] = list(env.glob("lib/python*/site-packages"))
    (own / "borrowed.pth").write_text(packages + "\n")
    python = env / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import papermill, ipykernel\nfrom mlprov_rdf import capture"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert "cannot import name 'capture'" in probe.stderr or "No module named 'mlprov_rdf'" in probe.stderr, probe.stderr
    return python


def _generate(tmp_path: Path) -> Path:
    plan = make_plan(tmp_path / "iris.ttl", epochs="3")
    notebook = tmp_path / "iris.ipynb"
    result = CliRunner().invoke(main, ["generate", str(plan), "-o", str(notebook), "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    return notebook


def test_kernel_install_writes_a_kernelspec_that_runs_this_python(kernels):
    spec = json.loads((kernels / "kernels" / "mlprov" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "Python (mlprov-rdf)"


def test_a_generated_notebook_names_the_mlprov_kernel_when_it_is_installed(kernels, tmp_path, monkeypatch):
    assert json.loads(_generate(tmp_path).read_text())["metadata"]["kernelspec"]["name"] == "mlprov"
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "nothing-here"))
    again = tmp_path / "again"
    again.mkdir()
    assert json.loads(_generate(again).read_text())["metadata"]["kernelspec"]["name"] == "python3"


def test_papermill_from_another_environment_runs_the_notebook_in_the_mlprov_kernel(kernels, other_env, tmp_path):
    notebook = _generate(tmp_path)
    env = {**os.environ, "MLPROV_STORE": str(tmp_path / "store")}
    done = subprocess.run([str(other_env), "-m", "papermill", str(notebook), str(tmp_path / "out.ipynb"),
                           "-p", "epochs", "2", "--no-progress-bar"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ingested = CliRunner().invoke(main, ["ingest", str(tmp_path / "out.ipynb"), "--store", str(tmp_path / "store")])
    assert ingested.exit_code == 0 and "completed" in ingested.output, ingested.output
    with open_store(StoreLocation(tmp_path / "store"), read_only=True) as store:
        assert bool(store.query("ASK { ?run a <http://www.w3.org/ns/mls#Run> ; "
                                "<https://w3id.org/mlprov#status> <https://w3id.org/mlprov#Completed> }"))


def test_a_kernel_without_mlprov_fails_in_the_first_cell_naming_the_fix(kernels, other_env, tmp_path):
    notebook = _generate(tmp_path)
    done = subprocess.run([str(other_env), "-m", "papermill", str(notebook), str(tmp_path / "out.ipynb"),
                           "-k", "python3", "--no-progress-bar"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)
    assert done.returncode != 0
    assert "mlprov_rdf is not installed in this kernel's Python: choose the 'mlprov' kernel" in done.stderr
    out = json.loads((tmp_path / "out.ipynb").read_text())
    failed = [c for c in out["cells"] if c["cell_type"] == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "from mlprov_rdf import capture" in "".join(failed[0]["source"])


def test_kernel_install_leaves_nothing_in_the_temporary_folder(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "mlprov_rdf", "kernel", "install", "--prefix", str(tmp_path / "kernels")],
                          capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "kernels" / "share" / "jupyter" / "kernels" / "mlprov" / "kernel.json").is_file()
    assert list(scratch.iterdir()) == []  # ipykernel's own *_kernels folder went too
