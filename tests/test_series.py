"""A per-epoch series is one rdf:JSON literal: exact, merged from the journal's chunks, still
read from the per-epoch nodes an earlier mlprov wrote."""

from __future__ import annotations

import json
import random
import re

import pyoxigraph as ox
import pytest

from mlprov_rdf import capture, ingest, queries, series, vocab
from mlprov_rdf.store import StoreLocation, open_store
from tests.test_ingest import _journal

SERIES = vocab.MLPROV + "series"
CHUNK_LINE = re.compile(r"^(<[^>]+>) <" + re.escape(vocab.MLPROV) + r"seriesChunk> (.*) \.$", re.M)


def _history(location: StoreLocation, run: str) -> list[tuple[int, float]]:
    with open_store(location) as store:
        result = queries.run(store, queries.resolve("metric-history"), {"run": run, "metric": "training_loss"})
    rows = [dict(zip(result.columns, row)) for row in result.rows]
    return [(int(r["epoch"].value), float(r["value"].value)) for r in rows]


def _stored_series(location: StoreLocation, run: str) -> list[tuple[str, str]]:
    with open_store(location) as store:
        return [(str(q.subject.value), q.object.value)
                for q in store.inner.quads_for_pattern(None, ox.NamedNode(SERIES), None, ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run))))]


def _old_style(journal_text: str) -> str:
    """The journal as an mlprov before series wrote it: a node per epoch, typed twice."""
    out = []
    for line in journal_text.splitlines(keepends=True):
        m = CHUNK_LINE.match(line.rstrip("\n"))
        if not m and f"{series.SERIES_SEGMENT}>" not in line:
            out.append(line)
            continue
        if not m:  # a link of the series node: written for each epoch's node below
            continue
        node = m[1][1:-1]
        links = [l for l in journal_text.splitlines() if l.startswith(f"<{node}> ") and "seriesChunk" not in l]
        outputs = [l for l in journal_text.splitlines() if l.endswith(f" <{node}> .")]
        for epoch, value in series.decode(capture.literal_text(m[2])):
            old = node.removesuffix(series.SERIES_SEGMENT) + f"/epoch/{epoch}"
            out += [l.replace(f"<{node}>", f"<{old}>") + "\n" for l in links + outputs]
            out += [f"<{old}> <{vocab.RDF}type> <{vocab.PROV}Entity> .\n",
                    f'<{old}> <{vocab.MLS}hasValue> "{value!r}"^^<{vocab.XSD}double> .\n',
                    f'<{old}> <{vocab.MLPROV}epoch> "{epoch}"^^<{vocab.XSD}integer> .\n']
    return "".join(out)


def test_a_series_literal_reads_back_every_double_exactly():
    rng = random.Random(7)
    points = [(epoch, rng.random() * 10 ** rng.randint(-12, 12)) for epoch in range(1, 101)]
    text = series.encode(points)
    assert series.decode(text) == points  # the same floats, bit for bit
    assert text == series.encode(points) and " " not in text and list(json.loads(text)) == ["epochs", "values"]
    assert series.merged([points[:60], [(5, 0.5)] + points[60:]]) == points[:4] + [(5, 0.5)] + points[5:]


def test_a_run_stores_each_series_as_one_literal(executed_run):
    run, location = executed_run["outcome"].run, executed_run["location"]
    ((node, text),) = _stored_series(location, run)
    assert node == f"{run}/metric/training_loss/train/series"
    points = series.decode(text)
    assert [e for e, _ in points] == list(range(1, 31))
    assert _history(location, run) == points
    with open_store(location) as store:
        assert not bool(store.query(f"ASK {{ GRAPH ?g {{ ?node <{vocab.MLPROV}epoch> ?e FILTER (CONTAINS(STR(?node), '/epoch/')) }} }}"))
        last = store.query(f"SELECT ?e ?v WHERE {{ GRAPH ?g {{ <{node}> <{vocab.MLPROV}epoch> ?e ; <{vocab.MLS}hasValue> ?v }} }}")
        ((epoch, value),) = [(int(r["e"].value), float(r["v"].value)) for r in last]
    assert (epoch, value) == points[-1]  # what table1 and a query without JSON read


