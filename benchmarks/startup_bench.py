"""How fast mlprov starts: the command line and the kernel-side capture module, beside bare Python.

    python benchmarks/startup_bench.py --repeat 30 --json startup.json

Each repetition runs every case once, in a fresh process, in turn (the order rotates from
one repetition to the next, so no case always follows another): bare ``python -c pass``;
``import mlprov_rdf.capture`` in a fresh interpreter and after ipykernel's modules are
loaded (what a generated notebook's first cell pays in a kernel); ``mlprov --help``;
``mlprov --version``; ``mlprov runs --help``. A case's wall time is from spawning the
process to its exit; for the two imports the interpreter also reports the import alone.
Processes run with compiled bytecode, as an installed package has it: a private
``PYTHONPYCACHEPREFIX`` folder, filled by one warm-up round that is not counted.

``--baseline DIR`` times another version of the package alongside, in the same rounds:
DIR holds its ``mlprov_rdf`` folder, for example from
``git archive REV mlprov_rdf | tar -x -C DIR``; both run as ``python -m mlprov_rdf --help``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

#: Targets in milliseconds, from the issue that set them.
HELP_TARGET_MS = 100.0
CAPTURE_IMPORT_TARGET_MS = 30.0

_TIMED_IMPORT = (
    "import time; t = time.perf_counter(); import mlprov_rdf.capture; "
    "print((time.perf_counter() - t) * 1000)"
)


def _refuse(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit 2."""
    print(f"startup_bench: {message}", file=sys.stderr)
    raise SystemExit(2)


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    target_ms: float | None = None
    reports_import: bool = False  # the process prints its own import time in ms
    pythonpath: str | None = None  # where its mlprov_rdf comes from, when not the installed one


def _mlprov_script() -> str:
    """The console script installed beside this interpreter (the one users type)."""
    beside = Path(sys.executable).with_name("mlprov")
    found = str(beside) if beside.is_file() else shutil.which("mlprov")
    if found is None:
        _refuse("no 'mlprov' command beside this Python or on PATH; install the package first")
    return found


def cases(baseline: Path | None = None) -> list[Case]:
    python, mlprov = sys.executable, _mlprov_script()
    found = [
        Case("python -c pass", [python, "-c", "pass"]),
        Case("import mlprov_rdf.capture", [python, "-c", _TIMED_IMPORT], CAPTURE_IMPORT_TARGET_MS, True),
    ]
    if importlib.util.find_spec("ipykernel") is not None:
        found.append(Case("import mlprov_rdf.capture (ipykernel loaded)",
                          [python, "-c", "import ipykernel.ipkernel; " + _TIMED_IMPORT], CAPTURE_IMPORT_TARGET_MS, True))
    found += [
        Case("mlprov --help", [mlprov, "--help"], HELP_TARGET_MS),
        Case("mlprov --version", [mlprov, "--version"], HELP_TARGET_MS),
        Case("mlprov runs --help", [mlprov, "runs", "--help"], HELP_TARGET_MS),
    ]
    if baseline is not None:
        module_help = [python, "-m", "mlprov_rdf", "--help"]
        found += [
            Case("python -m mlprov_rdf --help", module_help, HELP_TARGET_MS),
            Case("baseline: import mlprov_rdf.capture", [python, "-c", _TIMED_IMPORT], None, True, str(baseline)),
            Case("baseline: python -m mlprov_rdf --help", module_help, None, False, str(baseline)),
        ]
    return found


def run_once(case: Case, env: dict[str, str], cwd: Path) -> tuple[float, float | None]:
    """Wall milliseconds of one process, and the import time it printed (if it prints one)."""
    if case.pythonpath is not None:
        env = {**env, "PYTHONPATH": case.pythonpath}
    start = time.perf_counter()
    done = subprocess.run(case.argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise SystemExit(f"startup_bench: '{case.name}' exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return wall, float(done.stdout.split()[-1]) if case.reports_import else None


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else ordered[0]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


def measure(repeat: int, scratch: Path, baseline: Path | None = None) -> dict:
    """Every case ``repeat`` times, in rotating order; processes start in ``scratch`` (so that
    ``python -c`` finds no package in the working directory) with their bytecode kept there."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    chosen = cases(baseline)
    for case in chosen:  # warm-up: compile bytecode into the prefix folder
        run_once(case, env, scratch)
    walls: dict[str, list[float]] = {c.name: [] for c in chosen}
    imports: dict[str, list[float]] = {c.name: [] for c in chosen if c.reports_import}
    for rep in range(repeat):
        for case in chosen[rep % len(chosen):] + chosen[: rep % len(chosen)]:
            wall, imported = run_once(case, env, scratch)
            walls[case.name].append(wall)
            if imported is not None:
                imports[case.name].append(imported)
    bare = statistics.median(walls[chosen[0].name])
    results = []
    for case in chosen:
        row = {"case": case.name, "command": " ".join(case.argv), "wall_ms": _percentiles(walls[case.name])}
        row["over_bare_p50_ms"] = round(row["wall_ms"]["p50"] - bare, 2)
        if case.reports_import:
            row["import_ms"] = _percentiles(imports[case.name])
        if case.target_ms is not None:
            measured = row["import_ms"]["p50"] if case.reports_import else row["wall_ms"]["p50"]
            row["target_ms"] = case.target_ms
            row["meets_target"] = measured <= case.target_ms
        results.append(row)
    return {"repeat": repeat, "results": results}


def _table(report: dict) -> str:
    lines = [f"{'case':46} {'wall p50':>9} {'p95':>8} {'import p50':>11} {'p95':>8}  target"]
    for row in report["results"]:
        imp = row.get("import_ms")
        target = "" if "target_ms" not in row else f"≤ {row['target_ms']:g} ms: {'met' if row['meets_target'] else 'MISSED'}"
        lines.append(
            f"{row['case']:46} {row['wall_ms']['p50']:9.1f} {row['wall_ms']['p95']:8.1f} "
            f"{imp['p50'] if imp else '':>11} {imp['p95'] if imp else '':>8}  {target}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="Repetitions of every case [default: 30].")
    parser.add_argument("--json", type=Path, help="Write the figures to this file.")
    parser.add_argument("--baseline", type=Path, metavar="DIR", help="A folder holding another version's mlprov_rdf package, timed alongside.")
    args = parser.parse_args()
    if args.repeat < 1:
        _refuse("--repeat must be at least 1")
    if args.baseline is not None and not (args.baseline / "mlprov_rdf" / "__init__.py").is_file():
        _refuse(f"{args.baseline}: no mlprov_rdf package in this folder; extract one with 'git archive REV mlprov_rdf | tar -x -C {args.baseline}'")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mlprov-startup-") as scratch:
        report = measure(args.repeat, Path(scratch), args.baseline.resolve() if args.baseline else None)
    report["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    report["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    print(_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
