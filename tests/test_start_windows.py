"""Pages of runs in start order read from start windows: the same page a query over every run gives."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf import ingest, queries, run_summaries, start_windows, vocab
from mlprov_rdf.errors import UserError
from mlprov_rdf.store import StoreLocation, open_store

LIBRARY = queries.load_library()
_DATETIME = re.compile(r'"([0-9T:.+\-Z]+)"\^\^<http://www\.w3\.org/2001/XMLSchema#dateTime>')
#: (limit, offset) pairs: pages that end inside a second, a minute, a day, and past the last run.
PAGES = [(1, 0), (3, 0), (7, 4), (10, 23), (25, 30), (9, 51), (100, 0), (5, 200)]


@pytest.fixture(autouse=True)
def plain_journals(monkeypatch):
    monkeypatch.setenv(ingest.KEEP_PLAIN_JOURNALS, "1")


def _moved(text: str, by: timedelta, offset: timedelta) -> str:
    """Every time in the journal moved back ``by``, written at the UTC offset ``offset``."""
    def move(m: re.Match) -> str:
        moment = datetime.fromisoformat(m[1]) - by
        return f'"{moment.astimezone(timezone(offset)).isoformat()}"^^<{vocab.XSD}dateTime>'
    return _DATETIME.sub(move, text)


def _spread_runs(executed_run, folder: Path, n: int) -> list[Path]:
    """``n`` journals of distinct runs over several days, minutes and seconds (some sharing a
    second), some written at another UTC offset, about one in five with the SGD optimizer and one
    in seventeen with RMSprop."""
    journal = executed_run["location"].journal_dir / f"{vocab.run_id_of(executed_run['outcome'].run)}.nt"
    text, run_id = journal.read_text(encoding="utf-8"), journal.stem
    assert '"Adam"' in text
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        by = timedelta(days=(i % 4) * 3, minutes=(i * 7) % 5, seconds=(i // 3) % 4)
        copy = _moved(text, by, timedelta(hours=5, minutes=30) if i % 10 == 9 else timedelta(0))
        if i % 17 == 16:
            copy = copy.replace('"Adam"', '"RMSprop"')
        elif i % 5 == 0:
            copy = copy.replace('"Adam"', '"SGD"')
        new_id = f"{run_id[:-8]}{i:08x}"
        paths.append(folder / f"{new_id}.nt")
        paths[-1].write_text(copy.replace(run_id, new_id), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def spread_store(executed_run, tmp_path_factory):
    """60 runs of one plan, the first written alone and the rest in one import."""
    folder = tmp_path_factory.mktemp("spread")
    journals = _spread_runs(executed_run, folder / "journal", 60)
    location = StoreLocation(folder / "store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ingest.KEEP_PLAIN_JOURNALS, "1")
        with open_store(location) as store:
            ingest.ingest_journal(store, journals[0])
            ingest.ingest_journals(store, journals[1:])
    return location


def _page(store, name: str, params: dict) -> list[tuple[str, ...]]:
    return [tuple(map(str, row)) for row in queries.run(store, LIBRARY[name], params).rows]


def _every(store, name: str, params: dict) -> list[tuple[str, ...]]:
    """The query over every run, in one list (a limit of 0 reads no windows)."""
    return _page(store, name, {**params, "limit": 0, "offset": 0})


@pytest.mark.parametrize("name, params", [
    ("runs", {}),
    ("runs-by-setting", {}),
    ("runs-by-setting", {"optimizer": "SGD"}),
    ("runs-by-setting", {"optimizer": "RMSprop"}),
    ("runs-by-setting", {"optimizer": "Nadam"}),
    ("metric-across-runs", {"metric": "accuracy"}),
], ids=["runs", "runs-by-setting", "one-in-five", "one-in-seventeen", "none", "metric-across-runs"])
def test_every_page_read_from_start_windows_is_that_page_of_the_list_of_every_run(spread_store, executed_run, name, params):
    if LIBRARY[name].param("plan") is not None and LIBRARY[name].param("plan").required:
        params = {**params, "plan": str(executed_run["plan"].iri)}
    with open_store(spread_store, read_only=True) as store:
        every = _every(store, name, params)
        assert len(every) == {"SGD": 11, "RMSprop": 3, "Nadam": 0}.get(params.get("optimizer"), 60)
        for limit, offset in PAGES:
            assert _page(store, name, {**params, "limit": limit, "offset": offset}) == every[offset:offset + limit], (limit, offset)


def test_the_newest_runs_come_from_a_few_seconds_not_from_every_run(spread_store):
    with open_store(spread_store, read_only=True) as store:
        windows = start_windows.seconds_for(store, 3, newest_first=True)
        every = {row["second"].value: int(row["n"].value) for row in store.query(
            "SELECT ?second (COUNT(?run) AS ?n) WHERE { ?run <https://w3id.org/mlprov#startSecond> ?second } GROUP BY ?second")}
    newest = sorted(every, reverse=True)
    assert windows.seconds == newest[:len(windows.seconds)] and len(windows.seconds) < len(newest)
    assert windows.runs == sum(every[s] for s in windows.seconds) >= 3
    assert windows.runs - every[windows.seconds[-1]] < 3  # the last second is the one the page ends in


def test_the_summaries_count_the_runs_of_each_day_minute_and_second(spread_store, executed_run):
    graph = ox.NamedNode(run_summaries.summary_graph(str(executed_run["plan"].iri)))
    with open_store(spread_store, read_only=True) as store:
        seconds = [row["second"].value for row in store.query(
            "SELECT ?second WHERE { ?run <https://w3id.org/mlprov#startSecond> ?second }")]
        for level in (start_windows.DAY, start_windows.MINUTE, start_windows.SECOND):
            counted = {row["key"].value: int(row["n"].value) for row in store.query(
                f"SELECT ?key ?n WHERE {{ GRAPH {graph} {{ ?node <{vocab.MLPROV}{start_windows.LEVEL_PROPERTY[level]}> ?key ;"
                f" <{vocab.MLPROV}runCount> ?n }} }}")}
            expected: dict[str, int] = {}
            for second in seconds:
                expected[second[:level]] = expected.get(second[:level], 0) + 1
            assert counted == expected and sum(counted.values()) == 60
        assert len({s[:start_windows.DAY] for s in seconds}) == 4


def test_a_start_is_keyed_by_its_utc_second():
    assert start_windows.start_second("2026-12-03T14:05:09.5+05:30") == "2026-12-03T08:35:09"
    assert start_windows.start_second("2026-12-03T00:00:00-01:00") == "2026-12-03T01:00:00"
    assert start_windows.start_second("2026-12-03T08:25:13") == "2026-12-03T08:25:13"  # no offset: UTC


def test_a_run_written_again_moves_to_its_new_start_in_the_counts(executed_run, tmp_path):
    first, second = _spread_runs(executed_run, tmp_path / "journal", 2)
    with open_store(StoreLocation(tmp_path / "store")) as store:
        ingest.ingest_journals(store, [first, second])
        before = start_windows.seconds_for(store, 1, newest_first=True)
        second.write_text(_moved(second.read_text(encoding="utf-8"), timedelta(days=30), timedelta(0)), encoding="utf-8")
        ingest.ingest_journal(store, second)
        after = start_windows.seconds_for(store, 1, newest_first=False)
        assert after.runs == 1 and after.seconds != before.seconds
        assert _page(store, "runs", {"limit": 1, "offset": 1}) == _every(store, "runs", {})[1:2]


def test_a_store_an_earlier_mlprov_wrote_gets_its_runs_start_seconds_at_its_first_write(executed_run, tmp_path):
    journals = _spread_runs(executed_run, tmp_path / "journal", 6)
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        ingest.ingest_journals(store, journals[:5])
        listed = _every(store, "runs", {})
        store.inner.update(f"DELETE WHERE {{ GRAPH ?g {{ ?run <{vocab.MLPROV}startSecond> ?s }} }}")
        for graph in [g.value for g in store.inner.named_graphs() if g.value.startswith("urn:mlprov:summary:")]:
            store.remove_graph(graph)
        store.inner.add(ox.Quad(ox.NamedNode("urn:mlprov:summary:built:2"), ox.NamedNode(vocab.MLPROV + "summariesBuilt"),
                                ox.Literal("1"), ox.NamedNode("urn:mlprov:summary:built:2")))
        ingest.ingest_journal(store, journals[5])  # the next write
        assert store.has_graph(run_summaries.MARKER_GRAPH) and not store.has_graph("urn:mlprov:summary:built:2")
        assert len(_every(store, "runs", {})) == 6
        assert [row for row in _every(store, "runs", {}) if row in listed] == listed
        assert _page(store, "runs", {"limit": 2, "offset": 1}) == _every(store, "runs", {})[1:3]


@pytest.mark.parametrize("header, message", [
    ("# order: sideways\nSELECT ?run WHERE { VALUES ?start_window { UNDEF } ?run ?p ?o } LIMIT 5",
     r"t\.rq line 1: '# order: sideways' is not an order; write '# order: newest first' or '# order: oldest first'"),
    ("# order: newest first\n# param limit (limit) = 5: runs\nSELECT ?run WHERE { ?run ?p ?o } LIMIT 5",
     r"t\.rq: '# order: newest first' needs one slot 'VALUES \?start_window \{ UNDEF \}'"),
    ("# order: oldest first\nSELECT ?run WHERE { VALUES ?start_window { UNDEF } ?run ?p ?o }",
     r"t\.rq: '# order: oldest first' needs .* and a parameter of type limit"),
])
def test_an_order_the_query_cannot_page_by_is_refused_with_one_line(tmp_path, header, message):
    path = tmp_path / "t.rq"
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=message):
        queries.load_file(path)
