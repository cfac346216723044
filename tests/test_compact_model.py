"""What an ingested run costs on disk: journals compressed once ingested. Real journals of a
real Iris run, a real store on disk, the real CLI."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf import capture, ingest, vocab
from mlprov_rdf.store import StoreLocation, open_store
from tests.bad_input import error_lines, mlprov
from tests.test_ingest import _copies, _graph, _journal


@pytest.fixture()
def journal(executed_run, tmp_path) -> Path:
    """A copy of the real run's journal, alone in its journal folder, not yet ingested."""
    (copy,) = _copies(_journal(executed_run), tmp_path / "journal", 1)
    return copy


@pytest.fixture()
def ingested(journal, tmp_path) -> StoreLocation:
    """A store that has ingested that journal, which is kept compressed since."""
    location = StoreLocation(tmp_path / "home")
    with open_store(location) as store:
        ingest.ingest_journal(store, journal)
    return location


def _ingest(*args, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlprov_rdf", "ingest", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


def test_an_ingested_journal_is_kept_gzipped_with_the_same_text_and_nothing_left_pending(journal, tmp_path):
    text = journal.read_bytes()
    home = tmp_path / "home"
    done = _ingest(tmp_path / "journal", "--store", home, env={ingest.KEEP_PLAIN_JOURNALS: ""})
    assert done.returncode == 0, done.stderr
    packed = journal.with_name(journal.name + ".gz")
    assert not journal.exists() and gzip.decompress(packed.read_bytes()) == text
    assert journal.with_suffix(".ingested").read_text() == str(len(text))
    assert not list((tmp_path / "journal").glob("*.tmp"))
    assert ingest.pending_journals(tmp_path / "journal") == []
    assert len(packed.read_bytes()) < len(text) / 4


def test_a_compressed_journal_ingested_again_by_either_name_gives_the_same_graph(journal, ingested):
    graph = vocab.bundle_iri(journal.stem)
    with open_store(ingested) as store:
        first = _graph(store, graph)
        ingest.ingest_journal(store, journal)  # RUN.nt is gone: RUN.nt.gz is read
        again = _graph(store, graph)
        ingest.ingest_journal(store, journal.with_name(journal.name + ".gz"))
        named_gz = _graph(store, graph)
    assert len(first) > 500 and first == again == named_gz


def test_plain_journals_are_kept_where_the_setting_asks_for_them(journal, tmp_path):
    done = _ingest(journal, "--store", tmp_path / "home", env={ingest.KEEP_PLAIN_JOURNALS: "1"})
    assert done.returncode == 0, done.stderr
    assert journal.is_file() and not journal.with_name(journal.name + ".gz").exists()
    assert ingest.pending_journals(tmp_path / "journal") == []


def test_lines_a_kernel_appends_after_compression_go_to_a_new_plain_file_and_are_ingested(journal, ingested):
    run = vocab.run_iri(journal.stem)
    assert not journal.exists()
    line = f'<{run}> <{vocab.RDFS}comment> "appended later" .\n'
    capture.append_locked(journal, line.encode("utf-8"))  # what a live kernel's next flush does
    assert ingest.pending_journals(journal.parent) == [journal]
    with open_store(ingested) as store:
        ingest.ingest_journals(store, ingest.pending_journals(journal.parent))
        comments = [q.object.value for q in store.inner.quads_for_pattern(
            ox.NamedNode(run), ox.NamedNode(vocab.RDFS + "comment"), None, ox.NamedNode(vocab.bundle_iri(journal.stem)))]
    assert comments == ["appended later"]
    assert not journal.exists() and ingest.read_journal(journal).endswith(line.encode("utf-8"))
    assert ingest.pending_journals(journal.parent) == []


def test_a_crash_between_compressing_and_removing_the_plain_file_ingests_to_the_same_graph(journal, ingested):
    graph = vocab.bundle_iri(journal.stem)
    with open_store(ingested) as store:
        before = _graph(store, graph)
    text = ingest.read_journal(journal)
    journal.write_bytes(text)  # RUN.nt.gz renamed into place, the plain file not yet removed
    assert ingest.pending_journals(journal.parent) == [journal]
    with open_store(ingested) as store:
        ingest.ingest_journal(store, journal)
        assert _graph(store, graph) == before
    assert not journal.exists()


def test_a_damaged_compressed_journal_is_refused_in_one_line(journal, tmp_path):
    packed = journal.with_name(journal.name + ".gz")
    packed.write_bytes(gzip.compress(journal.read_bytes())[:-200])
    journal.unlink()
    done = mlprov(["ingest", packed, "--store", tmp_path / "home"], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = error_lines(done.stderr)
    assert f"{packed}: the compressed journal is damaged" in line and "Traceback" not in done.stderr
