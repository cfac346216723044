"""The canned query library: headers, parameter binding, output formats, and answers.

The answers are checked against a small store written by hand from docs/data-model.md,
with values simple enough to read off the Turtle below.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pandas as pd
import pyoxigraph as ox
import pytest

from mlprov_rdf import ingest, queries, run_summaries, vocab
from mlprov_rdf.errors import UserError
from mlprov_rdf.resources import queries_dir
from mlprov_rdf.store import StoreLocation, open_store

LIBRARY = queries.load_library()
REQUIRED_QUERIES = {
    "runs", "run-params", "run-metrics", "run-cells", "cell-trials", "plan-io",
    "best-runs", "environment", "compare-runs", "runs-by-setting",
    "metric-across-runs", "model-lineage", "drifted-cells", "runs-by-status",
    "environment-diff", "cq-step-sequence", "cq-executions-per-cell", "cq-execution-duration",
    "cq-execution-source", "cq-execution-outputs", "cq-responsible-agents", "cq-last-execution",
    "cq-environment",
}

PLAN = "https://example.org/plans/iris-mlp"
RUN_A = "urn:mlprov:run:20261123T194201-3fa2c1d0"  # oldest, accuracy 0.9
RUN_B = "urn:mlprov:run:20261124T081500-9b1e77aa"  # accuracy 0.95, injected rate, edited
RUN_C = "urn:mlprov:run:20261125T120000-0c0ffee0"  # newest, failed in training

# -- a hand-written store, following docs/data-model.md ------------------------------------

PREFIXES = """\
@prefix prov:    <http://www.w3.org/ns/prov#> .
@prefix p-plan:  <http://purl.org/net/p-plan#> .
@prefix repr:    <https://w3id.org/reproduceme#> .
@prefix mls:     <http://www.w3.org/ns/mls#> .
@prefix mlprov:  <https://w3id.org/mlprov#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix xsd:     <http://www.w3.org/2001/XMLSchema#> .
@prefix rdf:     <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs:    <http://www.w3.org/2000/01/rdf-schema#> .
"""

# Only the forward P-Plan directions (hasInputVar, hasOutputVar), as a plan may state them.
PLAN_TTL = PREFIXES + """
<https://example.org/plans/iris-mlp> a p-plan:Plan, repr:Experiment ;
    dcterms:title "Iris MLP" ;
    dcterms:description "Train an MLP on iris." ;
    prov:wasAttributedTo <https://example.org/people/ada> ;
    mlprov:task mlprov:MulticlassClassification .

<https://example.org/people/ada> a prov:Person ; rdfs:label "Ada" .

<https://example.org/plans/iris-mlp#setup> a mlprov:SetupStep ;
    rdfs:label "Set up" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 1 .

<https://example.org/plans/iris-mlp#ingest> a mlprov:DataIngestionStep ;
    rdfs:label "Load the data" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 2 ;
    p-plan:isPrecededBy <https://example.org/plans/iris-mlp#setup> ;
    p-plan:hasInputVar <https://example.org/plans/iris-mlp#dataset> ;
    p-plan:hasOutputVar <https://example.org/plans/iris-mlp#raw-data> .

<https://example.org/plans/iris-mlp#train> a mlprov:TrainingStep ;
    rdfs:label "Train the model" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 3 ;
    p-plan:isPrecededBy <https://example.org/plans/iris-mlp#ingest> ;
    p-plan:hasInputVar <https://example.org/plans/iris-mlp#learning_rate>,
        <https://example.org/plans/iris-mlp#epochs> ;
    p-plan:hasOutputVar <https://example.org/plans/iris-mlp#trained-model> .

<https://example.org/plans/iris-mlp#dataset> a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "dataset" ;
    prov:value "iris" ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

<https://example.org/plans/iris-mlp#epochs> a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "epochs" ;
    prov:value 100 ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

<https://example.org/plans/iris-mlp#learning_rate> a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "learning_rate" ;
    prov:value "0.01"^^xsd:double ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

<https://example.org/plans/iris-mlp#raw-data> a p-plan:Variable ;
    rdfs:label "raw data set" ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

<https://example.org/plans/iris-mlp#trained-model> a p-plan:Variable ;
    rdfs:label "trained model" ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .
"""


def run_ttl(
    run_id: str,
    started: str,
    *,
    learning_rate: str,
    accuracy: str | None,
    status: str = "Completed",
    drifted_training: bool = False,
    added_cell: bool = False,
) -> str:
    """One run's bundle: three cells (parameters, ingest, train), settings, data and metrics.

    ``added_cell`` appends a fourth cell written by hand, which corresponds to no step.
    """
    r = f"urn:mlprov:run:{run_id}"
    plan = PLAN
    failed = status == "Failed"
    metrics = ""
    outputs = f"<{r}/model>"
    if accuracy is not None:
        outputs += (
            f", <{r}/metric/accuracy>, <{r}/metric/f1/setosa>, <{r}/metric/confusion_matrix>,"
            f" <{r}/metric/training_loss/epoch/1>, <{r}/metric/training_loss/epoch/2>"
        )
        metrics = f"""
<{r}/metric/accuracy> a prov:Entity, mls:ModelEvaluation ;
    rdfs:label "accuracy = {accuracy}" ;
    mls:specifiedBy mlprov:accuracy ;
    mls:hasValue "{accuracy}"^^xsd:double ;
    mlprov:splitName "test" ;
    prov:wasDerivedFrom <{r}/model> ;
    prov:wasGeneratedBy <{r}/cell/3> .

<{r}/metric/f1/setosa> a prov:Entity, mls:ModelEvaluation ;
    rdfs:label "f1 setosa = 1.0" ;
    mls:specifiedBy mlprov:f1 ;
    mls:hasValue "1.0"^^xsd:double ;
    mlprov:splitName "test" ;
    mlprov:forClass "setosa" ;
    prov:wasGeneratedBy <{r}/cell/3> .

