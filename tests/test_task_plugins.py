"""Tasks are plugins: found through the ``mlprov.tasks`` entry points, mlprov's own included.

A real third-party task package (tests/plugin_task) is built and installed into a fresh
environment, listed, scaffolded, validated and run to Completed on a kernel of that
environment. Broken plugins are real installed distributions too (a ``*.dist-info`` folder
on the path is what ``importlib.metadata`` reads), so what users see is what these see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import pytest

from mlprov_rdf import queries
from mlprov_rdf.resources import templates_dir
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import ENTRY_POINT_GROUP, TaskError, all_tasks, load_task

PLUGIN = Path(__file__).parent / "plugin_task"
PLUGIN_FOLDER = PLUGIN / "src" / "mlprov_regression_task"
REGRESSION_IRI = "https://example.org/mlprov-tasks#Regression"


def _mlprov(python: Path | str, *args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLPROV_STORE", "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(python), "-m", "mlprov_rdf", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


# -- the built-in tasks ------------------------------------------------------------------


def test_every_builtin_task_folder_is_registered_as_an_entry_point_of_mlprov_rdf():
    registered = {ep.load()() for ep in distribution("mlprov-rdf").entry_points if ep.group == ENTRY_POINT_GROUP}
    shipped = {p.parent for p in templates_dir().glob("*/task.toml")}
    assert registered == shipped


def test_builtin_tasks_name_their_distribution_and_entry_point():
    task = all_tasks()["multiclass-classification"]
    assert task.source is not None
    assert (task.source.distribution, task.source.version) == ("mlprov-rdf", distribution("mlprov-rdf").version)
    assert task.source.entry_point.startswith("multiclass-classification = mlprov_rdf.resources:")


def test_tasks_command_lists_the_builtin_tasks_in_every_format(tmp_path):
    as_json = _mlprov(sys.executable, "tasks", "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert {"multiclass-classification", "image-classification"} <= set(rows)
    assert rows["multiclass-classification"]["steps"][0]["class"] == "SetupStep"
    table = _mlprov(sys.executable, "init", "--list", cwd=tmp_path)
    assert table.returncode == 0 and "https://w3id.org/mlprov#MulticlassClassification" in table.stdout
    csv_rows = _mlprov(sys.executable, "tasks", "--format", "csv", cwd=tmp_path).stdout.splitlines()
    assert csv_rows[0] == "name,iri,title,source,steps" and len(csv_rows) == len(rows) + 1


# -- a third-party task package in a fresh environment ------------------------------------


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> Path:
    """A new virtual environment that sees this one's packages and has the plugin installed."""
    root = tmp_path_factory.mktemp("plugin-env")
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    # A venv made from a venv's python is based on the interpreter under it, so
    # --system-site-packages would not see mlprov-rdf; a .pth file adds this venv's packages.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(site, "mlprov-base.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    source = root / "plugin_task"
    shutil.copytree(PLUGIN, source)  # a clean tree: the build writes into it
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-build-isolation",
         str(source)],
        check=True,
    )
    return python


