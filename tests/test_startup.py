"""Start-up stays fast: what a fresh interpreter imports for capture and for `mlprov --help`.

Checked by the modules loaded, not by timing, so a slow import fails here on any machine;
benchmarks/startup_bench.py has the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MLPROV = Path(sys.executable).with_name("mlprov")

#: Heavy for a notebook's first cell: the store, the generator, package metadata (the slowest
#: of all), and the standard modules capture needs only once a run records.
NOT_FOR_CAPTURE = {
    "rdflib", "pyoxigraph", "pyshacl", "jinja2", "nbformat", "click", "psutil", "numpy", "pandas",
    "importlib.metadata", "dataclasses", "getpass", "pickle", "platform", "secrets",
}
#: What `mlprov --help` and `--version` do without: the store, SHACL, the generator.
NOT_FOR_HELP = {"rdflib", "pyoxigraph", "pyshacl", "jinja2", "nbformat", "pandas", "importlib.metadata", "http.client"}


def _modules_after(code: str, *args: str) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh interpreter, written out at exit."""
    dump = "import atexit, json, sys; atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules))))\n"
    done = subprocess.run([sys.executable, "-c", dump + code, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.rpartition("MODULES ")[2]))


def test_importing_capture_loads_no_store_generator_or_package_metadata():
    loaded = _modules_after("import mlprov_rdf.capture")
    assert "mlprov_rdf.capture" in loaded
    assert not loaded & NOT_FOR_CAPTURE, f"import it inside the function that needs it: {sorted(loaded & NOT_FOR_CAPTURE)}"


@pytest.mark.parametrize("argv", [["--help"], ["--version"]], ids=["help", "version"])
def test_mlprov_help_and_version_load_no_store_or_shacl(argv):
    run_script = f"import runpy, sys; sys.argv = [{str(MLPROV)!r}, *sys.argv[1:]]; runpy.run_path({str(MLPROV)!r}, run_name='__main__')"
    loaded = _modules_after(run_script, *argv)
    assert "mlprov_rdf.cli" in loaded
    assert not loaded & NOT_FOR_HELP, f"import it inside the command that needs it: {sorted(loaded & NOT_FOR_HELP)}"


def test_python_m_mlprov_rdf_shows_the_same_help_as_the_mlprov_command():
    module = subprocess.run([sys.executable, "-m", "mlprov_rdf", "--help"], capture_output=True, text=True, timeout=60)
    script = subprocess.run([str(MLPROV), "--help"], capture_output=True, text=True, timeout=60)
    assert module.returncode == script.returncode == 0
    assert module.stdout.partition("\n")[2] == script.stdout.partition("\n")[2]  # all but the usage line's program name


def test_a_run_recorded_from_a_fresh_interpreter_has_its_agent_environment_and_packages(tmp_path):
    """What capture imports late (getpass, platform, importlib.metadata) is there when a run records."""
    cells = [
        "from mlprov_rdf import capture\n"
        "run = capture.start(plan='https://example.org/plans/startup', title='startup', plan_digest='0' * 64, steps={}, parameters={})",
        "import click\nrun.log_metric('accuracy', 0.9)",
        "run.close()",
    ]
    script = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        f"for cell in {cells!r}:\n"
        "    assert shell.run_cell(cell).success, cell\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPROV_")}
    env.update(IPYTHONDIR=str(tmp_path / "ipython"), MLPROV_JOURNAL_DIR=str(tmp_path / "journal"), MLPROV_AGENT="startup-tester")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (journal,) = (tmp_path / "journal").glob("*.nt")
    text = journal.read_text(encoding="utf-8")
    assert "<urn:mlprov:agent:person:startup-tester>" in text
    for label in ('"Python 3.', '"python3 (ipykernel ', ' cores, ', '"click '):
        assert label in text, label