<{r}/metric/confusion_matrix> a prov:Entity, mls:ModelEvaluation ;
    rdfs:label "confusion matrix" ;
    mls:specifiedBy mlprov:confusion_matrix ;
    mls:hasValue "[[10,0,0],[0,9,1],[0,0,10]]"^^rdf:JSON ;
    mlprov:splitName "test" ;
    prov:wasGeneratedBy <{r}/cell/3> .

<{r}/metric/training_loss/epoch/1> a prov:Entity, mls:ModelEvaluation ;
    mls:specifiedBy mlprov:training_loss ;
    mls:hasValue "1.5"^^xsd:double ;
    mlprov:splitName "train" ;
    mlprov:epoch 1 ;
    prov:wasGeneratedBy <{r}/cell/3> .

<{r}/metric/training_loss/epoch/2> a prov:Entity, mls:ModelEvaluation ;
    mls:specifiedBy mlprov:training_loss ;
    mls:hasValue "0.5"^^xsd:double ;
    mlprov:splitName "train" ;
    mlprov:epoch 2 ;
    prov:wasGeneratedBy <{r}/cell/3> .
"""
    added = f"""
<{r}/cell/4> a prov:Activity, repr:CellExecution ;
    rdfs:label "4. print(model)" ;
    dcterms:isPartOf <{r}> ;
    mlprov:executionOrder 4 ;
    mlprov:cellKind mlprov:AddedCell ;
    prov:wasInformedBy <{r}/cell/3> ;
    prov:wasAssociatedWith <{r}/kernel> ;
    prov:startedAtTime "{started}"^^xsd:dateTime ; prov:endedAtTime "{started}"^^xsd:dateTime ;
    mlprov:duration 0.25 ;
    mlprov:codeHash "h4" ; mlprov:sourceCode "print(model)" ;
    mlprov:status mlprov:Completed .
""" if added_cell else ""
    train_status = "mlprov:Failed ;\n    mlprov:error \"ValueError: bad shape\"" if failed else "mlprov:Completed"
    return PREFIXES + f"""
<urn:mlprov:bundle:{run_id}> a p-plan:Bundle, prov:Bundle ;
    prov:wasGeneratedBy <{r}> .

<{r}> a prov:Activity, repr:Trial, mls:Run ;
    rdfs:label "Iris MLP, run {started}" ;
    mlprov:plan <{plan}> ;
    mlprov:planDigest "0000" ;
    prov:qualifiedAssociation [ a prov:Association ;
        prov:agent <urn:mlprov:agent:person:ada> ;
        prov:hadPlan <{plan}> ] ;
    prov:wasAssociatedWith <urn:mlprov:agent:person:ada>, <urn:mlprov:agent:software:mlprov-rdf-0.1.0> ;
    prov:startedAtTime "{started}"^^xsd:dateTime ;
    prov:endedAtTime "{started}"^^xsd:dateTime ;
    mlprov:duration 12.5 ;
    mlprov:status mlprov:{status} ;
    mlprov:seed 42 ;
    prov:used <{r}/notebook> ;
    repr:hasSetting <{r}/kernel>, <{r}/python>, <{r}/os>, <{r}/hardware>, <{r}/package/torch> ;
    mls:hasInput <{r}/setting/dataset>, <{r}/setting/epochs>, <{r}/setting/learning_rate> ;
    mls:hasOutput {outputs} .

<urn:mlprov:agent:person:ada> a prov:Agent, prov:Person ; rdfs:label "ada" .
<urn:mlprov:agent:software:mlprov-rdf-0.1.0> a prov:Agent, prov:SoftwareAgent ;
    rdfs:label "mlprov-rdf 0.1.0" ; mlprov:version "0.1.0" .

<{r}/notebook> a prov:Entity, repr:Notebook ; rdfs:label "iris.ipynb" ; mlprov:sha256 "abcd" .

<{r}/cell/1> a prov:Activity, repr:CellExecution ;
    rdfs:label "1. parameters" ;
    dcterms:isPartOf <{r}> ;
    mlprov:executionOrder 1 ;
    mlprov:cellKind mlprov:ParametersCell ;
    prov:wasAssociatedWith <{r}/kernel> ;
    prov:startedAtTime "{started}"^^xsd:dateTime ; prov:endedAtTime "{started}"^^xsd:dateTime ;
    mlprov:duration 0.5 ;
    mlprov:codeHash "h1" ; mlprov:codeDrifted false ; mlprov:sourceCode "# mlprov parameters" ;
    mlprov:status mlprov:Completed .

<{r}/cell/2> a prov:Activity, repr:CellExecution ;
    rdfs:label "2. Load the data" ;
    dcterms:isPartOf <{r}> ;
    p-plan:correspondsToStep <{plan}#ingest> ;
    mlprov:executionOrder 2 ;
    mlprov:cellKind mlprov:StepCell ;
    prov:wasInformedBy <{r}/cell/1> ;
    prov:wasAssociatedWith <{r}/kernel> ;
    prov:startedAtTime "{started}"^^xsd:dateTime ; prov:endedAtTime "{started}"^^xsd:dateTime ;
    mlprov:duration 1.0 ;
    mlprov:codeHash "h2" ; mlprov:codeDrifted false ; mlprov:sourceCode "load()" ;
    mlprov:status mlprov:Completed .

<{r}/cell/3> a prov:Activity, repr:CellExecution ;
    rdfs:label "3. Train the model" ;
    dcterms:isPartOf <{r}> ;
    p-plan:correspondsToStep <{plan}#train> ;
    mlprov:executionOrder 3 ;
    mlprov:cellKind mlprov:StepCell ;
    prov:wasInformedBy <{r}/cell/2> ;
    prov:wasAssociatedWith <{r}/kernel> ;
    prov:startedAtTime "{started}"^^xsd:dateTime ; prov:endedAtTime "{started}"^^xsd:dateTime ;
    mlprov:duration 3.0 ;
    mlprov:codeHash "h3" ; mlprov:codeDrifted {str(drifted_training).lower()} ;
    mlprov:sourceCode "train()" ;
    mlprov:status {train_status} .

