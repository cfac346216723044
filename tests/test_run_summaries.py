"""The per-plan run summaries: written with the runs, recomputed from the store, rebuilt for old stores."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf import ingest, queries, run_summaries, vocab
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation, open_store

LIBRARY = queries.load_library()

# What the queries counted before the summaries: every run read.
COUNTED = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?plan ?status (COUNT(?run) AS ?runs) (MAX(?started) AS ?latest)
WHERE { ?run mlprov:plan ?plan ; a mls:Run ; mlprov:status ?status ; prov:startedAtTime ?started }
GROUP BY ?plan ?status ORDER BY ?plan ?status
"""


@pytest.fixture(autouse=True)
def plain_journals(monkeypatch):
    monkeypatch.setenv(ingest.KEEP_PLAIN_JOURNALS, "1")  # journals rewritten below stay plain text


def _copies(executed_run, folder: Path, n: int) -> list[Path]:
    """``n`` journals of distinct runs: the real journal with its run id replaced."""
    journal = executed_run["location"].journal_dir / f"{vocab.run_id_of(executed_run['outcome'].run)}.nt"
    folder.mkdir(parents=True, exist_ok=True)
    text, run_id = journal.read_text(encoding="utf-8"), journal.stem
    paths = []
    for i in range(n):
        new_id = f"{run_id[:-8]}{i:08x}"
        paths.append(folder / f"{new_id}.nt")
        paths[-1].write_text(text.replace(run_id, new_id), encoding="utf-8")
    return paths


def as_an_earlier_mlprov_left_it(location: StoreLocation) -> None:
    """The store without what an earlier mlprov did not write: no summaries, no direct start."""
    with open_store(location) as store:
        for graph in [g.value for g in store.inner.named_graphs() if g.value.startswith("urn:mlprov:summary:")]:
            store.remove_graph(graph)
        store.inner.update("DELETE WHERE { GRAPH ?g { ?run <https://w3id.org/mlprov#runStarted> ?t } }")


def _records(store, name: str) -> list[dict]:
    result = queries.run(store, LIBRARY[name], {})
    return [dict(zip(result.columns, row)) for row in result.rows]


def _by_status(store) -> list[tuple]:
    return [(r["plan"].value, r["status"].value, int(r["runs"].value), str(r["latest_started"]))
            for r in _records(store, "runs-by-status")]


def _counted(store) -> list[tuple]:
    return [(r["plan"].value, r["status"].value.rsplit("#", 1)[1], int(r["runs"].value), str(r["latest"]))
            for r in store.query(COUNTED)]


def _quads(store) -> list[str]:
    return sorted(str(q) for q in store.inner)


def _summary_quads(store) -> list[str]:
    return [q for q in _quads(store) if run_summaries.SUMMARY_BASE in q.rsplit(" ", 2)[-2]]


def test_a_batch_and_one_run_at_a_time_give_the_counts_of_every_run(executed_run, tmp_path):
    journals = _copies(executed_run, tmp_path / "journal", 30)
    with open_store(StoreLocation(tmp_path / "batched")) as store:
        ingest.ingest_journals(store, journals)
        batched = _summary_quads(store)
        assert _by_status(store) == _counted(store) and _counted(store)[0][2] == 30
    with open_store(StoreLocation(tmp_path / "single")) as store:
        for journal in journals:
            ingest.ingest_journal(store, journal)
        assert _summary_quads(store) == batched


def test_ingesting_the_same_journals_twice_leaves_identical_triples(executed_run, tmp_path):
    journals = _copies(executed_run, tmp_path / "journal", 3)
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.ingest_journals(store, journals)
        before = _quads(store)
        ingest.ingest_journals(store, journals)
        assert _quads(store) == before


