"""The run record (`mlprov_rdf.run_record`) read from real stores: what it says agrees with the
canned queries (`mlprov query run-params`, `run-metrics`), and a run imported from
MLProvCodeGen, a clustering run and a reproduced run all give a full record; the record kept
at ingest (`mlprov:runRecord`) is the record the whole bundle gives, value by value and type
by type."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import pyoxigraph as ox
import pytest

from mlprov_rdf import queries, run_record, vocab
from mlprov_rdf.legacy import import_file
from mlprov_rdf.reproduce import reproduce
from mlprov_rdf.plan_results import read_family_points, read_plan_family
from mlprov_rdf.run_record import RunNotFound, read_run_record
from mlprov_rdf.store import StoreLocation, open_store
from tests.conftest import copied_store
from tests.web_support import HOSTILE_LABEL, HOSTILE_TITLE, get, live_server

LEGACY_FILE = Path(__file__).parent / "data" / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json"


def _record(location: StoreLocation, run: str):
    with open_store(location, create=False, read_only=True) as store:
        return read_run_record(store, run)


def _query_rows(location: StoreLocation, name: str, run: str) -> list[dict]:
    with open_store(location, create=False, read_only=True) as store:
        result = queries.run(store, queries.resolve(name), {"run": run})
    return [dict(zip(result.columns, (queries.python_value(t) for t in row))) for row in result.rows]


def test_settings_are_the_values_run_params_lists(web_store):
    for run in web_store.runs:
        record = _record(web_store.location, run)
        expected = {row["parameter"]: row["value"] for row in _query_rows(web_store.location, "run-params", run)}
        assert record.settings == expected and expected


def test_results_are_the_rows_run_metrics_lists(web_store):
    for run in web_store.runs:
        record = _record(web_store.location, run)
        expected = {(queries.compact(row["measure"]).split(":", 1)[1], row["split"], row["class"]): row["value"]
                    for row in _query_rows(web_store.location, "run-metrics", run)}
        got = {(r.measure, r.split, r.for_class): (json.dumps(r.value) if isinstance(r.value, list) else r.value)
               for r in record.results}
        expected = {key: (json.dumps(json.loads(v)) if key[0] == "confusion_matrix" else v) for key, v in expected.items()}
        assert got == expected and expected


def test_the_per_epoch_series_has_one_value_per_epoch(web_store):
    for run, epochs in ((web_store.runs[0], 12), (web_store.runs[2], 20)):
        record = _record(web_store.location, run)
        (loss,) = [s for s in record.series if s.measure == "training_loss"]
        assert loss.split == "train" and loss.epochs == list(range(1, epochs + 1)) and len(loss.values) == epochs
        assert record.settings["epochs"] == epochs


def test_cells_come_in_execution_order_with_their_code_and_the_hostile_label_as_text(web_store):
    record = _record(web_store.location, web_store.runs[0])
    orders = [c.order for c in record.cells]
    assert orders == list(range(1, len(orders) + 1)) and len(orders) >= 7
    assert HOSTILE_LABEL in record.cells[0].label
    assert record.cells[1].kind == "ParametersCell"
    steps = [c for c in record.cells if c.kind == "StepCell"]
    assert all(c.code and c.status == "Completed" and c.step and not c.drifted for c in steps)
    assert record.plan_title == HOSTILE_TITLE and record.status == "Completed"


def test_a_derived_plans_run_names_the_plan_it_was_derived_from(web_store):
    record = _record(web_store.location, web_store.runs[1])
    assert record.plan == web_store.plans[1]
    assert record.derived_from == [(web_store.plans[0], HOSTILE_TITLE)]
    assert record.settings["optimizer"] == "SGD"
    assert _record(web_store.location, web_store.runs[0]).derived_from == []


def test_who_when_environment_and_lineage_are_read(web_store):
    record = _record(web_store.location, web_store.runs[0])
    assert {a.kind for a in record.agents} == {"person", "software"}
    assert record.started < record.ended and record.duration > 0
    env = record.environment
    assert env.language.startswith("Python 3") and env.kernel and env.hardware and len(env.packages) > 5
    assert any(name == "torch" for name, _ in env.packages)
    kinds = {e.kind for e in record.entities}
    assert {"data set", "data split", "model", "figure"} <= kinds
    train = next(e for e in record.data if e.details.get("split") == "train")
    assert len(train.sha256) == 64 and train.derived_from == (record.data[0].iri,)
    trained = next(m for m in record.models if m.label == "trained model")
    assert train.iri in trained.derived_from and trained.details["parameters"] > 0


def test_a_figure_is_the_file_the_run_wrote_with_the_recorded_hash(web_store):
    (figure,) = _record(web_store.location, web_store.runs[0]).figures
    assert figure.label == "loss curve" and figure.readable() and figure.content_matches()
    assert figure.path.suffix == ".png"


def test_a_clustering_run_has_results_on_all_points_and_no_series(web_store):
    record = _record(web_store.location, web_store.runs[3])
    assert record.series == [] and record.derived_from == []
    assert {r.split for r in record.results} == {"all"}
    assert any(r.measure == "cluster_count" for r in record.results)
    assert [f.label for f in record.figures] == ["cluster scatter"]


def test_an_unknown_run_is_not_found(web_store):
    with pytest.raises(RunNotFound, match="not in this store"):
        _record(web_store.location, "urn:mlprov:run:20000101T000000-00000000")
    with pytest.raises(RunNotFound):
        _record(web_store.location, web_store.plans[0])


def test_a_plans_family_holds_the_runs_of_its_derived_plans_and_their_values(web_store):
    with open_store(web_store.location, create=False, read_only=True) as store:
        family = read_plan_family(store, web_store.plans[0])
        only_derived = read_plan_family(store, web_store.plans[1])
        points = read_family_points(store, family, "epochs", "test:accuracy")
        optimizers = read_family_points(store, family, "optimizer", "train:training_accuracy")
    assert sorted(r.run for r in family.runs) == sorted(web_store.runs[:3])
    assert [r.run for r in only_derived.runs] == [web_store.runs[1]]
    assert sorted(family.settings["epochs"]) == [12, 12, 20] and "test:accuracy" in family.results
    assert "test:confusion_matrix" not in family.results  # a JSON value, nothing to plot
    accuracy = {row["measure"]: row["value"] for row in _query_rows(web_store.location, "run-metrics", web_store.runs[2])
                if row["class"] is None}
    by_run = {p.run.run: p for p in points}
    assert len(points) == 3 and by_run[web_store.runs[2]].x == 20
    assert by_run[web_store.runs[2]].y == accuracy["https://w3id.org/mlprov#accuracy"]
    assert {p.run.run: p.x for p in optimizers}[web_store.runs[1]] == "SGD"


@pytest.fixture(scope="module")
def reproduced_legacy(tmp_path_factory):
    """A run imported from MLProvCodeGen, and its reproduction by a real run (one notebook run)."""
    root = tmp_path_factory.mktemp("legacy-record")
    location = StoreLocation(root / "store")
    imported = import_file(LEGACY_FILE, location, output=root / "legacy.ttl")
    reproduction = reproduce(imported.run, location, directory=root / "reproduce")
    return location, imported.run, reproduction


def test_a_legacy_run_records_its_import_and_has_cells_without_code(reproduced_legacy):
    location, run, _ = reproduced_legacy
    record = _record(location, run)
    assert record.legacy and record.import_notes and record.status == "Completed"
    assert record.cells and all(c.code is None for c in record.cells)
    assert record.settings and record.results


def test_reproduction_verdicts_are_read_from_both_runs(reproduced_legacy):
    location, run, reproduction = reproduced_legacy
    (original,) = _record(location, run).verdicts
    assert original.role == "reproduced by" and original.other_run == reproduction.new_run
    assert original.reproduced is reproduction.reproduced is False  # MLProvCodeGen seeded no torch generator
    assert len(original.checks) == len(reproduction.checks)
    assert {c.name for c in original.failed} == {c.name for c in reproduction.checks if c.reproduced is False}
    (new,) = _record(location, reproduction.new_run).verdicts
    assert new.role == "reproduces" and new.other_run == run


def test_the_run_pages_of_a_legacy_run_and_its_reproduction_render(reproduced_legacy):
    location, run, reproduction = reproduced_legacy
    with live_server(location) as base:
        status, _, body = get(base + "/run/" + run.rsplit(":", 1)[1])
        assert status == 200
        text = body.decode()
        assert "imported from MLProvCodeGen" in text and "No code recorded." in text
        assert 'id="reproductions"' in text and "NOT reproduced" in text and reproduction.new_run in text
        status, _, body = get(base + "/run/" + reproduction.new_run.rsplit(":", 1)[1])
        assert status == 200 and "reproduces" in body.decode()


# -- the record kept at ingest -----------------------------------------------------------------


def _typed(value):
    """A value with the type of each of its parts, in order: 1, 1.0 and True differ, as on a page."""
    if is_dataclass(value):
        return type(value).__name__, [(f.name, _typed(getattr(value, f.name))) for f in fields(value)]
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_typed(v) for v in value]
    if isinstance(value, dict):
        return "dict", [(k, _typed(v)) for k, v in value.items()]
    if isinstance(value, float) and math.isnan(value):
        return "float", "nan"
    return type(value).__name__, value


def _kept_literal(store, run: str) -> str | None:
    bundle = ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run)))
    rows = list(store.query(run_record.KEPT_RECORD, {"graph": bundle, "run": ox.NamedNode(run)}))
    return rows[0]["record"].value if rows else None


def _kept_and_whole(location: StoreLocation, run: str):
    """The record as the run page reads it, the one from the bundle read whole, and the literal."""
    with open_store(location, create=False, read_only=True) as store:
        kept = read_run_record(store, run)
        whole = run_record._bundle_record(store, run, kept.bundle)
        literal = _kept_literal(store, run)
    return kept, replace(whole, plan_title=kept.plan_title, derived_from=kept.derived_from, verdicts=kept.verdicts), literal


def test_the_record_kept_at_ingest_is_the_record_the_whole_bundle_gives(web_store, executed_run, digits_run,
                                                                         reproduced_legacy):
    legacy_location, _, reproduction = reproduced_legacy
    runs = [(web_store.location, run) for run in web_store.runs] + [
        (executed_run["location"], executed_run["outcome"].run), (digits_run["location"], digits_run["run"]),
        (legacy_location, reproduction.new_run)]
    for location, run in runs:
        kept, whole, literal = _kept_and_whole(location, run)
        assert literal is not None, run
        for f in fields(kept):
            assert _typed(getattr(kept, f.name)) == _typed(getattr(whole, f.name)), (run, f.name)
        assert kept.results and kept.cells and kept.environment.packages, run
        code = [c.code for c in kept.cells if c.code and len(c.code) > 60]
        assert code and not any(text in literal for text in code), run  # the code is read apart, not kept twice
        assert json.dumps(json.loads(literal), sort_keys=True, separators=(",", ":")) == literal


def test_a_run_without_a_kept_record_is_read_from_its_bundle(executed_run, tmp_path):
    """A store written before runs kept their record, or a run an import wrote."""
    run = executed_run["outcome"].run
    kept, _, _ = _kept_and_whole(executed_run["location"], run)
    location = copied_store(executed_run, tmp_path)
    with open_store(location) as store:
        store.inner.update(f"DELETE WHERE {{ GRAPH ?g {{ ?run <{vocab.RUN_RECORD}> ?record }} }}")
        assert _kept_literal(store, run) is None
    assert _typed(_record(location, run)) == _typed(kept)


def test_an_imported_legacy_run_keeps_no_record_and_is_read_whole(reproduced_legacy):
    location, run, _ = reproduced_legacy
    with open_store(location, create=False, read_only=True) as store:
        assert _kept_literal(store, run) is None
    assert _record(location, run).legacy


def test_kept_values_come_back_with_their_type_and_order():
    values = [None, True, 0, 1, 10**30, 0.1, -0.0, 1.0, math.inf, -math.inf, math.nan, "", "0.1", "zoé \\ \"",
              {"b": 1, "a": [1.5, {"z": 0, "y": True}]}, [3, 1, 2], []]
    for value in values:
        back = run_record._unvalue(json.loads(json.dumps(run_record._value(value), allow_nan=False)))
        assert _typed(back) == _typed(value), value
    import pandas as pd

    with pytest.raises(ValueError):  # a date as pandas reads it: the run keeps no record, its bundle is read
        run_record._value(pd.Timestamp("2026-01-01"))
