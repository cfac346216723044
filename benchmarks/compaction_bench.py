"""One run's questions on a store as ingest left it against the same store compacted.

    python benchmarks/compaction_bench.py --store W/mlprov-store --workdir C --json compaction.json

Copies the database of ``--store`` (a ``store_bench.py --keep`` or ``mlflow_compare.py``
folder's ``mlprov-store``, written before ingest compacted large imports) into ``--workdir``,
compacts the copy as ingest now does (``Store.compact``, timed), then asks each question
about one run alternately of the two, the same random runs for both, in this process
(``queries.run`` and ``read_run_record``, what the API's query process calls). Both copies
are read once before timing, so that both start in the page cache (where both do not fit,
the one read last has more of it: ``--read-last`` says which; ``--reuse`` times the copy an
earlier invocation left in ``--workdir`` again).
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_report  # noqa: E402  (beside this file)
from mlprov_rdf import queries  # noqa: E402
from mlprov_rdf.run_record import read_run_record  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402

#: The per-run library queries asked, with what they take beside the run.
QUESTIONS = {"run-params": {}, "run-metrics": {}, "run-cells": {}, "run-artifacts": {},
             "metric-history": {"metric": "loss"}}
_RUNS = "SELECT ?run WHERE { ?run a <http://www.w3.org/ns/mls#Run> }"


def _read_all(database: Path) -> None:
    for path in database.iterdir():
        if path.is_file():
            with path.open("rb") as file:
                while file.read(1 << 24):
                    pass


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="(unused)", workdir_help="where the compacted copy goes [a new temporary one, removed]",
                                 reuse_help="time the compacted copy already in --workdir")
    parser.add_argument("--read-last", choices=["as_is", "compacted"], default="compacted",
                        help="the copy read into the page cache last [compacted]")
    parser.add_argument("--store", type=Path, required=True, help="the store folder to measure (not changed)")
    parser.add_argument("--reps", type=int, default=150, help="runs asked about, each question [150]")
    args = parser.parse_args(argv)
    workdir = bench_report.scratch(args.workdir, "mlprov-compaction-")
    as_is, copy = StoreLocation(args.store), StoreLocation(workdir / "compacted")
    report = {**bench_report.report_head(__file__, argv), "reps": args.reps}
    try:
        if not args.reuse:
            shutil.rmtree(copy.home, ignore_errors=True)
            shutil.copytree(as_is.database, copy.database)
            with open_store(copy, create=False) as store:
                done = store.compact()
            report["compaction"] = {"seconds": round(done.seconds, 1), "data_bytes_before": done.before,
                                    "data_bytes_after": done.after}
            print(f"compacted the copy: {report['compaction']}", flush=True)
        report["read_last"] = args.read_last
        for database in (as_is.database, copy.database)[:: 1 if args.read_last == "compacted" else -1]:
            _read_all(database)
        with open_store(as_is, create=False, read_only=True) as a, open_store(copy, create=False, read_only=True) as b:
            stores = {"as_is": a, "compacted": b}
            runs = sorted(row["run"].value for row in a.query(_RUNS))
            rng = random.Random(0)
            asked = [rng.choice(runs) for _ in range(args.reps)]
            report["questions"] = {}
            for name in [*QUESTIONS, "run record"]:
                times: dict[str, list[float]] = {key: [] for key in stores}
                for run in asked:
                    for key, store in stores.items():
                        started = time.perf_counter()
                        if name == "run record":
                            read_run_record(store, run)
                        else:
                            queries.run(store, queries.resolve(name), {"run": run, **QUESTIONS[name]})
                        times[key].append(time.perf_counter() - started)
                row = {f"{key}_ms": bench_report.stats(values)["p50_ms"] for key, values in times.items()}
                report["questions"][name] = row
                print(f"  {name:<16} as ingest left it {row['as_is_ms']:>7.2f} ms   compacted {row['compacted_ms']:>7.2f} ms", flush=True)
        bench_report.write_report(report, args.json)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
