"""What the plan pages show, read from real stores: the web store's four real runs (a hostile
Iris plan, two plans derived from it, a clustering plan), and a stored plan with two code
steps whose step graph branches."""

from __future__ import annotations

import pytest

from mlprov_rdf.plan import from_graph
from mlprov_rdf.plan_record import PlanNotFound, list_plans, read_plan
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.workflow import generate_notebook
from tests.test_code_steps import FEATURE_CODE, code_step_plan
from tests.web_support import HOSTILE_LABEL, HOSTILE_TITLE


def _read(location: StoreLocation, iri: str):
    with open_store(location, create=False, read_only=True) as store:
        return read_plan(store, iri)


@pytest.fixture(scope="module")
def code_plan(tmp_path_factory):
    """A plan with two code steps, stored by `generate` (no run): (store location, plan IRI, typed plan)."""
    root = tmp_path_factory.mktemp("plan-record")
    plan_file, iri = code_step_plan(root / "iris.ttl")
    location = StoreLocation(root / "store")
    generated = generate_notebook(plan_file, root / "iris.ipynb", location)
    return location, iri, generated.plan


def test_the_steps_come_in_the_order_of_the_notebooks_cells(web_store):
    record = _read(web_store.location, web_store.plans[0])
    with open_store(web_store.location, create=False, read_only=True) as store:
        typed = from_graph(store.rdflib_graph(web_store.plans[0]), source="stored plan")
    assert [s.iri for s in record.steps] == [s.iri for s in typed.steps]
    assert [s.index for s in record.steps] == list(range(1, len(typed.steps) + 1))
    assert record.steps[0].label == HOSTILE_LABEL and record.steps[0].kind == "SetupStep"
    assert record.title == HOSTILE_TITLE
    assert record.task == "multiclass-classification" and record.author == "Test Author"


def test_a_branching_step_graph_gives_every_precededby_edge_in_order(code_plan):
    location, iri, typed = code_plan
    record = _read(location, iri)
    assert [s.iri for s in record.steps] == [s.iri for s in typed.steps]
    names = [s.iri.rsplit("#", 1)[1] for s in record.steps]
    assert names == ["setup", "data-ingestion", "data-preparation", "features", "data-segregation",
                     "model-definition", "training", "summary", "evaluation"]
    edges = {(a.rsplit("#", 1)[1], b.rsplit("#", 1)[1]) for a, b in record.edges}
    assert {("data-preparation", "data-segregation"), ("features", "data-segregation"),
            ("data-ingestion", "features"), ("summary", "evaluation")} <= edges
    assert len(record.edges) == 9  # eight steps follow one, the split follows two
    place = {s.iri: s.index for s in record.steps}
    assert all(place[a] < place[b] for a, b in record.edges)


def test_a_code_step_carries_its_code_and_its_input_and_output_variables(code_plan):
    location, iri, _ = code_plan
    steps = {s.iri.rsplit("#", 1)[1]: s for s in _read(location, iri).steps}
    feature = steps["features"]
    assert feature.kind == "CodeStep" and feature.code == FEATURE_CODE
    assert [(v.name, v.value) for v in feature.inputs] == [("factor", "2")]
    assert [v.name for v in feature.outputs] == ["n_features"]
    assert steps["training"].code is None
    assert {v.name for v in steps["summary"].outputs} == {"train_size", "train_share", "model_name", "first_rows"}


def test_variables_hold_the_plan_values_and_the_steps_that_read_them(web_store):
    original = {v.name: v for v in _read(web_store.location, web_store.plans[0]).variables}
    derived = {v.name: v for v in _read(web_store.location, web_store.plans[2]).variables}
    assert original["epochs"].value == "12" and original["epochs"].datatype == "xsd:integer"
    assert derived["epochs"].value == "20"
    assert [s.rsplit("#", 1)[1] for s in original["epochs"].read_by] == ["training"]
    outputs = [v for v in original.values() if v.value is None]
    assert outputs and all(v.written_by and not v.read_by for v in outputs)


def test_the_original_lists_the_two_derived_plans_with_what_each_changes(web_store):
    record = _read(web_store.location, web_store.plans[0])
    assert record.derived_from is None
    assert {d.iri: d.changes for d in record.derived} == {
        web_store.plans[1]: "optimizer = SGD",
        web_store.plans[2]: "epochs = 20",
    }
    assert all(d.title.startswith(HOSTILE_TITLE) for d in record.derived)


def test_a_derived_plan_names_its_original_and_what_it_changes(web_store):
    record = _read(web_store.location, web_store.plans[1])
    assert record.derived_from is not None
    assert (record.derived_from.iri, record.derived_from.title) == (web_store.plans[0], HOSTILE_TITLE)
    assert record.derived_from.changes == "optimizer = SGD"
    assert record.derived == ()


def test_a_plan_lists_its_own_runs_with_status_start_and_headline_result(web_store):
    for index in range(4):
        record = _read(web_store.location, web_store.plans[index])
        assert [r.iri for r in record.runs] == [web_store.runs[index]] and record.run_count == 1
        run = record.runs[0]
        assert run.status == "Completed" and run.started[:2] == "20" and run.duration > 0
        assert isinstance(run.headline, float)
    assert _read(web_store.location, web_store.plans[0]).headline == "accuracy (test)"
    assert _read(web_store.location, web_store.plans[3]).headline == "silhouette (all)"


def test_a_stored_plan_without_runs_has_none(code_plan):
    location, iri, _ = code_plan
    record = _read(location, iri)
    assert record.runs == () and record.run_count == 0 and record.headline == ""


@pytest.mark.parametrize("which", ["unknown", "run bundle"])
def test_an_iri_that_names_no_plan_is_not_found_with_status_404(which, web_store):
    iri = "https://example.org/plans/nothing-here" if which == "unknown" else \
        web_store.runs[0].replace("urn:mlprov:run:", "urn:mlprov:bundle:")
    with pytest.raises(PlanNotFound) as raised:
        _read(web_store.location, iri)
    assert raised.value.http_status == 404
    assert iri in str(raised.value) and "\n" not in str(raised.value)


def test_the_plans_list_puts_each_derived_plan_under_its_original(web_store):
    plans = list_plans(web_store.location, timeout_s=30)
    assert sorted(p.iri for p in plans) == sorted(web_store.plans)
    order = [p.iri for p in plans]
    at = order.index(web_store.plans[0])
    assert set(order[at + 1:at + 3]) == {web_store.plans[1], web_store.plans[2]}
    by_iri = {p.iri: p for p in plans}
    assert [by_iri[p].depth for p in web_store.plans] == [0, 1, 1, 0]
    assert by_iri[web_store.plans[1]].changes == "optimizer = SGD"
    assert by_iri[web_store.plans[2]].derived_from == web_store.plans[0]
    assert all(by_iri[p].runs == 1 and by_iri[p].last_started for p in web_store.plans)
    assert by_iri[web_store.plans[3]].task == "clustering" and by_iri[web_store.plans[3]].steps == 6
