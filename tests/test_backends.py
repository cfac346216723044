"""The same behaviour on every store: embedded Oxigraph on disk, an Oxigraph server, Virtuoso.

A real ``oxigraph serve`` (from the ``oxigraph`` package in the ``test`` extra) and a real
Virtuoso (Debian's ``virtuoso-opensource``, with a database folder of its own) run on
127.0.0.1 for the whole session; without ``virtuoso-t`` the Virtuoso cases skip. Each
backend gets a real notebook run through ``workflow.run``; then each store is given the
others' journals, so all hold the same plan and the same runs, and every canned query
can be compared row for row.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner

from mlprov_rdf import browse, capture, ingest, queries, run_record, virtuoso, vocab
from mlprov_rdf.cli import main
from mlprov_rdf.errors import UserError
from mlprov_rdf.generate import notebook_bytes
from mlprov_rdf.plan import load
from mlprov_rdf.store import RemoteStore, Store, StoreLocation, bind_values, open_store
from mlprov_rdf.workflow import ingest_paths, run
from tests import servers
from tests.conftest import make_plan
from tests.servers import (
    HAVE_VIRTUOSO, NO_VIRTUOSO, VIRTUOSO_MAX_ROWS, ServerDidNotStart, free_port, isql, oxigraph_binary, oxigraph_ready,
)

PLAN_IRI = "https://example.org/plans/iris"
BACKENDS = ["embedded", "server", pytest.param("virtuoso", marks=pytest.mark.skipif(not HAVE_VIRTUOSO, reason=NO_VIRTUOSO))]
_free_port, _oxigraph_binary, _ready = free_port, oxigraph_binary, oxigraph_ready  # tests/test_ingest_faults.py imports these


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory):
    """URL of a real Oxigraph server on loopback, stopped at the end of the session."""
    with ExitStack() as running:
        try:
            url = running.enter_context(servers.oxigraph_server(tmp_path_factory.mktemp("oxigraph-server")))
        except ServerDidNotStart as error:
            pytest.fail(str(error))
        yield url


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory):
    """A real Virtuoso on loopback with a fresh database, its SPARQL user allowed to update:
    ``(endpoint URL, SQL port)``; stopped at the end of the session."""
    if not HAVE_VIRTUOSO:
        pytest.skip(NO_VIRTUOSO)
    with ExitStack() as running:
        try:
            server = running.enter_context(servers.virtuoso_server(tmp_path_factory.mktemp("virtuoso"), max_rows=VIRTUOSO_MAX_ROWS))
        except ServerDidNotStart as error:
            pytest.fail(str(error))
        yield server.url, server.sql_port


@pytest.fixture(scope="module")
def stores(tmp_path_factory, oxigraph_server, request):
    """Every store, each with a real run made through it, then given the others' runs too."""
    root = tmp_path_factory.mktemp("backends")
    locations = {
        "embedded": StoreLocation(root / "embedded"),
        "server": StoreLocation.server(oxigraph_server, journal_dir=root / "server-journal"),
    }
    if HAVE_VIRTUOSO:
        url, _sql_port = request.getfixturevalue("virtuoso_server")
        locations["virtuoso"] = StoreLocation.server(url, journal_dir=root / "virtuoso-journal")
    with open_store(locations["server"]) as server:
        server.update("DROP ALL")  # Virtuoso's database is new, and its system graphs must stay
    plan_file = make_plan(root / "iris.ttl", epochs="3")
    outcomes, journals = {}, {}
    for name, location in locations.items():
        outcomes[name] = run(plan_file, location, output=root / f"{name}.ipynb")
        assert outcomes[name].ok, outcomes[name].error
        journals[name] = location.journal_dir / f"{vocab.run_id_of(outcomes[name].run)}.nt"
        assert ingest.journal_exists(journals[name])  # RUN.nt, or RUN.nt.gz once ingested
    for name, location in locations.items():
        ingest_paths([j for other, j in journals.items() if other != name], location)
    return {"locations": locations, "outcomes": outcomes, "journals": journals, "plan_file": plan_file, "root": root}


