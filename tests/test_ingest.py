"""Ingest of real journals: batches written whole, the same graphs as one run at a time, direct values."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf import ingest, vocab
from mlprov_rdf.run_record import read_run_record
from mlprov_rdf.cli import INGEST_LINES, main
from mlprov_rdf.store import Store, StoreLocation, open_store
from tests.bad_input import error_lines


def _journal(executed_run) -> Path:
    run = executed_run["outcome"].run
    return executed_run["location"].journal_dir / f"{vocab.run_id_of(run)}.nt"


def _copies(journal: Path, folder: Path, n: int) -> list[Path]:
    """``n`` journals of distinct runs: the real journal with its run id replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    text = journal.read_text(encoding="utf-8")
    run_id = journal.stem
    paths = []
    for i in range(n):
        new_id = f"{run_id[:-8]}{i:08x}"
        path = folder / f"{new_id}.nt"
        path.write_text(text.replace(run_id, new_id), encoding="utf-8")
        paths.append(path)
    return paths


def _bundles(store) -> list[str]:
    """The run graphs of the store (not the plans' run summaries)."""
    return [g.value for g in store.inner.named_graphs() if g.value.startswith(vocab.BUNDLE_BASE)]


def _graph(store, graph: str) -> list[str]:
    return sorted(str(q) for q in store.inner.quads_for_pattern(None, None, None, ox.NamedNode(graph)))


def test_a_batch_gives_the_graphs_that_one_run_at_a_time_gives(executed_run, tmp_path):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 40)
    environment = {line for line in journals[0].read_text(encoding="utf-8").split("\n") if line.startswith("<" + vocab.ENV_BASE)}
    batched, single = StoreLocation(tmp_path / "batched"), StoreLocation(tmp_path / "single")
    progress = []
    with open_store(batched) as store:
        results = ingest.ingest_journals(store, journals, on_run=lambda done, total: progress.append((done, total)))
    with open_store(single) as store:
        for journal in journals:
            ingest.ingest_journal(store, journal)
    assert [r.journal for r in results] == journals
    assert {r.status for r in results} == {"Completed"}
    assert progress[-1] == (40, 40) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert not list(batched.database.glob("bulk-*.nq")), "a batch's N-Quads file is removed once loaded"
    with open_store(batched) as a, open_store(single, create=False) as b:
        for journal in journals:
            graph = vocab.bundle_iri(journal.stem)
            assert _graph(a, graph) == _graph(b, graph)
            assert len(_graph(a, graph)) == results[0].triples
            assert not any("packageName" in line for line in _graph(a, graph))  # the run links its packages only
        # The 40 runs had one environment: described once, whichever way they were written.
        assert _graph(a, vocab.ENV_GRAPH) == _graph(b, vocab.ENV_GRAPH)
        assert len(_graph(a, vocab.ENV_GRAPH)) == len(environment) > 100


def test_the_environment_goes_in_once_an_import_and_every_batch_s_runs_have_it(executed_run, tmp_path, monkeypatch):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 60)
    environment = {line for line in journals[0].read_text(encoding="utf-8").split("\n") if line.startswith("<" + vocab.ENV_BASE)}
    monkeypatch.setattr(ingest, "BULK_QUADS", ingest.MIN_BULK_QUADS * 2)  # batches of about 30 runs
    written: list[int] = []  # environment lines in each bulk write's file
    add_graphs = Store.add_graphs

    def counted(store, nquads, lines):
        written.append(sum(1 for line in nquads.open(encoding="utf-8") if line.endswith(f"<{vocab.ENV_GRAPH}> .\n")))
        return add_graphs(store, nquads, lines)

    monkeypatch.setattr(Store, "add_graphs", counted)
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        ingest.ingest_journals(store, journals)
        assert len(written) >= 2 and sum(written) <= len(environment) * ingest.WRITERS
        assert len(_graph(store, vocab.ENV_GRAPH)) == len(environment)
        packages = {len(read_run_record(store, vocab.run_iri(j.stem)).environment.packages) for j in journals}
    assert packages == {sum(1 for line in environment if "packageName" in line)}


