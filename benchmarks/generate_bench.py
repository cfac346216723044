"""What `mlprov generate` costs on each built-in task's default plan: the whole command, and
the library work inside it, side by side.

    python benchmarks/generate_bench.py --repeat 7 --json generate-bench.json

For each task (``scaffold.write_plan``: the plan ``mlprov init`` writes) this times

- the command as users run it, ``python -m mlprov_rdf generate PLAN -o NB --store DIR --force``
  in a fresh process (interpreter start, imports, validation, the plan stored, the notebook
  written), after one warm-up run so that the disk cache is warm;
- in this process, after one warm-up call: ``plan.load`` (parse, SHACL shapes, structure and
  parameters) and ``generate.notebook_bytes`` (render the templates), each on its own;
- what every command pays before any work: a process that imports the CLI and exits;
- where a fresh process spends its time: the same work as the command, phase by phase
  (imports, pyshacl's import, ``plan.load``, storing the plan, ``notebook_bytes``), median of
  the repetitions.

The target is under one second for the whole command on a warm machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from mlprov_rdf import generate, plan
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.tasks import all_tasks

TARGET_S = 1.0

#: The command's work in a fresh process, each phase timed; argv: plan file, store folder.
_PHASES = """
import json, sys, time
from pathlib import Path
t = [time.perf_counter()]
from mlprov_rdf import cli, generate, ingest, plan, workflow
from mlprov_rdf.store import StoreLocation, open_store
t.append(time.perf_counter())
import pyshacl
t.append(time.perf_counter())
loaded = plan.load(Path(sys.argv[1]))
t.append(time.perf_counter())
with open_store(StoreLocation(Path(sys.argv[2]))) as store:
    ingest.store_plan(store, loaded.graph, loaded.plan)
t.append(time.perf_counter())
generate.notebook_bytes(loaded.plan)
t.append(time.perf_counter())
names = ["imports", "pyshacl_import", "plan_load", "store_plan", "notebook_bytes"]
print(json.dumps({n: b - a for n, a, b in zip(names, t, t[1:])}))
"""


def _times(action: Callable[[], object], repeat: int) -> list[float]:
    action()  # warm-up: disk cache, lazy imports, template compilation
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        out.append(time.perf_counter() - start)
    return out


def _process(args: list[str]) -> Callable[[], None]:
    def action() -> None:
        subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    return action


def _summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "runs_s": times}


def _phases(plan_file: Path, store: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", _PHASES, str(plan_file), str(store)],
                              check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout))
    return {name: statistics.median(r[name] for r in runs) for name in runs[0]}


def bench_task(task: str, workdir: Path, repeat: int) -> dict:
    plan_file = write_plan(all_tasks()[task], workdir / f"{task}.ttl")
    notebook = workdir / f"{task}.ipynb"
    command = ["-m", "mlprov_rdf", "generate", str(plan_file), "-o", str(notebook),
               "--store", str(workdir / "store"), "--force"]
    loaded = plan.load(plan_file).plan
    return {
        "task": task,
        "command": _summary(_times(_process(command), repeat)),
        "plan_load": _summary(_times(lambda: plan.load(plan_file), repeat)),
        "notebook_bytes": _summary(_times(lambda: generate.notebook_bytes(loaded), repeat)),
        "notebook_bytes_size": len(generate.notebook_bytes(loaded)),
        "fresh_process_phases_s": _phases(plan_file, workdir / "store", repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions of each measurement")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--task", action="append", help="only this task (repeatable) [default: every built-in task]")
    args = parser.parse_args()
    tasks = args.task or sorted(all_tasks())
    with tempfile.TemporaryDirectory(prefix="mlprov-generate-bench-") as tmp:
        workdir = Path(tmp)
        startup = _summary(_times(_process(["-c", "import mlprov_rdf.cli"]), args.repeat))
        results = [bench_task(task, workdir, args.repeat) for task in tasks]
    report = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "repeat": args.repeat,
        "cli_import": startup,
        "tasks": results,
    }
    print(f"importing the CLI in a fresh process: median {startup['median_s']:.3f} s, min {startup['min_s']:.3f} s")
    print(f"{'task':<28} {'command (s)':>12} {'min':>7} {'plan.load':>10} {'notebook_bytes':>15}  target {TARGET_S:g} s")
    for r in results:
        command = r["command"]
        verdict = "met" if command["median_s"] < TARGET_S else "MISSED"
        print(f"{r['task']:<28} {command['median_s']:>12.3f} {command['min_s']:>7.3f} "
              f"{r['plan_load']['median_s']:>10.3f} {r['notebook_bytes']['median_s']:>15.3f}  {verdict}")
    print("a fresh process, phase by phase (s, medians):")
    for r in results:
        print(f"  {r['task']:<26} " + "  ".join(f"{k} {v:.3f}" for k, v in r["fresh_process_phases_s"].items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
