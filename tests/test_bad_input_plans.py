"""The bad-input catalogue for plans: every bad plan is one line, exit 2, nothing written or stored.

Each case writes a small real plan file (Turtle, TriG, JSON-LD, RDF/XML, N-Triples) into the
test's folder and runs the real ``mlprov`` in a subprocess through :func:`tests.bad_input.refuse`.
JSON-LD contexts and XML DTDs point at a real HTTP server on 127.0.0.1 that records every
request: reading a plan must never reach it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
import rdflib

from mlprov_rdf.store import StoreLocation
from mlprov_rdf.workflow import generate_notebook
from tests.bad_input import mlprov, refuse
from tests.conftest import make_plan

PLAN_IRI = "https://example.org/plans/plan"
XSD = "http://www.w3.org/2001/XMLSchema#"
RUN = "<urn:mlprov:run:20260101T000000-deadbeef>"


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with an empty JSON-LD context (or DTD) and records the path."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        Recorder.requests.append(self.path)
        body = b'{"@context": {}}' if not self.path.endswith(".dtd") else b'<!ENTITY x "x">'
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that would serve a context, if anything asked it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def store_home(tmp_path_factory) -> Path:
    """A store that already holds a plan: a refused 'generate' must leave its graphs as they are."""
    root = tmp_path_factory.mktemp("catalogue-store")
    home = root / "home"
    generate_notebook(make_plan(root / "kept.ttl"), root / "kept.ipynb", StoreLocation(home))
    return home


# -- writing plans ----------------------------------------------------------------------------


def turtle(folder: Path, name: str = "plan.ttl", **values: str) -> Path:
    """The Iris plan 'mlprov init' writes, with some prov:value literals replaced."""
    return make_plan(folder / name, **values)


def edited(folder: Path, old: str, new: str, *, name: str = "plan.ttl", count: int = 1) -> Path:
    path = turtle(folder, name)
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new) if count == -1 else text.replace(old, new, count))
    return path


def written(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def appended(folder: Path, extra: str, name: str = "plan.ttl") -> Path:
    path = turtle(folder, name)
    path.write_text(path.read_text() + "\n" + extra + "\n")
    return path


def _graph(folder: Path) -> rdflib.Graph:
    """The Iris plan's triples, to write in another format."""
    source = turtle(folder)
    graph = rdflib.Graph().parse(source)
    source.unlink()
    return graph


def jsonld(folder: Path, context, *, nodes: list | None = None) -> Path:
    """The Iris plan as JSON-LD under the given ``@context``, with extra node objects."""
    expanded = json.loads(_graph(folder).serialize(format="json-ld"))
    path = folder / "plan.jsonld"
    path.write_text(json.dumps({"@context": context, "@graph": expanded + (nodes or [])}, indent=1))
    return path


def rdfxml(folder: Path, doctype: str) -> Path:
    """The Iris plan as RDF/XML with a DOCTYPE declaration after the XML declaration."""
    first, rest = _graph(folder).serialize(format="xml").split("\n", 1)
    path = folder / "plan.rdf"
    path.write_text(f"{first}\n{doctype}\n{rest}")
    return path


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def syntax_error_in_turtle(folder: Path, url: str) -> Path:
    return edited(folder, "mlprov:position 1 .", "mlprov:position 1")


def billion_laughs(folder: Path, url: str) -> Path:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    path = rdfxml(folder, f"<!DOCTYPE rdf:RDF [ {' '.join(entities)} ]>")
    text = path.read_text()
    path.write_text(text.replace("Iris test plan", "&lol9;", 1))
    return path


def fifo(folder: Path, url: str) -> Path:
    os.mkfifo(folder / "plan.ttl")
    return folder / "plan.ttl"


def symlink_loop(folder: Path, url: str) -> Path:
    (folder / "a.ttl").symlink_to(folder / "b.ttl")
    (folder / "b.ttl").symlink_to(folder / "a.ttl")
    return folder / "a.ttl"


def dangling_symlink(folder: Path, url: str) -> Path:
    (folder / "plan.ttl").symlink_to(folder / "gone.ttl")
    return folder / "plan.ttl"


