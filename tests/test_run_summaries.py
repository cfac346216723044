"""The per-plan run summaries: merged as runs are written, recomputed for runs written again, rebuilt for old stores."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date, timedelta
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


# What cell-trials and cq-last-execution read before the summaries: every cell execution.
STEPS_AGGREGATED = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX p-plan: <http://purl.org/net/p-plan#>
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?step ?executions ?last_started ?mean_duration ?execution
WHERE {
  { SELECT ?step (COUNT(?cell) AS ?executions) (MAX(?started) AS ?last_started)
    WHERE { ?cell p-plan:correspondsToStep ?step ; prov:startedAtTime ?started } GROUP BY ?step }
  OPTIONAL { SELECT ?step (AVG(?duration) AS ?mean_duration)
             WHERE { ?cell p-plan:correspondsToStep ?step ; mlprov:duration ?duration } GROUP BY ?step }
  ?execution prov:startedAtTime ?last_started ; p-plan:correspondsToStep ?step
}
ORDER BY ?step ?execution
"""


@pytest.fixture(autouse=True)
def plain_journals(monkeypatch):
    monkeypatch.setenv(ingest.KEEP_PLAIN_JOURNALS, "1")  # journals rewritten below stay plain text


def _copies(executed_run, folder: Path, n: int) -> list[Path]:
    """``n`` journals of distinct runs: the real journal with its run id replaced and its
    times moved back 0-10 days, out of order (so that the latest run is not the last written)."""
    journal = executed_run["location"].journal_dir / f"{vocab.run_id_of(executed_run['outcome'].run)}.nt"
    folder.mkdir(parents=True, exist_ok=True)
    text, run_id = journal.read_text(encoding="utf-8"), journal.stem
    paths = []
    for i in range(n):
        new_id = f"{run_id[:-8]}{i:08x}"
        days = (i * 7) % 11
        moved = re.sub(r'"(\d{4}-\d\d-\d\d)T', lambda m: f'"{date.fromisoformat(m[1]) - timedelta(days=days)}T', text)
        paths.append(folder / f"{new_id}.nt")
        paths[-1].write_text(moved.replace(run_id, new_id), encoding="utf-8")
    return paths


def _interrupted(journal: Path) -> None:
    """The journal cut in the middle of its cells, as a run stopped there leaves it."""
    lines = journal.read_text(encoding="utf-8").splitlines()
    cells = [i for i, line in enumerate(lines) if "/cell/" in line.split(" ", 1)[0]]
    journal.write_text("\n".join(lines[: cells[len(cells) // 2]]) + "\n", encoding="utf-8")


def _steps(store, plan: str) -> list[tuple]:
    """cell-trials joined with cq-last-execution: the steps some run executed."""
    plan = {"plan": plan}
    trials = {r["step"].value: r for r in _rows(store, "cell-trials", plan) if int(r["executions"].value)}
    return sorted((step, int(t["executions"].value), str(t["last_started"]), str(t["mean_duration"]), last["execution"].value)
                  for step, t in trials.items() for last in _rows(store, "cq-last-execution", plan)
                  if last["step"].value == step and str(last["last_started"]) == str(t["last_started"]))


def _aggregated(store) -> list[tuple]:
    return sorted((r["step"].value, int(r["executions"].value), str(r["last_started"]), str(r["mean_duration"]),
                   r["execution"].value) for r in store.query(STEPS_AGGREGATED))


def as_an_earlier_mlprov_left_it(location: StoreLocation) -> None:
    """The store without what an earlier mlprov did not write: no summaries, no direct start or start second."""
    with open_store(location) as store:
        for graph in [g.value for g in store.inner.named_graphs() if g.value.startswith("urn:mlprov:summary:")]:
            store.remove_graph(graph)
        store.inner.update("DELETE WHERE { GRAPH ?g { ?run <https://w3id.org/mlprov#runStarted> ?t } }")
        store.inner.update("DELETE WHERE { GRAPH ?g { ?run <https://w3id.org/mlprov#startSecond> ?t } }")


def _rows(store, name: str, params: dict) -> list[dict]:
    result = queries.run(store, LIBRARY[name], params)
    return [dict(zip(result.columns, row)) for row in result.rows]


def _records(store, name: str) -> list[dict]:
    return _rows(store, name, {})


def _by_status(store) -> list[tuple]:
    return [(r["plan"].value, r["status"].value, int(r["runs"].value), str(r["latest_started"]))
            for r in _records(store, "runs-by-status")]


def _counted(store) -> list[tuple]:
    return [(r["plan"].value, r["status"].value.rsplit("#", 1)[1], int(r["runs"].value), str(r["latest"]))
            for r in store.query(COUNTED)]


def _quads(store) -> list[str]:
    return sorted(str(q) for q in store.inner)


def _summary_quads(store) -> list[str]:
    return sorted(str(q) for q in store.inner
                  if isinstance(q.graph_name, ox.NamedNode) and q.graph_name.value.startswith(run_summaries.SUMMARY_BASE))


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
    _interrupted(second)
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
        assert store.has_graph(run_summaries.MARKER_GRAPH)


@contextmanager
def _store_with_plan(executed_run, folder: Path):
    """A new store holding the executed run's plan (the queries over steps read it)."""
    with open_store(StoreLocation(folder)) as store:
        loaded = load(executed_run["plan_file"])
        ingest.store_plan(store, loaded.graph, loaded.plan)
        yield store


def test_new_runs_are_merged_into_the_summary_a_rebuild_gives_and_the_step_aggregates_of_every_cell(executed_run, tmp_path):
    first, *imported, last = _copies(executed_run, tmp_path / "journal", 13)
    _interrupted(imported[3])
    plan = str(executed_run["plan"].iri)
    with _store_with_plan(executed_run, tmp_path / "store") as store:
        ingest.ingest_journal(store, first)  # the summaries built
        ingest.ingest_journals(store, imported)  # new runs in bulk writes, merged at the end
        ingest.ingest_journal(store, last)  # one new run, merged
        merged = _summary_quads(store)
        assert _by_status(store) == _counted(store) and sum(n for _, _, n, _ in _counted(store)) == 13
        steps = _steps(store, plan)
        assert steps == _aggregated(store) and len(steps) >= 7
        assert len({executions for _, executions, *_ in steps}) == 2  # the interrupted run's steps once fewer
        run_summaries.rebuild(store)
        assert _summary_quads(store) == merged


def test_an_import_killed_midway_then_done_again_gives_the_summary_of_one_clean_import(executed_run, tmp_path, monkeypatch):
    journals = _copies(executed_run, tmp_path / "journal", 16)
    monkeypatch.setattr(ingest, "BULK_QUADS", 3 * len(journals[0].read_text(encoding="utf-8").splitlines()))
    monkeypatch.setattr(ingest, "MIN_BULK_QUADS", 100)  # bulk writes of three runs each
    with _store_with_plan(executed_run, tmp_path / "clean") as store:
        ingest.ingest_journal(store, journals[0])
        ingest.ingest_journals(store, journals[1:])
        clean = _summary_quads(store)

    def killed(done: int, total: int) -> None:
        if done >= 7:
            raise KeyboardInterrupt

    with _store_with_plan(executed_run, tmp_path / "killed") as store:
        ingest.ingest_journal(store, journals[0])
        with pytest.raises(KeyboardInterrupt):
            ingest.ingest_journals(store, journals[1:], on_run=killed)
        assert not store.has_graph(run_summaries.MARKER_GRAPH) and _summary_quads(store) != clean
        ingest.ingest_journals(store, journals[1:])
        assert _summary_quads(store) == clean
