"""The runs table built from the web store's four real runs: the columns the store's direct
values give, typed; filters, sorts and pages selecting the right runs; the CSV read back by
pandas; bad view parameters refused with one line naming them."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from mlprov_rdf.errors import UserError
from mlprov_rdf.runs_table import load_runs_table


@pytest.fixture(scope="module")
def table(web_store):
    return load_runs_table(web_store.location, timeout_s=60)


def _runs(table, **params) -> list[str]:
    view = table.view({k.replace("__", "."): v if isinstance(v, list) else [v] for k, v in params.items()})
    return list(table.select(view).page["run"])


def test_columns_are_the_settings_and_results_the_runs_record_with_their_types(table):
    types = {name: column.type for name, column in table.columns.items()}
    assert types["epochs"] == "number" and table.columns["epochs"].group == "setting"
    assert types["optimizer"] == "text" and table.columns["optimizer"].choices == ("Adam", "SGD")
    assert types["test:accuracy"] == "number" and table.columns["test:accuracy"].group == "result"
    assert types["all:silhouette"] == "number"
    assert types["stratify"] == "boolean"
    assert types["started"] == "time" and types["duration"] == "number"
    assert types["test:confusion_matrix"] == "json"


def test_every_run_is_one_row_newest_first_with_its_values(table, web_store):
    frame = table.frame.set_index("run")
    assert list(table.frame["run"]) == list(reversed(web_store.runs))
    assert frame.loc[web_store.runs[1], "optimizer"] == "SGD"
    assert frame.loc[web_store.runs[2], "epochs"] == 20
    assert frame.loc[web_store.runs[0], "epochs"] == 12
    assert frame.loc[web_store.runs[0], "plan"] == web_store.plans[0]
    assert frame.loc[web_store.runs[0], "status"] == "Completed"
    assert pd.isna(frame.loc[web_store.runs[3], "test:accuracy"])  # clustering has no test split


def test_a_range_filter_keeps_runs_within_it_and_drops_runs_without_the_value(table, web_store):
    assert _runs(table, min__epochs="15") == [web_store.runs[2]]
    assert set(_runs(table, max__epochs="12")) == {web_store.runs[0], web_store.runs[1]}


def test_alternatives_and_contains_filter_text_columns(table, web_store):
    assert _runs(table, f__optimizer="SGD") == [web_store.runs[1]]
    assert set(_runs(table, f__optimizer=["Adam", "SGD"])) == set(web_store.runs[:3])
    assert _runs(table, q__title="CLUSTERING") == [web_store.runs[3]]
    assert _runs(table, f__stratify="true", f__optimizer="SGD") == [web_store.runs[1]]


def test_sorting_orders_by_value_either_way_with_missing_values_last(table, web_store):
    accuracy = table.frame.set_index("run")["test:accuracy"]
    up = _runs(table, sort="test:accuracy")
    down = _runs(table, sort="-test:accuracy")
    assert up[-1] == down[-1] == web_store.runs[3]  # no test accuracy: last both ways
    assert [accuracy[r] for r in up[:3]] == sorted(accuracy[r] for r in up[:3])
    assert down[:3] == list(reversed(up[:3]))


def test_paging_gives_a_slice_and_the_total_of_matching_rows(table):
    view = table.view({"limit": ["2"], "offset": ["1"], "sort": ["started"]})
    selection = table.select(view)
    assert selection.total == 4 and len(selection.page) == 2 and selection.has_next
    assert list(selection.page["run"]) == list(table.frame["run"])[::-1][1:3]


def test_csv_round_trips_through_pandas_with_the_chosen_columns_filtered_and_sorted(table, web_store):
    view = table.view({"col": ["epochs", "test:accuracy", "optimizer"], "sort": ["-epochs"], "q.title": ["iris"]})
    read = pd.read_csv(io.StringIO(table.csv(view)))
    assert list(read.columns) == ["run", "epochs", "test:accuracy", "optimizer"]
    assert read["run"][0] == web_store.runs[2] and len(read) == 3
    original = table.frame.set_index("run")
    for row in read.to_dict("records"):
        assert row["epochs"] == original.loc[row["run"], "epochs"]
        assert row["test:accuracy"] == pytest.approx(original.loc[row["run"], "test:accuracy"])


@pytest.mark.parametrize(("params", "names"), [
    ({"sort": ["-nope"]}, "sort"),
    ({"min.epochs": ["ten"]}, "min.epochs"),
    ({"min.optimizer": ["1"]}, "min.optimizer"),
    ({"q.epochs": ["1"]}, "q.epochs"),
    ({"f.stratify": ["maybe"]}, "f.stratify"),
    ({"col": ["epochs", "bogus"]}, "col"),
    ({"limit": ["0"]}, "limit"),
    ({"offset": ["-3"]}, "offset"),
    ({"colour": ["red"]}, "colour"),
])
def test_a_bad_view_parameter_is_one_line_naming_it(table, params, names):
    with pytest.raises(UserError) as caught:
        table.view(params)
    message = str(caught.value)
    assert message.startswith(names + ":") and "\n" not in message


def test_blank_form_fields_are_left_out(table):
    view = table.view({"min.epochs": [""], "q.title": ["  "], "f.optimizer": [""]})
    assert view.filters == () and table.select(view).total == 4


def test_a_table_brought_up_to_date_after_new_runs_equals_one_built_anew(tmp_path, executed_run):
    """The runs added since a table was built are read on their own; the result is the
    table a cold build gives, and an unchanged store gives the same table back."""
    from mlprov_rdf.workflow import run
    from tests.conftest import copied_store

    location = copied_store(executed_run, tmp_path)
    before = load_runs_table(location, timeout_s=60)
    assert load_runs_table(location, timeout_s=60, previous=before) is before
    outcome = run(executed_run["plan_file"], location, output=tmp_path / "sgd.ipynb", overrides={"optimizer": "SGD"})
    assert outcome.ok, outcome.error
    updated = load_runs_table(location, timeout_s=60, previous=before)
    fresh = load_runs_table(location, timeout_s=60)
    assert len(updated.frame) == 2 and set(updated.frame["run"]) == {executed_run["outcome"].run, outcome.run}
    assert list(updated.frame.columns) == list(fresh.frame.columns)
    pd.testing.assert_frame_equal(updated.frame, fresh.frame)
    assert updated.columns == fresh.columns
