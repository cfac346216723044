"""A sweep on Dask against the loop it replaces, side by side, and what a sweep costs per run.

    python benchmarks/sweep_bench.py --json sweep-bench.json

The plan is the multiclass task's scikit-learn logistic regression on Iris; its points are
a 4 × 4 grid of ``logreg_C`` and ``logreg_max_iter`` (16 runs by default). Three figures,
each the wall-clock time of real commands in one invocation:

* the loop: ``mlprov run PLAN -p ... -p ...`` once per point, one after another, into a
  store of its own (what a user does without ``mlprov sweep``);
* the sweep: ``mlprov sweep PLAN -p ... --workers W`` (default 2) into another store, its
  LocalCluster's start and stop included; the speed-up is loop / sweep;
* the sweep's own cost per run: ``mlprov sweep --executor local`` (one after another, no
  Dask) over 4 and over 8 points; the difference divided by 4 is the time one more point
  takes (each size run ``--local-repeat`` times, the fastest kept), set against executing the same generated notebook bare (``execute.execute_notebook``,
  no store, no ingest), the median of ``--bare-repeat`` executions. What is left is what a
  sweep adds to each run: the plan derived and checked, the notebook generated and sent,
  the journal ingested, the sweep's graph rewritten. The command's fixed cost (start-up,
  imports, the plan read, the summary) is what the 4-point sweep took beyond 4 such points.

Kernels run with ``OMP_NUM_THREADS=1`` unless it is set, so that two workers do not fight
over the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlprov_rdf import capture, derive, generate
from mlprov_rdf.execute import execute_notebook
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.tasks import all_tasks

C_VALUES = ("0.01", "0.1", "1", "10")
ITERATIONS = ("25", "50", "100", "200")


def _plan(workdir: Path) -> Path:
    path = write_plan(all_tasks()["multiclass-classification"], workdir / "iris.ttl", title="Iris logistic regression")
    text = path.read_text()
    marker = 'mlprov:parameterName "model" ;\n    prov:value "mlp" .'
    if marker not in text:
        raise SystemExit("the multiclass plan has no model parameter set to mlp; the benchmark needs one to change")
    path.write_text(text.replace(marker, marker.replace('"mlp"', '"logistic_regression"')))
    return path


def _points(runs: int) -> list[tuple[str, str]]:
    return [(c, i) for c in C_VALUES for i in ITERATIONS][:runs]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLPROV_STORE", "MLPROV_JOURNAL_DIR")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _mlprov(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlprov_rdf", *args], cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlprov {' '.join(args)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _grid_args(points: list[tuple[str, str]]) -> list[str]:
    cs = list(dict.fromkeys(c for c, _ in points))
    its = list(dict.fromkeys(i for _, i in points))
    if len(cs) * len(its) != len(points):
        raise SystemExit(f"--runs {len(points)}: give a multiple of {len(ITERATIONS)} so the points form a grid")
    return ["-p", "logreg_C=" + ",".join(cs), "-p", "logreg_max_iter=" + ",".join(its)]


def loop(plan: Path, points: list[tuple[str, str]], store: Path) -> float:
    return sum(_mlprov(["run", str(plan), "-p", f"logreg_C={c}", "-p", f"logreg_max_iter={i}", "--store", str(store)],
                       plan.parent) for c, i in points)


def bare(plan: Path, repeat: int, workdir: Path) -> list[float]:
    """The first point's notebook executed as it is: the kernel and its cells, nothing else."""
    loaded = load(plan)
    derived = derive.derive_plan(loaded.graph, loaded.plan, {"logreg_C": C_VALUES[0], "logreg_max_iter": ITERATIONS[0]})
    notebook = generate.write_notebook(derived.plan, workdir / "bare.ipynb")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    times = []
    for _ in range(repeat + 1):  # the first warms the caches (the kernel's imports) and is not counted
        started = time.perf_counter()
        result = execute_notebook(notebook, workdir / "bare-out.ipynb", journal_dir=workdir / "bare-journal",
                                  run_id=capture.new_run_id())
        times.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"{notebook}: {result.error}")
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16, help="points of the grid (a multiple of 4, at most 16)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bare-repeat", type=int, default=3)
    parser.add_argument("--local-repeat", type=int, default=2, help="local sweeps of each size; the fastest counts")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    points = _points(args.runs)
    with tempfile.TemporaryDirectory(prefix="mlprov-sweep-bench-") as tmp:
        workdir = Path(tmp)
        plan = _plan(workdir)
        bare_s = bare(plan, args.bare_repeat, workdir)
        loop_s = loop(plan, points, workdir / "loop-store")
        sweep_s = _mlprov(["sweep", str(plan), *_grid_args(points), "--workers", str(args.workers),
                           "--store", str(workdir / "sweep-store"), "--force"], workdir)
        local = {n: min(_mlprov(["sweep", str(plan), *_grid_args(_points(n)), "--executor", "local",
                                 "--store", str(workdir / f"local-store-{n}-{k}"), "--force"], workdir)
                        for k in range(args.local_repeat)) for n in (4, 8)}
    per_run = (local[8] - local[4]) / 4
    fixed = local[4] - 4 * per_run
    bare_median = statistics.median(bare_s)
    figures = {
        "runs": len(points),
        "workers": args.workers,
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "loop_s": loop_s,
        "sweep_s": sweep_s,
        "speedup": loop_s / sweep_s,
        "loop_per_run_s": loop_s / len(points),
        "sweep_per_run_s": sweep_s / len(points),
        "bare_notebook_s": bare_s,
        "bare_median_s": bare_median,
        "local_sweep_4_s": local[4],
        "local_sweep_8_s": local[8],
        "local_sweep_per_point_s": per_run,
        "sweep_cost_per_run_s": per_run - bare_median,
        "sweep_fixed_cost_s": fixed,
    }
    rows = [
        (f"{len(points)} runs: mlprov run, one after another", f"{loop_s:.1f} s", f"{loop_s / len(points):.2f} s/run"),
        (f"{len(points)} runs: mlprov sweep, {args.workers} Dask workers", f"{sweep_s:.1f} s",
         f"{sweep_s / len(points):.2f} s/run"),
        ("speed-up (loop / sweep)", f"{loop_s / sweep_s:.2f}x", ""),
        ("bare notebook execution (median)", f"{bare_median:.2f} s", ""),
        ("mlprov sweep --executor local, 4 runs", f"{local[4]:.1f} s", ""),
        ("mlprov sweep --executor local, 8 runs", f"{local[8]:.1f} s", f"{per_run:.2f} s a point more"),
        ("the sweep's own cost per run (a point more - bare)", f"{per_run - bare_median:.2f} s", ""),
        ("the sweep command's fixed cost", f"{fixed:.2f} s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, total, each in rows:
        print(f"{name:<{width}}  {total:>9}  {each}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