def test_an_import_read_by_worker_processes_stores_what_one_process_stores(executed_run, tmp_path, monkeypatch, caplog):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 30)
    with journals[7].open("a", encoding="utf-8") as f:
        f.write('<urn:mlprov:run:x> <https://w3id.org/mlprov#status> "cut')  # a warning, from a worker
    refused = journals[12].with_name("not a run id.nt")
    journals[12].rename(refused)
    journals[12] = refused
    copies = _copies(_journal(executed_run), tmp_path / "copies", 30)  # the same runs, for one process
    copies[12].unlink()
    monkeypatch.setattr(ingest, "PARALLEL_JOURNALS", 10)
    with open_store(StoreLocation(tmp_path / "parallel")) as store, caplog.at_level(logging.WARNING):
        with pytest.raises(ingest.JournalsRefused) as refusal:
            ingest.ingest_journals(store, journals)
        assert [r.journal for r in refusal.value.stored] == journals[:12] + journals[13:]
        assert "not a run id.nt: not named as mlprov names journals" in str(refusal.value.refused[0])
        parallel = {g: _graph(store, g) for g in _bundles(store)}
    assert any("dropped a line cut off at the end" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(ingest, "PARALLEL_JOURNALS", 10_000)
    with open_store(StoreLocation(tmp_path / "one")) as store:
        ingest.ingest_journals(store, copies[:12] + copies[13:])
        assert parallel == {g: _graph(store, g) for g in _bundles(store)}
    assert len(parallel) == 29


def test_an_import_that_grows_the_store_by_a_quarter_compacts_it_and_a_small_one_does_not(
        executed_run, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ingest, "COMPACT_MIN_BYTES", 0)  # the rule's share alone: a test store is small
    journals = _copies(_journal(executed_run), tmp_path / "journal", 41)
    location = StoreLocation(tmp_path / "S")
    with caplog.at_level(logging.INFO, logger="mlprov_rdf.ingest"):
        with open_store(location) as store:
            ingest.ingest_journals(store, journals[:40])
        first = [r.getMessage() for r in caplog.records if "compact" in r.getMessage()]
        caplog.clear()
        with open_store(location) as store:
            ingest.ingest_journals(store, journals[40:])  # one run more: far less than a quarter
            assert len(_bundles(store)) == 41
        second = [r.getMessage() for r in caplog.records if "compact" in r.getMessage()]
    assert first and first[0].startswith("compacting the store after an import that grew it from 0 MB")
    assert first[-1].startswith("compacted the store in ")
    assert second == []


def test_a_compaction_that_fails_leaves_the_import_stored_with_a_warning(executed_run, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ingest, "COMPACT_MIN_BYTES", 0)
    journals = _copies(_journal(executed_run), tmp_path / "journal", 40)  # a bulk write: new data files

    def full_disk(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "compact", full_disk)  # the disk filling up as RocksDB writes the merged files
    with open_store(StoreLocation(tmp_path / "S")) as store:
        results = ingest.ingest_journals(store, journals)
        assert len(results) == 40 and len(_bundles(store)) == 40
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("the store was not compacted" in m and "the runs are stored" in m for m in warned)


def test_ingesting_a_batch_again_changes_nothing(executed_run, tmp_path):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 5)
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        ingest.ingest_journals(store, journals)
        before = len(store.inner)
        again = ingest.ingest_journals(store, journals + journals[:2])  # named twice: once
        assert len(store.inner) == before
    assert len(again) == 5


def test_a_journal_with_a_damaged_line_is_ingested_without_it(executed_run, tmp_path):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 6)  # a batch, not a transaction each
    for damaged, line in ((journals[1], "<urn:broken> this is not N-Triples ."),
                          (journals[4], '<urn:broken> <urn:p> "a literal never closed .')):
        lines = damaged.read_text(encoding="utf-8").split("\n")
        lines.insert(10, line)
        damaged.write_text("\n".join(lines), encoding="utf-8")
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        results = ingest.ingest_journals(store, journals)
        assert {r.triples for r in results} == {results[0].triples}
        assert len(_bundles(store)) == 6
        assert not store.query("ASK { <urn:broken> ?p ?o }")


def test_a_line_cut_off_at_the_end_is_dropped(executed_run, tmp_path):
    (journal,) = _copies(_journal(executed_run), tmp_path / "journal", 1)
    complete = ingest.prepare(journal)
    with journal.open("a", encoding="utf-8") as f:
        f.write('<urn:mlprov:run:x> <https://w3id.org/mlprov#status> "cut')
    assert ingest.prepare(journal) == complete


def test_direct_values_agree_with_the_settings_and_evaluations(executed_run):
    run = executed_run["outcome"].run
    with open_store(executed_run["location"]) as store:
        settings = {
            (s["name"].value, s["value"]) for s in store.query(f"""
            PREFIX mls: <{vocab.MLS}> PREFIX mlprov: <{vocab.MLPROV}>
            SELECT ?name ?value WHERE {{ <{run}> mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?value }}""")
        }
        direct = {
            (s["p"].value[len(vocab.PARAM):], s["value"]) for s in store.query(
                f"SELECT ?p ?value WHERE {{ <{run}> ?p ?value FILTER STRSTARTS(STR(?p), '{vocab.PARAM}') }}")
        }
        results = {(s["p"].value, s["value"]) for s in store.query(
            f"SELECT ?p ?value WHERE {{ <{run}> ?p ?value FILTER STRSTARTS(STR(?p), 'https://w3id.org/mlprov/metric') }}")}
        accuracy = store.query(f"""
            PREFIX mls: <{vocab.MLS}> PREFIX mlprov: <{vocab.MLPROV}>
            SELECT ?value WHERE {{ <{run}> mls:hasOutput ?e . ?e mls:specifiedBy mlprov:accuracy ;
                mlprov:splitName "test" ; mls:hasValue ?value FILTER NOT EXISTS {{ ?e mlprov:forClass ?c }} }}""")
    assert direct == settings and len(direct) == 16  # every setting an Iris MLP notebook records
    assert (vocab.metric_namespace("test") + "accuracy", next(iter(accuracy))["value"]) in results
    names = {p for p, _ in results}
    assert vocab.metric_namespace("train") + "training_accuracy" in names
    assert not any(p.endswith("training_loss") or p.endswith("#f1") for p in names)  # per epoch, per class