<{r}/setting/dataset> a prov:Entity, mls:HyperParameterSetting ;
    rdfs:label "dataset = iris" ;
    p-plan:correspondsToVariable <{plan}#dataset> ;
    mlprov:parameterName "dataset" ; mls:hasValue "iris" .
<{r}/setting/epochs> a prov:Entity, mls:HyperParameterSetting ;
    rdfs:label "epochs = 100" ;
    p-plan:correspondsToVariable <{plan}#epochs> ;
    mlprov:parameterName "epochs" ; mls:hasValue 100 .
<{r}/setting/learning_rate> a prov:Entity, mls:HyperParameterSetting ;
    rdfs:label "learning_rate = {learning_rate}" ;
    p-plan:correspondsToVariable <{plan}#learning_rate> ;
    mlprov:parameterName "learning_rate" ; mls:hasValue "{learning_rate}"^^xsd:double .

<{r}/data/iris> a prov:Entity, mls:Dataset ;
    rdfs:label "iris" ; dcterms:identifier "iris" ; mlprov:sha256 "d1" ;
    mlprov:sampleCount 150 ; mlprov:featureCount 4 ; mlprov:classCount 3 ;
    prov:wasGeneratedBy <{r}/cell/2> .

<{r}/model> a prov:Entity, mls:Model ;
    rdfs:label "MLP 4-50-3 (relu)" ; mlprov:parameterCount 403 ;
    prov:wasDerivedFrom <{r}/data/iris> ;
    prov:wasGeneratedBy <{r}/cell/3> .
{metrics}{added}
<{r}/kernel> a prov:Entity, prov:SoftwareAgent, repr:Kernel ;
    rdfs:label "python3 (ipykernel 7.4.0)" ; mlprov:version "7.4.0" .
<{r}/python> a prov:Entity, repr:ProgrammingLanguage ; rdfs:label "Python 3.11.7" ; mlprov:version "3.11.7" .
<{r}/os> a prov:Entity, repr:OperatingSystem ; rdfs:label "Linux 6.1 (x86_64)" ; mlprov:version "6.1" .
<{r}/package/torch> a prov:Entity, repr:Package ; rdfs:label "torch 2.14.1" ;
    mlprov:packageName "torch" ; mlprov:version "2.14.1" .
<{r}/hardware> a prov:Entity, mlprov:Hardware ;
    rdfs:label "x86_64, 2 cores, 24.0 GiB" ;
    mlprov:cpuModel "Test CPU" ; mlprov:cpuCores 2 ; mlprov:memoryBytes 25769803776 .
"""


def triples(turtle: str) -> list[ox.Triple]:
    return [ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(turtle, format=ox.RdfFormat.TURTLE)]


def write_sample_store(store) -> None:
    store.replace_graph(PLAN, triples(PLAN_TTL))
    runs = [  # run id, start, learning rate, test accuracy, status, training cell edited?
        ("20261123T194201-3fa2c1d0", "2026-11-23T19:42:01+00:00", "0.01", "0.9", "Completed", False),
        ("20261124T081500-9b1e77aa", "2026-11-24T08:15:00+00:00", "0.05", "0.95", "Completed", True),
        ("20261125T120000-0c0ffee0", "2026-11-25T12:00:00+00:00", "0.01", None, "Failed", False),
    ]
    for run_id, started, lr, accuracy, status, drifted in runs:
        ttl = run_ttl(
            run_id, started, learning_rate=lr, accuracy=accuracy, status=status,
            drifted_training=drifted, added_cell=drifted,  # run B was edited by hand
        )
        store.replace_graph(vocab.bundle_iri(run_id), ingest.with_direct_values(vocab.run_iri(run_id), triples(ttl)))
    run_summaries.rebuild(store)  # as ingest keeps them


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    with open_store(StoreLocation(tmp_path_factory.mktemp("sample") / "s")) as store:
        write_sample_store(store)
        yield store


@pytest.fixture
def empty_store(tmp_path):
    with open_store(StoreLocation(tmp_path / "s")) as store:
        yield store


def values(result: queries.QueryResult, column: str) -> list:
    """One column as Python values, for short assertions."""
    i = result.columns.index(column)
    return [queries.python_value(row[i]) for row in result.rows]


def records(result: queries.QueryResult) -> list[dict]:
    return [
        {c: queries.python_value(t) for c, t in zip(result.columns, row)} for row in result.rows
    ]


def sample_params(query: queries.CannedQuery, *, optional: bool = False) -> dict[str, str]:
    """A value for every required parameter (and optional one), from the header's example."""
    return {p.name: p.example for p in query.params if p.required or (optional and p.example)}


# -- the library's files -------------------------------------------------------------------


def test_library_has_the_required_queries():
    assert REQUIRED_QUERIES <= set(LIBRARY)
    assert len(LIBRARY) >= 20
    assert list(LIBRARY) == sorted(LIBRARY)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_query_file_starts_with_a_header_with_title_and_description(name):
    query = LIBRARY[name]
    first_line = query.text.splitlines()[0]
    assert first_line.startswith("# title: ")
    assert query.title and query.title != name
    assert len(query.description) > 20
    assert "PREFIX" in query.text


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_declared_params_are_variables_the_query_uses_and_projects(name):
    query = LIBRARY[name]
    used = queries.query_variables(query.text)
    projected = queries.projected_variables(query.text)
    slots = queries.value_slots(query.text)
    for param in query.params:
        if param.type in ("limit", "offset"):  # a clause, checked when the query loads
            continue
        assert param.name in used, f"{name}: ?{param.name} is declared but never used"
        # Oxigraph substitutes only projected variables; a slot parameter is bound in its slot.
        assert projected is None or param.name in projected or param.name in slots, (
            f"{name}: ?{param.name} is neither projected nor given a values slot"
        )
        if param.type == "list":
            assert param.name in slots, f"{name}: list parameter ?{param.name} has no values slot"
        assert param.description
        if param.required or param.type == "iri":
            assert param.example, f"{name}: parameter {param.name} needs an 'e.g.' example"


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_query_parses_and_runs_on_an_empty_store(name, empty_store):
    query = LIBRARY[name]
    for params in (sample_params(query), sample_params(query, optional=True)):
        result = queries.run(empty_store, query, params)
        assert result.kind == "bindings"
        assert result.rows == []
        # A substituted parameter's column is left out; a slot's variable is a column like any.
        assert result.columns and not set(result.columns) & (set(params) - query.slots)


