"""A real run: a Jupyter kernel executes the notebook, real torch training, a real store."""

from __future__ import annotations

import hashlib

import nbformat
import pyoxigraph as ox
from sklearn.datasets import load_iris

from mlprov_rdf import vocab
from mlprov_rdf.ingest import ingest_journal
from mlprov_rdf.store import open_store
from tests.conftest import copied_store

PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())


def _select(location, sparql, *, run):
    """Rows of a SELECT whose first column is ?run (Oxigraph binds only projected variables)."""
    with open_store(location) as store:
        solutions = store.query(PREFIXES + sparql.replace("SELECT ", "SELECT ?run ", 1), {"run": ox.NamedNode(run)})
        return [[None if t is None else t.value for t in list(row)[1:]] for row in solutions]


def test_each_executed_code_cell_is_one_cell_execution_tied_to_its_step(executed_run):
    nb = nbformat.read(str(executed_run["outcome"].notebook), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    rows = _select(
        executed_run["location"],
        """SELECT ?order ?step ?kind ?drifted ?status ?start ?end WHERE {
             ?cell dcterms:isPartOf ?run ; mlprov:executionOrder ?order ; mlprov:cellKind ?kind ;
                   mlprov:status ?status ; prov:startedAtTime ?start ; prov:endedAtTime ?end .
             OPTIONAL { ?cell p-plan:correspondsToStep ?step ; mlprov:codeDrifted ?drifted }
           } ORDER BY ?order""",
        run=executed_run["outcome"].run,
    )
    assert len(rows) == len(code_cells)
    steps = [r[1] for r in rows if r[1]]
    assert steps == [s.iri for s in executed_run["plan"].steps]
    assert all(r[3] == "false" for r in rows if r[1])
    assert all(r[4] == vocab.MLPROV + "Completed" for r in rows)
    assert [r[2].rsplit("#")[1] for r in rows[:2]] == ["StepCell", "ParametersCell"]
    assert all(r[5] <= r[6] for r in rows)


def test_run_is_associated_with_plan_and_person_and_completed(executed_run):
    rows = _select(
        executed_run["location"],
        """SELECT ?plan ?agent ?status ?duration WHERE {
             ?run a repr:Trial, mls:Run ; mlprov:status ?status ; mlprov:duration ?duration ;
                  prov:qualifiedAssociation [ prov:hadPlan ?plan ; prov:agent ?agent ] .
           }""",
        run=executed_run["outcome"].run,
    )
    assert len(rows) == 1
    plan, agent, status, duration = rows[0]
    assert plan == executed_run["plan"].iri
    assert agent.startswith(vocab.AGENT_BASE + "person:")
    assert status == vocab.MLPROV + "Completed"
    assert float(duration) > 0


def test_settings_data_model_and_metrics_are_recorded(executed_run):
    location, run = executed_run["location"], executed_run["outcome"].run
    settings = dict(
        _select(
            location,
            "SELECT ?name ?value WHERE { ?run mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?value ; p-plan:correspondsToVariable ?var }",
            run=run,
        )
    )
    assert settings["epochs"] == "30" and settings["optimizer"] == "Adam" and settings["seed"] == "42"
    iris = load_iris()
    expected = hashlib.sha256(
        f"{iris.data.shape}|{iris.data.dtype}|".encode() + iris.data.tobytes()
        + f"{iris.target.shape}|{iris.target.dtype}|".encode() + iris.target.tobytes()
    ).hexdigest()
    data = _select(
        location,
        """SELECT ?sha ?n ?split ?size WHERE {
             ?d a mls:Dataset ; mlprov:sha256 ?sha ; mlprov:sampleCount ?n ; prov:wasGeneratedBy/dcterms:isPartOf ?run .
             ?s prov:wasDerivedFrom ?d ; mlprov:splitName ?split ; mlprov:sampleCount ?size .
           } ORDER BY ?split""",
        run=run,
    )
    assert [(r[0], r[1], r[2], r[3]) for r in data] == [(expected, "150", "test", "30"), (expected, "150", "train", "120")]
    params = _select(location, "SELECT ?count WHERE { ?m a mls:Model ; rdfs:label 'trained model' ; mlprov:parameterCount ?count ; prov:wasGeneratedBy/dcterms:isPartOf ?run }", run=run)
    assert params == [[str(4 * 50 + 50 + 50 * 50 + 50 + 50 * 3 + 3)]]
    metrics = dict(
        _select(
            location,
            "SELECT ?measure ?value WHERE { ?run mls:hasOutput ?e . ?e a mls:ModelEvaluation ; mls:specifiedBy ?measure ; mls:hasValue ?value FILTER NOT EXISTS { ?e mlprov:forClass ?c } }",
            run=run,
        )
    )
    assert 0.8 <= float(metrics[vocab.MLPROV + "accuracy"]) <= 1.0
    assert {vocab.MLPROV + m for m in ("loss", "macro_f1", "roc_auc_ovr", "confusion_matrix")} <= set(metrics)
    epochs = _select(location, "SELECT ?epoch WHERE { ?e mlprov:epoch ?epoch ; mlprov:series ?series ; prov:wasGeneratedBy/dcterms:isPartOf ?run }", run=run)
    assert epochs == [["30"]]  # one series node, its last epoch beside it (tests/test_series.py)


def test_environment_and_hardware_are_recorded(executed_run):
    rows = _select(
        executed_run["location"],
        "SELECT ?label WHERE { ?run repr:hasSetting ?s . ?s rdfs:label ?label }",
        run=executed_run["outcome"].run,
    )
    labels = " | ".join(sorted(r[0] for r in rows))
    for expected in ("Python 3.", "ipykernel", "torch 2.", "numpy ", "scikit-learn ", " cores, "):
        assert expected in labels, expected


def test_ingesting_a_journal_again_changes_nothing(executed_run, tmp_path):
    location, run = copied_store(executed_run, tmp_path), executed_run["outcome"].run  # the shared run stays as it is
    journal = location.journal_dir / f"{vocab.run_id_of(run)}.nt"
    with open_store(location) as store:
        graphs = [ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run))), ox.NamedNode(vocab.ENV_GRAPH)]
        before = [sorted(str(q) for q in store.inner.quads_for_pattern(None, None, None, g)) for g in graphs]
        ingest_journal(store, journal)  # the bundle exists: replaced by one update, the environment added again
        after = [sorted(str(q) for q in store.inner.quads_for_pattern(None, None, None, g)) for g in graphs]
    assert len(before[0]) > 500 and len(before[1]) > 100
    assert before == after
