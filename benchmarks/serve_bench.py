"""Serve benchmark: server time per page of a real ``mlprov serve`` over N runs.

    python benchmarks/serve_bench.py --runs 10000 --workdir /tmp/serve-bench --json serve-bench.json
    python benchmarks/serve_bench.py --reuse --workdir /tmp/serve-bench --json serve-bench.json

1. Makes N runs with store_bench's generator (the real capture code writing journals of real
   shape, see benchmarks/store_bench.py) and ingests them into an embedded store in
   ``--workdir``; ``--reuse`` takes the runs and store an earlier call left there.
2. Starts ``mlprov serve`` on 127.0.0.1 over that store in its own process and requests each
   page by URL: the first request alone (cold: the app's caches empty for that page), then
   ``--reps`` more (warm). Server time is the app's ``Server-Timing: app;dur=MS`` header
   (the endpoint and its template, without the socket); the loopback round trip is reported
   beside it. A page that answers with an error status is reported as not available.

Prints a table and writes the JSON to ``--json``.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_report  # noqa: E402
import store_bench  # noqa: E402  (its generator makes the runs)
from bench_report import percentile  # noqa: E402

from mlprov_rdf import ingest, vocab  # noqa: E402
from mlprov_rdf.plan import load  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402

TARGET_RUNS_MS = 150.0
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def build_store(workdir: Path, n: int, workers: int) -> tuple[list[str], list[str], dict]:
    """N runs made and ingested into ``workdir/mlprov-store``: run IRIs, plan IRIs, timings."""
    plans = store_bench._plans(workdir)
    journals, make_s = store_bench.make_runs(n, workdir, plans, workers)
    location = StoreLocation(workdir / "mlprov-store")
    started = time.perf_counter()
    with open_store(location) as store:
        for plan in plans:
            loaded = load(Path(plan["file"]))
            ingest.store_plan(store, loaded.graph, loaded.plan)
        ingest.ingest_journals(store, journals)
    ingest_s = time.perf_counter() - started
    runs = [vocab.run_iri(j.stem) for j in journals]
    (workdir / "serve-bench-store.json").write_text(json.dumps({"runs": runs, "plans": [p["iri"] for p in plans]}))
    return runs, [p["iri"] for p in plans], {"make_runs_s": round(make_s, 1), "ingest_s": round(ingest_s, 1)}


def add_runs(workdir: Path, k: int) -> float:
    """K more runs made and ingested while the server runs (the store grows by K each call):
    the runs page then brings its table up to date; seconds the ingest took."""
    plans = store_bench._plans(workdir)
    folder = Path(tempfile.mkdtemp(prefix="added-", dir=workdir))
    journals, _ = store_bench.make_runs(k, folder, plans, 1)
    started = time.perf_counter()
    with open_store(StoreLocation(workdir / "mlprov-store")) as store:
        ingest.ingest_journals(store, journals)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "mlprov_rdf", "serve", "--store", str(store), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlprov serve exited {process.returncode}: {process.stderr.read()}")
        try:
            if _request("127.0.0.1", port, "/static/app.css")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("mlprov serve did not answer within 60 s")


def _request(host: str, port: int, path: str) -> tuple[int, float | None, float, int]:
    """Status, server ms (None without the header), round-trip ms, body bytes."""
    connection = http.client.HTTPConnection(host, port, timeout=300)
    try:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        round_trip = (time.perf_counter() - started) * 1000
        timing = _TIMING.search(response.getheader("Server-Timing") or "")
        return response.status, float(timing.group(1)) if timing else None, round_trip, len(body)
    finally:
        connection.close()


def measure(port: int, path: str, reps: int) -> dict:
    """One page: the cold first request, then ``reps`` warm ones."""
    status, server, trip, size = _request("127.0.0.1", port, path)
    entry: dict = {"path": path, "status": status, "bytes": size}
    if status != 200:
        entry["available"] = False
        return entry
    warm = [_request("127.0.0.1", port, path) for _ in range(reps)]
    servers = [w[1] for w in warm if w[1] is not None]
    trips = [w[2] for w in warm]
    entry.update({
        "available": True,
        "cold_server_ms": server, "cold_round_trip_ms": round(trip, 2),
        "server_p50_ms": round(percentile(servers, 0.5), 2) if servers else None,
        "server_p95_ms": round(percentile(servers, 0.95), 2) if servers else None,
        "round_trip_p50_ms": round(percentile(trips, 0.5), 2),
        "round_trip_p95_ms": round(percentile(trips, 0.95), 2),
    })
    return entry


def pages(runs: list[str], rng: random.Random) -> dict[str, str]:
    """The pages measured, by name: the runs list three ways, a run, a comparison, a graph expansion."""
    first, second = rng.sample(runs, 2)
    run_id = first[len(vocab.RUN_BASE):]
    return {
        "runs (default)": "/runs",
        "runs (sorted)": "/runs?sort=-test:accuracy",
        "runs (filtered)": "/runs?f.optimizer=Adam&f.optimizer=SGD&min.epochs=10&max.epochs=60&sort=-test:accuracy",
        "runs (page 20)": "/runs?sort=learning_rate&offset=950&limit=50",
        "runs.csv (all rows)": "/runs.csv",
        "run": "/run/" + quote(run_id, safe=""),
        "compare": f"/compare?run={quote(run_id)}&run={quote(second[len(vocab.RUN_BASE):])}",
        "graph expansion": f"/graph/neighbours.json?iri={quote(first, safe='')}&node={quote(first, safe='')}",
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def table(report: dict) -> str:
    lines = [f"{'page':<22} {'cold ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'trip p50':>9}  (server time; {report['runs']} runs)"]
    for name, entry in report["pages"].items():
        if not entry["available"]:
            lines.append(f"{name:<22} not available (status {entry['status']})")
            continue
        lines.append(f"{name:<22} {_ms(entry['cold_server_ms']):>9} {_ms(entry['server_p50_ms']):>8} "
                     f"{_ms(entry['server_p95_ms']):>8} {_ms(entry['round_trip_p50_ms']):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="runs to make and ingest (N) [1000]",
                                 workdir_help="folder for the runs and the store, kept [a new temporary one]",
                                 reuse_help="use the runs and store an earlier call left in --workdir", json_required=False)
    parser.add_argument("--reps", type=int, default=30, help="warm requests per page [30]")
    parser.add_argument("--added", type=int, default=10,
                        help="runs ingested while the server runs, then the runs page measured again [10]; 0: none")
    args = parser.parse_args(argv)

    workdir = bench_report.scratch(args.workdir, "mlprov-serve-bench-")
    report: dict = {**bench_report.report_head(__file__, argv), "target_runs_ms": TARGET_RUNS_MS}
    if args.reuse:
        saved = json.loads((workdir / "serve-bench-store.json").read_text())
        runs = saved["runs"]
        print(f"reusing {len(runs)} runs and the store in {workdir}", flush=True)
    else:
        print(f"making and ingesting {args.runs} runs in {workdir} ...", flush=True)
        runs, _, built = build_store(workdir, args.runs, args.make_workers)
        report["build"] = built
        print(f"  made in {built['make_runs_s']} s, ingested in {built['ingest_s']} s", flush=True)
    report["runs"] = len(runs)

    port = _free_port()
    server = start_server(workdir / "mlprov-store", port)
    try:
        paths = pages(runs, random.Random(42))
        report["pages"] = {name: measure(port, path, args.reps) for name, path in paths.items()}
        if args.added:
            report["added"] = {"runs": args.added, "ingest_s": round(add_runs(workdir, args.added), 2)}
            report["pages"][f"runs after {args.added} more"] = measure(port, paths["runs (default)"], args.reps)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(table(report))
    if args.json:
        bench_report.write_report(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
