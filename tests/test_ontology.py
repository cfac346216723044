"""The project vocabulary (ontology/mlprov.ttl) and the plan shapes (ontology/shapes.ttl).

Everything is read from the repository's own ontology/ folder, so these tests also prove that
the product works without the reference copies kept outside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import owlrl
import pytest
from pyshacl import validate
from rdflib import OWL, RDF, RDFS, SH, Graph, Literal, Namespace, URIRef

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_DIR = ROOT / "ontology"
MLPROV_TTL = ONTOLOGY_DIR / "mlprov.ttl"
SHAPES_TTL = ONTOLOGY_DIR / "shapes.ttl"
PROV_O_TTL = ONTOLOGY_DIR / "prov-o.ttl"
MLS_TTL = ONTOLOGY_DIR / "mls.ttl"
DATA_MODEL_MD = ROOT / "docs" / "data-model.md"

MLPROV = Namespace("https://w3id.org/mlprov#")
ONTOLOGY_IRI = URIRef("https://w3id.org/mlprov")
PROV = Namespace("http://www.w3.org/ns/prov#")
PPLAN = Namespace("http://purl.org/net/p-plan#")
REPR = Namespace("https://w3id.org/reproduceme#")
MLS = Namespace("http://www.w3.org/ns/mls#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
MLSH = Namespace("https://w3id.org/mlprov/shapes#")
# owlrl records every inconsistency it finds as `[] a err:ErrorMessage ; err:error "..."`
# (owlrl/Closure.py, Core.closure; the namespace is owlrl.Namespaces.ERRNS).
OWLRL_ERR = Namespace("http://www.daml.org/2002/03/agents/agent-ont#")

PREFIXES = """\
@prefix rdf:     <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs:    <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd:     <http://www.w3.org/2001/XMLSchema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix prov:    <http://www.w3.org/ns/prov#> .
@prefix p-plan:  <http://purl.org/net/p-plan#> .
@prefix repr:    <https://w3id.org/reproduceme#> .
@prefix mls:     <http://www.w3.org/ns/mls#> .
@prefix mlprov:  <https://w3id.org/mlprov#> .
@prefix plan:    <https://example.org/plans/iris-mlp#> .
"""

PLAN_IRI = URIRef("https://example.org/plans/iris-mlp")

# A plan written as docs/data-model.md describes it.
WELL_FORMED_PLAN = """
<https://example.org/plans/iris-mlp> a p-plan:Plan, repr:Experiment ;
    dcterms:title "Iris MLP" ;
    dcterms:description "A multilayer perceptron on the iris data." ;
    prov:wasAttributedTo <https://example.org/people/ada> ;
    mlprov:task mlprov:MulticlassClassification .

<https://example.org/people/ada> a prov:Person ; rdfs:label "Ada" .

plan:setup a mlprov:SetupStep ;
    rdfs:label "Set up" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 1 ;
    p-plan:hasInputVar plan:seed .

plan:ingest a mlprov:DataIngestionStep ;
    rdfs:label "Load the data" ;
    dcterms:description "Load the data set." ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 2 ;
    p-plan:isPrecededBy plan:setup ;
    p-plan:hasInputVar plan:dataset ;
    p-plan:hasOutputVar plan:raw-data .

plan:define a mlprov:ModelDefinitionStep ;
    rdfs:label "Define the model" ;
    p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;
    mlprov:position 3 ;
    p-plan:isPrecededBy plan:ingest ;
    p-plan:hasInputVar plan:hidden_layer_sizes, plan:learning_rate, plan:stratify .

plan:seed a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "seed" ;
    prov:value 42 ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

plan:dataset a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "dataset" ;
    prov:value "iris" ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> ;
    rdfs:comment "Which data set to load." .

plan:hidden_layer_sizes a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "hidden_layer_sizes" ;
    prov:value "[50, 50]"^^rdf:JSON ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

plan:learning_rate a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "learning_rate" ;
    prov:value 0.01 ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