def test_a_run_stored_again_with_another_status_moves_between_the_counts(executed_run, tmp_path):
    first, second = _copies(executed_run, tmp_path / "journal", 2)
    full = second.read_text(encoding="utf-8")
    plan = str(executed_run["plan"].iri)
    cells = [i for i, line in enumerate(full.splitlines()) if "/cell/" in line.split(" ", 1)[0]]
    second.write_text("\n".join(full.splitlines()[: cells[len(cells) // 2]]) + "\n", encoding="utf-8")
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.ingest_journals(store, [first, second])
        assert [(s, n) for p, s, n, _ in _by_status(store) if p == plan] == [("Completed", 1), ("Interrupted", 1)]
        second.write_text(full, encoding="utf-8")  # the whole run this time
        ingest.ingest_journal(store, second)
        assert [(s, n) for p, s, n, _ in _by_status(store) if p == plan] == [("Completed", 2)]
        assert _by_status(store) == _counted(store)


def test_a_store_written_before_summaries_gets_every_plan_summed_at_its_first_write(executed_run, tmp_path):
    old, new = _copies(executed_run, tmp_path / "journal", 2)
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.ingest_journal(store, old)
        expected = _summary_quads(store)
        for graph in [run_summaries.MARKER_GRAPH, run_summaries.summary_graph(str(executed_run["plan"].iri))]:
            store.remove_graph(graph)  # as a store written before summaries were kept
        assert _by_status(store) == []
        ingest.ingest_journal(store, old)  # the first write after: every plan rebuilt
        assert _summary_quads(store) == expected
        ingest.ingest_journal(store, new)
        assert _by_status(store) == _counted(store) and _counted(store)[0][2] == 2


def test_the_plans_query_reads_the_run_count_and_last_start_from_the_summary(executed_run, tmp_path):
    journals = _copies(executed_run, tmp_path / "journal", 3)
    loaded = load(executed_run["plan_file"])
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.store_plan(store, loaded.graph, loaded.plan)
        ingest.ingest_journals(store, journals)
        (plan, _status, _runs, latest), = _counted(store)
        rows = [r for r in _records(store, "plans") if r["plan"].value == plan]
        assert [(int(r["runs"].value), str(r["last_started"])) for r in rows] == [(3, latest)]
        summary = ox.NamedNode(run_summaries.summary_graph(plan))
        assert list(store.inner.quads_for_pattern(summary, ox.NamedNode(vocab.MLPROV + "runCount"), None, summary))


def test_an_import_stopped_before_its_end_leaves_the_summaries_to_be_rebuilt_by_the_next_write(executed_run, tmp_path):
    first, second = _copies(executed_run, tmp_path / "journal", 2)
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.ingest_journal(store, first)
        with pytest.raises(KeyboardInterrupt):
            with run_summaries.deferred(store):
                ingest.ingest_journal(store, second)  # stored, its summary not yet
                raise KeyboardInterrupt
        assert not store.has_graph(run_summaries.MARKER_GRAPH)
        assert [n for _, _, n, _ in _by_status(store)] == [1]
        ingest.ingest_journal(store, first)  # the next write
        assert store.has_graph(run_summaries.MARKER_GRAPH)
        assert _by_status(store) == _counted(store) and _counted(store)[0][2] == 2


def test_reading_a_store_an_earlier_mlprov_wrote_builds_its_summaries_once(executed_run, tmp_path):
    """`mlprov runs` on a store without summaries (an earlier version's) lists its runs."""
    import shutil

    from click.testing import CliRunner

    from mlprov_rdf.cli import main
    from mlprov_rdf.store import StoreLocation, open_store

    copy = tmp_path / "store"
    shutil.copytree(executed_run["location"].home, copy)
    location = StoreLocation(copy)
    as_an_earlier_mlprov_left_it(location)
    listed = CliRunner().invoke(main, ["runs", "--store", str(copy), "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert executed_run["outcome"].run in listed.stdout
    with open_store(location, read_only=True) as store:
        assert store.has_graph("urn:mlprov:summary:built")
