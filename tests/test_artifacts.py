"""Files a run writes (figures, checkpoints) are kept in the store's artifact folder, one folder
a run, named in the run with their location and sha256, listed by `run-artifacts` and served by
`mlprov serve` only from there; the working directory and the notebook's folder get nothing but
the notebook."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import shutil
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from mlprov_rdf import capture, vocab
from mlprov_rdf.store import StoreLocation
from tests.bad_input import mlprov
from tests.conftest import make_plan
from tests.test_browse import network_data
from tests.web_support import get, live_server


def _listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _path(location: str) -> Path:
    return Path(unquote(urlsplit(location).path))


def _artifacts(home: Path, run: str, cwd: Path) -> list[dict]:
    """`mlprov query run-artifacts` for the run: its file rows."""
    done = mlprov(["query", "run-artifacts", "-p", f"run={run}", "--format", "json", "--store", home], cwd=cwd)
    assert done.returncode == 0, done.stderr
    rows = [{name: term["value"] for name, term in binding.items()}
            for binding in json.loads(done.stdout)["results"]["bindings"]]
    return [row for row in rows if "path" in row]


@pytest.fixture(scope="module")
def told_folder(tmp_path_factory):
    """One `mlprov run` told `--artifacts DIR` (as for a server store), from a working
    directory apart from the plan's folder, with both folders listed before and after."""
    root = tmp_path_factory.mktemp("artifacts")
    cwd, plans, home, folder = root / "cwd", root / "plans", root / "home", root / "kept"
    cwd.mkdir()
    plans.mkdir()
    plan = make_plan(plans / "iris.ttl", epochs="5")
    before = {"cwd": _listing(cwd), "plans": _listing(plans)}
    done = mlprov(["run", plan, "--store", home, "--artifacts", folder], cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = next(line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("run "))
    after = {"cwd": _listing(cwd), "plans": _listing(plans)}
    return {"run": run, "cwd": cwd, "home": home, "folder": folder, "before": before, "after": after}


def test_a_runs_figures_are_in_the_stores_artifact_folder_with_their_sha256(executed_run):
    run = executed_run["outcome"].run
    folder = executed_run["location"].home / "artifacts" / vocab.run_id_of(run)
    rows = _artifacts(executed_run["location"].home, run, executed_run["root"])
    assert {row["label"]: row["type"] for row in rows} == {"loss curve": "figure"}
    for row in rows:
        path = _path(row["path"])
        assert path.parent == folder and path.name == "loss-curve.png"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    beside = [p for p in executed_run["root"].rglob("*") if p.suffix in (".png", ".pt")
              and executed_run["location"].home not in p.parents]
    assert beside == []


def test_mlprov_run_leaves_only_the_notebook_beside_the_plan_and_nothing_in_the_working_directory(told_folder):
    assert told_folder["after"]["cwd"] == told_folder["before"]["cwd"] == set()
    assert told_folder["after"]["plans"] - told_folder["before"]["plans"] == {"iris.ipynb"}


def test_a_folder_given_with_artifacts_keeps_the_runs_files_and_the_store_names_them(told_folder):
    run_folder = told_folder["folder"] / vocab.run_id_of(told_folder["run"])
    rows = _artifacts(told_folder["home"], told_folder["run"], told_folder["cwd"])
    assert [_path(row["path"]) for row in rows] == [run_folder / "loss-curve.png"]
    assert hashlib.sha256((run_folder / "loss-curve.png").read_bytes()).hexdigest() == rows[0]["sha256"]
    assert not (told_folder["home"] / "artifacts").exists()


def test_the_figure_route_serves_a_file_only_from_the_artifact_folder_it_was_given(told_folder):
    run = told_folder["run"]
    (row,) = _artifacts(told_folder["home"], run, told_folder["cwd"])
    url = f"/artifact?run={quote(run, safe='')}&iri={quote(row['artifact'], safe='')}"
    with live_server(StoreLocation(told_folder["home"]), "--artifacts", str(told_folder["folder"])) as base:
        status, _, body = get(base + url)
        assert status == 200 and hashlib.sha256(body).hexdigest() == row["sha256"]
        status, _, page = get(f"{base}/run/{vocab.run_id_of(run)}")
        assert status == 200 and url.replace("&", "&amp;").encode() in page  # the run page shows the figure
        for iri in (row["path"], "file:///etc/passwd", row["artifact"] + "/../../etc/passwd"):
            status, _, _ = get(f"{base}/artifact?run={quote(run, safe='')}&iri={quote(iri, safe='')}")
            assert status == 404, iri
    with live_server(StoreLocation(told_folder["home"])) as base:  # the file is outside this server's folder
        status, _, body = get(base + url)
        assert status == 404 and b"artifact folder " + str(told_folder["home"] / "artifacts").encode() in body
        status, _, page = get(f"{base}/run/{vocab.run_id_of(run)}")
        assert status == 200 and b"<img src=\"/artifact" not in page and b"not in this store's artifact folder" in page


def test_log_artifact_copies_a_file_from_elsewhere_into_the_runs_folder_and_names_the_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPROV_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv(capture.ARTIFACT_ENV, str(tmp_path / "artifacts"))
    run = capture.Run("https://example.org/plans/p", "p", "0", {}, {})
    mine = tmp_path / "mine" / "report.txt"
    mine.parent.mkdir()
    mine.write_text("the user's own file")
    run.log_artifact(mine, label="report")
    run.close()
    kept = tmp_path / "artifacts" / run.id / "report.txt"
    assert kept.read_text() == mine.read_text()  # copied: the user's file stays where it was
    journal = run.journal_path.read_text()
    assert f"<{kept.as_uri()}>" in journal and mine.as_uri() not in journal
    assert hashlib.sha256(kept.read_bytes()).hexdigest() in journal
    with pytest.raises(ValueError, match="inside the run's folder"):
        run.artifact_path("../elsewhere.png")


def test_browse_draws_a_runs_figure_as_a_file_node_with_its_sha256(executed_run, tmp_path):
    run = executed_run["outcome"].run
    (row,) = _artifacts(executed_run["location"].home, run, tmp_path)
    done = mlprov(["browse", run, "-o", tmp_path / "run.html", "--store", executed_run["location"].home], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "run.html").read_text(encoding="utf-8")
    nodes, _ = network_data(page)
    (node,) = [n for n in nodes if n["id"] == row["artifact"]]
    assert node["mlprovKind"] == "file" and ["mlprov:sha256", [[row["sha256"], ""]]] in node["mlprovTip"]["rows"]
    assert "file:///" not in page  # its location is a value of the file node, not a node of its own


def test_store_check_counts_the_runs_with_files_and_a_backup_copies_them(executed_run, tmp_path):
    home = executed_run["location"].home
    run_id = vocab.run_id_of(executed_run["outcome"].run)
    checked = mlprov(["store", "check", "--store", home], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    runs_with_files = len([p for p in (home / "artifacts").iterdir() if p.is_dir()])  # other tests may add runs
    assert runs_with_files >= 1 and f"files of {runs_with_files} runs in {home / 'artifacts'}" in checked.stdout
    backed = mlprov(["store", "backup", tmp_path / "backup", "--store", home], cwd=tmp_path)
    assert backed.returncode == 0, backed.stderr
    copy = tmp_path / "backup" / "artifacts" / run_id / "loss-curve.png"
    assert copy.read_bytes() == (home / "artifacts" / run_id / "loss-curve.png").read_bytes()


def test_with_capture_off_files_go_to_a_temporary_folder_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLPROV_CAPTURE", "off")
    run = capture.start(plan="https://example.org/plans/p", title="p", plan_digest="0", steps={}, parameters={})
    path = run.artifact_path("loss-curve.png")
    path.write_bytes(b"png")
    assert path.parent.is_dir() and not path.is_relative_to(tmp_path) and list(tmp_path.iterdir()) == []
    assert run.log_artifact(path, label="loss curve") == ""  # nothing recorded
    shutil.rmtree(path.parent)


def test_with_capture_off_the_temporary_folder_is_gone_when_the_kernel_exits(tmp_path):
    code = (
        "from mlprov_rdf import capture\n"
        "run = capture.start(plan='https://example.org/plans/p', title='p', plan_digest='0', steps={}, parameters={})\n"
        "path = run.artifact_path('figure.png'); path.write_bytes(b'png'); print(path)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "MLPROV_CAPTURE": "off"})
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.name == "figure.png" and not written.parent.exists()
