"""`mlprov export`: a real run and its plan, in every format, read back by that format's own reader.

RDF formats are parsed by rdflib and must hold exactly the stored triples (trig and nquads in
their named graphs); PROV formats are parsed by the ``prov`` package and must give the same
document that was serialized.
"""

from __future__ import annotations

import io
import json
import warnings

import pytest
import rdflib
from click.testing import CliRunner
from rdflib.compare import isomorphic

from mlprov_rdf import export as exporter
from mlprov_rdf import vocab
from mlprov_rdf.cli import main
from mlprov_rdf.plan import normalise
from mlprov_rdf.store import open_store

RDF_READERS = {"turtle": "turtle", "jsonld": "json-ld", "trig": "trig", "nquads": "nquads"}
PROV_READERS = {"prov-json": "json", "provn": "provn", "prov-xml": "xml"}
PLAN_IRI = "https://example.org/plans/iris"

prov = pytest.importorskip("prov", reason="the PROV formats need the prov package")
import prov.model  # noqa: E402  (after the skip: ProvActivity and friends)


def _read(text: str, fmt: str):
    """prov's own reader; prov 2 could write PROV-N but not read it."""
    try:
        return prov.read(io.StringIO(text), format=PROV_READERS[fmt])
    except NotImplementedError:
        pytest.skip(f"this prov ({prov.__version__}) cannot read {fmt}")


@pytest.fixture(scope="module")
def stored(executed_run):
    """The run's and its plan's graphs as the store holds them, and the prov document built from them."""
    location, run_iri = executed_run["location"], executed_run["outcome"].run
    bundle = vocab.bundle_iri(vocab.run_id_of(run_iri))
    with open_store(location) as store:
        # The store holds this run only, so the environment graph is its environment, which the export must carry.
        graphs = {g: normalise(store.rdflib_graph(g)) for g in (bundle, vocab.ENV_GRAPH, PLAN_IRI)}
        collected = exporter.collect(store, run_iri)
    return {"location": location, "run": run_iri, "bundle": bundle, "graphs": graphs, "collected": collected}


def _export(stored, iri: str, fmt: str, tmp_path) -> str:
    out = tmp_path / f"export{exporter.EXTENSIONS[fmt]}"
    result = CliRunner().invoke(main, ["export", iri, "--format", fmt, "-o", str(out), "--store", str(stored["location"].home)])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"as {fmt}" in result.stderr
    return out.read_text(encoding="utf-8")


def _union(graphs) -> rdflib.Graph:
    union = rdflib.Graph()
    for graph in graphs:
        for triple in graph:
            union.add(triple)
    return union


@pytest.mark.parametrize("fmt", list(RDF_READERS))
def test_rdf_exports_of_a_run_parse_back_to_the_stored_triples(stored, fmt, tmp_path):
    text = _export(stored, stored["run"], fmt, tmp_path)
    # The stored triples, with the types the store leaves implied (an evaluation's prov:Entity) written out,
    # and the run's environment from the graph all runs share.
    assert any(g.value(p, rdflib.URIRef(vocab.MLPROV + "packageName")) == rdflib.Literal("numpy")
               for g in [stored["graphs"][vocab.ENV_GRAPH]] for p in g.subjects())
    expected = {name: exporter.with_implied_types(rdflib.Graph() + graph) for name, graph in stored["graphs"].items()}
    # Without the record ingest keeps in the run's graph (mlprov:runRecord): a cache of the graph's own statements.
    kept = (rdflib.URIRef(stored["run"]), rdflib.URIRef(vocab.RUN_RECORD), None)
    assert kept in expected[stored["bundle"]] and vocab.RUN_RECORD not in text
    expected[stored["bundle"]].remove(kept)
    if fmt in ("trig", "nquads"):
        dataset = rdflib.Dataset()
        dataset.parse(data=text, format=RDF_READERS[fmt])
        named = {str(g.identifier): g for g in dataset.graphs() if len(g)}
        assert set(named) == {stored["bundle"], vocab.ENV_GRAPH, PLAN_IRI}  # the named graphs are kept
        for name, graph in expected.items():
            assert isomorphic(normalise(named[name]), graph), name
    else:
        graph = rdflib.Graph().parse(data=text, format=RDF_READERS[fmt])
        assert isomorphic(normalise(graph), _union(expected.values()))
    # Metric values survive digit for digit (rdflib's own Turtle writer would round doubles).
    accuracy = next(iter(stored["graphs"][stored["bundle"]].objects(
        rdflib.URIRef(stored["run"] + "/metric/accuracy/test"), rdflib.URIRef(vocab.MLS + "hasValue"))))
    assert str(accuracy) in text or json.dumps(str(accuracy)) in text


