"""Ingest under faults: a bad journal among good ones, a 17 MB cell, a full disk, a server that is down.

Real parts only: journals of real runs (a real kernel), the real ``mlprov`` in a subprocess,
a real store on disk, a real tmpfs filled to the last byte, a real ``oxigraph serve``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyoxigraph as ox
import pytest

from mlprov_rdf import capture, ingest, vocab
from tests.bad_input import error_lines, mlprov, store_graphs
from tests.test_backends import _free_port, _oxigraph_binary, _ready

MLPROV = vocab.MLPROV


def _real_journal(executed_run) -> Path:
    return executed_run["location"].journal_dir / f"{vocab.run_id_of(executed_run['outcome'].run)}.nt"


def _copies(journal: Path, folder: Path, n: int, start: int = 0) -> list[Path]:
    """``n`` journals of distinct runs: the real journal with its run id replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    text = journal.read_text(encoding="utf-8")
    paths = []
    for i in range(start, start + n):
        new_id = f"{journal.stem[:-8]}{i:08x}"
        path = folder / f"{new_id}.nt"
        path.write_text(text.replace(journal.stem, new_id), encoding="utf-8")
        paths.append(path)
    return paths


def _stored_runs(home: Path) -> set[str]:
    return {g[len("<" + vocab.BUNDLE_BASE):-1] for g in store_graphs(home) or {} if g.startswith("<" + vocab.BUNDLE_BASE)}


def _errors(done: subprocess.CompletedProcess) -> list[str]:
    return error_lines(done.stderr)