def test_a_split_or_setting_name_that_no_iri_can_hold_is_percent_encoded(executed_run, tmp_path):
    (journal,) = _copies(_journal(executed_run), tmp_path / "journal", 1)
    run = vocab.run_iri(journal.stem)
    node, setting = f"{run}/metric/accuracy/hold-out", f"{run}/setting/odd"
    with journal.open("a", encoding="utf-8") as f:
        f.write(f"""<{run}> <{vocab.MLS}hasOutput> <{node}> .
<{node}> <{vocab.MLS}specifiedBy> <{vocab.MLPROV}accuracy> .
<{node}> <{vocab.MLS}hasValue> "0.5"^^<{vocab.XSD}double> .
<{node}> <{vocab.MLPROV}splitName> "hold out" .
<{run}> <{vocab.MLS}hasInput> <{setting}> .
<{setting}> <{vocab.MLPROV}parameterName> "batch size/2" .
<{setting}> <{vocab.MLS}hasValue> "16"^^<{vocab.XSD}integer> .
""")
    with open_store(StoreLocation(tmp_path / "store")) as store:
        (result,) = ingest.ingest_journals(store, [journal])
        assert result.status == "Completed"
        values = {s["p"].value: s["v"].value for s in store.query(f"SELECT ?p ?v WHERE {{ <{run}> ?p ?v }}")}
    assert values["https://w3id.org/mlprov/metric/hold%20out#accuracy"] == "0.5"
    assert values[vocab.PARAM + "batch%20size%2F2"] == "16"


def test_a_journal_whose_name_is_no_run_id_is_refused_and_the_others_are_stored(executed_run, tmp_path):
    good, bad = _copies(_journal(executed_run), tmp_path / "journal", 2)
    bad = bad.rename(bad.with_name("my run.nt"))
    with open_store(StoreLocation(tmp_path / "store")) as store:
        with pytest.raises(ingest.JournalsRefused, match="my run.nt: not named as mlprov names journals") as refusal:
            ingest.ingest_journals(store, [good, bad])
        assert [r.journal for r in refusal.value.stored] == [good]
        assert _bundles(store) == [vocab.bundle_iri(good.stem)]
    assert not bad.with_suffix(".ingested").exists()
    result = CliRunner().invoke(main, ["ingest", str(good), str(bad), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2 and len(error_lines(result.stderr)) == 1
    assert "my run.nt: not named as mlprov names journals" in result.stderr
    assert "the other journal was stored" in result.stderr


_IMPORT = """
import sys
from pathlib import Path
from mlprov_rdf import ingest
from mlprov_rdf.store import StoreLocation, open_store
ingest.BULK_QUADS = ingest.MIN_BULK_QUADS * 10  # several batches of these 300 runs
with open_store(StoreLocation(Path(sys.argv[1]))) as store:
    print("started", flush=True)
    ingest.ingest_journals(store, sorted(Path(sys.argv[2]).glob("*.nt")))
"""


def test_a_killed_batch_import_leaves_only_whole_runs(executed_run, tmp_path):
    journals = _copies(_journal(executed_run), tmp_path / "journal", 300)
    expected = ingest.prepare(journals[0]).count
    location = StoreLocation(tmp_path / "store")
    proc = subprocess.Popen([sys.executable, "-c", _IMPORT, str(location.home), str(tmp_path / "journal")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".ingested" for p in (tmp_path / "journal").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open_store(location, create=False) as store:
        graphs = _bundles(store)
        sizes = {len(_graph(store, g)) for g in graphs}
    assert 0 < len(graphs) < 300, "the import was killed part way"
    assert sizes == {expected}
    with open_store(location) as store:  # and the import, run again, completes it
        ingest.ingest_journals(store, journals)
        assert len(_bundles(store)) == 300


def test_mlprov_ingest_lists_twenty_runs_then_sums_up_the_rest(executed_run, tmp_path):
    journals = _copies(_journal(executed_run), tmp_path / "journal", INGEST_LINES + 5)
    triples = ingest.prepare(journals[0]).count
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "journal"), "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == INGEST_LINES + 1
    assert lines[0] == f"{vocab.run_iri(journals[0].stem)}: completed, {triples} triples"
    assert lines[-1] == f"... and 5 more: {INGEST_LINES + 5} runs (25 completed), {triples * 25:,} triples"
