"""MLProvCodeGen's Table 1: every field filled, for a run of each task."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import run
from tests.conftest import make_plan


def test_table1_fills_every_field_for_an_image_run_and_a_multiclass_run(tmp_path):
    location = StoreLocation(tmp_path / "store")
    image_plan = write_plan(all_tasks()["image-classification"], tmp_path / "digits.ttl")
    multiclass_plan = make_plan(tmp_path / "iris.ttl", epochs="5")
    rows, columns = [], None
    for plan in (image_plan, multiclass_plan):
        outcome = run(plan, location)
        assert outcome.ok, outcome.error
        result = CliRunner().invoke(
            main, ["query", "table1", "-p", f"run={outcome.run}", "--format", "json", "--store", str(location.home)]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        columns = data["head"]["vars"]
        rows += data["results"]["bindings"]
    assert len(rows) == 2
    for row in rows:
        missing = [v for v in columns if v not in row or row[v]["value"] == ""]
        assert not missing, missing
    tasks = sorted(row["experiment_task"]["value"] for row in rows)
    assert tasks == ["ImageClassification", "MulticlassClassification"]
    by_task = {row["experiment_task"]["value"]: row for row in rows}
    assert by_task["ImageClassification"]["ingestion_dataset"]["value"] == "digits"
    assert by_task["MulticlassClassification"]["training_epochs"]["value"] == "5"
    assert float(by_task["MulticlassClassification"]["evaluation_seconds"]["value"]) > 0
    for row in rows:  # what the run used: plausible
        cpu, wall = float(row["resources_cpu_seconds"]["value"]), float(row["experiment_seconds"]["value"])
        assert 0 < cpu <= wall * (os.cpu_count() or 1) + 1
        assert int(row["resources_peak_memory_bytes"]["value"]) > 50 * 2**20
        assert row["resources_peak_gpu_memory_bytes"]["value"] == "none"  # no CUDA here
