"""A query session keeps one child process and the store open across queries, and lets go of
the store when it idles or a writer waits. Real store (a copy of a real run's), real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from mlprov_rdf import api, queries, run_summaries
from mlprov_rdf.errors import QueryTimeout, StoreBusy, UserError
from mlprov_rdf.run_record import read_run_record
from mlprov_rdf.stoppable_query import QuerySession
from mlprov_rdf.store import StoreLocation, open_store
from tests.test_run_summaries import as_an_earlier_mlprov_left_it


@pytest.fixture()
def location(executed_run, tmp_path) -> StoreLocation:
    copy = tmp_path / "store"
    shutil.copytree(executed_run["location"].home, copy)
    return StoreLocation(copy)


def _pid(store) -> bytes:
    """Where the job ran, and whether it had a store."""
    return f"{os.getpid()} {len(store.inner) > 0}".encode()


def _sleep(seconds: float, store) -> bytes:
    time.sleep(seconds)
    return b"slept"


def _refuse(store) -> bytes:
    raise UserError("refused: the job's own error")


def test_queries_of_one_session_run_in_one_process_with_the_store_open(location):
    with QuerySession(location) as session:
        answers = {session.run(_pid, timeout_s=10, label="pid") for _ in range(5)}
    [answer] = answers
    pid, has_store = answer.decode().split()
    assert int(pid) != os.getpid() and has_store == "True"


def test_a_session_lets_go_of_the_store_when_it_idles(location):
    with QuerySession(location, idle_s=0.2) as session:
        session.run(_pid, timeout_s=10, label="pid")
        with pytest.raises(StoreBusy):  # held right after a query ...
            with open_store(location, wait_s=0):
                pass
        time.sleep(0.6)
        with open_store(location, wait_s=0):  # ... and free once the session idles
            pass
        assert session.run(_pid, timeout_s=10, label="pid")  # and opened again for the next query


def test_a_writer_gets_the_store_while_a_session_keeps_querying(location):
    """No starvation: a session that queries without pause lets a waiting writer in."""
    stop = threading.Event()
    answered: list[int] = []

    def query_without_pause() -> None:
        with QuerySession(location, idle_s=60) as session:
            while not stop.is_set():
                session.run(_pid, timeout_s=10, label="pid")
                answered.append(1)

    reader = threading.Thread(target=query_without_pause)
    reader.start()
    try:
        while not answered:
            time.sleep(0.01)
        started = time.monotonic()
        with open_store(location, wait_s=10) as store:
            store.replace_graph("urn:mlprov:test:written", [])
        waited = time.monotonic() - started
    finally:
        stop.set()
        reader.join()
    assert waited < 5
    assert len(answered) > 1


def test_a_job_past_its_deadline_is_stopped_and_the_session_goes_on(location):
    with QuerySession(location) as session:
        first = session.run(_pid, timeout_s=10, label="pid")
        with pytest.raises(QueryTimeout, match="stopped after 0.5 s"):
            session.run(partial(_sleep, 5), timeout_s=0.5, label="sleeper")
        with open_store(location, wait_s=0):  # the killed child held the store: released
            pass
        second = session.run(_pid, timeout_s=10, label="pid")
    assert first.split()[0] != second.split()[0]  # a new process


def test_a_jobs_user_error_comes_back_as_that_error_and_the_session_goes_on(location):
    with QuerySession(location) as session:
        with pytest.raises(UserError, match="refused: the job's own error"):
            session.run(_refuse, timeout_s=10, label="refuse")
        assert session.run(_pid, timeout_s=10, label="pid")


def test_the_api_answers_queries_runs_and_diffs_through_its_session(location, executed_run):
    run = executed_run["outcome"].run
    with open_store(location, read_only=True) as store:
        direct = read_run_record(store, run)
        params = queries.run(store, queries.resolve("run-params"), {"run": run})
    with api.open_store(location) as prov:
        assert prov.run(run) == direct
        assert prov.run(run.rsplit(":", 1)[1]) == direct  # a bare run id
        frame = prov.query("run-params", run=run)
        assert len(frame) == len(params.rows)
        assert prov.diff(run, run).to_dataframe() is not None
        with pytest.raises(UserError, match="not a run IRI or run id"):
            prov.run("not a run")
    with open_store(location, wait_s=0):  # the block's process is gone with the block
        pass


def test_a_session_child_dies_with_its_parent(location, tmp_path):
    """A kill -9 of the process that holds the session leaves no child holding the store."""
    script = tmp_path / "hold.py"
    script.write_text(
        "import sys, time\n"
        "from mlprov_rdf.stoppable_query import QuerySession\n"
        "from mlprov_rdf.store import StoreLocation\n"
        f"s = QuerySession(StoreLocation({str(location.home)!r}), idle_s=600)\n"
        "from tests.test_query_session import _pid\n"
        "s.run(_pid, timeout_s=10, label='pid')\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    with open_store(location, wait_s=5):  # the child went with its parent
        pass


def test_only_a_query_that_reads_the_run_summaries_builds_them_in_a_store_without_them(location, executed_run):
    """A store an earlier mlprov wrote: the query process finds the summaries missing, the parent builds them once."""
    as_an_earlier_mlprov_left_it(location)
    run = executed_run["outcome"].run
    with api.open_store(location) as prov:
        assert len(prov.query("run-params", run=run)) > 0
        with open_store(location, read_only=True) as store:
            assert not store.has_graph(run_summaries.MARKER_GRAPH)  # a query about one run left it alone
        assert prov.runs()["run"].tolist() == [run]
        assert prov.runs()["run"].tolist() == [run]  # built once: the second asks in the same open store
    with open_store(location, read_only=True) as store:
        assert store.has_graph(run_summaries.MARKER_GRAPH)
