"""The example plans in notebooks/: each notebook is what its plan generates, byte for byte,
and each plan runs to Completed on a real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlprov_rdf.generate import notebook_bytes
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.workflow import run

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks"
PLANS = sorted(EXAMPLES.glob("*/*.ttl"))


def test_every_task_has_an_example_plan():
    from mlprov_rdf.tasks import all_tasks

    builtin = {t.name for t in all_tasks().values() if t.source.distribution == "mlprov-rdf"}
    assert builtin <= {plan.parent.name for plan in PLANS}


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_regenerating_an_example_gives_its_notebook_byte_for_byte(plan):
    assert notebook_bytes(load(plan).plan) == plan.with_suffix(".ipynb").read_bytes()


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_an_example_plan_runs_to_completed(plan, tmp_path):
    outcome = run(plan, StoreLocation(tmp_path / "store"), output=tmp_path / "run.ipynb")
    assert outcome.ok and outcome.status == "Completed", outcome.error
