"""`mlprov reproduce`: real runs, reproduced for real, on both store backends and both tasks.

One Iris run is recorded; reproducing it must give the same number for every metric and the
same hash for every data set and split (exit 0). Then one of its metrics is altered in the
store with a SPARQL update, and reproducing it again must flag exactly that metric (exit 1).
The parameter values come from the run's recorded settings, not from the plan.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from click.testing import CliRunner

from mlprov_rdf import export as exporter
from mlprov_rdf import vocab
from mlprov_rdf.cli import main
from mlprov_rdf.generate import build_notebook
from mlprov_rdf.legacy import import_file
from mlprov_rdf.plan import load
from mlprov_rdf.reproduce import compare_values, plan_with_settings, recorded_results, recorded_settings, reproduce
from mlprov_rdf.scaffold import turtle_literal, write_plan
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import generate_notebook, ingest_paths, run
from tests.conftest import copied_store

PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())
XSD_DOUBLE = ox.NamedNode(vocab.XSD + "double")


@pytest.fixture(scope="module")
def original(executed_run, tmp_path_factory):
    """The session's Iris run, in a copy of its embedded store that reproductions write to."""
    location = copied_store(executed_run, tmp_path_factory.mktemp("reproduce"))
    return {**executed_run, "location": location, "run": executed_run["outcome"].run}


def _update(store, sparql: str) -> None:
    (store.update if hasattr(store, "update") else store.inner.update)(sparql)


def _reproduction(location: StoreLocation, graph: str) -> dict:
    with open_store(location) as store:
        rows = list(store.query(
            PREFIXES + """SELECT ?g ?act ?orig ?new ?tol ?ok ?check ?name ?a ?b ?cok WHERE { GRAPH ?g {
                ?act a mlprov:Reproduction, prov:Activity ; mlprov:reproducedRun ?orig ; mlprov:reproducingRun ?new ;
                     mlprov:tolerance ?tol ; mlprov:reproduced ?ok ; mlprov:check ?check .
                ?check a mlprov:ReproductionCheck ; mlprov:checkName ?name ; mlprov:reproduced ?cok .
                OPTIONAL { ?check mlprov:originalValue ?a } OPTIONAL { ?check mlprov:newValue ?b } } }""",
            {"g": ox.NamedNode(graph)},
        ))
    assert rows, f"no reproduction recorded in {graph}"
    first = rows[0]
    return {
        "original": first["orig"].value, "new": first["new"].value, "tolerance": float(first["tol"].value),
        "reproduced": first["ok"].value == "true",
        "checks": {r["name"].value: (r["a"], r["b"], r["cok"].value == "true") for r in rows},
    }