def test_header_continuation_lines_defaults_and_optional_params():
    header = queries.parse_header(
        "# title: T\n# description: first part\n#   second part\n"
        "# param n (integer) = 3: how many,\n#   at most, e.g. 5\n"
        "# param who (iri) optional: someone, e.g. urn:x:y; all when left out\n"
        "# a plain comment\nSELECT ?n ?who WHERE {}\n",
        "t.rq",
    )
    assert (header.title, header.description, header.order) == ("T", "first part second part", None)
    assert header.params == (
        queries.QueryParam("n", "integer", "how many, at most, e.g. 5", "3", False, "5"),
        queries.QueryParam(
            "who", "iri", "someone, e.g. urn:x:y; all when left out", None, False, "urn:x:y"
        ),
    )
    with pytest.raises(UserError, match=r"t.rq line 1: default of parameter n: 'x' is not an integer"):
        queries.parse_header("# param n (integer) = x: how many\n", "t.rq")


def test_describe_library_lists_every_query_with_its_params():
    text = queries.describe_library()
    for name, query in LIBRARY.items():
        assert name in text and query.title in text
    assert "threshold (decimal) = 0" in text
    assert "run (iri)" in text
    assert "optimizer (list) optional" in text and "list (comma-separated alternatives" in text
    assert f"{len(LIBRARY)} queries" in text


# -- binding parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "not an iri",
        "20261123T194201-3fa2c1",  # a run id cut short: a bare run id is taken as the run
        "urn:x> } ; DROP ALL ; #",
        "urn:x y",
        "<urn:x>",
        'urn:x"',
        "urn:x{y}",
        "urn:x|y",
        "urn:x^y",
        "urn:x\ny",
        "",
    ],
)
def test_bind_refuses_what_is_not_an_absolute_iri(value):
    with pytest.raises(UserError, match=r"parameter run: .* not an absolute IRI"):
        queries.bind(LIBRARY["run-params"], {"run": value})


def test_an_injection_attempt_never_reaches_the_store(sample_store):
    with pytest.raises(UserError):
        queries.run(sample_store, LIBRARY["run-params"], {"run": f"{RUN_A}> }} ; DROP ALL ; #"})
    assert queries.run(sample_store, LIBRARY["runs"], {}).rows  # still all there


def test_bind_types_values_and_applies_defaults():
    bound = queries.bind(LIBRARY["best-runs"], {"threshold": "0.9"})
    assert bound["metric"] == ox.NamedNode(vocab.metric_namespace("test") + "accuracy")
    assert bound["threshold"] == ox.Literal("0.9", datatype=ox.NamedNode(vocab.XSD + "decimal"))
    assert bound["limit"] == ox.Literal("20", datatype=ox.NamedNode(vocab.XSD + "integer"))
    assert queries.bind(LIBRARY["best-runs"], {"threshold": "1"})["threshold"].value == "1.0"
    assert queries.bind(LIBRARY["best-runs"], {"metric": "train:training_accuracy"})["metric"] == ox.NamedNode(
        vocab.metric_namespace("train") + "training_accuracy"
    )
    assert queries.bind(LIBRARY["best-runs"], {"metric": "https://example.org/m"})["metric"] == ox.NamedNode(
        "https://example.org/m"
    )
    assert queries.bind(LIBRARY["metric-history"], {"run": RUN_A, "metric": "mlprov:macro_f1"})["metric"] == ox.NamedNode(
        vocab.MLPROV + "macro_f1"
    )
    assert queries.bind(LIBRARY["run-params"], {"run": RUN_A}) == {"run": ox.NamedNode(RUN_A)}
    assert queries.bind(LIBRARY["runs-by-setting"], {}).keys() == {"limit", "offset"}  # optional without default: unbound


@pytest.mark.parametrize("threshold", ["abc", "nan", "inf", "0.9.1", ""])
def test_bind_refuses_a_decimal_that_is_not_a_number(threshold):
    with pytest.raises(UserError, match="threshold"):
        queries.bind(LIBRARY["best-runs"], {"threshold": threshold})


def test_integer_parameters_are_checked():
    param = queries.QueryParam(name="n", type="integer")
    assert queries.convert(param, "42") == ox.Literal(42)
    with pytest.raises(UserError, match="not an integer"):
        queries.convert(param, "4.2")


def test_bind_refuses_an_unknown_parameter_and_lists_what_the_query_takes():
    with pytest.raises(UserError, match=r"unknown parameter runn; it takes: run \(iri\)"):
        queries.bind(LIBRARY["run-params"], {"runn": RUN_A})
    with pytest.raises(UserError, match="takes no parameters"):
        queries.bind(LIBRARY["plans"], {"run": RUN_A})


def test_bind_refuses_a_missing_required_parameter():
    with pytest.raises(UserError, match=r"^query run-params: parameter run \(iri\) is required, e.g. run=urn:mlprov:run:"):
        queries.bind(LIBRARY["run-params"], {})


# -- lists and values slots ---------------------------------------------------------------

