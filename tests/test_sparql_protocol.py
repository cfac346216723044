"""`/sparql`: the SPARQL 1.1 Protocol of `mlprov serve`, read-only, against a real server over
real runs, every answer parsed by a real parser, and rdflib's SPARQL stores as the clients."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore

from tests.web_support import get, live_server

RUNS = "SELECT ?run WHERE { ?run a <http://www.w3.org/ns/mls#Run> } ORDER BY ?run"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
DESCRIBE_RUNS = "CONSTRUCT { ?run a <http://www.w3.org/ns/mls#Run> } WHERE { ?run a <http://www.w3.org/ns/mls#Run> }"
SRX = "{http://www.w3.org/2005/sparql-results#}"


def _get(base: str, query: str, accept: str | None = None, **extra: str):
    headers = {"Accept": accept} if accept else {}
    return get(base + "/sparql?" + urlencode({"query": query, **extra}), headers=headers)


def _count(base: str) -> int:
    status, _, body = _get(base, COUNT)
    assert status == 200, body
    return int(json.loads(body)["results"]["bindings"][0]["n"]["value"])


def test_select_answers_sparql_json_by_default_with_every_run(web_server, web_store):
    status, headers, body = _get(web_server, RUNS)
    assert status == 200
    assert headers["content-type"] == "application/sparql-results+json"
    document = json.loads(body)
    assert document["head"]["vars"] == ["run"]
    assert [b["run"]["value"] for b in document["results"]["bindings"]] == sorted(web_store.runs)
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_select_answers_xml_csv_and_tsv_as_accept_asks(web_server, web_store):
    status, headers, body = _get(web_server, RUNS, "application/sparql-results+xml")
    assert status == 200 and headers["content-type"].startswith("application/sparql-results+xml")
    uris = [e.text for e in ET.fromstring(body).iter(SRX + "uri")]
    assert uris == sorted(web_store.runs)

    status, headers, body = _get(web_server, RUNS, "text/csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows == [["run"], *[[r] for r in sorted(web_store.runs)]]

    status, headers, body = _get(web_server, RUNS, "text/tab-separated-values, */*;q=0.1")
    assert status == 200 and headers["content-type"].startswith("text/tab-separated-values")
    lines = body.decode("utf-8").splitlines()
    assert lines == ["?run", *[f"<{r}>" for r in sorted(web_store.runs)]]


def test_ask_answers_a_boolean(web_server):
    status, _, body = _get(web_server, "ASK { ?run a <http://www.w3.org/ns/mls#Run> }")
    assert status == 200 and json.loads(body)["boolean"] is True
    status, _, body = _get(web_server, "ASK { ?run a <urn:no-such-class> }", "application/sparql-results+xml")
    assert status == 200 and ET.fromstring(body).find(SRX + "boolean").text == "false"


@pytest.mark.parametrize("accept, media, parser", [
    (None, "text/turtle", "turtle"),
    ("application/n-triples", "application/n-triples", "nt"),
    ("application/ld+json", "application/ld+json", "json-ld"),
    ("application/rdf+xml", "application/rdf+xml", "xml"),
])
def test_construct_answers_a_graph_in_the_format_accept_asks(web_server, web_store, accept, media, parser):
    status, headers, body = _get(web_server, DESCRIBE_RUNS, accept)
    assert status == 200 and headers["content-type"].startswith(media)
    graph = rdflib.Graph().parse(data=body, format=parser)
    assert {str(s) for s in graph.subjects()} == set(web_store.runs)


def test_describe_of_the_hostile_run_keeps_its_text_as_data(web_server, web_store):
    status, _, body = _get(web_server, f"DESCRIBE <{web_store.runs[0]}>", "application/n-triples")
    assert status == 200
    labels = [str(o) for o in rdflib.Graph().parse(data=body, format="nt").objects(predicate=rdflib.RDFS.label)]
    assert any("<script>" in label for label in labels)


def test_post_takes_a_form_and_a_sparql_query_body(web_server, web_store):
    status, _, body = get(web_server + "/sparql", data=urlencode({"query": RUNS}).encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and len(json.loads(body)["results"]["bindings"]) == len(web_store.runs)
    status, _, body = get(web_server + "/sparql", data=RUNS.encode(),
                          headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"})
    assert status == 200 and body.decode().splitlines()[1:] == sorted(web_store.runs)


def test_updates_are_refused_with_403_and_the_store_is_unchanged(web_server):
    before = _count(web_server)
    attempts = [
        get(web_server + "/sparql", data=urlencode({"update": "DROP ALL"}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"}),
        get(web_server + "/sparql", data=b"CLEAR ALL", headers={"Content-Type": "application/sparql-update"}),
        _get(web_server, "INSERT DATA { <urn:x> <urn:y> <urn:z> }"),
        _get(web_server, "PREFIX x: <urn:x#> DELETE WHERE { ?s ?p ?o }"),
        get(web_server + "/sparql?" + urlencode({"update": "LOAD <http://example.org/>"})),
    ]
    for status, headers, body in attempts:
        assert status == 403, body
        assert headers["content-type"].startswith("text/plain")
        assert b"read-only" in body and body.count(b"\n") == 1
    assert _count(web_server) == before


def test_rdflib_sparqlstore_reads_the_runs_and_its_update_store_is_refused(web_server, web_store):
    graph = rdflib.Graph(SPARQLStore(query_endpoint=web_server + "/sparql"))
    found = [str(row.run) for row in graph.query(RUNS)]
    assert found == sorted(web_store.runs)
    ask = graph.query("ASK { ?run a <http://www.w3.org/ns/mls#Run> }")
    assert ask.askAnswer is True

    before = _count(web_server)
    updater = SPARQLUpdateStore(query_endpoint=web_server + "/sparql", update_endpoint=web_server + "/sparql")
    with pytest.raises(Exception, match="403|read-only|Forbidden"):
        updater.update("INSERT DATA { <urn:mlprov:test:a> <urn:mlprov:test:b> <urn:mlprov:test:c> }")
    assert _count(web_server) == before


@pytest.mark.parametrize("query, extra, status, words", [
    ("SELECT ?s WHERE { ?s ?p }", {}, 400, b"syntax error"),
    ("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }", {}, 400, b"SERVICE"),
    (RUNS, {"default-graph-uri": "https://example.org/plans/iris"}, 400, b"default-graph-uri"),
    (RUNS, {"named-graph-uri": "https://example.org/plans/iris"}, 400, b"named-graph-uri"),
    ("   ", {}, 400, b"give a SPARQL query"),
])
def test_a_query_that_cannot_run_is_one_line_saying_why(web_server, query, extra, status, words):
    got, headers, body = _get(web_server, query, **extra)
    assert got == status, body
    assert headers["content-type"].startswith("text/plain")
    assert words in body and body.count(b"\n") == 1


def test_missing_query_and_unknown_body_types_are_refused(web_server):
    assert get(web_server + "/sparql")[0] == 400
    status, _, body = get(web_server + "/sparql", data=b"x", headers={"Content-Type": "text/plain"})
    assert status == 415 and b"application/sparql-query" in body
    status, _, _ = get(web_server + "/sparql?" + urlencode([("query", RUNS), ("query", RUNS)]))
    assert status == 400


def test_a_query_past_the_time_limit_is_stopped_with_504(web_store):
    slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    with live_server(web_store.location, "--timeout", "0.5") as base:
        status, _, body = _get(base, slow)
        assert status == 504 and b"stopped after 0.5 s" in body
        assert _get(base, "ASK { ?s ?p ?o }")[0] == 200  # the store was released
