"""One run through the Python API in a blink: a canned query is read and checked once and
kept until its file changes, a library name is found without reading the whole library, a
run's own statements are matched in its graph with the same answer, and the DataFrame is
typed as before."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf import queries, vocab
from mlprov_rdf.resources import queries_dir
from mlprov_rdf.store import StoreLocation, open_store

QUERY = """# title: Labels
# param run (iri): the run, e.g. urn:mlprov:run:x
SELECT ?run ?label WHERE { ?run <http://www.w3.org/2000/01/rdf-schema#label> ?label }
"""


#: How long a file must be left unchanged before its query is kept, in these tests (50 ms).
SETTLED_NS = 50_000_000


def _settle() -> None:
    time.sleep(2 * SETTLED_NS / 1e9)


def test_a_query_file_is_read_once_then_kept_until_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(queries, "_SETTLED_NS", SETTLED_NS)
    path = tmp_path / "labels.rq"
    path.write_text(QUERY)
    _settle()
    first = queries.load_file(path)
    assert queries.load_file(path) is first
    path.write_text(QUERY.replace("title: Labels", "title: Names"))
    _settle()
    again = queries.load_file(path)
    assert again is not first and again.title == "Names"
    assert queries.load_file(path) is again


def test_a_query_file_changed_just_now_is_read_again_even_with_the_same_size_and_time(tmp_path):
    path = tmp_path / "labels.rq"
    path.write_text(QUERY)
    stamp = path.stat().st_mtime_ns
    assert queries.load_file(path).title == "Labels"
    path.write_text(QUERY.replace("title: Labels", "title: Lables"))  # same size
    os.utime(path, ns=(stamp, stamp))  # and the same time, as a write within one clock tick leaves it
    assert queries.load_file(path).title == "Lables"


def test_a_removed_query_file_is_one_line_not_the_kept_query(tmp_path, monkeypatch):
    monkeypatch.setattr(queries, "_SETTLED_NS", SETTLED_NS)
    path = tmp_path / "labels.rq"
    path.write_text(QUERY)
    _settle()
    queries.load_file(path)
    path.unlink()
    with pytest.raises(queries.UserError, match=r"labels\.rq: cannot read"):
        queries.load_file(path)


def test_a_library_name_resolves_to_the_library_query_read_once():
    library = queries.load_library()
    for name, query in library.items():
        found = queries.resolve(name)
        assert found == query and found.in_library and found.label == name
    assert queries.resolve("run-params") is queries.resolve("run-params")


def test_a_name_that_leaves_the_library_folder_is_not_a_library_name(tmp_path, monkeypatch):
    outside = tmp_path / "outside.rq"
    outside.write_text(QUERY)
    monkeypatch.chdir(queries_dir())
    relative = os.path.relpath(outside.with_suffix(""), queries_dir())
    assert relative.startswith("..")
    with pytest.raises(queries.UserError, match="not a query in the library"):
        queries.resolve(relative)
    assert not queries.resolve(relative + ".rq").in_library  # as a path it is the file, not a library query


def _without_graph_block(text: str) -> str:
    """The query with its ``GRAPH ?g { ... }`` block opened up: the same patterns over the union."""
    start = text.index("GRAPH ?g {")
    end = text.rindex("}", 0, text.rindex("}"))  # the block's brace, before the WHERE group's
    return text[:start] + text[start + len("GRAPH ?g {"):end] + text[end + 1:]


@pytest.mark.parametrize("name", ["run-metrics", "run-artifacts"])
def test_a_run_query_that_reads_the_runs_graph_answers_what_the_union_answers(executed_run, name):
    query = queries.resolve(name)
    assert "GRAPH ?g {" in query.text
    run = executed_run["outcome"].run
    with open_store(executed_run["location"], create=False, read_only=True) as store:
        text, substitutions = queries.prepare(query, {"run": run})
        in_graph = [tuple(row) for row in store.query(text, substitutions)]
        over_union = [tuple(row) for row in store.query(_without_graph_block(text), substitutions)]
    assert in_graph == over_union and in_graph


def test_the_data_frame_keeps_its_types_date_times_in_utc_and_missing_values_apart():
    xsd = vocab.XSD
    result = queries.QueryResult(
        columns=["run", "started", "accuracy", "epochs", "note"],
        rows=[
            (ox.NamedNode("urn:mlprov:run:a"), ox.Literal("2026-11-23T19:42:01+01:00", datatype=ox.NamedNode(xsd + "dateTime")),
             ox.Literal("0.93", datatype=ox.NamedNode(xsd + "double")), ox.Literal("30", datatype=ox.NamedNode(xsd + "integer")),
             None),
            (ox.NamedNode("urn:mlprov:run:b"), None, ox.Literal("NaN", datatype=ox.NamedNode(xsd + "double")), None,
             ox.Literal("text")),
        ],
    )
    frame = queries.to_dataframe(result)
    assert list(frame.columns) == result.columns
    assert str(frame["started"].dtype).startswith("datetime64") and str(frame["started"].dt.tz) == "UTC"
    assert frame["started"][0].isoformat() == "2026-11-23T18:42:01+00:00"
    assert frame["accuracy"][0] == 0.93 and math.isnan(frame["accuracy"][1])
    assert frame["epochs"][0] == 30 and math.isnan(frame["epochs"][1])
    assert frame["run"].tolist() == ["urn:mlprov:run:a", "urn:mlprov:run:b"] and frame["note"][1] == "text"


def test_a_text_column_that_holds_one_date_time_stays_text():
    xsd = vocab.XSD
    result = queries.QueryResult(columns=["value"], rows=[
        (ox.Literal("2026-11-23T19:42:01Z", datatype=ox.NamedNode(xsd + "dateTime")),), (ox.Literal("Adam"),)])
    assert queries.to_dataframe(result)["value"].dtype == object


def test_the_store_benchmark_times_every_question_about_one_run(executed_run):
    """The benchmark's per-run timings on a real store: each question answers, and the whole
    run is the record the run page shows."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import store_bench

    location: StoreLocation = executed_run["location"]
    run = executed_run["outcome"].run
    with open_store(location, create=False, read_only=True) as store:
        found = store_bench.bench_run_api(store, [run], reps=2)
        assert store_bench._raw_run_record(store.inner, run, store_bench._plan_of(store.inner, run)) > 100
    assert set(found) == set(store_bench.RUN_API)
    for question, entry in found.items():
        assert entry["mlprov"]["n"] == 2 and entry["pyoxigraph"]["p50_ms"] > 0, question
        assert entry["meets_latency_target"] == (entry["mlprov"]["p50_ms"] <= store_bench.TARGETS["run_api_p50_ms"])
    assert "| whole run | run_record.read_run_record |" in store_bench.run_api_table(found)
