"""What provenance capture costs: the same notebooks with capture on and off, side by side.

    python benchmarks/capture_cost.py --repeat 7 --json capture-cost.json

For each task's default plan (the Iris MLP; the small CNN on digits) the generated
notebook runs in a fresh Jupyter kernel, alternately with capture on and with
``MLPROV_CAPTURE=off`` (the same code; ``capture.start`` returns a stand-in that records
nothing); with ``--energy``, also with ``MLPROV_ENERGY=on`` (codecarbon's estimates per
cell, the ``energy`` extra). The figure compared is the time from the first cell's start to the last
cell's end as the kernel reports it, so kernel start-up noise stays out; kernels run
with ``OMP_NUM_THREADS=1`` unless it is set. Runs of one notebook spread by more than the
cost of capture, so each round also runs it once with every call into capture timed inside
the kernel: capture's own share of the run, which no load on the machine hides. Then one
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


#: The kernel's environment in each mode: capture off, capture on, capture on with energy estimates.
MODES = {"off": {"MLPROV_CAPTURE": "off"}, "on": {}, "energy": {"MLPROV_ENERGY": "on"}}


def time_notebook(notebook: Path, journal_dir: Path, mode: str) -> float:
    os.environ.update(MODES[mode])
    try:
        out = notebook.with_name(f"{notebook.stem}-{mode}.ipynb")
        result = execute_notebook(notebook, out, journal_dir=journal_dir, run_id=capture.new_run_id(),
                                  artifact_dir=journal_dir.with_name("artifacts"))
        if not result.ok:
            raise SystemExit(f"{notebook}: {result.error}")
        return _kernel_seconds(out)
    finally:
        for name in MODES[mode]:
            os.environ.pop(name, None)


#: Put before a copy of the notebook's first cell: every method of capture's Run, and
#: ``capture.start``, timed where the notebook calls into capture (a call made from inside
#: capture is part of its caller's time). The wrappers' own cost is counted too, so the
#: figure is an upper bound. The same kernel's last cell prints the sum.
_TIMING_CELL = """\
import functools as _functools, time as _time
from mlprov_rdf import capture as _capture
_capture_seconds, _capture_depth = [0.0], [0]
def _timed(call):
    @_functools.wraps(call)
    def timed(*args, **kwargs):
        _capture_depth[0] += 1
        started = _time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            _capture_depth[0] -= 1
            if not _capture_depth[0]:
                _capture_seconds[0] += _time.perf_counter() - started
    return timed
for _name, _value in list(vars(_capture.Run).items()):
    if callable(_value) and not _name.startswith("__"):
        setattr(_capture.Run, _name, _timed(_value))
_capture.start = _timed(_capture.start)
"""
_REPORT_CELL = 'print("capture seconds", _capture_seconds[0])'


def capture_seconds(notebook: Path, journal_dir: Path) -> tuple[float, float]:
    """Capture's own seconds in one run of the notebook, and the run's kernel seconds."""
    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_TIMING_CELL))
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT_CELL))
    timed = notebook.with_name(f"{notebook.stem}-timed.ipynb")
    nbformat.write(nb, str(timed))
    out = timed.with_name(f"{timed.stem}-out.ipynb")
    result = execute_notebook(timed, out, journal_dir=journal_dir, run_id=capture.new_run_id(),
                              artifact_dir=journal_dir.with_name("artifacts"))
    if not result.ok:
        raise SystemExit(f"{timed}: {result.error}")
    executed = nbformat.read(str(out), as_version=4)
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    return float(text.split()[-1]), _kernel_seconds(out)


def notebook_cost(task: str, workdir: Path, repeat: int, energy: bool = False) -> dict:
    plan_file = write_plan(all_tasks()[task], workdir / f"{task}.ttl")
    notebook = generate.write_notebook(load(plan_file).plan, workdir / f"{task}.ipynb")
    journal_dir = workdir / "journal"
    modes = ["off", "on", "energy"] if energy else ["off", "on"]
    time_notebook(notebook, journal_dir, "on")  # warm-up: caches, compiled bytecode
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    own: list[float] = []  # capture's share of a run, timed inside the kernel
    for _ in range(repeat):
        for mode in modes:  # alternated, so that a change in the machine's load reaches every mode
            seconds[mode].append(time_notebook(notebook, journal_dir, mode))
        inside, total = capture_seconds(notebook, journal_dir)
        own.append(100 * inside / total)
    median = {mode: statistics.median(times) for mode, times in seconds.items()}
    row = {
        "task": task,
        "repeat": repeat,
        "capture_on_s": seconds["on"],
        "capture_off_s": seconds["off"],
        "median_on_s": median["on"],
        "median_off_s": median["off"],
        "overhead_pct": 100 * (median["on"] - median["off"]) / median["off"],
        "capture_share_pct": own,
        "median_capture_share_pct": statistics.median(own),
    }
    if energy:
        row |= {"energy_on_s": seconds["energy"], "median_energy_s": median["energy"],
                "energy_overhead_pct": 100 * (median["energy"] - median["off"]) / median["off"]}
    return row


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
    parser.add_argument("--energy", action="store_true", help="also time capture with energy estimates (needs codecarbon)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        figures = {"notebooks": [notebook_cost(t, workdir, args.repeat, args.energy) for t in args.tasks]}
        figures["log_metric"] = log_metric_cost(workdir, args.calls)
    figures["python"] = sys.version.split()[0]
    figures["cpus"] = os.cpu_count()
    for row in figures["notebooks"]:
        print(
            f"{row['task']:28} capture off {row['median_off_s']:.3f} s   on {row['median_on_s']:.3f} s   "
            f"overhead {row['overhead_pct']:+.2f}%  (median of {row['repeat']}); "
            f"inside capture {row['median_capture_share_pct']:.2f}% of a run"
        )
        if "median_energy_s" in row:
            print(f"{'':28} with energy {row['median_energy_s']:.3f} s   overhead {row['energy_overhead_pct']:+.2f}%")
    lm = figures["log_metric"]
    mlflow_text = f"{lm['mlflow_us']:.1f} µs" if lm.get("mlflow_us") else lm.get("mlflow_note", "")
    print(f"log_metric: mlprov {lm['mlprov_us']:.1f} µs (flushed each call {lm['mlprov_flush_each_us']:.1f} µs); mlflow {mlflow_text}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