def test_a_recorded_run_reproduces_every_metric_and_hash_exactly(original, tmp_path):
    result = CliRunner().invoke(
        main, ["reproduce", original["run"], "--store", str(original["location"].home), "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["check", "original", "new", "verdict"]
    verdicts = [line for line in lines[2:] if line and not line.startswith("reproduced:")]
    assert len(verdicts) >= 14 and all(line.endswith(" reproduced") for line in verdicts), result.stdout
    names = {re.split(r"\s{2,}", line)[0] for line in verdicts}
    assert {"accuracy (test)", "loss (test)", "macro_f1 (test)", "roc_auc_ovr (test)", "confusion_matrix (test)",
            "f1 (test, setosa)", "sha256 of data set iris", "sha256 of the train split", "sha256 of the test split"} <= names
    assert lines[-1].startswith("reproduced: all ")

    graph = re.search(r"record <(urn:mlprov:reproduction:[^>]+)>", result.stdout).group(1)
    recorded = _reproduction(original["location"], graph)
    assert recorded["reproduced"] and recorded["original"] == original["run"] and recorded["tolerance"] == 0.0
    assert len(recorded["checks"]) == len(verdicts)
    assert all(ok and a == b for a, b, ok in recorded["checks"].values())
    new_run = recorded["new"]
    assert new_run != original["run"] and graph == "urn:mlprov:reproduction:" + vocab.run_id_of(new_run)
    with open_store(original["location"]) as store:
        assert recorded_settings(store, new_run) == recorded_settings(store, original["run"])  # seed included
        status = next(iter(store.query(PREFIXES + "SELECT ?run ?s WHERE { ?run mlprov:status ?s }",
                                       {"run": ox.NamedNode(new_run)})))["s"].value
        used = {r["x"].value for r in store.query(
            PREFIXES + "SELECT ?act ?x WHERE { ?act a mlprov:Reproduction ; prov:used ?x }",
            {"act": ox.NamedNode(graph + "/activity")})}
    assert status.endswith("#Completed")
    assert vocab.bundle_iri(vocab.run_id_of(original["run"])) in used
    assert (tmp_path / f"reproduce-{vocab.run_id_of(original['run']).upper()}.ipynb").is_file()


def test_an_altered_metric_is_not_reproduced_and_exits_1(original, tmp_path):
    location = original["location"]
    graph = vocab.bundle_iri(vocab.run_id_of(original["run"]))
    metric = original["run"] + "/metric/accuracy/test"
    with open_store(location) as store:
        _update(store, f"""
            DELETE {{ GRAPH <{graph}> {{ <{metric}> <{vocab.MLS}hasValue> ?v }} }}
            INSERT {{ GRAPH <{graph}> {{ <{metric}> <{vocab.MLS}hasValue> "0.125"^^<{vocab.XSD}double> }} }}
            WHERE  {{ GRAPH <{graph}> {{ <{metric}> <{vocab.MLS}hasValue> ?v }} }}""")
    result = CliRunner().invoke(main, ["reproduce", original["run"], "--store", str(location.home), "--dir", str(tmp_path)])
    assert result.exit_code == 1, result.output + result.stderr
    rows = {re.split(r"\s{2,}", line)[0]: line for line in result.stdout.splitlines()[2:]}
    assert rows["accuracy (test)"].split()[2] == "0.125" and rows["accuracy (test)"].endswith("NOT reproduced")
    others = [line for name, line in rows.items() if name != "accuracy (test)" and not name.startswith("NOT")]
    assert others and all(line.endswith(" reproduced") and "NOT" not in line for line in others)
    assert result.stdout.splitlines()[-1].startswith("NOT reproduced: 1 of ")

    graph = re.search(r"record <(urn:mlprov:reproduction:[^>]+)>", result.stdout).group(1)
    recorded = _reproduction(location, graph)
    assert not recorded["reproduced"]
    a, b, ok = recorded["checks"]["accuracy (test)"]
    assert not ok and float(a.value) == 0.125 and float(b.value) > 0.5
    assert [name for name, (_, _, ok) in recorded["checks"].items() if not ok] == ["accuracy (test)"]


def test_a_loose_tolerance_accepts_what_an_exact_comparison_rejects():
    def d(x):
        return ox.Literal(repr(x), datatype=XSD_DOUBLE)

    assert compare_values(d(0.9), d(0.9), 0.0) == (True, 0.0)
    assert compare_values(d(0.9), d(0.9000001), 0.0)[0] is False
    assert compare_values(d(0.9), d(0.9000001), 1e-6)[0] is True
    assert compare_values(d(0.9), d(0.95), 0.01)[0] is False
    assert compare_values(d(float("nan")), d(float("nan")), 0.0)[0] is True
    assert compare_values(ox.Literal("3", datatype=ox.NamedNode(vocab.XSD + "integer")), d(3.0), 0.0)[0] is True
    matrix = ox.NamedNode(vocab.RDF + "JSON")
    assert compare_values(ox.Literal("[[1, 0], [0, 2]]", datatype=matrix), ox.Literal("[[1,0],[0,2]]", datatype=matrix), 0.0)[0]
    assert not compare_values(ox.Literal("[[1, 0], [0, 2]]", datatype=matrix), ox.Literal("[[0,1],[0,2]]", datatype=matrix), 0.5)[0]
    assert compare_values(ox.Literal("abc"), ox.Literal("abc"), 0.0)[0] and not compare_values(ox.Literal("abc"), ox.Literal("abd"), 0.0)[0]


def test_the_settings_the_run_used_override_the_plan_through_the_parameters_cell(original):
    """A papermill override (epochs 7, learning rate 'default') is what a reproduction runs."""
    plan = load(original["plan_file"]).plan
    settings = {
        "epochs": ox.Literal("7", datatype=ox.NamedNode(vocab.XSD + "integer")),
        "learning_rate": ox.Literal("default"),
        "optimizer": ox.Literal("SGD"),
        "seed": ox.Literal("123", datatype=ox.NamedNode(vocab.XSD + "integer")),
    }
    changed, unrecorded = plan_with_settings(plan, settings, "urn:mlprov:run:test")
    assert changed.values()["epochs"] == 7 and changed.values()["learning_rate"] is None
    assert changed.digest == plan.digest and "dataset" in unrecorded and "epochs" not in unrecorded
    cell = next(c for c in build_notebook(changed).cells if "parameters" in c.metadata.get("tags", []))
    assert "\nepochs = 7  #" in cell.source and "\nlearning_rate = None  #" in cell.source
    assert "\noptimizer = 'SGD'  #" in cell.source and "\nseed = 123  #" in cell.source
    bad = {"optimizer": ox.Literal("Adam'); import os; os.system('x')  #")}
    with pytest.raises(Exception, match="is not allowed"):
        plan_with_settings(plan, bad, "urn:mlprov:run:test")


def test_an_unknown_run_is_one_line_and_exit_2(original, tmp_path):
    result = CliRunner().invoke(
        main, ["reproduce", "urn:mlprov:run:20000101T000000-00000000", "--store", str(original["location"].home)]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no run with this IRI" in result.stderr


def test_reproduce_works_on_a_sparql_server_store(original, oxigraph_server, tmp_path):
    """The original's plan and journal go to the server; the reproduction runs against it."""
    location = StoreLocation.server(oxigraph_server, journal_dir=tmp_path / "journal")
    generate_notebook(original["plan_file"], tmp_path / "plan.ipynb", location)
    journal = original["location"].journal_dir / f"{vocab.run_id_of(original['run'])}.nt"
    shutil.copy(journal, tmp_path / journal.name)
    ingest_paths([tmp_path / journal.name], location)
    rep = reproduce(original["run"], location, directory=tmp_path / "work")
    assert rep.status == "Completed"
    # The embedded copy of this run had its accuracy altered by the test above; the journal has the real one.
    assert rep.reproduced, [(c.name, c.original_text, c.new_text) for c in rep.failures]
    with open_store(location) as store:
        assert store.has_graph(rep.graph)
        assert recorded_results(store, rep.new_run).keys() == recorded_results(store, original["run"]).keys()
        # Export and import use the same Store API: both work against the server too.
        trig = exporter.export(exporter.collect(store, rep.new_run), "trig")
    dataset = rdflib.Dataset()
    dataset.parse(data=trig, format="trig")
    assert {str(g.identifier) for g in dataset.graphs() if len(g)} == {vocab.bundle_iri(vocab.run_id_of(rep.new_run)), rep.plan,
                                                                       vocab.ENV_GRAPH}  # the shared environment nodes it links
    reference = Path(__file__).parent / "data" / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json"
    legacy = import_file(reference, location, output=tmp_path / "legacy.ttl")
    with open_store(location) as store:
        assert recorded_results(store, legacy.run)  # the legacy run's metrics, read back from the server


IMAGE_TASK = "image-classification"


@pytest.mark.skipif(IMAGE_TASK not in all_tasks(), reason="no image-classification task in this checkout")
def test_an_image_classification_run_reproduces(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    plan_file = tmp_path / "fake.ttl"
    write_plan(all_tasks()[IMAGE_TASK], plan_file, title="FakeData reproduction", author="Test Author")
    text = plan_file.read_text()
    values = dict(dataset="FakeData", fake_size=24, fake_image_size=12, fake_classes=3, architecture="small_cnn",
                  epochs=1, batch_size=8, validation_fraction=0.0, test_fraction=0.25, save_checkpoint=False)
    task = all_tasks()[IMAGE_TASK]
    for name, value in values.items():
        if task.parameter(name) is None:
            continue  # the image task's parameters are read from its task.toml, not assumed
        text, n = re.subn(rf'(mlprov:parameterName "{name}" ;\n    prov:value )[^\n]+ \.',
                          lambda m, v=value: f"{m.group(1)}{turtle_literal(v)} .", text)
        assert n == 1, name
    plan_file.write_text(text)
    location = StoreLocation(tmp_path / "store")
    first = run(plan_file, location, output=tmp_path / "fake.ipynb")
    assert first.ok, first.error
    result = CliRunner().invoke(main, ["reproduce", first.run, "--store", str(location.home), "--dir", str(tmp_path / "again")])
    rows = {re.split(r"\s{2,}", line)[0]: line for line in result.stdout.splitlines()[2:-1]}
    assert "accuracy (test)" in rows and "sha256 of data set FakeData" in rows, result.stdout
    assert not [line for line in rows.values() if line.endswith("NOT reproduced")], result.stdout
    assert result.exit_code == 0, result.output + result.stderr


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory):
    """A real Oxigraph server on loopback for this module (the same way tests/test_backends.py starts one)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    binary = Path(sys.executable).parent / "oxigraph"
    binary = str(binary) if binary.is_file() else shutil.which("oxigraph")
    if not binary:
        pytest.skip("the 'oxigraph' server binary is missing (install the test extra)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path_factory.mktemp("reproduce-server")
    with open(data / "server.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", "--location", str(data / "db"), "--bind", f"127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    request = urllib.request.Request(url + "query", data=b"ASK {}", headers={"Content-Type": "application/sparql-query"})
    for _ in range(150):
        try:
            with urllib.request.urlopen(request, timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail((data / "server.log").read_text())
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_a_code_steps_recorded_input_is_what_a_reproduction_runs(tmp_path):
    """A code step's input is a setting like a task parameter: the run's value replaces the plan's."""
    from tests.test_code_steps import code_step_plan

    plan_file, _ = code_step_plan(tmp_path / "iris.ttl")
    plan = load(plan_file).plan
    settings = {"factor": ox.Literal("3", datatype=ox.NamedNode(vocab.XSD + "integer")), "model": ox.Literal("svm")}
    changed, unrecorded = plan_with_settings(plan, settings, "urn:mlprov:run:test")
    assert changed.values()["factor"] == 3 and changed.values()["model"] == "svm"
    assert "factor" not in unrecorded and changed.digest == plan.digest
    cell = next(c for c in build_notebook(changed).cells if "parameters" in c.metadata.get("tags", []))
    assert "\nfactor = 3  #" in cell.source
