"""The bad-input catalogue for queries: each case is `mlprov query` or `mlprov runs` in a
subprocess against a real store holding a real run, refused with one line and exit 2,
the store's graphs unchanged (see tests/bad_input.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_input import mlprov, refuse

BIG = "9" * 10_000
SLOW = 'SELECT ?a WHERE { ?a ?b ?c . ?d ?e ?f FILTER(STR(?c) = CONCAT(STR(?f), "never")) }'

# (id, arguments after `mlprov`, words the one line must hold)
CASES = [
    ("service", ["query", "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-lowercase", ["query", "select * where { service <http://127.0.0.1:9/> { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-mixed-case-after-prefix", ["query", "PREFIX ex: <http://x/> SELECT * WHERE { ?s ex:p ?o . SeRvIcE <http://127.0.0.1:9/> { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-silent", ["query", "SELECT * WHERE { SERVICE SILENT <http://127.0.0.1:9/> { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-in-subquery", ["query", "SELECT ?s WHERE { { SELECT ?s WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } } } }"], ["SERVICE", "--allow-service"]),
    ("service-variable-endpoint", ["query", "SELECT * WHERE { BIND(<http://127.0.0.1:9/> AS ?e) SERVICE ?e { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-in-ask", ["query", "ASK { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"], ["SERVICE", "--allow-service"]),
    ("service-in-rq-file", ["query", "service.rq"], ["SERVICE", "--allow-service"]),
    ("drop-all", ["query", "DROP ALL"], ["read-only", "updates"]),
    ("insert-data", ["query", 'INSERT DATA { <urn:x> <urn:p> "v" }'], ["read-only"]),
    ("delete-where", ["query", "DELETE WHERE { ?s ?p ?o }"], ["read-only"]),
    ("load", ["query", "LOAD <http://127.0.0.1:9/data.ttl>"], ["read-only"]),
    ("clear", ["query", "CLEAR DEFAULT"], ["read-only"]),
    ("create-graph", ["query", "CREATE GRAPH <urn:g>"], ["read-only"]),
    ("copy-graph", ["query", "COPY DEFAULT TO <urn:g>"], ["read-only"]),
    ("update-after-prefix", ["query", "PREFIX ex: <http://x/> INSERT DATA { ex:a ex:b ex:c }"], ["read-only"]),
    ("update-in-rq-file", ["query", "drop.rq"], ["read-only"]),
    ("runs-limit-not-a-number", ["runs", "--limit", "10^23"], ["--limit"]),
    ("runs-limit-too-big", ["runs", "--limit", str(10**23)], ["limit", "out of range", str(2**63 - 1)]),
    ("runs-offset-too-big", ["runs", "--offset", str(2**64)], ["offset", "out of range"]),
    ("limit-param-10000-digits", ["query", "runs", "-p", f"limit={BIG}"], ["limit", "out of range"]),
    ("integer-param-10000-digits", ["query", "runs-by-setting", "-p", f"min_epochs={BIG}"], ["min_epochs", "out of range"]),
    ("integer-param-past-64-bits", ["query", "runs-by-setting", "-p", f"max_epochs={2**63}"], ["max_epochs", "out of range"]),
    ("negative-integer-past-64-bits", ["query", "runs-by-setting", "-p", f"min_epochs=-{2**63 + 1}"], ["min_epochs", "out of range"]),
    ("decimal-param-huge-exponent", ["query", "best-runs", "-p", "threshold=1e999999999"], ["threshold", "decimal"]),
    ("unknown-param", ["query", "runs", "-p", "nope=1"], ["unknown parameter nope"]),
    ("param-without-equals", ["query", "run-metrics", "-p", "run"], ["NAME=VALUE"]),
    ("missing-required-param", ["query", "run-metrics"], ["run", "required"]),
    ("bad-iri-param", ["query", "run-metrics", "-p", "run=a b"], ["not an absolute IRI"]),
    ("required-run-not-in-store", ["query", "run-metrics", "-p", "run=urn:mlprov:run:20000101T000000-00000000"], ["no run", "in the store"]),
    ("unknown-query-name", ["query", "no-such-query"], ["not a query in the library"]),
    ("rq-file-missing", ["query", "missing.rq"], ["no such file"]),
    ("syntax-error", ["query", "SELECT ?s WHERE { ?s ?p }"], ["syntax error"]),
    ("unterminated-string", ["query", 'SELECT ?s WHERE { ?s ?p "open }'], ["syntax error"]),
    ("timeout-zero", ["query", "runs", "--timeout", "0"], ["--timeout"]),
    ("timeout-negative", ["query", "runs", "--timeout", "-5"], ["--timeout"]),
    ("timeout-nan", ["query", "runs", "--timeout", "nan"], ["--timeout"]),
    ("timeout-not-a-number", ["query", "runs", "--timeout", "soon"], ["--timeout"]),
    ("runs-timeout-zero", ["runs", "--timeout", "0"], ["--timeout"]),
    ("time-limit-reached", ["query", SLOW, "--timeout", "1"], ["stopped after 1 s", "--timeout"]),
]


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "service.rq").write_text(
        "# title: a query that reaches out\nSELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }\n"
    )
    (tmp_path / "drop.rq").write_text("DROP ALL\n")
    return tmp_path


@pytest.mark.parametrize("args, says", [pytest.param(a, s, id=i) for i, a, s in CASES])
def test_a_bad_query_is_refused_with_one_line(args, says, executed_run, workdir):
    home = executed_run["location"].home
    refuse([*args, "--store", home], cwd=workdir, store=home, says=says)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('SELECT ?s WHERE { ?s ?p ?o } LIMIT 1 # a SERVICE clause would be refused', id="service-in-comment"),
        pytest.param('SELECT ?s WHERE { ?s ?p "SERVICE <http://127.0.0.1:9/> { }" }', id="service-in-string"),
        pytest.param('SELECT ?s WHERE { ?s <http://example.org/SERVICE> ?o }', id="service-in-iri"),
        pytest.param('PREFIX ex: <http://example.org/> SELECT ?service WHERE { ?service ex:SERVICE ?o }', id="service-as-names"),
    ],
)
def test_the_word_service_outside_a_clause_is_no_refusal(text, executed_run, workdir):
    done = mlprov(["query", text, "--store", executed_run["location"].home], cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "(0 row" in done.stdout or "(1 row)" in done.stdout