def test_plugin_is_listed_with_its_distribution_and_version(plugin_env, tmp_path):
    listed = _mlprov(plugin_env, "tasks", "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["regression"]["iri"] == REGRESSION_IRI
    assert (rows["regression"]["distribution"], rows["regression"]["version"]) == ("mlprov-regression-task", "0.1.0")
    assert rows["regression"]["entry_point"] == "regression = mlprov_regression_task"
    assert "multiclass-classification" in rows  # the built-in tasks are still there


def test_a_plan_of_the_plugin_task_runs_to_completed_on_a_kernel_of_that_environment(plugin_env, tmp_path):
    assert _mlprov(plugin_env, "init", "--task", "regression", "plan.ttl", cwd=tmp_path).returncode == 0
    valid = _mlprov(plugin_env, "validate", "plan.ttl", cwd=tmp_path)
    assert valid.returncode == 0 and "valid regression plan" in valid.stdout, valid.stderr
    ran = _mlprov(plugin_env, "run", "plan.ttl", "--store", "store", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The notebook imports the plugin's own data generator, which only that environment has:
    # the run completing shows the kernel was that environment's python.
    code = ["".join(c["source"]) for c in json.loads((tmp_path / "plan.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    assert any("from mlprov_regression_task import noisy_sine" in cell for cell in code)
    # The plugin's templates are specialised like mlprov's own: a ridge notebook holds no forest.
    assert not any("RandomForestRegressor" in cell or "forest_trees" in cell for cell in code)
    location = StoreLocation(tmp_path / "store")
    runs = queries.run_stoppable(location, queries.resolve("runs"), {"limit": 10, "offset": 0})
    [run] = [dict(zip(runs.columns, row)) for row in runs.rows]
    assert run["status"].value == "Completed"
    metrics = queries.run_stoppable(location, queries.resolve("run-metrics"), {"run": run["run"].value})
    measures = {row[metrics.columns.index("measure")].value.rpartition("#")[2] for row in metrics.rows}
    assert measures == {"mae", "mse"}


# -- broken plugins: a warning, the other tasks go on; a plan that asks hears why ----------


def _install(site: Path, dist: str, entry_points: dict[str, str], version: str = "1.0") -> None:
    """An installed distribution as importlib.metadata finds it: its dist-info folder on the path."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


def _task_package(site: Path, package: str, *, replace: tuple[str, str] | None = None) -> None:
    """A copy of the fixture task as package ``package``, its task.toml edited by ``replace``."""
    folder = site / package
    shutil.copytree(PLUGIN_FOLDER, folder)
    if replace is not None:
        toml = folder / "task.toml"
        text = toml.read_text()
        assert replace[0] in text
        toml.write_text(text.replace(replace[0], replace[1], 1))


def _warnings(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_an_entry_point_that_fails_to_load_is_left_out_with_one_warning_and_the_rest_goes_on(tmp_path):
    _install(tmp_path, "broken-dist", {"broken": "no_such_module:folder"})
    listed = _mlprov(sys.executable, "tasks", "--format", "json", cwd=tmp_path, pythonpath=tmp_path)
    assert listed.returncode == 0
    assert "multiclass-classification" in {row["name"] for row in json.loads(listed.stdout)}
    [warning] = _warnings(listed)
    assert "task plugin 'broken' (broken-dist 1.0" in warning and "ModuleNotFoundError" in warning
    assert "goes on without it" in warning
    asked = _mlprov(sys.executable, "init", "--task", "broken", "plan.ttl", cwd=tmp_path, pythonpath=tmp_path)
    assert asked.returncode == 2 and not (tmp_path / "plan.ttl").exists()
    [line] = _warnings(asked)
    assert line.startswith("mlprov: error: task plugin 'broken' (broken-dist 1.0") and "Traceback" not in asked.stderr


def test_an_entry_point_naming_a_folder_without_task_toml_is_left_out(tmp_path):
    (tmp_path / "not_a_task").mkdir()
    (tmp_path / "not_a_task" / "__init__.py").write_text("")
    _install(tmp_path, "empty-dist", {"empty": "not_a_task"})
    listed = _mlprov(sys.executable, "tasks", cwd=tmp_path, pythonpath=tmp_path)
    assert listed.returncode == 0 and "multiclass-classification" in listed.stdout
    [warning] = _warnings(listed)
    assert "task plugin 'empty' (empty-dist 1.0" in warning and "holds no task.toml" in warning


def test_a_plan_for_a_plugin_with_a_bad_task_toml_field_is_refused_naming_plugin_file_and_field(tmp_path):
    _task_package(tmp_path, "good_regression")
    _install(tmp_path, "regression-dist", {"regression": "good_regression"})
    assert _mlprov(sys.executable, "init", "--task", "regression", "plan.ttl", cwd=tmp_path, pythonpath=tmp_path).returncode == 0
    toml = tmp_path / "good_regression" / "task.toml"
    good = 'needs = ["run", "model_selection", "X", "y", "raw_data"]'
    assert good in toml.read_text()
    toml.write_text(toml.read_text().replace(good, 'needs = ["run", "X-train"]'))
    refused = _mlprov(sys.executable, "validate", "plan.ttl", cwd=tmp_path, pythonpath=tmp_path)
    assert refused.returncode == 2, refused.stdout
    [line] = _warnings(refused)
    assert line.startswith("mlprov: error: task plugin 'regression' (regression-dist 1.0)")
    assert str(toml) in line and "[[steps]] 3" in line and "'needs'" in line and "'X-train' is not a Python name" in line
    other = _mlprov(sys.executable, "init", "other.ttl", cwd=tmp_path, pythonpath=tmp_path)
    assert other.returncode == 0 and len(_warnings(other)) == 1  # the built-in task is unaffected


def test_two_distributions_registering_one_task_name_are_both_left_out_naming_both(tmp_path):
    _task_package(tmp_path, "first_regression")
    _task_package(tmp_path, "second_regression")
    _install(tmp_path, "first-dist", {"regression": "first_regression"})
    _install(tmp_path, "second-dist", {"regression": "second_regression"}, version="2.0")
    asked = _mlprov(sys.executable, "init", "--task", "regression", "plan.ttl", cwd=tmp_path, pythonpath=tmp_path)
    assert asked.returncode == 2
    [line] = _warnings(asked)
    assert "task 'regression' is registered by first-dist 1.0 and second-dist 2.0; uninstall one of them" in line


def test_two_tasks_with_one_iri_are_left_out_naming_both(tmp_path):
    _task_package(tmp_path, "regression_a")
    _task_package(tmp_path, "regression_b", replace=('name = "regression"', 'name = "regression-b"'))
    _install(tmp_path, "a-dist", {"regression": "regression_a"})
    _install(tmp_path, "b-dist", {"regression-b": "regression_b"})
    listed = _mlprov(sys.executable, "tasks", "--format", "csv", cwd=tmp_path, pythonpath=tmp_path)
    assert "regression" not in listed.stdout
    warnings = _warnings(listed)
    assert len(warnings) == 2 and all(f"same IRI <{REGRESSION_IRI}>" in w for w in warnings)
    assert "'regression' (a-dist 1.0)" in warnings[0] and "'regression-b' (b-dist 1.0)" in warnings[0]


def test_an_entry_point_whose_name_differs_from_the_task_name_is_left_out(tmp_path):
    _task_package(tmp_path, "renamed")
    _install(tmp_path, "renamed-dist", {"regress": "renamed"})
    [warning] = _warnings(_mlprov(sys.executable, "tasks", cwd=tmp_path, pythonpath=tmp_path))
    assert "names the task 'regression'; give the entry point the same name" in warning


# -- the manifest: each bad field is one line with the file and the field ------------------


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('needs = ["run"]\nprovides = ["X", "y", "raw_data"]', 'need = ["run"]\nprovides = ["X", "y", "raw_data"]',
         "[[steps]] 2: unknown field 'need'"),
        ('template = "training.py.j2"', 'template = "train.py.j2"', "[[steps]] 5: field 'template' = 'train.py.j2': no such file"),
        ('type = "integer"\ndefault = 200', 'type = "int"\ndefault = 200', "[[parameters]] 2: field 'type' = 'int'"),
        ('step = "DataSegregationStep"', 'step = "SplitStep"', "field 'step' = 'SplitStep': not a step class of this task"),
        ('default = 0.1', 'default = "0.1"', "field 'default' = '0.1': not a valid number value"),
        ('repeatable = true', 'repeatable = "yes"', "field 'repeatable' = 'yes': must be true or false"),
        ('iri = "https://example.org/mlprov-tasks#Regression"', 'iri = "Regression"', "field 'iri' = 'Regression'"),
        ('[[steps]]\nclass = "SetupStep"', '[[steps]]\nclass = "TrainingStep"', "class TrainingStep appears twice"),
    ],
)
def test_a_bad_task_toml_field_is_one_line_naming_the_file_and_the_field(tmp_path, old, new, says):
    _task_package(tmp_path, "task", replace=(old, new))
    with pytest.raises(TaskError) as refused:
        load_task(tmp_path / "task")
    message = str(refused.value)
    assert message.startswith(str(tmp_path / "task" / "task.toml") + ": ") and says in message
    assert "\n" not in message


def test_the_fixture_task_folder_loads_with_its_steps_needs_and_provides():
    task = load_task(PLUGIN_FOLDER)
    assert [s.cls for s in task.steps][-1] == "EvaluationStep" and task.steps[-1].repeatable
    assert "X_train" in task.step("https://w3id.org/mlprov#DataSegregationStep").provides
    assert task.source is None  # read from a folder, not installed