SETTINGS_BY_VALUE = """\
# title: Settings by value
# description: the runs whose setting has one of the values, with at least the minimum.
# param value (list) optional: accepted values, e.g. iris,0.05
# param minimum (decimal) optional: the least value, e.g. 0.02
# param run (iri) optional: e.g. urn:mlprov:run:x
PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?run ?name ?value
WHERE {
  VALUES ?value { UNDEF }
  VALUES ?minimum { UNDEF }
  ?run mls:hasInput ?setting .
  ?setting mlprov:parameterName ?name ; mls:hasValue ?value .
  FILTER (!BOUND(?minimum) || ?value >= ?minimum)
}
ORDER BY ?run ?name
"""


def test_a_list_is_every_item_as_text_and_as_what_else_it_reads_as():
    param = queries.QueryParam("value", "list")
    xsd = vocab.XSD
    assert queries.convert_list(param, "Adam, SGD") == (ox.Literal("Adam"), ox.Literal("SGD"))
    assert queries.convert_list(param, "10") == (
        ox.Literal("10"),
        ox.Literal("10", datatype=ox.NamedNode(xsd + "integer")),
        ox.Literal("10.0", datatype=ox.NamedNode(xsd + "double")),
    )
    assert ox.Literal("0.001", datatype=ox.NamedNode(xsd + "double")) in queries.convert_list(param, "1e-3")
    assert ox.Literal("true", datatype=ox.NamedNode(xsd + "boolean")) in queries.convert_list(param, "true")
    assert ox.NamedNode("urn:x:y") in queries.convert_list(param, "urn:x:y")
    # from Python: a list of values, each typed as it is
    assert queries.convert_list(param, ["iris", 3, False]) == (
        ox.Literal("iris"),
        ox.Literal("3"),
        ox.Literal("3", datatype=ox.NamedNode(xsd + "integer")),
        ox.Literal("3.0", datatype=ox.NamedNode(xsd + "double")),
        ox.Literal("false", datatype=ox.NamedNode(xsd + "boolean")),
    )
    assert queries.convert_list(param, "a,a") == (ox.Literal("a"),)  # no duplicates
    for bad in ("", "a,,b", " , "):
        with pytest.raises(UserError, match="parameter value: .* empty item"):
            queries.convert_list(param, bad)


def test_a_slot_is_filled_with_terms_and_other_parameters_are_substituted():
    query = queries.resolve(SETTINGS_BY_VALUE)
    assert query.slots == {"value", "minimum"}
    text, substitutions = queries.prepare(query, {"value": "iris,b\"} } ; DROP ALL ; #", "run": RUN_A})
    assert 'VALUES ?value { "iris" "b\\"} } ; DROP ALL ; #" }' in text  # escaped: one literal
    assert "VALUES ?minimum { UNDEF }" in text  # not given: left free
    assert substitutions == {"run": ox.NamedNode(RUN_A)}
    text, _ = queries.prepare(query, {"minimum": 0.02})
    assert 'VALUES ?minimum { "0.02"^^<http://www.w3.org/2001/XMLSchema#decimal> }' in text
    assert queries.prepare(query, {}) == (query.text, {})


def test_a_list_matches_values_of_any_type_and_bound_tells_a_given_slot(sample_store):
    query = queries.resolve(SETTINGS_BY_VALUE)

    def found(**params):
        return [(r["run"], r["name"], r["value"]) for r in records(queries.run(sample_store, query, params))]

    assert found(value="0.05") == [(RUN_B, "learning_rate", 0.05)]
    one_run = queries.run(sample_store, query, {"value": "5e-2,100", "run": RUN_B})
    assert "run" not in one_run.columns  # substituted: its column is left out
    assert [(r["name"], r["value"]) for r in records(one_run)] == [("epochs", 100), ("learning_rate", 0.05)]
    by_run = found(value=["5e-2", 100])
    assert sorted(by_run) == sorted([(RUN_B, "learning_rate", 0.05)] + [(r, "epochs", 100) for r in (RUN_A, RUN_B, RUN_C)])
    assert found(value="iris", minimum="0") == []  # a string is not >= a number
    assert found(minimum="0.02") == [(RUN_A, "epochs", 100), (RUN_B, "epochs", 100), (RUN_B, "learning_rate", 0.05),
                                     (RUN_C, "epochs", 100)]
    assert len(found()) == 9  # nothing given: every setting
    assert found(value='iris"} } ; DROP ALL ; #') == []  # an injection attempt is one odd value
    assert queries.run(sample_store, LIBRARY["runs"], {}).rows  # still all there


def test_a_list_parameter_needs_one_slot(tmp_path):
    no_slot = "# title: T\n# param value (list): e.g. a\nSELECT ?value WHERE { ?s ?p ?value }\n"
    with pytest.raises(UserError, match=r"list parameter value needs a slot 'VALUES \?value \{ UNDEF \}'"):
        queries.resolve(no_slot)
    commented = "# title: T\n# param value (list): e.g. a\nSELECT ?value WHERE { # VALUES ?value { UNDEF }\n}\n"
    with pytest.raises(UserError, match="needs a slot"):
        queries.resolve(commented)


def test_bind_takes_python_values():
    bound = queries.bind(LIBRARY["best-runs"], {"threshold": 0.9, "metric": "accuracy"})
    assert bound["threshold"] == ox.Literal("0.9", datatype=ox.NamedNode(vocab.XSD + "decimal"))
    paged = queries.bind(LIBRARY["runs-by-setting"], {"optimizer": ("Adam", "SGD"), "min_epochs": 10})
    assert {name: value for name, value in paged.items() if name not in ("limit", "offset")} == {
        "optimizer": (ox.Literal("Adam"), ox.Literal("SGD")),
        "min_epochs": ox.Literal("10", datatype=ox.NamedNode(vocab.XSD + "integer")),
    }
    assert "plan" not in queries.bind(LIBRARY["runs-by-setting"], {"plan": None})  # None: not given
    with pytest.raises(UserError, match="min_epochs: '1.5' is not an integer"):
        queries.bind(LIBRARY["runs-by-setting"], {"min_epochs": 1.5})


