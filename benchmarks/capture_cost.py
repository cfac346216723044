"""What provenance capture costs: the same notebooks with capture on and off, side by side.

    python benchmarks/capture_cost.py --repeat 7 --json capture-cost.json

For each task's default plan (the Iris MLP; the small CNN on digits) the generated
notebook runs in a fresh Jupyter kernel, alternately with capture on and with
``MLPROV_CAPTURE=off`` (the same code; ``capture.start`` returns a stand-in that records
nothing). The figure compared is the time from the first cell's start to the last
cell's end as the kernel reports it, so kernel start-up noise stays out; kernels run
with ``OMP_NUM_THREADS=1`` unless it is set. Then one
metric-logging call is timed against MLflow's ``log_metric`` on a local file store,
when mlflow is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

from mlprov_rdf import capture, generate
from mlprov_rdf.execute import execute_notebook
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.tasks import all_tasks


def _kernel_seconds(notebook: Path) -> float:
    """First execute_input to last execute_reply, from nbclient's recorded timings."""
    nb = nbformat.read(str(notebook), as_version=4)
    timings = [c.metadata["execution"] for c in nb.cells if c.cell_type == "code" and "execution" in c.metadata]
    start = datetime.fromisoformat(timings[0]["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(timings[-1]["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def time_notebook(notebook: Path, journal_dir: Path, capture_on: bool) -> float:
    os.environ.pop("MLPROV_CAPTURE", None) if capture_on else os.environ.__setitem__("MLPROV_CAPTURE", "off")
    try:
        out = notebook.with_name(f"{notebook.stem}-{'on' if capture_on else 'off'}.ipynb")
        result = execute_notebook(notebook, out, journal_dir=journal_dir, run_id=capture.new_run_id())
        if not result.ok:
            raise SystemExit(f"{notebook}: {result.error}")
        return _kernel_seconds(out)
    finally:
        os.environ.pop("MLPROV_CAPTURE", None)


def notebook_cost(task: str, workdir: Path, repeat: int) -> dict:
    plan_file = write_plan(all_tasks()[task], workdir / f"{task}.ttl")
    notebook = generate.write_notebook(load(plan_file).plan, workdir / f"{task}.ipynb")
    journal_dir = workdir / "journal"
    time_notebook(notebook, journal_dir, True)  # warm-up: caches, compiled bytecode
    on, off = [], []
    for _ in range(repeat):
        off.append(time_notebook(notebook, journal_dir, False))
        on.append(time_notebook(notebook, journal_dir, True))
    median_on, median_off = statistics.median(on), statistics.median(off)
    return {
        "task": task,
        "repeat": repeat,
        "capture_on_s": on,
        "capture_off_s": off,
        "median_on_s": median_on,
        "median_off_s": median_off,
        "overhead_pct": 100 * (median_on - median_off) / median_off,
    }


def log_metric_cost(workdir: Path, calls: int) -> dict:
    os.environ["MLPROV_JOURNAL_DIR"] = str(workdir / "journal")
    run = capture.Run("https://example.org/plans/bench", "bench", "0" * 64, {}, {})
    started = time.perf_counter()
    for i in range(calls):
        run.log_metric("training_loss", 1.0 / (i + 1), epoch=i, split="train")
    run.flush()
    buffered = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    for i in range(calls):
        run.log_metric("training_loss", 1.0 / (i + 1), epoch=i, split="train")
        run.flush()
    flushed = (time.perf_counter() - started) / calls
    run.close()
    result = {"calls": calls, "mlprov_us": buffered * 1e6, "mlprov_flush_each_us": flushed * 1e6}
    try:
        import mlflow
    except ImportError:
        result["mlflow_us"] = None
        result["mlflow_note"] = "mlflow is not installed"
        return result
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps its file store behind this switch
    mlflow.set_tracking_uri((workdir / "mlruns").absolute().as_uri())
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("bench")
    mlflow_run = client.create_run(experiment)
    started = time.perf_counter()
    for i in range(calls):
        client.log_metric(mlflow_run.info.run_id, "training_loss", 1.0 / (i + 1), step=i)
    result["mlflow_us"] = (time.perf_counter() - started) / calls * 1e6
    result["mlflow_version"] = mlflow.__version__
    return result


def main(argv: list[str] | None = None) -> None:
    # One math thread per kernel: on a small shared machine thread contention, not capture,
    # would otherwise decide the spread between runs.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each notebook in each mode")
    parser.add_argument("--calls", type=int, default=2000, help="metric-logging calls to time")
    parser.add_argument("--tasks", nargs="*", default=[t for t in ("multiclass-classification", "image-classification") if t in all_tasks()])
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        figures = {"notebooks": [notebook_cost(t, workdir, args.repeat) for t in args.tasks]}
        figures["log_metric"] = log_metric_cost(workdir, args.calls)
    figures["python"] = sys.version.split()[0]
    figures["cpus"] = os.cpu_count()
    for row in figures["notebooks"]:
        print(
            f"{row['task']:28} capture off {row['median_off_s']:.3f} s   on {row['median_on_s']:.3f} s   "
            f"overhead {row['overhead_pct']:+.2f}%  (median of {row['repeat']})"
        )
    lm = figures["log_metric"]
    mlflow_text = f"{lm['mlflow_us']:.1f} µs" if lm.get("mlflow_us") else lm.get("mlflow_note", "")
    print(f"log_metric: mlprov {lm['mlprov_us']:.1f} µs (flushed each call {lm['mlprov_flush_each_us']:.1f} µs); mlflow {mlflow_text}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