def test_one_bad_journal_among_good_ones_leaves_the_good_ones_stored_and_itself_unmarked(executed_run, tmp_path):
    folder, home = tmp_path / "journals", tmp_path / "home"
    good = _copies(_real_journal(executed_run), folder, 3)
    (bad,) = _copies(_real_journal(executed_run), folder, 1, start=3)
    with bad.open("a", encoding="utf-8") as f:
        f.write(f"<urn:mlprov:run:OTHER> <{MLPROV}status> <{MLPROV}Completed> .\n")
    done = mlprov(["ingest", folder, "--store", home], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = _errors(done)
    assert line.startswith(f"mlprov: error: {bad}: line ") and "<urn:mlprov:run:OTHER>" in line
    assert line.endswith("the 3 other journals were stored"), line
    assert _stored_runs(home) == {p.stem for p in good}
    assert all(p.with_suffix(".ingested").exists() for p in good) and not bad.with_suffix(".ingested").exists()
    graphs = store_graphs(home)
    again = mlprov(["ingest", folder, "--store", home], cwd=tmp_path)  # only journals new or grown since
    assert again.returncode == 2 and again.stdout == ""
    assert [f"mlprov: error: {bad}: line " in x for x in _errors(again)] == [True]
    assert store_graphs(home) == graphs


def test_several_bad_journals_are_each_named_and_summed_up(executed_run, tmp_path):
    folder, home = tmp_path / "journals", tmp_path / "home"
    good = _copies(_real_journal(executed_run), folder, 2)
    empty, misnamed = folder / "20260101T000000-00000001.nt", folder / "no run.nt"
    empty.write_text("")
    misnamed.write_text(good[0].read_text())
    done = mlprov(["ingest", folder, "--store", home], cwd=tmp_path)
    assert done.returncode == 2
    lines = _errors(done)
    assert len(lines) == 3 and lines[-1].endswith("2 journals refused (above) and left for the next ingest; 2 others stored")
    assert any(str(empty) in x for x in lines) and any(str(misnamed) in x for x in lines)
    assert _stored_runs(home) == {p.stem for p in good}


_SEVENTEEN_MB = 17 * 2**20


def _notebook(cells: list[str]) -> dict:
    return {"cells": [{"cell_type": "code", "id": f"c{i}", "source": src, "metadata": {}, "outputs": [],
                       "execution_count": None} for i, src in enumerate(cells)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _value_file(home: Path, run: str, prop: str) -> tuple[str, Path, str, int]:
    """Preview, file, recorded sha256 and size of a large value in the store."""
    store = ox.Store.read_only(str(home / "oxigraph"))
    (row,) = store.query(f"""
        SELECT ?preview ?file ?sha ?size WHERE {{ ?s <{prop}> ?preview ; <{MLPROV}valueFile> ?v .
            ?v <{MLPROV}ofProperty> <{prop}> ; <{vocab.PROV}atLocation> ?file ; <{MLPROV}sha256> ?sha ;
               <{MLPROV}byteSize> ?size .
            FILTER STRSTARTS(STR(?s), "{run}/") }}""", use_default_graph_as_union=True)
    return row["preview"].value, Path(unquote(urlsplit(row["file"].value).path)), row["sha"].value, int(row["size"].value)


def test_a_run_with_a_17_mb_cell_is_stored_its_code_kept_in_a_file_and_later_runs_go_in(executed_run, tmp_path):
    home = tmp_path / "home"
    huge = "x = " + repr("é" + "a" * _SEVENTEEN_MB) + "\nprint(len(x))"
    start = ('from mlprov_rdf import capture\nrun = capture.start(plan="https://example.org/plans/huge", '
             'title="huge", plan_digest="0", steps={}, parameters={})')
    notebook = tmp_path / "huge.ipynb"
    notebook.write_text(json.dumps(_notebook([start, huge, "y = 1"])), encoding="utf-8")
    done = mlprov(["run", notebook, "--store", home], cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_id,) = _stored_runs(home)
    journal = home / "journal" / f"{run_id}.nt"
    assert max(len(line) for line in ingest.read_journal(journal).decode("utf-8").split("\n")) < capture.LARGE_VALUE_CHARS
    preview, file, sha, size = _value_file(home, vocab.run_iri(run_id), MLPROV + "sourceCode")
    assert file.parent == home / "artifacts" / run_id / "values"  # the run's own folder
    assert file.read_bytes() == huge.encode("utf-8") and size == len(huge.encode("utf-8"))
    assert hashlib.sha256(file.read_bytes()).hexdigest() == sha
    assert preview == huge[: capture.PREVIEW_CHARS] + "…"
    later = _copies(_real_journal(executed_run), tmp_path / "later", 1)
    assert mlprov(["ingest", *later, "--store", home], cwd=tmp_path).returncode == 0
    assert later[0].stem in _stored_runs(home)


def test_an_older_journal_with_an_over_size_line_is_stored_whole_and_left_as_it_was(executed_run, tmp_path):
    folder, home = tmp_path / "journals", tmp_path / "home"
    old, good = _copies(_real_journal(executed_run), folder, 2)
    code = 'print("a\\tb")\n' * (17 * 2**20 // 18 + 1)  # quotes, a backslash, line breaks: escaped as capture did
    escaped = code.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    run = vocab.run_iri(old.stem)
    with old.open("a", encoding="utf-8") as f:  # as capture wrote it before large values went to files
        f.write(f'<{run}/cell/99> <{MLPROV}sourceCode> "{escaped}" .\n')
    before = hashlib.sha256(old.read_bytes()).hexdigest()
    assert len(escaped) > 16 * 2**20  # more than Oxigraph parses in one statement
    done = mlprov(["ingest", folder, "--store", home], cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _stored_runs(home) == {old.stem, good.stem}
    assert hashlib.sha256(ingest.read_journal(old)).hexdigest() == before  # compressed, its text as it was
    preview, file, sha, size = _value_file(home, run, MLPROV + "sourceCode")
    assert file.read_bytes() == code.encode("utf-8") and sha == hashlib.sha256(code.encode("utf-8")).hexdigest()


_TRICKS = {
    "second-statement-on-a-line": "<{run}> <{m}label> <urn:x> . <urn:mlprov:run:OTHER> <{m}status> <{m}Completed> .",
    "turtle-blank-node-run": "<{run}/cell/1> <{m}x> [] ; a <http://www.w3.org/ns/mls#Run> .",
    "turtle-graph-block": "<{run}> <{m}x> <urn:x> . }} <urn:mlprov:bundle:OTHER> {{ <urn:y> <{m}x> <urn:z> .",
    "carriage-return-between-statements": "<{run}/cell/1> <{m}x> \"a\" .\r<urn:y> <{m}x> <urn:z> .",
    "carriage-return-then-another-run": "<{run}> <{m}x> <urn:x> .\r<urn:mlprov:run:OTHER> <{m}status> <{m}Completed> .",
}


@pytest.mark.parametrize("trick", _TRICKS.values(), ids=_TRICKS.keys())
def test_a_line_that_is_turtle_not_n_triples_is_never_stored(trick, executed_run, tmp_path):
    (journal,) = _copies(_real_journal(executed_run), tmp_path / "journals", 1)
    run = vocab.run_iri(journal.stem)
    with journal.open("a", encoding="utf-8") as f:
        f.write(trick.format(run=run, m=MLPROV) + "\n")
    done = mlprov(["ingest", journal, "--store", tmp_path / "home"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "skipped an unreadable journal line" in done.stderr
    store = ox.Store.read_only(str(tmp_path / "home" / "oxigraph"))
    assert [str(g) for g in store.named_graphs() if g.value.startswith(vocab.BUNDLE_BASE)] == [f"<{vocab.bundle_iri(journal.stem)}>"]
    runs = store.query(f"SELECT ?r WHERE {{ ?r a <{vocab.MLS}Run> }}", use_default_graph_as_union=True)
    assert [row["r"].value for row in runs] == [run]
    assert not store.query("ASK { ?s ?p ?o FILTER(isBlank(?s) || ?s = <urn:y> || ?s = <urn:mlprov:run:OTHER>) }",
                           use_default_graph_as_union=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (room for a dozen runs written a transaction each), unmounted afterwards; skipped where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill the disk to the last byte, then free ``leave`` bytes: enough to open a store, not to write runs."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for block in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)
    os.truncate(filler, filler.stat().st_size - leave)
    return filler


def test_disk_full_during_ingest_keeps_the_journals_unmarked_and_a_later_ingest_stores_them(executed_run, small_disk, tmp_path):
    home = small_disk / "home"
    (first,) = _copies(_real_journal(executed_run), tmp_path / "first", 1)
    assert mlprov(["ingest", first, "--store", home], cwd=tmp_path).returncode == 0
    journals = _copies(_real_journal(executed_run), tmp_path / "journals", 12, start=1)
    filler = _fill(small_disk, leave=400_000)
    done = mlprov(["ingest", tmp_path / "journals", "--store", home], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = _errors(done)
    assert line.startswith(f"mlprov: error: the disk holding {home} is full: run")
    assert "not stored" in line and "kept" in line and "'mlprov ingest'" in line
    marked = {p.stem for p in journals if p.with_suffix(".ingested").exists()}
    assert len(marked) < len(journals)
    filler.unlink()
    assert marked <= _stored_runs(home)  # a journal is marked only once its run is in the store
    again = mlprov(["ingest", tmp_path / "journals", "--store", home], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _stored_runs(home) == {first.stem, *(p.stem for p in journals)}
    assert all(p.with_suffix(".ingested").exists() for p in journals)


def test_server_down_at_ingest_keeps_the_journal_and_ingest_records_it_once_the_server_is_up(executed_run, tmp_path):
    (journal,) = _copies(_real_journal(executed_run), tmp_path / "journals", 1)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    done = mlprov(["ingest", journal, "--store", url], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = _errors(done)
    assert "cannot reach the SPARQL server" in line and "kept" in line
    assert f"'mlprov ingest --store {url}' records them once the server is back" in line
    assert not journal.with_suffix(".ingested").exists()
    server = subprocess.Popen([_oxigraph_binary(), "serve", "--location", str(tmp_path / "db"), "--bind",
                               f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not _ready(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"oxigraph serve did not start on port {port}")
            time.sleep(0.1)
        again = mlprov(["ingest", journal, "--store", url], cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert journal.with_suffix(".ingested").exists()
        ask = urllib.request.Request(url + "query", data=f"ASK {{ GRAPH <{vocab.bundle_iri(journal.stem)}> {{ ?s ?p ?o }} }}"
                                     .encode(), headers={"Content-Type": "application/sparql-query",
                                                         "Accept": "application/sparql-results+json"})
        with urllib.request.urlopen(ask, timeout=10) as response:
            assert json.load(response)["boolean"] is True
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_run_whose_notebook_cannot_be_saved_on_a_full_disk_is_still_stored(small_disk, tmp_path):
    home = tmp_path / "home"
    start = ('from mlprov_rdf import capture\nrun = capture.start(plan="https://example.org/plans/small", '
             'title="small", plan_digest="0", steps={}, parameters={})')
    notebook = tmp_path / "small.ipynb"
    notebook.write_text(json.dumps(_notebook([start, "print('x' * 100_000)"])), encoding="utf-8")
    output = small_disk / "executed.ipynb"
    _fill(small_disk, leave=0)
    done = mlprov(["run", notebook, "-o", output, "--store", home], cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    (line,) = _errors(done)
    (run_id,) = _stored_runs(home)
    assert line.startswith(f"mlprov: error: run {vocab.run_iri(run_id)} is stored (")
    assert f"{output}: cannot be written" in line and "free some space" in line
    assert not output.exists() and not any(p.name.endswith(".tmp") for p in small_disk.iterdir())
    assert (home / "journal" / f"{run_id}.ingested").exists()
