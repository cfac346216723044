"""The embedded store: one writer at a time, waiting instead of failing; clear errors."""

from __future__ import annotations

import subprocess
import sys
import time

import pyoxigraph as ox
import pytest

from mlprov_rdf.errors import StoreBusy, UserError
from mlprov_rdf.store import StoreLocation, open_store

HOLD = """
import sys, time
from pathlib import Path
from mlprov_rdf.store import StoreLocation, open_store
with open_store(StoreLocation(Path(sys.argv[1]))):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_second_process_waits_for_the_store_instead_of_failing(tmp_path):
    proc = _hold(tmp_path / "s", 1.5)
    started = time.monotonic()
    with open_store(StoreLocation(tmp_path / "s"), wait_s=30) as store:
        store.replace_graph("urn:g", [ox.Triple(ox.NamedNode("urn:a"), ox.NamedNode("urn:b"), ox.Literal("c"))])
    assert time.monotonic() - started >= 0.5
    proc.wait()


def test_store_held_too_long_is_a_clear_error(tmp_path):
    proc = _hold(tmp_path / "s", 5)
    with pytest.raises(StoreBusy, match="another process has held the store"):
        with open_store(StoreLocation(tmp_path / "s"), wait_s=0.5):
            pass
    proc.kill()


def test_replace_graph_is_idempotent_and_leaves_other_graphs_alone(tmp_path):
    triple = ox.Triple(ox.NamedNode("urn:a"), ox.NamedNode("urn:b"), ox.Literal("c"))
    with open_store(StoreLocation(tmp_path / "s")) as store:
        store.replace_graph("urn:other", [triple])
        for _ in range(3):
            store.replace_graph("urn:g", [triple, ox.Triple(ox.NamedNode("urn:a"), ox.NamedNode("urn:b"), ox.Literal("d"))])
        assert len(list(store.inner.quads_for_pattern(None, None, None, ox.NamedNode("urn:g")))) == 2
        assert store.has_graph("urn:other")
    with open_store(StoreLocation(tmp_path / "s")) as store:  # survives a reopen
        assert len(store.rdflib_graph("urn:g")) == 2


def test_store_location_comes_from_option_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPROV_STORE", raising=False)
    assert StoreLocation.resolve(None).home == tmp_path / ".mlprov"
    monkeypatch.setenv("MLPROV_STORE", str(tmp_path / "env"))
    assert StoreLocation.resolve(None).home == tmp_path / "env"
    assert StoreLocation.resolve(str(tmp_path / "opt")).home == tmp_path / "opt"


def test_missing_store_is_reported_not_created(tmp_path):
    with pytest.raises(UserError, match="no mlprov store here"):
        with open_store(StoreLocation(tmp_path / "none"), create=False):
            pass
    assert not (tmp_path / "none").exists()


LOAD = """
import sys
from pathlib import Path
from mlprov_rdf.store import StoreLocation, open_store
with open_store(StoreLocation(Path(sys.argv[1]))) as store:
    nquads = store.bulk_file()
    nquads.write_text("".join(f'<urn:s{i}> <urn:p> "{i}" <urn:g> .\\n' for i in range(1_000_000)))
    print("loading", flush=True)
    store.add_graphs(nquads, 1_000_000)
"""


def test_a_bulk_load_killed_part_way_leaves_nothing_and_its_files_are_removed(tmp_path):
    location = StoreLocation(tmp_path / "s")
    proc = subprocess.Popen([sys.executable, "-c", LOAD, str(location.home)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "loading"
    deadline = time.monotonic() + 60
    while not list(location.database.glob("bulk-*.sst")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert list(location.database.glob("bulk-*.sst")), "the load was killed while it wrote its files"
    with open_store(location, create=False) as store:
        assert not list(location.database.glob("bulk-*"))  # the loader's files and the N-Quads it read
        assert len(store.inner) == 0