def test_an_exported_run_types_each_evaluation_a_prov_entity_that_the_store_leaves_implied(stored, tmp_path):
    bundle = stored["graphs"][stored["bundle"]]
    evaluations = set(bundle.subjects(rdflib.RDF.type, rdflib.URIRef(vocab.MLS + "ModelEvaluation")))
    entity = rdflib.URIRef(vocab.PROV + "Entity")
    assert len(evaluations) > 10 and not any((e, rdflib.RDF.type, entity) in bundle for e in evaluations)
    exported = rdflib.Graph().parse(data=_export(stored, stored["run"], "turtle", tmp_path), format="turtle")
    assert all((e, rdflib.RDF.type, entity) in exported for e in evaluations)
    series = rdflib.URIRef(vocab.MLPROV + "series")
    assert set(exported.subject_objects(series)) == set(bundle.subject_objects(series)) != set()  # every epoch, in its literal


@pytest.mark.parametrize("fmt", list(PROV_READERS))
def test_prov_exports_of_a_run_parse_back_with_prov_to_the_same_document(stored, fmt, tmp_path):
    if fmt == "prov-xml":
        pytest.importorskip("lxml", reason="prov's PROV-XML reader and writer need lxml")
    text = _export(stored, stored["run"], fmt, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a name or value prov would reject in a later version fails here
        back = _read(text, fmt)
        expected = exporter.to_prov(stored["collected"])
    assert back == expected
    (bundle,) = back.bundles
    assert str(bundle.identifier.uri) == stored["bundle"]
    run_record = next(r for r in bundle.get_records(prov.model.ProvActivity) if str(r.identifier.uri) == stored["run"])
    assert run_record.get_startTime() is not None and run_record.get_endTime() is not None
    kinds = {type(r).__name__ for r in bundle.get_records()}
    assert {"ProvActivity", "ProvEntity", "ProvAgent", "ProvUsage", "ProvGeneration", "ProvDerivation",
            "ProvCommunication", "ProvAssociation"} <= kinds
    associations = [r for r in bundle.get_records(prov.model.ProvAssociation) if r.get_attribute("prov:plan")]
    assert any(str(next(iter(r.get_attribute("prov:plan"))).uri) == PLAN_IRI for r in associations)
    plan_records = [r for r in back.get_records(prov.model.ProvEntity) if str(r.identifier.uri) == PLAN_IRI]
    assert plan_records and "prov:Plan" in {str(t) for t in plan_records[0].get_asserted_types()}


def test_prov_json_round_trips_through_prov(stored, tmp_path):
    text = _export(stored, stored["run"], "prov-json", tmp_path)
    first = prov.read(io.StringIO(text), format="json")
    again = prov.read(io.StringIO(first.serialize(format="json")), format="json")
    assert first == again == exporter.to_prov(stored["collected"])
    records = lambda doc: sorted(map(str, doc.get_records())) + sorted(str(r) for b in doc.bundles for r in b.records)  # noqa: E731
    assert records(first) == records(exporter.to_prov(stored["collected"]))
    assert json.loads(text)["bundle"]  # PROV-JSON's bundle section holds the run
    # The environment nodes the run links, kept once for all runs, are entities of the document.
    packages = [e for e in json.loads(text)["entity"].values() if "mlprov:packageName" in e]
    assert {p["mlprov:packageName"] if isinstance(p["mlprov:packageName"], str) else p["mlprov:packageName"]["$"]
            for p in packages} >= {"numpy", "torch", "scikit-learn"}


@pytest.mark.parametrize("fmt", list(RDF_READERS) + list(PROV_READERS))
def test_a_plan_exports_in_every_format_and_parses_back(stored, executed_run, fmt, tmp_path):
    if fmt == "prov-xml":
        pytest.importorskip("lxml", reason="prov's PROV-XML reader and writer need lxml")
    text = _export(stored, PLAN_IRI, fmt, tmp_path)
    if fmt in RDF_READERS:
        dataset = rdflib.Dataset()
        dataset.parse(data=text, format=RDF_READERS[fmt])
        union = _union(g for g in dataset.graphs())
        assert isomorphic(normalise(union), stored["graphs"][PLAN_IRI])
        authored = normalise(rdflib.Graph().parse(executed_run["plan_file"], format="turtle"))
        assert isomorphic(normalise(union), authored)  # the plan exactly as its author wrote it
    else:
        back = _read(text, fmt)
        with open_store(stored["location"]) as store:
            assert back == exporter.to_prov(exporter.collect(store, PLAN_IRI))
        assert not back.bundles and len(back.get_records()) > 40


def test_export_to_standard_output_and_clear_errors(stored):
    result = CliRunner().invoke(main, ["export", vocab.run_id_of(stored["run"]), "--store", str(stored["location"].home)])
    assert result.exit_code == 0 and result.stdout.startswith("@prefix")
    unknown = CliRunner().invoke(main, ["export", "https://example.org/nope", "--store", str(stored["location"].home)])
    assert unknown.exit_code == 2 and unknown.stderr.count("\n") == 1 and "no plan or run with this IRI" in unknown.stderr
    bad = CliRunner().invoke(main, ["export", stored["run"], "--format", "rdfxml", "--store", str(stored["location"].home)])
    assert bad.exit_code == 2 and "rdfxml" in bad.stderr