# -- resolving a query spec ----------------------------------------------------------------


def test_resolve_takes_a_library_name_a_file_or_sparql_text(tmp_path):
    assert queries.resolve("runs") is not None and queries.resolve("runs").name == "runs"
    path = tmp_path / "mine.rq"
    path.write_text(
        "# title: Mine\n# description: runs of a plan.\n# param plan (iri): e.g. urn:p\n"
        "SELECT ?plan ?run WHERE { ?run <https://w3id.org/mlprov#plan> ?plan }\n"
    )
    mine = queries.resolve(str(path))
    assert (mine.title, [p.name for p in mine.params], mine.path) == ("Mine", ["plan"], path)
    literal = queries.resolve("select ?s where { ?s ?p ?o } limit 1")
    assert literal.path is None and literal.params == ()
    assert queries.resolve(str(queries_dir() / "runs.rq")).title == LIBRARY["runs"].title


def test_resolve_refuses_what_is_none_of_those(tmp_path):
    with pytest.raises(UserError, match="not a query in the library"):
        queries.resolve("no-such-query")
    with pytest.raises(UserError, match="no such file"):
        queries.resolve(str(tmp_path / "missing.rq"))


def test_a_malformed_header_is_a_user_error(tmp_path):
    path = tmp_path / "bad.rq"
    path.write_text("# title: Bad\n# param run (uri): the run\nSELECT ?run WHERE {}\n")
    with pytest.raises(UserError, match=r"bad.rq line 2: parameter run has unknown type 'uri'"):
        queries.resolve(str(path))


def test_a_sparql_syntax_error_is_a_user_error_naming_the_query(empty_store, tmp_path):
    path = tmp_path / "broken.rq"
    path.write_text("# title: Broken\nSELECT ?x WHERE { ?x ?p }\n")
    with pytest.raises(UserError, match=r"^query .*broken.rq: SPARQL syntax error: "):
        queries.run(empty_store, queries.resolve(str(path)), {})
    with pytest.raises(UserError, match="SPARQL syntax error"):
        queries.run(empty_store, queries.resolve("SELECT ?x WHERE { ?x }"), {})


def test_ask_and_construct_queries_give_a_boolean_and_triples(sample_store):
    ask = queries.run(sample_store, queries.resolve(f"ASK {{ <{RUN_A}> a <http://www.w3.org/ns/mls#Run> }}"), {})
    assert ask.kind == "boolean" and ask.boolean is True
    construct = queries.run(
        sample_store,
        queries.resolve(
            "PREFIX mlprov: <https://w3id.org/mlprov#>\n"
            "CONSTRUCT { ?run mlprov:plan ?plan } WHERE { ?run mlprov:plan ?plan }"
        ),
        {},
    )
    assert construct.kind == "graph" and len(construct.triples) == 3
    assert construct.columns == ["subject", "predicate", "object"]


# -- answers on the sample store -----------------------------------------------------------


def test_runs_lists_every_run_newest_first_with_status_and_test_accuracy(sample_store):
    result = queries.run(sample_store, LIBRARY["runs"], {})
    assert result.columns[0] == "run"
    assert values(result, "run") == [RUN_C, RUN_B, RUN_A]
    assert values(result, "status") == ["Failed", "Completed", "Completed"]
    assert values(result, "accuracy") == [None, 0.95, 0.9]
    assert values(result, "plan") == [PLAN] * 3
    assert values(result, "plan_title") == ["Iris MLP"] * 3
    assert values(result, "duration") == [12.5] * 3
    assert values(result, "started")[2] == pd.Timestamp("2026-11-23T19:42:01+00:00")


def test_run_params_gives_the_settings_a_run_used_beside_the_planned_value(sample_store):
    result = queries.run(sample_store, LIBRARY["run-params"], {"run": RUN_B})
    assert "run" not in result.columns  # the bound parameter's column is left out
    assert [(r["parameter"], r["value"], r["planned_value"]) for r in records(result)] == [
        ("dataset", "iris", "iris"),
        ("epochs", 100, 100),
        ("learning_rate", 0.05, 0.01),
    ]


def test_run_metrics_gives_evaluations_without_the_epoch_series(sample_store):
    result = queries.run(sample_store, LIBRARY["run-metrics"], {"run": RUN_A})
    m = vocab.MLPROV
    assert [(r["measure"], r["value"], r["split"], r["class"]) for r in records(result)] == [
        (m + "accuracy", 0.9, "test", None),
        (m + "confusion_matrix", "[[10,0,0],[0,9,1],[0,0,10]]", "test", None),
        (m + "f1", 1.0, "test", "setosa"),
    ]


def test_metric_history_gives_the_per_epoch_series_in_order(sample_store):
    result = queries.run(sample_store, LIBRARY["metric-history"], {"run": RUN_A, "metric": "training_loss"})
    assert [(r["epoch"], r["value"]) for r in records(result)] == [(1, 1.5), (2, 0.5)]


def test_run_cells_lists_cell_executions_in_order(sample_store):
    result = queries.run(sample_store, LIBRARY["run-cells"], {"run": RUN_C})
    got = [
        (r["order"], r["label"], r["kind"], r["duration"], r["drifted"], r["status"], r["error"])
        for r in records(result)
    ]
    assert got == [
        (1, "1. parameters", "ParametersCell", 0.5, False, "Completed", None),
        (2, "Load the data", "StepCell", 1.0, False, "Completed", None),
        (3, "Train the model", "StepCell", 3.0, False, "Failed", "ValueError: bad shape"),
    ]
    assert values(result, "step") == [None, PLAN + "#ingest", PLAN + "#train"]


