"""Does ingest slow down as the store grows? New runs ingested into stores of different sizes.

    python benchmarks/ingest_growth_bench.py --source W/journal --plans W/plans.json \
        --bases 0,2000,8000 --new 500 --workdir G --json growth.json

For each base size B: a fresh embedded store gets the plans (``plans.json`` of a
``store_bench.py --keep`` folder) and the first B journals of ``--source`` (one import,
timed but not the figure); then, timed, ``ingest.ingest_journals`` (what ``mlprov ingest``
calls) of the next ``--new`` journals, and ``ingest.ingest_journal`` of ``--singles`` more,
one at a time (what ``mlprov run`` does after a run); then the all-runs queries over the
plan of the first run (p50 of ``--reps``). Journals are hard links to the source's (kept as
plain text, so the source is left as it was), so the same runs go into every store.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_report  # noqa: E402  (beside this file)
from bench_report import stats  # noqa: E402
from mlprov_rdf import ingest, queries  # noqa: E402
from mlprov_rdf.plan import load  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402

QUERIES = ("plans", "runs-by-status", "cell-trials", "cq-last-execution", "runs-by-setting", "metric-across-runs")


def _linked(journals: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for journal in journals:
        os.link(journal, folder / journal.name)
    return [folder / j.name for j in journals]


def _time_queries(store, plan: str, reps: int) -> dict:
    library = queries.load_library()
    timed = {}
    for name in QUERIES:
        query = library[name]
        params = {"plan": plan} if any(p.name == "plan" for p in query.params) else {}
        queries.run(store, query, params)  # untimed: the page cache
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            queries.run(store, query, params)
            times.append(time.perf_counter() - started)
        timed[name] = stats(times)
        print(f"    {name:22s} p50 {timed[name]['p50_ms']:9.2f} ms", flush=True)
    return timed


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="(unused)", workdir_help="scratch folder", reuse_help="(unused)")
    parser.add_argument("--source", type=Path, required=True, help="a folder of plain journals (store_bench.py --keep)")
    parser.add_argument("--plans", type=Path, required=True, help="its plans.json")
    parser.add_argument("--bases", default="0,8000", help="runs in the store before the timed ingest [0,8000]")
    parser.add_argument("--new", type=int, default=500, help="runs ingested at once, timed [500]")
    parser.add_argument("--singles", type=int, default=5, help="runs ingested one at a time after them, timed [5]")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each query [5]")
    args = parser.parse_args(argv)
    os.environ[ingest.KEEP_PLAIN_JOURNALS] = "1"  # the linked source journals stay as they are

    bases = [int(b) for b in args.bases.split(",")]
    journals = sorted(p for p in args.source.glob("*.nt"))
    needed = max(bases) + args.new + args.singles
    if len(journals) < needed:
        raise SystemExit(f"{args.source}: {len(journals)} journals, {needed} needed")
    workdir = bench_report.scratch(args.workdir, "mlprov-growth-")
    report: dict = {**bench_report.report_head(__file__, argv), "new": args.new, "singles": args.singles, "stores": {}}
    plans = json.loads(args.plans.read_text())
    for base in bases:
        folder = workdir / f"base-{base}"
        shutil.rmtree(folder, ignore_errors=True)
        location = StoreLocation(folder / "store")
        first = _linked(journals[:base], folder / "journal-base")
        new = _linked(journals[base : base + args.new], folder / "journal-new")
        singles = _linked(journals[base + args.new : base + args.new + args.singles], folder / "journal-singles")
        print(f"store of {base} runs: load avg {os.getloadavg()}", flush=True)
        with open_store(location) as store:
            for plan in plans:
                loaded = load(Path(plan["file"]))
                ingest.store_plan(store, loaded.graph, loaded.plan)
            started = time.perf_counter()
            if first:
                ingest.ingest_journals(store, first)
            base_s = time.perf_counter() - started
            started = time.perf_counter()
            ingest.ingest_journals(store, new)
            new_s = time.perf_counter() - started
            single_times = []
            for journal in singles:
                started = time.perf_counter()
                ingest.ingest_journal(store, journal)
                single_times.append(time.perf_counter() - started)
            print(f"  base {base_s:.1f} s; {args.new} new runs {new_s:.2f} s; one run {stats(single_times)['p50_ms']:.1f} ms",
                  flush=True)
            plan = plans[0]["iri"]
            entry = {"base_ingest_s": round(base_s, 2), "new_ingest_s": round(new_s, 3),
                     "single_ingest": stats(single_times), "queries": _time_queries(store, plan, args.reps)}
        report["stores"][str(base)] = entry
        shutil.rmtree(folder, ignore_errors=True)
    bench_report.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