def folder_as_plan(folder: Path, url: str) -> Path:
    (folder / "plans.ttl").mkdir()
    return folder / "plans.ttl"


def huge_file(folder: Path, url: str) -> Path:
    path = folder / "plan.ttl"
    with path.open("wb") as file:
        file.truncate(5 * 1024 * 1024)
    return path


def trig_two_graphs(folder: Path, url: str) -> Path:
    body = _graph(folder).serialize(format="nt")
    path = folder / "plan.trig"
    path.write_text(f"<{PLAN_IRI}> {{\n{body}}}\n<https://example.org/other> {{ <https://example.org/x> <https://example.org/y> 1 . }}\n")
    return path


def deeply_nested_jsonld(folder: Path, url: str) -> Path:
    path = jsonld(folder, {}, nodes=[{"@id": f"{PLAN_IRI}#author", "https://example.org/x": "NESTED"}])
    path.write_text(path.read_text().replace('"NESTED"', "[" * 50000 + "]" * 50000))
    return path


def step_iri_with_a_second_hash(folder: Path, url: str) -> Path:
    path = edited(folder, ":training a mlprov:TrainingStep", f"<{PLAN_IRI}#training#again> a mlprov:TrainingStep")
    path.write_text(path.read_text().replace("p-plan:isPrecededBy :training ;", f"p-plan:isPrecededBy <{PLAN_IRI}#training#again> ;"))
    return path


def ntriples_with_a_bad_iri(folder: Path, url: str) -> Path:
    lines = _graph(folder).serialize(format="nt").splitlines()
    path = folder / "plan.nt"
    path.write_text("\n".join(line.replace(f"<{PLAN_IRI}#training>", f"<{PLAN_IRI}#training#again>") for line in lines) + "\n")
    return path


def ntriples_syntax_error(folder: Path, url: str) -> Path:
    lines = _graph(folder).serialize(format="nt").splitlines()
    path = folder / "plan.nt"
    path.write_text("\n".join(lines[:3] + ['<https://example.org/a> <https://example.org/b> "unclosed .'] + lines[3:]) + "\n")
    return path


def three_structure_problems(folder: Path, url: str) -> Path:
    """A position against the steps' order, a value out of range, a value not allowed."""
    path = turtle(folder, optimizer='"Adamm"', test_size="1.5")
    text = path.read_text().replace("mlprov:position 3 ;", "mlprov:position 4 ;", 1)
    path.write_text(text.replace("mlprov:position 4 ;\n    p-plan:isPrecededBy :data-preparation",
                                 "mlprov:position 3 ;\n    p-plan:isPrecededBy :data-preparation", 1))
    return path


@dataclass(frozen=True)
class BadPlan:
    """One bad plan: how to write it, the words its one line must hold, and words it must not."""

    id: str
    write: Callable[[Path, str], Path]  # (folder, recording server URL) → the plan file
    says: tuple[str, ...]
    not_says: tuple[str, ...] = ()
    generate: bool = False  # run 'mlprov generate --store' instead of 'mlprov validate'
    timeout: float = 60
    says_line: str | None = None  # a text whose line number the message must give
    problems: int = 1  # lines after a line saying how many, where more than one