def _store_arg(stores, backend: str) -> str:
    location = stores["locations"][backend]
    return location.url if location.is_remote else str(location.home)


def _graph_lines(store, graph: str) -> list[str]:
    return sorted(line for line in store.graph_ntriples(graph).decode().splitlines() if line.strip())


def _count(store) -> int:
    (row,) = store.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    return int(row["n"].value)


def _rows(result: queries.QueryResult) -> list[tuple[str, ...]]:
    return sorted(tuple("" if t is None else str(t) for t in row) for row in result.rows)


def _params(query: queries.CannedQuery, runs: list[str]) -> dict[str, str] | None:
    """Values for every parameter of a canned query, from the stored runs; None if unknown."""
    values = {}
    for param in query.params:
        if param.name == "run":
            values["run"] = runs[0]
        elif param.name == "other":
            values["other"] = runs[1]
        elif param.name == "plan":
            values["plan"] = PLAN_IRI
        elif param.type == "metric":
            values[param.name] = param.default or "accuracy"
        elif param.default is not None:
            values[param.name] = param.default
        elif param.required:
            if param.example is None:
                return None
            values[param.name] = param.example
    return values


# -- locations --------------------------------------------------------------------------


def test_a_url_names_a_server_and_journals_go_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPROV_JOURNAL_DIR", raising=False)
    monkeypatch.setenv("MLPROV_STORE", "http://127.0.0.1:7878/")
    location = StoreLocation.resolve(None)
    assert location.is_remote and location.url == "http://127.0.0.1:7878/"
    assert location.journal_dir == tmp_path / ".mlprov" / "journal" == capture._journal_dir()
    monkeypatch.setenv("MLPROV_JOURNAL_DIR", str(tmp_path / "j"))
    assert StoreLocation.resolve(None).journal_dir == tmp_path / "j" == capture._journal_dir()
    assert StoreLocation.resolve(str(tmp_path / "folder")).is_remote is False
    assert str(StoreLocation.resolve("http://me:secret@127.0.0.1:7878/")) == "http://me:***@127.0.0.1:7878/"


@pytest.mark.parametrize(
    "url, message",
    [("ftp://example.org/", "only http:// and https://"), ("http:///sparql", "names no host"), ("http://h:99999999/", "not a valid URL")],
)
def test_a_bad_url_is_one_clear_line(url, message):
    with pytest.raises(UserError, match=message) as error:
        StoreLocation.resolve(url)
    assert "\n" not in str(error.value)


def test_server_down_gives_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPROV_JOURNAL_DIR", raising=False)
    (tmp_path / ".mlprov" / "journal").mkdir(parents=True)
    (tmp_path / ".mlprov" / "journal" / "20260101T000000-00000000.nt").write_text("")
    url = f"http://127.0.0.1:{_free_port()}/"
    for args in (["runs"], ["query", "run-params", "--param", "run=urn:mlprov:run:x"], ["ingest"]):
        result = CliRunner().invoke(main, [*args, "--store", url])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1, result.stderr
        assert "cannot reach the SPARQL server" in result.stderr and url in result.stderr


# -- binding values for a server ---------------------------------------------------------


def test_bound_values_open_the_outermost_where_group_and_stay_values():
    run_iri = ox.NamedNode("urn:mlprov:run:x")
    nasty = ox.Literal('a" } ; DROP ALL ; #\n{')
    query = (
        "PREFIX ex: <urn:ex:>  # a { in a comment\n"
        "SELECT (EXISTS { ?run ex:p '{' } AS ?e) ?run ?v\n"
        "WHERE { ?run ex:p ?v . { SELECT ?run WHERE { ?run ex:q ?w } } }"
    )
    bound = bind_values(query, {"run": run_iri, "v": nasty})
    assert bound.startswith(query[: query.index("WHERE {") + 7])
    assert 'VALUES (?run ?v) { (<urn:mlprov:run:x> "a\\" } ; DROP ALL ; #\\n{") }' in bound
    construct = bind_values("CONSTRUCT { ?run ?p ?o } WHERE { ?run ?p ?o }", {"run": run_iri})
    assert construct == "CONSTRUCT { ?run ?p ?o } WHERE { VALUES (?run) { (<urn:mlprov:run:x>) }  ?run ?p ?o }"
    with pytest.raises(ValueError):
        bind_values(query, {"run } ; DROP ALL": run_iri})


