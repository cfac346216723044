"""Ingest's batch size and compaction against time, peak memory and size on disk.

    python benchmarks/ingest_batches_bench.py --source W/journal --plans W/plans.json \
        --bulk-quads 100000,400000,800000 --compact 100000 --workdir B --json batches.json

For each setting: a fresh embedded store gets the plans (``plans.json`` of a
``store_bench.py --keep`` folder), then, timed, ``ingest.ingest_journals`` of copies of every
journal of ``--source`` with ``ingest.BULK_QUADS`` set to it, with ingest's compaction after
an import that grew the store by a quarter turned off (``--compact``: left on, so that it
happens inside the timing). Reported: the time, the peak
resident size during ingest (Linux VmHWM, reset before it), the store's bytes just after and
again after it has been open 15 s (RocksDB compacts in the background, as in use). Run it
under ``taskset -c N`` to keep it to one core.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_report  # noqa: E402  (beside this file)
from mlprov_rdf import ingest  # noqa: E402
from mlprov_rdf.plan import load  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402

SETTLE_S = 15
default_growth = ingest.COMPACT_GROWTH


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def one(source: list[Path], plans: list[dict], folder: Path, bulk_quads: int, compact: bool) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "journal").mkdir(parents=True)
    for journal in source:
        shutil.copy(journal, folder / "journal" / journal.name)
    location = StoreLocation(folder / "store")
    with open_store(location) as store:
        for plan in plans:
            loaded = load(Path(plan["file"]))
            ingest.store_plan(store, loaded.graph, loaded.plan)
    journals = sorted((folder / "journal").glob("*.nt"))
    subprocess.run(["sync"], check=False)
    Path("/proc/self/clear_refs").write_text("5")
    ingest.BULK_QUADS = bulk_quads
    ingest.COMPACT_GROWTH = default_growth if compact else math.inf
    started = time.perf_counter()
    with open_store(location) as store:
        results = ingest.ingest_journals(store, journals)
    seconds = time.perf_counter() - started
    peak, after = _peak_rss(), _du(location.database)
    with open_store(location):
        time.sleep(SETTLE_S)
    return {"bulk_quads": bulk_quads, "compacted": compact, "runs": len(results),
            "triples": sum(r.triples for r in results), "ingest_s": round(seconds, 2), "peak_rss_bytes": peak,
            "store_bytes": after, "store_bytes_settled": _du(location.database)}


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="journals of --source to ingest (the first N) [all]",
                                 workdir_help="scratch folder [a new temporary one]", reuse_help="(unused)")
    parser.add_argument("--source", type=Path, required=True, help="a folder of plain journals (RUN.nt)")
    parser.add_argument("--plans", type=Path, required=True, help="plans.json of a store_bench.py --keep folder")
    parser.add_argument("--bulk-quads", default="100000,400000,800000", help="BULK_QUADS values, comma-separated")
    parser.add_argument("--compact", default="", help="BULK_QUADS values also timed with ingest's compaction on")
    parser.set_defaults(runs=0)
    args = parser.parse_args(argv)
    source = sorted(args.source.glob("*.nt"))[: args.runs or None]
    plans = json.loads(args.plans.read_text())
    workdir = bench_report.scratch(args.workdir, "mlprov-batches-")
    report = {**bench_report.report_head(__file__, argv), "settings": []}
    settings = [(int(b), False) for b in args.bulk_quads.split(",") if b]
    settings += [(int(b), True) for b in args.compact.split(",") if b]
    for bulk_quads, compact in settings:
        row = one(source, plans, workdir / "run", bulk_quads, compact)
        print(json.dumps(row), flush=True)
        report["settings"].append(row)
    shutil.rmtree(workdir / "run", ignore_errors=True)
    bench_report.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