plan:stratify a p-plan:Variable, repr:Parameter ;
    mlprov:parameterName "stratify" ;
    prov:value true ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .

plan:raw-data a p-plan:Variable ;
    rdfs:label "raw data set" ;
    p-plan:isVariableOfPlan <https://example.org/plans/iris-mlp> .
"""

# One run of that plan, written as docs/data-model.md describes it.
RUN = """
<urn:mlprov:bundle:R> a p-plan:Bundle, prov:Bundle ;
    prov:wasGeneratedBy <urn:mlprov:run:R> .

<urn:mlprov:run:R> a prov:Activity, repr:Trial, mls:Run ;
    rdfs:label "Iris MLP, run 2026-11-23 19:42:01" ;
    mlprov:plan <https://example.org/plans/iris-mlp> ;
    mlprov:planDigest "00ff" ;
    prov:qualifiedAssociation [ a prov:Association ;
        prov:agent <urn:mlprov:agent:person:ada> ;
        prov:hadPlan <https://example.org/plans/iris-mlp> ] ;
    prov:wasAssociatedWith <urn:mlprov:agent:person:ada>,
        <urn:mlprov:agent:software:mlprov-rdf-0.1.0> ;
    prov:startedAtTime "2026-11-23T19:42:01.123456+00:00"^^xsd:dateTime ;
    prov:endedAtTime "2026-11-23T19:42:13.623456+00:00"^^xsd:dateTime ;
    mlprov:duration 12.5 ;
    mlprov:status mlprov:Completed ;
    mlprov:seed 42 ;
    prov:used <urn:mlprov:run:R/notebook> ;
    repr:hasSetting <urn:mlprov:run:R/kernel>, <urn:mlprov:run:R/python>, <urn:mlprov:run:R/os>,
        <urn:mlprov:run:R/hardware>, <urn:mlprov:run:R/package/torch> ;
    mls:hasInput <urn:mlprov:run:R/setting/learning_rate> ;
    mls:hasOutput <urn:mlprov:run:R/model>, <urn:mlprov:run:R/metric/accuracy> .

<urn:mlprov:agent:person:ada> a prov:Agent, prov:Person ; rdfs:label "ada" .
<urn:mlprov:agent:software:mlprov-rdf-0.1.0> a prov:Agent, prov:SoftwareAgent ;
    rdfs:label "mlprov-rdf 0.1.0" ; mlprov:version "0.1.0" .

<urn:mlprov:run:R/notebook> a prov:Entity, repr:Notebook ;
    rdfs:label "iris.ipynb" ; mlprov:sha256 "ab12" .

<urn:mlprov:run:R/cell/1> a prov:Activity, repr:CellExecution ;
    rdfs:label "1. parameters" ;
    dcterms:isPartOf <urn:mlprov:run:R> ;
    mlprov:executionOrder 1 ;
    mlprov:cellKind mlprov:ParametersCell ;
    prov:wasAssociatedWith <urn:mlprov:run:R/kernel> ;
    mlprov:duration 0.001 ;
    mlprov:codeHash "cd34" ; mlprov:codeDrifted false ;
    mlprov:sourceCode "# mlprov parameters" ;
    mlprov:status mlprov:Completed .

<urn:mlprov:run:R/cell/2> a prov:Activity, repr:CellExecution ;
    rdfs:label "2. Load the data" ;
    dcterms:isPartOf <urn:mlprov:run:R> ;
    p-plan:correspondsToStep <https://example.org/plans/iris-mlp#ingest> ;
    mlprov:executionOrder 2 ;
    mlprov:cellKind mlprov:StepCell ;
    prov:wasInformedBy <urn:mlprov:run:R/cell/1> ;
    prov:wasAssociatedWith <urn:mlprov:run:R/kernel> ;
    prov:startedAtTime "2026-11-23T19:42:02+00:00"^^xsd:dateTime ;
    prov:endedAtTime "2026-11-23T19:42:03+00:00"^^xsd:dateTime ;
    mlprov:duration 0.0123 ;
    mlprov:codeHash "ef56" ; mlprov:codeDrifted true ;
    mlprov:sourceCode "X, y = load()" ;
    mlprov:status mlprov:Failed ;
    mlprov:error "ValueError: bad" .

<urn:mlprov:run:R/setting/learning_rate> a prov:Entity, mls:HyperParameterSetting ;
    rdfs:label "learning_rate = 0.01" ;
    p-plan:correspondsToVariable <https://example.org/plans/iris-mlp#learning_rate> ;
    mlprov:parameterName "learning_rate" ;
    mls:hasValue 0.01 .

<urn:mlprov:run:R/data/iris> a prov:Entity, mls:Dataset ;
    rdfs:label "iris" ;
    dcterms:identifier "iris" ; dcterms:source "sklearn.datasets.load_iris" ;
    mlprov:sha256 "aa" ;
    mlprov:sampleCount 150 ; mlprov:featureCount 4 ; mlprov:classCount 3 ;
    prov:wasGeneratedBy <urn:mlprov:run:R/cell/2> .

<urn:mlprov:run:R/data/iris/train> a prov:Entity, mls:Dataset, mlprov:DataSplit ;
    rdfs:label "iris train split" ; mlprov:splitName "train" ; mlprov:sampleCount 120 ;
    mlprov:sha256 "bb" ;
    prov:wasDerivedFrom <urn:mlprov:run:R/data/iris> .

<urn:mlprov:run:R/model> a prov:Entity, mls:Model ;
    rdfs:label "MLP 4-50-50-3 (relu)" ;
    mlprov:architecture "MLP(...)" ;
    mlprov:parameterCount 2953 ;
    prov:wasDerivedFrom <urn:mlprov:run:R/data/iris/train> .

<urn:mlprov:run:R/metric/accuracy> a prov:Entity, mls:ModelEvaluation ;
    rdfs:label "accuracy = 0.9667" ;
    mls:specifiedBy mlprov:accuracy ;
    mls:hasValue 0.9666666666666667e0 ;
    mlprov:splitName "test" ;
    prov:wasDerivedFrom <urn:mlprov:run:R/model> .

<urn:mlprov:run:R/metric/f1/setosa> a prov:Entity, mls:ModelEvaluation ;
    mls:specifiedBy mlprov:f1 ; mls:hasValue 1.0e0 ; mlprov:forClass "setosa" .

<urn:mlprov:run:R/metric/training_loss/epoch/7> a prov:Entity, mls:ModelEvaluation ;
    mls:specifiedBy mlprov:training_loss ; mls:hasValue 0.25e0 ; mlprov:epoch 7 .

<urn:mlprov:run:R/metric/confusion_matrix> a prov:Entity, mls:ModelEvaluation ;
    mls:specifiedBy mlprov:confusion_matrix ;
    mls:hasValue "[[10,0,0],[0,9,1],[0,0,10]]"^^rdf:JSON .

<urn:mlprov:run:R/kernel> a prov:Entity, prov:SoftwareAgent, repr:Kernel ;
    rdfs:label "python3 (ipykernel 7.4.0)" ; mlprov:version "7.4.0" .
<urn:mlprov:run:R/python> a prov:Entity, repr:ProgrammingLanguage ;
    rdfs:label "Python 3.11.7" ; mlprov:version "3.11.7" .
<urn:mlprov:run:R/os> a prov:Entity, repr:OperatingSystem ;
    rdfs:label "Linux 6.1 (x86_64)" ; mlprov:version "6.1" .
<urn:mlprov:run:R/package/torch> a prov:Entity, repr:Package ;
    rdfs:label "torch 2.14.1" ; mlprov:packageName "torch" ; mlprov:version "2.14.1" .
<urn:mlprov:run:R/hardware> a prov:Entity, mlprov:Hardware ;
    rdfs:label "x86_64, 2 cores, 24.0 GiB" ;
    mlprov:cpuModel "Some CPU" ; mlprov:cpuCores 2 ; mlprov:memoryBytes 25769803776 ;
    mlprov:gpuModel "Some GPU" ; mlprov:cudaVersion "12.4" .
"""


# --------------------------------------------------------------------------- helpers


def _turtle(text: str) -> Graph:
    return Graph().parse(data=PREFIXES + text, format="turtle")


def _ontology() -> Graph:
    return Graph().parse(MLPROV_TTL, format="turtle")


def _with_shipped_vocabularies(graph: Graph) -> Graph:
    """Add the PROV-O and ML-Schema copies that ship in ontology/ (whichever are there)."""
    for path in (PROV_O_TTL, MLS_TTL):
        if path.exists():
            graph.parse(path, format="turtle")
    return graph


def _owl_rl_errors(graph: Graph) -> list[str]:
    """Expand `graph` in place with OWL RL and return the inconsistencies owlrl reported."""
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(graph)
    return sorted(
        str(graph.value(node, OWLRL_ERR.error))
        for node in graph.subjects(RDF.type, OWLRL_ERR.ErrorMessage)
    )


def _english(graph: Graph, subject: URIRef, predicate: URIRef) -> list[Literal]:
    return [
        o
        for o in graph.objects(subject, predicate)
        if isinstance(o, Literal) and o.language == "en" and str(o).strip()
    ]


def _data_model_terms() -> set[str]:
    """Every `mlprov:name` token in docs/data-model.md (not `urn:mlprov:...` IRIs)."""
    text = DATA_MODEL_MD.read_text(encoding="utf-8")
    return set(re.findall(r"(?<![\w:/#.-])mlprov:([A-Za-z_][A-Za-z0-9_]*)", text))


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return _ontology()


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES_TTL, format="turtle")


def _validate_plan(shapes: Graph, plan_text: str):
    conforms, report_graph, report_text = validate(
        _turtle(plan_text), shacl_graph=shapes, inference="none"
    )
    return conforms, report_graph, report_text


# --------------------------------------------------------------------------- the ontology


def test_ontology_parses_and_describes_itself(ontology):
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    assert str(ontology.value(ONTOLOGY_IRI, OWL.versionInfo)) == "0.1.0"
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.title) is not None
    assert ontology.value(ONTOLOGY_IRI, DCTERMS.description) is not None
    assert "MIT" in str(ontology.value(ONTOLOGY_IRI, DCTERMS.license))


def test_owl_rl_closure_of_ontology_with_prov_o_and_ml_schema_is_consistent():
    graph = _with_shipped_vocabularies(_ontology())
    assert _owl_rl_errors(graph) == []


def test_owl_rl_check_reports_a_known_inconsistency():
    # Guards the consistency tests above: owlrl must flag something that is both a PROV
    # activity and a PROV entity (disjoint in PROV-O), here an mls:Run that is an mls:Dataset.
    graph = _with_shipped_vocabularies(_ontology())
    graph += _turtle("<urn:example:x> a mls:Run, mls:Dataset .")
    errors = _owl_rl_errors(graph)
    assert any("Disjoint classes" in e and "urn:example:x" in e for e in errors), errors


def test_data_model_plan_and_run_are_consistent_and_get_the_expected_inferences():
    graph = _with_shipped_vocabularies(_ontology())
    graph += _turtle(WELL_FORMED_PLAN + RUN)
    assert _owl_rl_errors(graph) == []

    ingest = URIRef("https://example.org/plans/iris-mlp#ingest")
    define = URIRef("https://example.org/plans/iris-mlp#define")
    setup = URIRef("https://example.org/plans/iris-mlp#setup")
    dataset = URIRef("https://example.org/plans/iris-mlp#dataset")
    raw = URIRef("https://example.org/plans/iris-mlp#raw-data")
    run = URIRef("urn:mlprov:run:R")
    bundle = URIRef("urn:mlprov:bundle:R")

    # steps are REPRODUCE-ME cells and P-Plan steps
    assert (ingest, RDF.type, REPR.Cell) in graph
    assert (ingest, RDF.type, PPLAN.Step) in graph
    # the plan is a PROV plan and entity
    assert (PLAN_IRI, RDF.type, PROV.Plan) in graph
    assert (PLAN_IRI, RDF.type, PROV.Entity) in graph
    # the inverse P-Plan properties that REPRODUCE-ME queries use
    assert (dataset, PPLAN.isInputVarOf, ingest) in graph
    assert (raw, PPLAN.isOutputVarOf, ingest) in graph
    # isPrecededBy is transitive
    assert (define, PPLAN.isPrecededBy, setup) in graph
    # runs, cells, bundles in PROV terms
    assert (run, RDF.type, PPLAN.Activity) in graph
    assert (URIRef("urn:mlprov:run:R/cell/2"), RDF.type, PPLAN.Activity) in graph
    assert (bundle, RDF.type, PROV.Entity) in graph
    assert (run, PROV.wasInfluencedBy, PLAN_IRI) in graph
    # ML-Schema outputs are PROV entities; a split is a data set
    split = URIRef("urn:mlprov:run:R/data/iris/train")
    assert (split, RDF.type, MLS.Dataset) in graph
    assert (split, RDF.type, PROV.Entity) in graph
    assert (URIRef("urn:mlprov:run:R/metric/accuracy"), RDF.type, PROV.Entity) in graph
    assert (URIRef("urn:mlprov:run:R/hardware"), RDF.type, REPR.Setting) in graph


def test_every_mlprov_term_in_the_data_model_is_defined_with_english_label_and_comment(
    ontology,
):
    terms = _data_model_terms()
    assert len(terms) > 50, "the term scan of docs/data-model.md found too little"
    problems = []
    for name in sorted(terms):
        term = MLPROV[name]
        if (term, RDF.type, None) not in ontology:
            problems.append(f"mlprov:{name} is not defined")
            continue
        if not _english(ontology, term, RDFS.label):
            problems.append(f"mlprov:{name} has no English rdfs:label")
        if not _english(ontology, term, RDFS.comment):
            problems.append(f"mlprov:{name} has no English rdfs:comment")
    assert problems == []


def test_every_term_the_ontology_defines_is_labelled_commented_and_attributed(ontology):
    defined = {s for s in ontology.subjects(RDF.type, None) if str(s).startswith(str(MLPROV))}
    assert defined
    for term in defined:
        assert _english(ontology, term, RDFS.label), term
        assert _english(ontology, term, RDFS.comment), term
        assert (term, RDFS.isDefinedBy, ONTOLOGY_IRI) in ontology, term


def test_named_individuals_belong_to_their_value_classes(ontology):
    expected = {
        MLPROV.Task: {"MulticlassClassification", "ImageClassification"},
        MLPROV.RunStatus: {"Completed", "Failed", "Interrupted"},
        MLPROV.CellKind: {"StepCell", "ParametersCell", "AddedCell"},
        MLS.EvaluationMeasure: {
            "accuracy", "loss", "macro_f1", "f1", "roc_auc_ovr", "confusion_matrix",
            "training_loss", "training_accuracy", "precision", "recall", "mae", "mse",
        },
    }
    for cls, names in expected.items():
        for name in names:
            assert (MLPROV[name], RDF.type, cls) in ontology, f"mlprov:{name} a {cls}"


def test_step_classes_are_reproduce_me_cells(ontology):
    for name in (
        "SetupStep", "DataIngestionStep", "DataPreparationStep", "DataSegregationStep",
        "ModelDefinitionStep", "TrainingStep", "EvaluationStep",
    ):
        assert (MLPROV[name], RDFS.subClassOf, REPR.Cell) in ontology, name


def test_no_p_plan_or_reproduce_me_file_is_bundled_and_no_term_of_theirs_is_redefined(
    ontology,
):
    # Their licence (CC BY-NC-SA) forbids bundling: only our own axioms about their terms.
    for path in ONTOLOGY_DIR.iterdir():
        assert not re.search(r"p-?plan|reproduce", path.name, re.I), path.name
    for term in set(ontology.subjects()):
        if str(term).startswith((str(PPLAN), str(REPR))):
            assert not list(ontology.objects(term, RDFS.label)), term
            assert not list(ontology.objects(term, RDFS.comment)), term


def test_shipped_prov_o_and_ml_schema_parse_and_their_licences_are_stated():
    assert (URIRef("http://www.w3.org/ns/prov#"), RDF.type, OWL.Ontology) in Graph().parse(
        PROV_O_TTL, format="turtle"
    )
    assert (URIRef("http://www.w3.org/ns/mls#"), RDF.type, OWL.Ontology) in Graph().parse(
        MLS_TTL, format="turtle"
    )
    readme = (ONTOLOGY_DIR / "README.md").read_text(encoding="utf-8")
    assert "W3C Document License" in readme
    assert "CC BY 4.0" in readme


# --------------------------------------------------------------------------- the shapes


def test_shapes_graph_is_valid_shacl_and_an_empty_graph_conforms(shapes):
    conforms, _, text = validate(Graph(), shacl_graph=shapes, meta_shacl=True)
    assert conforms, text


def test_every_constraint_has_an_english_message(shapes):
    carriers = set(shapes.subjects(RDF.type, SH.PropertyShape)) | set(
        shapes.subjects(RDF.type, SH.SPARQLConstraint)
    )
    # node shapes that constrain the focus node directly (not only via sh:property/sh:sparql)
    for node_shape in shapes.subjects(RDF.type, SH.NodeShape):
        if (node_shape, SH["class"], None) in shapes or (node_shape, SH.datatype, None) in shapes:
            carriers.add(node_shape)
    assert carriers
    for shape in carriers:
        assert _english(shapes, shape, SH.message), shape


def test_well_formed_plan_conforms(shapes):
    conforms, _, text = _validate_plan(shapes, WELL_FORMED_PLAN)
    assert conforms, text


def _message(shapes: Graph, shape: URIRef) -> str:
    return str(shapes.value(shape, SH.message))


INVALID_PLANS = {
    "two_titles": (
        WELL_FORMED_PLAN + '<https://example.org/plans/iris-mlp> dcterms:title "Another" .',
        MLSH.PlanTitleCountShape,
    ),
    "no_title": (
        WELL_FORMED_PLAN.replace('dcterms:title "Iris MLP" ;', ""),
        MLSH.PlanTitleCountShape,
    ),
    "two_descriptions": (
        WELL_FORMED_PLAN + '<https://example.org/plans/iris-mlp> dcterms:description "more" .',
        MLSH.PlanDescriptionShape,
    ),
    "no_task": (
        WELL_FORMED_PLAN.replace("mlprov:task mlprov:MulticlassClassification", ""),
        MLSH.PlanTaskCountShape,
    ),
    "task_as_string": (
        WELL_FORMED_PLAN.replace(
            "mlprov:task mlprov:MulticlassClassification",
            'mlprov:task "multiclass classification"',
        ),
        MLSH.PlanTaskIRIShape,
    ),
    "decimal_position": (
        WELL_FORMED_PLAN.replace("mlprov:position 2 ;", "mlprov:position 2.5 ;"),
        MLSH.StepPositionValueShape,
    ),
    "quoted_position": (
        WELL_FORMED_PLAN.replace("mlprov:position 2 ;", 'mlprov:position "2" ;'),
        MLSH.StepPositionValueShape,
    ),
    "zero_position": (
        WELL_FORMED_PLAN.replace("mlprov:position 1 ;", "mlprov:position 0 ;"),
        MLSH.StepPositionValueShape,
    ),
    "two_positions": (
        WELL_FORMED_PLAN + "plan:ingest mlprov:position 9 .",
        MLSH.StepPositionCountShape,
    ),
    "duplicate_position": (
        WELL_FORMED_PLAN.replace("mlprov:position 3 ;", "mlprov:position 2 ;"),
        MLSH.StepPositionUniqueConstraint,
    ),
    "step_of_two_plans": (
        WELL_FORMED_PLAN + "plan:ingest p-plan:isStepOfPlan <https://example.org/plans/other> .",
        MLSH.StepPlanShape,
    ),
    "predecessor_is_not_a_step": (
        WELL_FORMED_PLAN.replace("p-plan:isPrecededBy plan:setup", "p-plan:isPrecededBy plan:setpu"),
        MLSH.StepPlanShape,
    ),
    "step_plan_typo": (
        WELL_FORMED_PLAN.replace(
            "p-plan:isStepOfPlan <https://example.org/plans/iris-mlp> ;\n    mlprov:position 3",
            "p-plan:isStepOfPlan <https://example.org/plans/iris-mpl> ;\n    mlprov:position 3",
        ),
        MLSH.PlanTypeShape,
    ),
    "predecessor_literal": (
        WELL_FORMED_PLAN + 'plan:define p-plan:isPrecededBy "setup" .',
        MLSH.StepPredecessorShape,
    ),
    "two_step_labels": (
        WELL_FORMED_PLAN + 'plan:ingest rdfs:label "Load" .',
        MLSH.StepLabelShape,
    ),
    "input_var_literal": (
        WELL_FORMED_PLAN + 'plan:ingest p-plan:hasInputVar "dataset" .',
        MLSH.StepInputVarShape,
    ),
    "output_var_blank_node": (
        WELL_FORMED_PLAN + "plan:ingest p-plan:hasOutputVar [ rdfs:label \"x\" ] .",
        MLSH.StepOutputVarShape,
    ),
    "parameter_name_with_space": (
        WELL_FORMED_PLAN.replace('"learning_rate"', '"learning rate"'),
        MLSH.ParameterNameValueShape,
    ),
    "parameter_name_starting_with_digit": (
        WELL_FORMED_PLAN.replace('"learning_rate"', '"2nd_rate"'),
        MLSH.ParameterNameValueShape,
    ),
    "parameter_without_name": (
        WELL_FORMED_PLAN.replace('mlprov:parameterName "stratify" ;', ""),
        MLSH.ParameterNameCountShape,
    ),
    "two_values": (
        WELL_FORMED_PLAN + "plan:seed prov:value 7 .",
        MLSH.ParameterValueCountShape,
    ),
    "value_is_iri": (
        WELL_FORMED_PLAN.replace('prov:value "iris" ;', "prov:value plan:iris ;"),
        MLSH.ParameterValueCountShape,
    ),
    "value_with_unsupported_datatype": (
        WELL_FORMED_PLAN.replace('prov:value "iris" ;', 'prov:value "iris"@en ;'),
        MLSH.ParameterValueTypeShape,
    ),
    "duplicate_parameter_name": (
        WELL_FORMED_PLAN.replace('"learning_rate"', '"seed"'),
        MLSH.ParameterNameUniqueConstraint,
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_PLANS))
def test_malformed_plan_is_rejected_with_the_shapes_message(shapes, case):
    plan_text, shape = INVALID_PLANS[case]
    assert plan_text != WELL_FORMED_PLAN
    conforms, report, text = _validate_plan(shapes, plan_text)
    assert not conforms
    message = _message(shapes, shape)
    if (shape, RDF.type, SH.SPARQLConstraint) in shapes:
        # SPARQL messages are templates: compare the text before the first {?var}
        message = message.split("{")[0]
        sources = set(report.objects(None, SH.sourceConstraint))
    else:
        sources = set(report.objects(None, SH.sourceShape))
    assert shape in sources, text
    assert message in text