# -- the same behaviour on both ------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_runs_made_through_each_store_are_complete(stores, backend):
    location = stores["locations"][backend]
    with open_store(location) as store:
        assert isinstance(store, Store if backend == "embedded" else RemoteStore)
        assert store.has_graph(PLAN_IRI) and store.has_graph(vocab.ONTOLOGY_GRAPH)
        for outcome in stores["outcomes"].values():
            cells = queries.run(store, queries.resolve("run-cells"), {"run": outcome.run})
            statuses = [row[cells.columns.index("status")].value for row in cells.rows]
            assert statuses == ["Completed"] * 8
        listed = queries.run(store, queries.resolve("runs"), {})
    assert sorted(str(row[0].value) for row in listed.rows) == sorted(o.run for o in stores["outcomes"].values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_ingest_twice_gives_the_same_triples(stores, backend):
    location = stores["locations"][backend]
    journals = [str(j) for j in stores["journals"].values()]
    with open_store(location) as store:
        before = _count(store)
        graphs = {j: _graph_lines(store, vocab.bundle_iri(Path(j).stem)) for j in journals}
    for _ in range(2):
        result = CliRunner().invoke(main, ["ingest", *journals, "--store", _store_arg(stores, backend)])
        assert result.exit_code == 0, result.output
        assert result.output.count("completed") == len(journals)
    with open_store(location) as store:
        assert _count(store) == before
        for journal, lines in graphs.items():
            assert _graph_lines(store, vocab.bundle_iri(Path(journal).stem)) == lines
            assert len(lines) > 300


def test_run_graphs_hold_the_same_triples_on_every_store(stores):
    dumps = {}
    for backend, location in stores["locations"].items():
        with open_store(location) as store:
            dumps[backend] = {o.run: _graph_lines(store, vocab.bundle_iri(vocab.run_id_of(o.run))) for o in stores["outcomes"].values()}
            dumps[backend]["plan"] = _graph_lines(store, PLAN_IRI)
            dumps[backend]["environment"] = _graph_lines(store, vocab.ENV_GRAPH)  # shared by the runs, written once
            assert dumps[backend]["environment"], backend
    for backend in dumps:
        assert dumps[backend] == dumps["embedded"], backend


#: Canned queries whose rows Virtuoso 7.2.5 does not give as the embedded store does, and
#: why (measured): its query engine, not the store's data, which reads back exact.
VIRTUOSO_GAPS = {
    "cell-trials": "a mean of decimals (sum / count): a quotient that does not end is cut at 15 digits, Oxigraph's at 18",
    "table1": "GROUP_CONCAT joins in the engine's own order, which SPARQL leaves open",
    "model-lineage": "70 rows instead of 49 (a + property path repeats items, EXISTS in IF is false), "
                     "or refused on its cost estimate",
    "environment-diff": "fails: SP031 internal error (sparp_gp_deprecate)",
    "runs-by-setting": "refused: estimated execution time over MaxQueryCostEstimationTime",
}


def test_canned_queries_return_the_same_rows_on_every_store(stores):
    """Every store gives the embedded store's rows; on Virtuoso, each query of
    VIRTUOSO_GAPS only answers or fails with one line."""
    runs = [o.run for o in stores["outcomes"].values()]
    library = queries.load_library()
    for required in ("runs", "run-params", "run-metrics", "run-cells"):
        assert required in library
    compared = []
    for name, query in library.items():
        params = _params(query, runs)
        if params is None:
            continue
        results = {}
        for backend, location in stores["locations"].items():
            with open_store(location) as store:
                if backend == "virtuoso" and name in VIRTUOSO_GAPS:
                    try:
                        queries.run(store, query, params)
                    except (UserError, SyntaxError) as error:
                        assert "\n" not in str(error), name
                    continue
                results[backend] = queries.run(store, query, params)
        for backend in results:
            assert results[backend].columns == results["embedded"].columns, (name, backend)
            assert _rows(results[backend]) == _rows(results["embedded"]), (name, backend)
            if name in ("runs", "run-params", "run-metrics", "run-cells"):
                assert results[backend].rows, (name, backend)
        compared.append(name)
    assert {"runs", "run-params", "run-metrics", "run-cells"} <= set(compared)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_queries_and_formats(stores, backend):
    store = _store_arg(stores, backend)
    runner = CliRunner()
    listed = runner.invoke(main, ["runs", "--store", store, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert all(o.run in listed.output for o in stores["outcomes"].values())
    run_iri = stores["outcomes"][backend].run
    params = runner.invoke(main, ["query", "run-params", "--param", f"run={run_iri}", "--store", store, "--format", "csv"])
    assert params.exit_code == 0 and "learning_rate" in params.output
    injected = runner.invoke(main, ["query", "run-params", "--param", "run=urn:x> } ; DROP ALL ; #", "--store", store])
    assert injected.exit_code == 2
    bad = runner.invoke(main, ["query", "SELECT WHERE {", "--store", store])
    assert bad.exit_code == 2 and "syntax" in bad.stderr.lower() and bad.stderr.count("\n") == 1
    count = runner.invoke(main, ["query", "SELECT (COUNT(*) AS ?n) WHERE { ?r a <http://www.w3.org/ns/mls#Run> }", "--store", store, "--format", "csv"])
    assert count.output.split() == ["n", str(len(stores["outcomes"]))]


def test_regenerate_gives_the_same_bytes_from_every_store(stores, tmp_path):
    outputs = {}
    for backend in stores["locations"]:
        outputs[backend] = tmp_path / f"{backend}.ipynb"
        result = CliRunner().invoke(main, ["regenerate", PLAN_IRI, "-o", str(outputs[backend]), "--store", _store_arg(stores, backend)])
        assert result.exit_code == 0, result.output
    for backend in outputs:
        assert outputs[backend].read_bytes() == outputs["embedded"].read_bytes(), backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_regenerate_from_the_plan_iri_is_byte_identical(stores, backend, tmp_path):
    store = _store_arg(stores, backend)
    result = CliRunner().invoke(main, ["regenerate", PLAN_IRI, "-o", str(tmp_path / "again.ipynb"), "--store", store])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "again.ipynb").read_bytes() == notebook_bytes(load(stores["plan_file"]).plan)


@pytest.mark.parametrize("backend", BACKENDS)
def test_browse_collects_a_run_with_its_plan_and_writes_it(stores, backend, tmp_path):
    run_iri = stores["outcomes"][backend].run
    with open_store(stores["locations"][backend]) as store:
        graph = browse.collect(store, run_iri)
        plan_only = browse.collect(store, PLAN_IRI)
        shared = run_record.shared_environment(store, run_iri, vocab.bundle_iri(vocab.run_id_of(run_iri))).splitlines()
    # The run's graph but its kept record (a cache of the graph, not drawn), and the environment nodes it links.
    own = [line for line in _graph_lines_of(stores, backend, run_iri) if vocab.RUN_RECORD not in line]
    assert len(shared) > 100
    assert len(graph) == len(plan_only) + len(own) + len(shared)
    result = CliRunner().invoke(main, ["browse", run_iri, "-o", str(tmp_path / "run.html"), "--store", _store_arg(stores, backend)])
    assert result.exit_code == 0, result.output
    assert "Train the model" in (tmp_path / "run.html").read_text()


def _graph_lines_of(stores, backend, run_iri):
    with open_store(stores["locations"][backend]) as store:
        return _graph_lines(store, vocab.bundle_iri(vocab.run_id_of(run_iri)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_iri_is_a_clean_error(stores, backend, tmp_path):
    store = _store_arg(stores, backend)
    runner = CliRunner()
    regenerated = runner.invoke(main, ["regenerate", "https://example.org/nope", "-o", str(tmp_path / "x.ipynb"), "--store", store])
    assert regenerated.exit_code == 2 and "no plan with this IRI" in regenerated.stderr
    assert regenerated.stderr.count("\n") == 1 and not (tmp_path / "x.ipynb").exists()
    browsed = runner.invoke(main, ["browse", "urn:mlprov:run:19990101T000000-ffffffff", "-o", str(tmp_path / "x.html"), "--store", store])
    assert browsed.exit_code == 2 and "no plan or run with this IRI" in browsed.stderr
    assert not (tmp_path / "x.html").exists()
    with open_store(stores["locations"][backend]) as st:
        assert not st.has_graph("https://example.org/nope")
        assert st.graph_ntriples("https://example.org/nope") == b""


@pytest.mark.parametrize("backend", BACKENDS)
def test_replace_graph_is_idempotent_and_leaves_other_graphs_alone(stores, backend):
    a, b = ox.NamedNode("urn:test:a"), ox.NamedNode("urn:test:b")
    with open_store(stores["locations"][backend]) as store:
        before = _count(store)
        store.replace_graph("urn:test:other", [ox.Triple(a, b, ox.Literal("kept"))])
        for _ in range(3):
            n = store.replace_graph("urn:test:g", [ox.Triple(a, b, ox.Literal("c")), ox.Triple(a, b, ox.Literal('d"\n'))])
        assert n == 2
        assert len(_graph_lines(store, "urn:test:g")) == 2 and store.has_graph("urn:test:other")
        blank = ox.BlankNode()
        store.replace_graph("urn:test:g", [ox.Triple(a, b, blank), ox.Triple(blank, b, ox.Literal("x"))])
        assert len(_graph_lines(store, "urn:test:g")) == 2
        (row,) = store.query("SELECT ?x WHERE { <urn:test:a> <urn:test:b> ?n . ?n <urn:test:b> ?x }")
        assert row["x"].value == "x"
        for graph in ("urn:test:g", "urn:test:other"):
            store.remove_graph(graph)
            assert not store.has_graph(graph)
        assert _count(store) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_results_are_pyoxigraph_terms_with_bound_values(stores, backend):
    run_iri = stores["outcomes"][backend].run
    with open_store(stores["locations"][backend]) as store:
        rows = list(store.query(
            "SELECT ?run ?name ?v WHERE { ?run <http://www.w3.org/ns/mls#hasInput> ?s . "
            "?s <https://w3id.org/mlprov#parameterName> ?name ; <http://www.w3.org/ns/mls#hasValue> ?v }",
            {"run": ox.NamedNode(run_iri), "name": ox.Literal("epochs")},
        ))
        assert len(rows) == 1
        assert rows[0]["run"] == ox.NamedNode(run_iri)
        assert rows[0]["v"] == ox.Literal("3", datatype=ox.NamedNode(vocab.XSD + "integer"))
        assert bool(store.query("ASK { ?s a <http://www.w3.org/ns/mls#Run> }"))
        triples = list(store.query("CONSTRUCT { ?run a ?t } WHERE { ?run a ?t }", {"run": ox.NamedNode(run_iri)}))
        assert ox.Triple(ox.NamedNode(run_iri), ox.NamedNode(vocab.RDF + "type"), ox.NamedNode(vocab.MLS + "Run")) in triples


# -- only Virtuoso: its dialect, its request limits, its grants, its row limit --------------

P = ox.NamedNode("urn:test:big#p")
TEXT = "a cell's source, " * 50


@pytest.fixture
def endpoint(virtuoso_server, tmp_path):
    url, _sql_port = virtuoso_server
    return StoreLocation.server(url, journal_dir=tmp_path / "journal")


def _big(version: str, n: int) -> list[ox.Triple]:
    """A run-like graph: subjects of its own, long literals, numbers, IRIs as objects."""
    triples = []
    for i in range(n):
        s = ox.NamedNode(f"urn:test:big:{i}")
        triples.append(ox.Triple(s, P, ox.Literal(f"{version} {i}: {TEXT}")))
        triples.append(ox.Triple(s, ox.NamedNode("urn:test:big#next"), ox.NamedNode(f"urn:test:big:{i + 1}")))
    return triples


def _number(store, query: str) -> int:
    (row,) = store.query(query)
    return int(row["n"].value)


def test_the_dialect_is_found_by_probing_and_answers_like_oxigraph(endpoint):
    with open_store(endpoint) as store:
        assert store.dialect is not None and store.dialect.max_rows > 0
        assert bool(store.query("ASK {}")) is True
        assert bool(store.query("ASK { <urn:nothing> ?p ?o }")) is False
        g = ox.NamedNode("urn:test:terms")
        store.replace_graph(g.value, [
            ox.Triple(g, P, ox.Literal("true", datatype=ox.NamedNode(virtuoso.XSD + "boolean"))),
            ox.Triple(g, P, ox.Literal("1.0E-3", datatype=ox.NamedNode(virtuoso.XSD + "double"))),
            ox.Triple(g, P, ox.Literal("2.50", datatype=ox.NamedNode(virtuoso.XSD + "decimal"))),
            ox.Triple(g, P, ox.Literal("x")),
        ])
        got = {row["o"] for row in store.query("SELECT ?o WHERE { GRAPH <urn:test:terms> { ?s ?p ?o } }")}
        store.remove_graph(g.value)
    embedded = ox.Store()
    embedded.extend(ox.Quad(g, P, o, g) for o in [
        ox.Literal("true", datatype=ox.NamedNode(virtuoso.XSD + "boolean")),
        ox.Literal("1.0E-3", datatype=ox.NamedNode(virtuoso.XSD + "double")),
        ox.Literal("2.50", datatype=ox.NamedNode(virtuoso.XSD + "decimal")),
        ox.Literal("x"),
    ])
    assert got == {q.object for q in embedded}


def test_doubles_in_select_answers_keep_every_digit_on_virtuoso(endpoint):
    """Virtuoso writes 6 digits of a double in SPARQL JSON; the dialect asks again for
    every digit, of plain columns and of computed ones (an aggregate, an expression)."""
    g = ox.NamedNode("urn:test:digits")
    double = ox.NamedNode(virtuoso.XSD + "double")
    values = [ox.Literal(v, datatype=double) for v in ("0.6896551724137931", "1.0E-300", "123456.78901234567")]
    queries_ = [
        "SELECT ?o WHERE { GRAPH <urn:test:digits> { ?s ?p ?o } }",
        "SELECT DISTINCT ?s (MAX(?o) AS ?top) WHERE { GRAPH <urn:test:digits> { ?s ?p ?o } } GROUP BY ?s",
        "PREFIX x: <urn:x#> SELECT ?o (?o * 3 AS ?thrice) FROM <urn:test:digits> WHERE { ?s ?p ?o }",
    ]
    embedded = ox.Store()
    embedded.extend(ox.Quad(g, P, v, g) for v in values)
    with open_store(endpoint) as store:
        store.replace_graph(g.value, [ox.Triple(g, P, v) for v in values])
        try:
            for query in queries_:
                got = sorted(tuple(str(t) for t in row) for row in store.query(query))
                assert got == sorted(tuple(str(t) for t in row) for row in embedded.query(query)), query
            (row,) = store.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:test:digits> { ?s ?p ?o } }")
            assert row["n"].value == "3" and list(row) == [row["n"]]
        finally:
            store.remove_graph(g.value)


def test_a_run_larger_than_one_request_is_written_whole_and_never_seen_half(endpoint):
    """Over Virtuoso's request size, the run goes through a hidden staging graph; a reader
    counting by a predicate (as canned queries do) or by the graph sees all of the old run
    or all of the new, never a part."""
    graph = "urn:test:big"
    n = 5000
    old, new = _big("old", n), _big("new", n)
    body = sum(len(f"{t.subject} {t.predicate} {t.object} .\n".encode()) for t in new)
    assert body > virtuoso.REQUEST_BYTES  # the staged path, not one request
    by_predicate = f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s {P} ?o FILTER(STRSTARTS(?o, 'new')) }}"
    by_graph = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    with open_store(endpoint) as store:
        store.replace_graph(graph, old)
        assert _number(store, by_graph) == 2 * n
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        with open_store(endpoint) as reader:
            while not done.is_set():
                seen.append((_number(reader, by_predicate), _number(reader, by_graph)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with open_store(endpoint) as store:
            assert store.replace_graph(graph, new) == 2 * n
    finally:
        done.set()
        reader.join()
    assert seen and set(seen) <= {(0, 2 * n), (n, 2 * n)}, sorted(set(seen))[:5]
    with open_store(endpoint) as store:
        assert _number(store, by_predicate) == n and _number(store, by_graph) == 2 * n
        assert not store.query("ASK { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), 'urn:mlprov:staging:')) }")
        store.remove_graph(graph)


def test_a_run_over_one_insert_data_limit_goes_in_one_request(endpoint):
    """About 2,500 triples overflow one ``INSERT DATA`` on Virtuoso; a run of 6,000 goes in."""
    triples = [ox.Triple(ox.NamedNode(f"urn:test:mid:{i}"), P, ox.Literal(i)) for i in range(6000)]
    with open_store(endpoint) as store:
        store.replace_graph("urn:test:mid", triples)
        assert _number(store, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:test:mid> { ?s ?p ?o } }") == 6000
        store.remove_graph("urn:test:mid")


def test_an_update_refused_by_grants_is_one_clear_line(virtuoso_server, endpoint):
    _url, sql_port = virtuoso_server
    isql(sql_port, 'revoke SPARQL_UPDATE from "SPARQL";')
    try:
        with open_store(endpoint) as store, pytest.raises(UserError) as refused:
            store.replace_graph("urn:test:refused", [ox.Triple(P, P, ox.Literal("x"))])
    finally:
        isql(sql_port, 'grant SPARQL_UPDATE to "SPARQL";')
    message = str(refused.value)
    assert "\n" not in message and "grant SPARQL_UPDATE" in message and "nothing was changed" in message
    with open_store(endpoint) as store:
        assert not store.has_graph("urn:test:refused")


def test_an_answer_cut_at_the_row_limit_is_an_error_not_a_short_answer(endpoint):
    n = 300  # n * n rows, over the fixture's ResultSetMaxRows
    assert n * n > VIRTUOSO_MAX_ROWS
    cross = "WHERE { GRAPH <urn:test:rows> { ?a ?p ?o } GRAPH <urn:test:rows> { ?b ?q ?r } }"
    with open_store(endpoint) as store:
        store.replace_graph("urn:test:rows", [ox.Triple(ox.NamedNode(f"urn:test:row:{i}"), P, ox.Literal(i)) for i in range(n)])
        for query in (f"SELECT ?a ?b {cross}", f"CONSTRUCT {{ ?a <urn:test:with> ?b }} {cross}"):
            with pytest.raises(UserError, match="ResultSetMaxRows") as cut:
                store.query(query)
            assert "\n" not in str(cut.value)
        assert len(list(store.query(f"SELECT ?a ?b {cross} LIMIT 10"))) == 10
        store.remove_graph("urn:test:rows")