def test_best_runs_filters_by_threshold_and_puts_the_best_first(sample_store):
    best = LIBRARY["best-runs"]
    everything = queries.run(sample_store, best, {})
    assert values(everything, "run") == [RUN_B, RUN_A]
    assert values(everything, "value") == [0.95, 0.9]
    assert values(everything, "learning_rate") == [0.05, 0.01]
    assert values(everything, "epochs") == [100, 100]
    assert values(everything, "plan") == [PLAN, PLAN]
    assert "threshold" not in everything.columns and "metric" not in everything.columns
    assert values(queries.run(sample_store, best, {"threshold": "0.95"}), "run") == [RUN_B]
    assert queries.run(sample_store, best, {"threshold": "0.96"}).rows == []
    assert values(queries.run(sample_store, best, {"metric": "macro_f1"}), "run") == []


def test_plan_io_gives_each_step_its_inputs_and_outputs_in_order(sample_store):
    result = queries.run(sample_store, LIBRARY["plan-io"], {"plan": PLAN})
    assert [(r["position"], r["label"], r["inputs"], r["outputs"]) for r in records(result)] == [
        (1, "Set up", None, None),
        (2, "Load the data", "dataset=iris", "raw data set"),
        (3, "Train the model", "epochs=100, learning_rate=0.01", "trained model"),
    ]


def test_cell_trials_counts_executions_per_step_across_runs(sample_store):
    result = queries.run(sample_store, LIBRARY["cell-trials"], {"plan": PLAN})
    assert [(r["label"], r["executions"], r["mean_duration"]) for r in records(result)] == [
        ("Set up", 0, None),
        ("Load the data", 3, 1.0),
        ("Train the model", 3, 3.0),
    ]
    assert values(result, "last_started")[1] == pd.Timestamp("2026-11-25T12:00:00+00:00")


def test_environment_lists_kernel_language_os_hardware_and_packages(sample_store):
    result = queries.run(sample_store, LIBRARY["environment"], {"run": RUN_A})
    assert [(r["category"], r["name"], r["value"]) for r in records(result)] == [
        ("notebook", "iris.ipynb", "abcd"),
        ("kernel", "python3 (ipykernel 7.4.0)", "7.4.0"),
        ("language", "Python 3.11.7", "3.11.7"),
        ("os", "Linux 6.1 (x86_64)", "6.1"),
        ("hardware", "cpuModel", "Test CPU"),
        ("hardware", "cpuCores", 2),
        ("hardware", "memoryBytes", 25769803776),
        ("package", "torch", "2.14.1"),
    ]


def test_runs_pages_newest_first(sample_store):
    run_c = vocab.run_iri("20261125T120000-0c0ffee0")
    assert values(queries.run(sample_store, LIBRARY["runs"], {}), "run") == [run_c, RUN_B, RUN_A]
    assert values(queries.run(sample_store, LIBRARY["runs"], {"limit": 2}), "run") == [run_c, RUN_B]
    assert values(queries.run(sample_store, LIBRARY["runs"], {"limit": 2, "offset": 2}), "run") == [RUN_A]
    assert values(queries.run(sample_store, LIBRARY["runs"], {"limit": 0, "offset": 1}), "run") == [RUN_B, RUN_A]
    with pytest.raises(UserError, match="limit: '-1' is not a whole number of rows"):
        queries.run(sample_store, LIBRARY["runs"], {"limit": -1})


def test_a_limit_parameter_needs_one_limit_clause(tmp_path):
    with pytest.raises(UserError, match=r"parameter n \(limit\) needs exactly one 'LIMIT n' clause"):
        queries.resolve("# title: T\n# param n (limit) = 5: rows\nSELECT * WHERE { ?s ?p ?o }\n")
    text = "# title: T\n# param n (limit) = 5: rows\nSELECT * WHERE { ?s ?p ?o } # LIMIT 3\nLIMIT 5\n"
    assert "LIMIT 2" in queries.prepare(queries.resolve(text), {"n": 2})[0]


def test_a_result_parameter_names_a_direct_property(sample_store):
    assert values(queries.run(sample_store, LIBRARY["best-runs"], {"metric": "accuracy"}), "run") == [RUN_B, RUN_A]
    assert values(queries.run(sample_store, LIBRARY["best-runs"], {"limit": 1}), "run") == [RUN_B]
    with pytest.raises(UserError, match="is not a result; give a measure such as accuracy"):
        queries.bind(LIBRARY["best-runs"], {"metric": "not a name"})


def test_the_other_library_queries_answer_on_the_sample_store(sample_store):
    by_status = records(queries.run(sample_store, LIBRARY["runs-by-status"], {}))
    assert [(r["status"], r["runs"]) for r in by_status] == [("Completed", 2), ("Failed", 1)]
    drifted = records(queries.run(sample_store, LIBRARY["drifted-cells"], {}))
    assert [(r["run"], r["order"], r["label"], r["reason"]) for r in drifted] == [
        (RUN_B, 3, "Train the model", "code edited"),
        (RUN_B, 4, "4. print(model)", "added by hand"),
    ]
    failed = records(queries.run(sample_store, LIBRARY["failed-cells"], {}))
    assert [(r["run"], r["label"], r["error"]) for r in failed] == [
        (RUN_C, "Train the model", "ValueError: bad shape")
    ]
    plans = records(queries.run(sample_store, LIBRARY["plans"], {}))
    assert [(r["plan"], r["title"], r["author"], r["steps"], r["runs"]) for r in plans] == [
        (PLAN, "Iris MLP", "Ada", 3, 3)
    ]
    compared = records(queries.run(sample_store, LIBRARY["compare-runs"], {"run": RUN_A, "other": RUN_B}))
    assert [(r["kind"], r["name"], r["value"], r["other_value"], r["differs"]) for r in compared] == [
        ("parameter", "dataset", "iris", "iris", False),
        ("parameter", "epochs", 100, 100, False),
        ("parameter", "learning_rate", 0.01, 0.05, True),
        ("metric", "accuracy (test)", 0.9, 0.95, True),
        ("metric", "f1 (test) [setosa]", 1.0, 1.0, False),
    ]
    artifacts = records(queries.run(sample_store, LIBRARY["run-artifacts"], {"run": RUN_A}))
    assert [(r["type"], r["label"], r["samples"]) for r in artifacts] == [
        ("data set", "iris", 150),
        ("model", "MLP 4-50-3 (relu)", None),
    ]


