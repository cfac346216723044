"""What the store benchmarks share: their common options, the report's head (the command, the
machine, its load), percentiles, and writing the JSON.

Imported as ``bench_report`` by the scripts beside it (run as ``python benchmarks/X.py``,
which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path


def parser(doc: str, *, runs_help: str, workdir_help: str, reuse_help: str,
           json_required: bool = True) -> argparse.ArgumentParser:
    """The options every such benchmark takes: --runs, --json, --workdir, --reuse, --make-workers."""
    found = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    found.add_argument("--runs", type=int, default=1000, help=runs_help)
    found.add_argument("--json", type=Path, required=json_required, default=None, help="where to write the results")
    found.add_argument("--workdir", type=Path, default=None, help=workdir_help)
    found.add_argument("--reuse", action="store_true", help=reuse_help)
    found.add_argument("--make-workers", type=int, default=os.cpu_count() or 1, help="processes making runs")
    return found


def scratch(workdir: Path | None, prefix: str) -> Path:
    """``--workdir``, or a new temporary folder."""
    folder = workdir or Path(tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report_head(script: str, argv: list[str] | None, **versions: str) -> dict:
    """The command that produced the report, and the machine with its load at the start."""
    return {
        "command": f"python benchmarks/{Path(script).name} " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    **versions, "load_average_start": os.getloadavg()},
    }


def write_report(report: dict, path: Path) -> None:
    """The report as JSON, with the load at its end."""
    report["machine"]["load_average_end"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile, interpolated between the two nearest values."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stats(times: list[float]) -> dict:
    """p50 and p95 in milliseconds of times in seconds, and how many."""
    return {"p50_ms": round(percentile(times, 0.5) * 1000, 3), "p95_ms": round(percentile(times, 0.95) * 1000, 3),
            "n": len(times)}