def _recording(tmp_path, monkeypatch) -> capture.Run:
    """A run recorded in this process (no kernel), its epochs 1 to 5 flushed one by one."""
    monkeypatch.setenv("MLPROV_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setattr(capture, "EPOCH_FLUSH_S", 0.0)
    recording = capture.Run("https://example.org/plans/p", "p", "digest", {}, {})
    for epoch in range(1, 6):
        recording.log_metric("training_loss", 1 / epoch, split="train", epoch=epoch)
    return recording


def test_a_killed_run_keeps_the_epochs_it_flushed(tmp_path, monkeypatch):
    recording = _recording(tmp_path, monkeypatch)
    monkeypatch.setattr(capture, "EPOCH_FLUSH_S", 3600.0)
    recording.log_metric("training_loss", 0.1, split="train", epoch=6)  # logged, never flushed: the kernel dies
    with open(recording.journal_path, "a", encoding="utf-8") as journal:
        journal.write(f"<{recording.iri}/metric/training_loss/train/series> <{vocab.MLPROV}seriesCh")  # cut off
    assert len(CHUNK_LINE.findall(recording.journal_path.read_text())) >= 2  # flushed as it went
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        assert ingest.ingest_journal(store, recording.journal_path).status == "Interrupted"
    assert _history(location, recording.iri) == [(e, 1 / e) for e in range(1, 6)]


def test_an_earlier_mlprovs_per_epoch_nodes_become_one_series(executed_run, tmp_path):
    run, location = executed_run["outcome"].run, executed_run["location"]
    journal = tmp_path / "journal" / _journal(executed_run).name
    journal.parent.mkdir()
    journal.write_text(_old_style(_journal(executed_run).read_text(encoding="utf-8")), encoding="utf-8")
    assert "/epoch/30>" in journal.read_text() and "seriesChunk" not in journal.read_text()
    again = StoreLocation(tmp_path / "store")
    with open_store(again) as store:
        ingest.ingest_journal(store, journal)
    assert _stored_series(again, run) == _stored_series(location, run)
    assert _history(again, run) == _history(location, run)


@pytest.mark.parametrize("shape", ["series", "per-epoch nodes"])
def test_metric_history_gives_a_row_per_epoch_from_either_shape(shape, tmp_path):
    run = vocab.run_iri("20261123T194201-3fa2c1d0")
    points = [(1, 0.5), (2, 0.25), (3, 0.125)]
    if shape == "series":
        nodes = [(f"{run}/metric/training_loss/train/series", f"<{vocab.MLPROV}series> {series.literal(points)} ; "
                  f"<{vocab.MLPROV}epoch> 3 ; <{vocab.MLS}hasValue> 0.125e0")]
    else:
        nodes = [(f"{run}/metric/training_loss/train/epoch/{e}", f"<{vocab.MLPROV}epoch> {e} ; <{vocab.MLS}hasValue> {v}e0")
                 for e, v in points]
    text = "".join(f"<{run}> <{vocab.MLS}hasOutput> <{n}> . <{n}> a <{vocab.MLS}ModelEvaluation> ; "
                   f"<{vocab.MLS}specifiedBy> <{vocab.MLPROV}training_loss> ; <{vocab.MLPROV}splitName> \"train\" ; {rest} .\n"
                   for n, rest in nodes)
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        store.replace_graph(vocab.bundle_iri(vocab.run_id_of(run)), list(ox.parse(text, format=ox.RdfFormat.TURTLE)))
    assert _history(location, run) == points


def test_a_chunk_edited_into_no_series_is_kept_as_it_is_beside_the_series(tmp_path, monkeypatch, caplog):
    recording = _recording(tmp_path, monkeypatch)
    node = f"{recording.iri}/metric/training_loss/train/series"
    with open(recording.journal_path, "a", encoding="utf-8") as journal:
        journal.write(f'<{node}> <{vocab.MLPROV}seriesChunk> "not a series"^^<{vocab.RDF}JSON> .\n')
    location = StoreLocation(tmp_path / "store")
    with open_store(location) as store:
        ingest.ingest_journal(store, recording.journal_path)
        kept = [q.object.value for q in store.inner.quads_for_pattern(ox.NamedNode(node), ox.NamedNode(vocab.MLPROV + "seriesChunk"), None)]
    assert kept == ["not a series"] and "kept unmerged" in caplog.text
    assert _history(location, recording.iri) == [(e, 1 / e) for e in range(1, 6)]


def test_a_diverged_loss_is_kept_as_json_readers_can_parse_and_reads_back_non_finite():
    import json
    import math

    from mlprov_rdf import series

    text = series.encode([(1, 0.25), (2, float("nan")), (3, float("inf")), (4, float("-inf"))])
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))["values"][0] == 0.25
    (_, a), (_, b), (_, c), (_, d) = series.decode(text)
    assert a == 0.25 and math.isnan(b) and c == math.inf and d == -math.inf