# -- output formats ------------------------------------------------------------------------


def _check_w3c_term(term: dict) -> None:
    assert term["type"] in ("uri", "literal", "bnode")
    assert isinstance(term["value"], str)
    assert set(term) <= {"type", "value", "datatype", "xml:lang"}
    assert not ("datatype" in term and "xml:lang" in term)
    if term["type"] != "literal":
        assert set(term) == {"type", "value"}


def test_sparql_json_has_the_w3c_shape_and_round_trips(sample_store):
    result = queries.run(sample_store, LIBRARY["runs"], {})
    text = queries.to_sparql_json(result)
    document = json.loads(text)
    assert set(document) == {"head", "results"}
    assert document["head"] == {"vars": result.columns}
    assert set(document["results"]) == {"bindings"}
    bindings = document["results"]["bindings"]
    assert len(bindings) == len(result.rows)
    for binding in bindings:
        assert set(binding) <= set(result.columns)
        for term in binding.values():
            _check_w3c_term(term)
    assert "accuracy" not in bindings[0]  # unbound: left out, not null
    assert bindings[1]["run"] == {"type": "uri", "value": RUN_B}
    assert bindings[1]["plan_title"] == {"type": "literal", "value": "Iris MLP"}
    assert bindings[1]["accuracy"] == {
        "type": "literal", "value": "0.95", "datatype": vocab.XSD + "double",
    }
    parsed = ox.parse_query_results(text, format=ox.QueryResultsFormat.JSON)
    assert [v.value for v in parsed.variables] == result.columns
    assert [tuple(solution[c] for c in result.columns) for solution in parsed] == result.rows


def test_sparql_json_writes_language_tags_blank_nodes_and_booleans(sample_store):
    result = queries.QueryResult(
        columns=["a", "b"],
        rows=[(ox.Literal("chat", language="fr"), ox.BlankNode("b0"))],
    )
    document = json.loads(queries.to_sparql_json(result))
    assert document["results"]["bindings"] == [
        {"a": {"type": "literal", "value": "chat", "xml:lang": "fr"}, "b": {"type": "bnode", "value": "b0"}}
    ]
    parsed = ox.parse_query_results(queries.to_sparql_json(result), format=ox.QueryResultsFormat.JSON)
    assert next(iter(parsed))["a"] == ox.Literal("chat", language="fr")
    ask = queries.QueryResult(columns=[], boolean=True)
    assert json.loads(queries.to_sparql_json(ask)) == {"head": {}, "boolean": True}
    assert bool(ox.parse_query_results(queries.to_sparql_json(ask), format=ox.QueryResultsFormat.JSON))


def test_csv_has_a_header_row_full_iris_and_lexical_values(sample_store):
    result = queries.run(sample_store, LIBRARY["runs"], {})
    rows = list(csv.reader(io.StringIO(queries.to_csv(result))))
    assert rows[0] == result.columns
    assert len(rows) == 1 + len(result.rows)
    assert rows[1][0] == RUN_C and rows[1][-1] == ""
    assert rows[2][rows[0].index("accuracy")] == "0.95"
    assert rows[2][rows[0].index("plan")] == PLAN


def test_table_is_aligned_with_compact_iris_and_plain_values(sample_store):
    result = queries.run(sample_store, LIBRARY["run-cells"], {"run": RUN_C})
    table = queries.to_table(result)
    lines = table.splitlines()
    assert lines[0].split() == result.columns
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[-1] == "(3 rows)"
    assert "^^" not in table and "<" not in table and '"' not in table
    assert "StepCell" in table and "mlprov:StepCell" not in table  # short names, as queried
    assert "ValueError: bad shape" in table
    # columns start at the same offset on every line
    start = lines[0].index("label")
    assert all(line[start - 2 : start] == "  " for line in lines[2:-1])
    iris = queries.to_table(queries.run(sample_store, LIBRARY["runs"], {}))
    assert "Iris MLP" in iris and "2026-11-25T12:00:00Z" in iris
    assert queries.compact(vocab.MLPROV + "accuracy") == "mlprov:accuracy"
    assert queries.compact("urn:x") == "urn:x"


def test_table_shortens_long_numbers_and_cells_but_csv_keeps_them():
    result = queries.QueryResult(
        columns=["x", "code"],
        rows=[(ox.Literal(0.9666666666666667), ox.Literal("line one\n" + "y" * 200))],
    )
    table = queries.to_table(result)
    assert "0.966667" in table and "…" in table and "\n" not in table.splitlines()[2]
    assert "0.9666666666666667" in queries.to_csv(result)
    assert queries.to_table(queries.QueryResult(columns=[], boolean=False)) == "false"


def test_dataframe_holds_python_values(sample_store):
    frame = queries.to_dataframe(queries.run(sample_store, LIBRARY["runs"], {}))
    assert list(frame.columns) == ["run", "plan", "plan_title", "task", "dataset", "model", "status", "started",
                                   "duration", "accuracy"]
    assert frame["run"].tolist() == [RUN_C, RUN_B, RUN_A]
    assert math.isnan(frame["accuracy"][0]) and frame["accuracy"][1] == 0.95
    assert pd.api.types.is_float_dtype(frame["duration"])
    assert pd.api.types.is_datetime64_any_dtype(frame["started"])
    assert frame["started"][2] == pd.Timestamp("2026-11-23T19:42:01+00:00")
    cells = queries.to_dataframe(queries.run(sample_store, LIBRARY["run-cells"], {"run": RUN_A}))
    assert cells["order"].tolist() == [1, 2, 3] and cells["drifted"].tolist() == [False] * 3
