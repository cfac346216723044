"""The Python API: `from mlprov_rdf.api import open_store`, on two real runs."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from mlprov_rdf import api
from mlprov_rdf.errors import UserError
from tests.test_queries_real_runs import make_two_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return make_two_runs(tmp_path_factory)


def test_runs_and_queries_come_back_as_data_frames_of_python_values(runs):
    with api.open_store(runs["location"].home) as prov:
        frame = prov.runs()
        assert frame["run"].tolist() == [runs["b"], runs["a"]]
        assert pd.api.types.is_datetime64_any_dtype(frame["started"])
        assert str(frame["started"].dt.tz) == "UTC"
        assert pd.api.types.is_float_dtype(frame["accuracy"]) and pd.api.types.is_float_dtype(frame["duration"])
        params = prov.query("run-params", run=runs["a"]).set_index("parameter")["value"]
        assert params["epochs"] == 8 and isinstance(params["epochs"], int)
        assert params["learning_rate"] == 0.01 and params["optimizer"] == "Adam"
        assert params["stratify"] is True
        cells = prov.query("run-cells", run=runs["b"])
        assert cells["order"].tolist() == list(range(1, 10))
        assert cells["drifted"].tolist()[-2] is True  # the edited evaluation cell


def test_parameters_are_python_values_and_lists(runs):
    with api.open(runs["location"].home) as prov:  # api.open is open_store
        found = prov.query("runs-by-setting", optimizer=["Adam", "SGD"], min_learning_rate=1e-3, max_epochs=8)
        assert sorted(found["run"]) == sorted([runs["a"], runs["b"]])
        assert found["learning_rate"].tolist() == [0.01, 0.01] and found["epochs"].tolist() == [8, 8]
        assert prov.query("runs-by-setting", optimizer="SGD").empty
        best = prov.query("best-runs", metric="accuracy", threshold=0.5, plan=None)
        assert len(best) == 2 and best["value"].between(0.5, 1).all()
        count = prov.query("SELECT (COUNT(?r) AS ?n) WHERE { ?r a <http://www.w3.org/ns/mls#Run> }")
        assert count["n"].tolist() == [2]
        with pytest.raises(UserError, match="not an absolute IRI"):
            prov.query("run-params", run="run A; DROP ALL")
        with pytest.raises(UserError, match="unknown parameter"):
            prov.query("runs", run=runs["a"])


def test_diff_and_the_library(runs):
    with api.open_store(str(runs["location"].home)) as prov:
        changes = prov.diff(runs["a"], runs["b"])
        library = prov.library()
    frame = changes.to_dataframe()
    assert list(frame.columns) == ["group", "step", "kind", "name", "a", "b", "same"]
    edited = frame[(frame["name"] == "code sha256") & ~frame["same"]]
    assert edited["group"].tolist()[0] == "7. Evaluate the model"
    assert frame[frame["kind"] == "setting"]["same"].all()
    assert {"runs-by-setting", "model-lineage", "cq-last-execution"} <= set(library["name"])


def test_a_folder_without_a_store_is_an_error_not_a_new_store(tmp_path):
    with pytest.raises(UserError, match="no mlprov store here"):
        with api.open_store(tmp_path / "nothing"):
            pass
    assert not (tmp_path / "nothing").exists()


def test_importing_the_package_stays_free_of_the_api():
    code = "import sys, mlprov_rdf, mlprov_rdf.capture; print('pandas' in sys.modules, 'mlprov_rdf.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
