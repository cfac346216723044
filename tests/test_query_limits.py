"""Queries can be stopped: a time limit, Ctrl-C, and a writer that waits for the store gets
it once a stopped query lets go; stored text cannot drive the terminal; an empty answer
says when a parameter names something the store lacks. Real `mlprov` subprocesses on a
copy of a real run's store."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mlprov_rdf import api, queries
from mlprov_rdf.errors import QueryTimeout
from mlprov_rdf.store import StoreLocation, open_store
from tests.bad_input import MLPROV, mlprov
from tests.conftest import make_plan

#: A cross product of the store's triples with a filter that never holds and that
#: Oxigraph cannot push into the patterns: it runs for hours on a run's 15,000 triples.
SLOW = 'SELECT ?a WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), "never")) }'
TITLE = "Iris \x1b[2J\x1b]0;owned\x07 \u202eevil\x9b title"


@pytest.fixture()
def home(executed_run, tmp_path) -> Path:
    """A copy of the real run's store, which a test may write to."""
    copy = tmp_path / "store"
    shutil.copytree(executed_run["location"].home, copy)
    return copy


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLPROV_STORE"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*MLPROV, *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_slow_query_stops_at_its_time_limit_with_one_line(home, tmp_path):
    started = time.monotonic()
    done = mlprov(["query", SLOW, "--timeout", "3", "--store", home], cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert _stderr_lines(done.stderr) == [
        "mlprov: error: query (text): stopped after 3 s; narrow it (e.g. -p run=...) "
        "or allow more time (--timeout S; timeout= in Python); a small query that never ends "
        "can mean a damaged store: 'mlprov store check' tells"
    ]
    assert elapsed < 10, elapsed
    assert done.stdout == ""


def test_ctrl_c_stops_a_running_query_at_once_with_exit_130(home, tmp_path):
    proc = _start(["query", SLOW, "--store", str(home)], tmp_path)
    time.sleep(3)  # the query is running in the store by now
    assert proc.poll() is None
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole process group
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2
    assert proc.returncode == 130, err
    assert _stderr_lines(err) == ["mlprov: interrupted"]
    assert "Traceback" not in err and out == ""


def test_a_writer_waiting_for_the_store_gets_it_once_the_query_is_stopped(home, tmp_path):
    plan = make_plan(tmp_path / "other.ttl")
    query = _start(["query", SLOW, "--timeout", "6", "--store", str(home)], tmp_path)
    time.sleep(2)  # the query's process holds the store now
    started = time.monotonic()
    writer = subprocess.run([*MLPROV, "generate", str(plan), "-o", str(tmp_path / "other.ipynb"), "--store", str(home)],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=150)
    waited = time.monotonic() - started
    _, query_err = query.communicate(timeout=30)
    assert writer.returncode == 0, writer.stderr
    assert waited < 30, f"the writer waited {waited:.0f} s"
    assert query.returncode == 2 and "stopped after 6 s" in query_err, query_err
    assert (tmp_path / "other.ipynb").is_file()


def test_a_query_that_ends_leaves_the_store_free(home, tmp_path):
    done = mlprov(["runs", "--store", home], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open_store(StoreLocation(home), wait_s=0.5) as store:  # StoreBusy if anything still held it
        assert store.has_graph("https://w3id.org/mlprov")


def test_control_characters_in_a_stored_title_never_reach_the_terminal(home, tmp_path):
    plan = make_plan(tmp_path / "escapes.ttl")
    text = plan.read_text()
    escaped = TITLE.encode("unicode_escape").decode("ascii").replace("\\x", "\\u00")
    text = text.replace('dcterms:title "Iris test plan"', f'dcterms:title "{escaped}"')
    assert escaped in text
    plan.write_text(text)
    generated = mlprov(["generate", plan, "-o", tmp_path / "escapes.ipynb", "--store", home], cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr

    table = mlprov(["query", "plans", "--store", home], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for unsafe in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert unsafe not in table.stdout
    assert "Iris \\x1b[2J\\x1b]0;owned\\x07 \\u202eevil\\x9b title" in table.stdout

    as_csv = mlprov(["query", "plans", "--format", "csv", "--store", home], cwd=tmp_path)
    titles = [row["title"] for row in csv.DictReader(io.StringIO(as_csv.stdout))]
    assert TITLE in titles  # CSV and JSON are data: exact
    as_json = json.loads(mlprov(["query", "plans", "--format", "json", "--store", home], cwd=tmp_path).stdout)
    assert TITLE in [b["title"]["value"] for b in as_json["results"]["bindings"]]


def test_table_cells_escape_every_control_and_bidi_character():
    assert queries.terminal_text("a\x1b[2Jb\x00c\x7fd\x85e\u202ef\u2066g") == "a\\x1b[2Jb\\x00c\\x7fd\\x85e\\u202ef\\u2066g"
    assert queries.terminal_text("one\ntwo\tthree") == "one ⏎ two three"


def test_an_optional_parameter_naming_nothing_in_the_store_gives_a_note(executed_run, tmp_path):
    home = executed_run["location"].home
    done = mlprov(["query", "runs-by-setting", "-p", "plan=https://example.org/plans/nope", "--store", home], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(0 rows)" in done.stdout
    assert _stderr_lines(done.stderr) == ["mlprov: note: no plan <https://example.org/plans/nope> in the store"]
    measure = mlprov(["query", "best-runs", "-p", "metric=no_such_measure", "--store", home], cwd=tmp_path)
    assert measure.returncode == 0, measure.stderr
    assert "no recorded metric <https://w3id.org/mlprov/metric/test#no_such_measure> in the store" in measure.stderr


def test_a_parameter_the_store_holds_gives_no_note(executed_run, tmp_path):
    home = executed_run["location"].home
    run = executed_run["outcome"].run
    done = mlprov(["query", "metric-history", "-p", f"run={run}", "-p", "metric=no_such_measure", "--store", home],
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _stderr_lines(done.stderr) == [
        "mlprov: note: no recorded metric <https://w3id.org/mlprov#no_such_measure> in the store"
    ]


def test_the_python_api_stops_a_query_at_its_timeout(executed_run):
    with api.open_store(executed_run["location"].home) as prov:
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="stopped after 2 s"):
            prov.query(SLOW, timeout=2)
        assert time.monotonic() - started < 10
        assert prov.query("runs")["run"].tolist() == [executed_run["outcome"].run]  # the store is free again


def test_the_python_api_refuses_service_unless_allowed(executed_run):
    with api.open_store(executed_run["location"].home) as prov:
        with pytest.raises(queries.UserError, match="SERVICE"):
            prov.query("SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }")


@pytest.mark.parametrize(
    "name, params",
    [
        ("runs", {}),
        ("plans", {}),
        ("run-metrics", {"run": "RUN"}),
        ("run-cells", {"run": "RUN"}),
        ("run-params", {"run": "RUN"}),
        ("environment", {"run": "RUN"}),
        ("best-runs", {"metric": "accuracy"}),
        ("CONSTRUCT { ?run ?p ?o } WHERE { ?run a <http://www.w3.org/ns/mls#Run> ; ?p ?o }", {}),
        ("ASK { ?run a <http://www.w3.org/ns/mls#Run> }", {}),
        ('SELECT ?x ?none WHERE { VALUES ?x { "a\\tb\\n" 1.5 <urn:x> "chat"@fr } }', {}),
    ],
)
def test_a_stoppable_query_returns_what_the_query_in_this_process_returns(executed_run, name, params):
    location = executed_run["location"]
    params = {k: executed_run["outcome"].run if v == "RUN" else v for k, v in params.items()}
    query = queries.resolve(name)
    with open_store(location, create=False) as store:
        here = queries.run(store, query, params)
    there = queries.run_stoppable(location, query, params)
    assert (there.columns, there.rows, there.boolean) == (here.columns, here.rows, here.boolean)
    assert (there.triples is None) == (here.triples is None)
    assert here.rows or here.boolean is not None


def test_a_query_process_killed_from_outside_is_one_line(home, tmp_path):
    proc = _start(["query", SLOW, "--store", str(home)], tmp_path)
    time.sleep(3)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the query runs in a child process"
    os.kill(int(children[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert _stderr_lines(err) == [
        "mlprov: error: query (text): the query process ended without an answer (killed by signal 9); "
        "the store is unchanged; run it again with -v to see why"
    ]