CASES = [
    # -- the ordinary bad plans
    BadPlan("turtle-syntax-error-names-its-line", syntax_error_in_turtle, ("turtle syntax error",), ("b'",),
            says_line=":data-ingestion a mlprov:DataIngestionStep"),
    BadPlan("wrong-extension", lambda f, u: turtle(f, "plan.txt"), ("not an RDF file", "extension .txt")),
    BadPlan("not-utf8", lambda f, u: written(f, "plan.ttl", 'dcterms:title "Caf\xe9"'.encode("latin-1")),
            ("not a text file",)),
    BadPlan("empty-file", lambda f, u: written(f, "plan.ttl", b""), ("no triples",)),
    BadPlan("no-plan", lambda f, u: edited(f, "a p-plan:Plan, repr:Experiment ;", "a prov:Entity ;"), ("no plan found",)),
    BadPlan("two-plans", lambda f, u: appended(f, "<https://example.org/plans/other> a <http://purl.org/net/p-plan#Plan> ."),
            ("2 plans",)),
    BadPlan("unknown-task", lambda f, u: edited(f, "mlprov#MulticlassClassification>", "mlprov#Regression>"),
            ("mlprov:Regression", "not one mlprov knows")),
    BadPlan("missing-step", lambda f, u: edited(f, ":training a mlprov:TrainingStep", ":training a mlprov:EvaluationStep"),
            ("lacks mlprov:TrainingStep", "belongs to the mlprov:TrainingStep step"), problems=2),
    BadPlan("out-of-range", lambda f, u: turtle(f, test_size="1.5"), ("out of range",)),
    BadPlan("three-structure-problems-three-lines", three_structure_problems,
            ("mlprov:position 3 but follows", "out of range", "'Adamm' is not allowed"), problems=3),
    BadPlan("value-not-allowed", lambda f, u: turtle(f, optimizer='"Adamm"'), ("'Adamm' is not allowed",)),
    BadPlan("wrong-type", lambda f, u: turtle(f, epochs='"many"'), ("not an integer",)),
    BadPlan("control-character-in-a-string-parameter", lambda f, u: turtle(f, csv_label_column='"a\\u001bb"'),
            ("control character",)),
    BadPlan("plan-is-a-blank-node", lambda f, u: edited(f, f"<{PLAN_IRI}>", "_:plan", count=-1), ("not a blank node",)),
    BadPlan("missing-file", lambda f, u: f / "nothing-here.ttl", ("no such file",)),
    BadPlan("ntriples-syntax-error", ntriples_syntax_error, ("nt syntax error",)),
    # -- a plan writes about other things (defect 3)
    BadPlan("plan-states-a-run", lambda f, u: appended(f, f"{RUN} a <http://www.w3.org/ns/mls#Run> ; "
                                                          "mlprov:status mlprov:Completed ."), ("urn:mlprov:run:", "mlprov mints")),
    BadPlan("generate-plan-states-a-run-stores-nothing",
            lambda f, u: appended(f, f"{RUN} a <http://www.w3.org/ns/mls#Run> ."), ("urn:mlprov:run:",), generate=True),
    BadPlan("plan-named-as-a-run", lambda f, u: edited(f, PLAN_IRI, "urn:mlprov:run:20260101T000000-deadbeef", count=-1),
            ("urn:mlprov:run:", "mlprov mints")),
    BadPlan("plan-redefines-a-step-class", lambda f, u: appended(f, 'mlprov:ModelDefinitionStep rdfs:label "anything" .'),
            ("mlprov:ModelDefinitionStep", "known vocabulary")),
    BadPlan("plan-redefines-prov", lambda f, u: appended(f, "prov:Entity rdfs:subClassOf prov:Activity ."), ("prov:Entity",)),
    BadPlan("statements-about-an-unrelated-node", lambda f, u: appended(f, '<https://example.org/other> rdfs:label "x" .'),
            ("<https://example.org/other>", "not part of plan")),
    BadPlan("unreachable-blank-node", lambda f, u: appended(f, '[] rdfs:label "x" .'), ("not part of plan",)),
    # -- reading a plan reaches the network or hangs (defect 6)
    BadPlan("jsonld-remote-context", lambda f, u: jsonld(f, f"{u}/context.jsonld"), ("remote @context", "not fetched", "inline")),
    BadPlan("jsonld-context-list-with-a-url", lambda f, u: jsonld(f, [{"ex": "https://example.org/"}, f"{u}/context.jsonld"]),
            ("remote @context",)),
    BadPlan("jsonld-file-context", lambda f, u: jsonld(f, "file:///etc/passwd"), ("remote @context", "file:///etc/passwd")),
    BadPlan("jsonld-relative-context", lambda f, u: written(f, "ctx.jsonld", b'{"@context": {}}') and jsonld(f, "ctx.jsonld"),
            ("remote @context", "ctx.jsonld")),
    BadPlan("jsonld-import", lambda f, u: jsonld(f, {"@version": 1.1, "@import": f"{u}/context.jsonld"}), ("remote @import",)),
    BadPlan("jsonld-scoped-context", lambda f, u: jsonld(f, {"ex": {"@id": "https://example.org/ex", "@context": f"{u}/c.jsonld"}}),
            ("remote @context",)),
    BadPlan("rdfxml-billion-laughs", billion_laughs, ("DTD",), timeout=60),
    BadPlan("rdfxml-external-dtd", lambda f, u: rdfxml(f, f'<!DOCTYPE rdf:RDF SYSTEM "{u}/plan.dtd">'), ("DTD",)),
    BadPlan("rdfxml-external-entity", lambda f, u: rdfxml(f, '<!DOCTYPE rdf:RDF [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>'),
            ("DTD",)),
    # -- crashes with tracebacks (defect 7)
    BadPlan("nan-learning-rate", lambda f, u: turtle(f, learning_rate=f'"NaN"^^<{XSD}double>'), ("learning_rate", "not a finite number")),
    BadPlan("inf-learning-rate", lambda f, u: turtle(f, learning_rate=f'"INF"^^<{XSD}double>'), ("not a finite number",)),
    BadPlan("minus-inf-test-size", lambda f, u: turtle(f, test_size=f'"-INF"^^<{XSD}double>'), ("test_size", "not a finite number")),
    BadPlan("overflowing-double-test-size", lambda f, u: turtle(f, test_size="1e3080"), ("test_size", "not a finite number")),
    BadPlan("generate-nan-stores-nothing", lambda f, u: turtle(f, learning_rate=f'"NaN"^^<{XSD}double>'), ("not a finite number",),
            generate=True),
    BadPlan("generate-overflowing-double-stores-nothing", lambda f, u: turtle(f, learning_rate="1e3080"), ("not a finite number",),
            generate=True),
    BadPlan("ten-thousand-digit-integer", lambda f, u: turtle(f, epochs="9" * 10000), ("4300 digits",), ("set_int_max_str_digits",)),
    BadPlan("ten-thousand-digit-typed-integer", lambda f, u: turtle(f, epochs=f'"{"9" * 10000}"^^<{XSD}integer>'),
            ("not a valid xsd:integer",), ("set_int_max_str_digits",)),
    BadPlan("integer-beyond-64-bits", lambda f, u: turtle(f, data_seed="9" * 30), ("64 bits",)),
    BadPlan("step-iri-with-a-second-hash", step_iri_with_a_second_hash, ("#training#again", "Invalid IRI")),
    BadPlan("generate-step-iri-with-a-second-hash-stores-nothing", step_iri_with_a_second_hash, ("Invalid IRI",),
            generate=True),
    BadPlan("ntriples-iri-with-a-second-hash", ntriples_with_a_bad_iri, ("Invalid IRI",)),
    BadPlan("datatype-iri-with-a-second-hash", lambda f, u: appended(f, ':author rdfs:comment "x"^^<https://example.org/a#b#c> .'),
            ("Invalid IRI",)),
    BadPlan("lone-surrogate-in-the-title", lambda f, u: edited(f, 'dcterms:title "Iris', 'dcterms:title "\\uD800Iris'),
            ("lone surrogate", "dcterms:title")),
    BadPlan("lone-surrogate-in-a-label-jsonld", lambda f, u: jsonld(f, {}, nodes=[
        {"@id": f"{PLAN_IRI}#training", "http://www.w3.org/2000/01/rdf-schema#comment": "\ud800"}]), ("lone surrogate",)),
    BadPlan("generate-lone-surrogate-stores-nothing", lambda f, u: edited(f, 'dcterms:title "Iris', 'dcterms:title "\\uD800Iris'),
            ("lone surrogate",), generate=True),
    BadPlan("ill-typed-integer", lambda f, u: turtle(f, epochs=f'"abc"^^<{XSD}integer>'), ("not a valid xsd:integer",)),
    BadPlan("bad-language-tag-jsonld", lambda f, u: jsonld(f, {}, nodes=[
        {"@id": f"{PLAN_IRI}#training", "http://www.w3.org/2000/01/rdf-schema#comment": {"@value": "x", "@language": "abcdefghi"}}]),
            ("eight characters",)),
    BadPlan("generate-language-tag-oxigraph-refuses-stores-nothing", lambda f, u: appended(f, ':author rdfs:comment "x"@en-US-x .'),
            ("`x` subtag",), generate=True),
    BadPlan("generate-langstring-without-a-language-stores-nothing",
            lambda f, u: appended(f, ':author rdfs:comment "x"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#langString> .'),
            ("rdf:langString",), generate=True),
    BadPlan("n3-formula", lambda f, u: appended(f, ":author rdfs:comment { :a :b :c } .", name="plan.n3"), ("N3 formula",)),
    BadPlan("generate-n3-variable-stores-nothing", lambda f, u: appended(f, ":author rdfs:comment ?x .", name="plan.n3"),
            ("N3 formula, variable",), generate=True),
    # -- unclear or wrong messages (defect 9)
    BadPlan("trig-with-two-graphs", trig_two_graphs, ("2 graphs", "one graph")),
    BadPlan("folder-as-plan", folder_as_plan, ("is a folder",)),
    BadPlan("fifo-as-plan", fifo, ("not a regular file",), timeout=30),
    BadPlan("symlink-loop", symlink_loop, ("symbolic link loop",)),
    BadPlan("dangling-symlink", dangling_symlink, ("no such file", "symbolic link to nothing")),
    BadPlan("huge-file", huge_file, ("larger than 4 MiB",), timeout=60),
    BadPlan("deeply-nested-turtle", lambda f, u: appended(f, f":author rdfs:comment {'[ rdfs:comment ' * 100000}1{' ]' * 100000} ."),
            ("nests", "too deeply"), ("recursion",)),
    BadPlan("deeply-nested-jsonld", deeply_nested_jsonld, ("too deeply",), ("recursion",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_plan_is_refused_in_one_line_and_nothing_is_written(case, tmp_path, server, store_home):
    folder = tmp_path / "work"
    folder.mkdir()
    plan = case.write(folder, server)
    requests_before = len(Recorder.requests)
    if case.generate:
        args = ["generate", plan, "--store", store_home]
        refusal = refuse(args, cwd=folder, watch=[store_home], store=store_home, says=case.says, timeout=case.timeout,
                         problems=case.problems)
    else:
        refusal = refuse(["validate", plan], cwd=folder, says=case.says, timeout=case.timeout, problems=case.problems)
    for word in case.not_says:
        assert word not in refusal.line, refusal.line
    if case.says_line is not None:
        assert f"{plan.name}:{line_of(plan, case.says_line)}:" in refusal.line, refusal.line
    assert Recorder.requests[requests_before:] == [], "reading the plan contacted the server"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: a fetch from it would hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_jsonld_context_at_a_server_that_never_answers_is_refused_at_once(tmp_path, silent_server):
    plan = jsonld(tmp_path, f"{silent_server}/context.jsonld")
    refuse(["validate", plan], cwd=tmp_path, says=("remote @context",), timeout=20)


@dataclass(frozen=True)
class Reference:
    """A plan that names a URL without needing it: it validates, and the URL is never fetched."""

    id: str
    extra: Callable[[str], str]  # server URL → Turtle appended to the Iris plan
    prefix: str = ""


REFERENCES = [
    Reference("owl-imports", lambda u: f"<{PLAN_IRI}> <http://www.w3.org/2002/07/owl#imports> <{u}/ontology.ttl> ."),
    Reference("prefix-and-base-at-the-server", lambda u: f"<{PLAN_IRI}> rdfs:seeAlso <{u}/see-also> .",
              prefix="@base <{u}/base/> .\n@prefix remote: <{u}/vocab#> .\n"),
    Reference("see-also-link", lambda u: f"<{PLAN_IRI}> rdfs:seeAlso <{u}/more.ttl> ."),
]


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: r.id)
def test_urls_a_valid_plan_names_are_never_fetched(reference, tmp_path, server):
    plan = turtle(tmp_path)
    plan.write_text(reference.prefix.format(u=server) + plan.read_text() + "\n" + reference.extra(server) + "\n")
    before = len(Recorder.requests)
    done = mlprov(["validate", plan], cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Recorder.requests[before:] == []
