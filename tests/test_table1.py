"""MLProvCodeGen's Table 1: every field filled, for a run of each task."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from mlprov_rdf.cli import main


def test_table1_fills_every_field_for_an_image_run_and_a_multiclass_run(digits_run, executed_run):
    """The session's image run and Iris run (read only: `mlprov query` writes nothing)."""
    rows, columns = [], None
    for run_iri, home in ((digits_run["run"], digits_run["location"].home),
                          (executed_run["outcome"].run, executed_run["location"].home)):
        result = CliRunner().invoke(
            main, ["query", "table1", "-p", f"run={run_iri}", "--format", "json", "--store", str(home)]
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
    assert by_task["MulticlassClassification"]["training_epochs"]["value"] == str(executed_run["plan"].values()["epochs"])
    assert float(by_task["MulticlassClassification"]["evaluation_seconds"]["value"]) > 0
    for row in rows:  # what the run used: plausible
        cpu, wall = float(row["resources_cpu_seconds"]["value"]), float(row["experiment_seconds"]["value"])
        assert 0 < cpu <= wall * (os.cpu_count() or 1) + 1
        assert int(row["resources_peak_memory_bytes"]["value"]) > 50 * 2**20
        assert row["resources_peak_gpu_memory_bytes"]["value"] == "none"  # no CUDA here
