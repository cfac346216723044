"""The fault suite's store part: a store with a plan and a real run, damaged on a copy,
made read-only, checked, backed up and restored; through real `mlprov` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf.errors import StoreBusy
from mlprov_rdf.store import StoreLocation, open_store
from tests.bad_input import mlprov
from tests.conftest import make_plan
from tests.store_damage import ON_OPEN, folder_digest, garbage_data_file, read_only_view


@pytest.fixture(scope="module")
def stocked(executed_run, tmp_path_factory) -> dict:
    """A store holding a plan (`mlprov generate`) and a real run (`mlprov ingest` of its journal)."""
    root = tmp_path_factory.mktemp("stocked")
    make_plan(root / "p.ttl")
    home = root / "S"
    assert mlprov(["generate", "p.ttl", "--store", home], cwd=root).returncode == 0
    journal = next(executed_run["location"].journal_dir.glob("*.nt"))
    journal = Path(shutil.copy(journal, root / journal.name))  # ingest compresses what it took: not the shared run's
    ingested = mlprov(["ingest", journal, "--store", home], cwd=root)
    assert ingested.returncode == 0, ingested.stderr
    runs = mlprov(["runs", "--format", "json", "--store", home], cwd=root)
    assert runs.returncode == 0, runs.stderr
    rows = json.loads(runs.stdout)["results"]["bindings"]
    assert len(rows) == 1
    return {"root": root, "home": home, "runs": runs.stdout, "run": executed_run["outcome"].run}


def copy_of(stocked: dict, tmp_path: Path) -> Path:
    home = tmp_path / "S"
    shutil.copytree(stocked["home"], home)
    return home


@pytest.mark.parametrize("kind", list(ON_OPEN))
def test_damage_to_a_copy_is_reported_and_the_original_still_lists_its_run(stocked, tmp_path, kind):
    home = copy_of(stocked, tmp_path)
    ON_OPEN[kind](home / "oxigraph")
    damaged = folder_digest(home)
    done = mlprov(["runs", "--store", home], cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("mlprov: error: "), done.stderr
    assert "the store is damaged" in done.stderr and "nothing was changed" in done.stderr
    assert folder_digest(home) == damaged
    again = mlprov(["runs", "--format", "json", "--store", stocked["home"]], cwd=tmp_path)
    assert again.stdout == stocked["runs"]


def test_a_read_only_store_answers_readers_and_refuses_writers(stocked, tmp_path):
    home = copy_of(stocked, tmp_path)
    with read_only_view(home, tmp_path / "ro") as view:
        runs = mlprov(["runs", "--format", "json", "--store", view], cwd=tmp_path)
        assert runs.returncode == 0, runs.stderr
        assert runs.stdout.replace(str(view), str(home)) == stocked["runs"]
        query = mlprov(["query", "run-metrics", "-p", f"run={stocked['run']}", "--store", view], cwd=tmp_path)
        assert query.returncode == 0 and stocked["run"] not in query.stderr, query.stderr
        assert "accuracy" in query.stdout
        check = mlprov(["store", "check", "--store", view], cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        make_plan(tmp_path / "q.ttl")
        generate = mlprov(["generate", "q.ttl", "--store", view], cwd=tmp_path)
        assert generate.returncode == 2, generate.stderr
        assert generate.stderr.count("\n") == 1 and "the store is read-only" in generate.stderr
        assert not (tmp_path / "q.ipynb").exists()


def test_store_check_counts_a_healthy_store_and_refuses_a_damaged_one(stocked, tmp_path):
    healthy = mlprov(["store", "check", "--store", stocked["home"]], cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stderr
    assert "healthy" in healthy.stdout
    assert "1 plans, 1 runs, 0 reproductions, 1 inferred, 2 summaries, 1 ontology, 1 environment, 0 other" in healthy.stdout
    home = copy_of(stocked, tmp_path)
    garbage_data_file(home / "oxigraph")
    damaged = mlprov(["store", "check", "--store", home], cwd=tmp_path)
    assert damaged.returncode == 2 and "the store is damaged" in damaged.stderr


def test_store_check_names_a_run_recorded_without_a_status(stocked, tmp_path):
    home = copy_of(stocked, tmp_path)
    store = ox.Store(str(home / "oxigraph"))
    run = ox.NamedNode("urn:mlprov:run:20200101T000000-00000000")
    store.add(ox.Quad(run, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                      ox.NamedNode("http://www.w3.org/ns/mls#Run"), ox.NamedNode("urn:mlprov:bundle:20200101T000000-00000000")))
    store.flush()
    del store
    done = mlprov(["store", "check", "--store", home], cwd=tmp_path)
    assert done.returncode == 1
    assert "1 runs have no status: urn:mlprov:run:20200101T000000-00000000" in done.stdout


def test_a_backup_restores_a_damaged_store(stocked, tmp_path):
    home = copy_of(stocked, tmp_path)
    backed = mlprov(["store", "backup", tmp_path / "backup", "--store", home], cwd=tmp_path)
    assert backed.returncode == 0, backed.stderr
    garbage_data_file(home / "oxigraph")
    assert mlprov(["runs", "--store", home], cwd=tmp_path).returncode == 2
    shutil.rmtree(home / "oxigraph")
    shutil.copytree(tmp_path / "backup" / "oxigraph", home / "oxigraph")
    restored = mlprov(["runs", "--format", "json", "--store", home], cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == stocked["runs"]


def test_store_compact_keeps_every_quad_and_a_server_store_is_refused(stocked, tmp_path):
    home = copy_of(stocked, tmp_path)
    before = sorted(str(q) for q in ox.Store.read_only(str(home / "oxigraph")))
    done = mlprov(["store", "compact", "--store", home], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("compacted the store in ") and " MB after" in done.stdout
    assert sorted(str(q) for q in ox.Store.read_only(str(home / "oxigraph"))) == before
    listed = mlprov(["runs", "--format", "json", "--store", home], cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout == stocked["runs"]
    server = mlprov(["store", "compact", "--store", "http://127.0.0.1:9/"], cwd=tmp_path)
    assert server.returncode == 2 and len(server.stderr.strip().splitlines()) == 1
    assert "compacting" not in server.stderr  # nothing was begun


def _store_of_many_loads(home: Path, loads: int, quads: int) -> int:
    """A store written in ``loads`` bulk loads of distinct quads, as many imports leave it: slow to compact."""
    StoreLocation(home).database.mkdir(parents=True)
    database = ox.Store(str(StoreLocation(home).database))
    for load in range(loads):
        text = "".join(f"<urn:x:s{load}-{i}> <urn:x:p{i % 7}> \"value {load} {i}\" <urn:x:g{load}> .\n" for i in range(quads))
        database.bulk_load(text.encode("utf-8"), format=ox.RdfFormat.N_QUADS)
    database.flush()
    del database
    return loads * quads


def test_ctrl_c_stops_store_compact_with_exit_130_and_every_quad_kept(tmp_path):
    home = tmp_path / "S"
    written = _store_of_many_loads(home, loads=24, quads=60_000)
    proc = subprocess.Popen([sys.executable, "-m", "mlprov_rdf", "store", "compact", "--store", str(home)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    while "compacting" not in (line := proc.stderr.readline()):  # the compaction has begun
        assert line, "mlprov store compact ended before it began compacting"
    time.sleep(0.5)
    assert proc.poll() is None, "the compaction ended too soon to be interrupted"
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["mlprov: interrupted"] and out == ""
    assert time.monotonic() - sent < 15  # RocksDB ends the file it is writing, then the process exits
    assert len(ox.Store.read_only(str(StoreLocation(home).database))) == written


def test_an_empty_database_folder_is_a_new_store_not_a_damaged_one(tmp_path):
    (tmp_path / "S" / "oxigraph").mkdir(parents=True)
    reader = mlprov(["runs", "--store", tmp_path / "S"], cwd=tmp_path)
    assert reader.returncode == 2 and "no mlprov store here" in reader.stderr
    make_plan(tmp_path / "p.ttl")
    writer = mlprov(["generate", "p.ttl", "--store", tmp_path / "S"], cwd=tmp_path)
    assert writer.returncode == 0, writer.stderr


READ = """
import sys, time
from pathlib import Path
from mlprov_rdf.store import StoreLocation, open_store
with open_store(StoreLocation(Path(sys.argv[1])), read_only=True):
    print("reading", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_readers_share_the_store_and_a_writer_waits_for_them(stocked, tmp_path):
    home = copy_of(stocked, tmp_path)
    reader = subprocess.Popen([sys.executable, "-c", READ, str(home), "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        with open_store(StoreLocation(home), read_only=True, wait_s=0) as store:
            assert store.has_graph("https://example.org/plans/p")
        with pytest.raises(StoreBusy):
            with open_store(StoreLocation(home), wait_s=0.5):
                pass
    finally:
        reader.kill()
        reader.wait()
    with open_store(StoreLocation(home), wait_s=5):
        pass
