"""Server speed: the same runs ingested and queried on the embedded store, an Oxigraph
server and Virtuoso, in one invocation (the table in docs/deploy.md, "Speed").

    python benchmarks/server_bench.py --runs 1000 --json server-bench.json --markdown

1. Makes N realistic runs with the real capture code (``store_bench.make_runs``: journals on
   disk exactly as a kernel writes them), or with ``--reuse`` takes the runs already in
   ``--workdir`` (made by this script or by ``store_bench.py``).
2. Starts each server of ``--servers`` on 127.0.0.1 with a fresh database folder and free
   ports (``tests/servers.py``, as the backend tests do), and stops it at the end.
3. Ingests the same journals into each store through ``ingest.ingest_journals`` (what
   ``mlprov ingest --store URL`` does: batches on the embedded store, one request a run on a
   server), one store after another: ms a run and triples/s. Journals are kept plain
   (``MLPROV_KEEP_PLAIN_JOURNALS``), so every store is given the same files and no store's
   figure includes compressing them.
4. Times the canned queries of the table and one round trip (``ASK {}``) through
   ``queries.run``, p50/p95, twice: right after the ingest, and after every server was
   restarted (Oxigraph's server answers slowly until it has flushed what it wrote). The
   stores take turns within each repetition, in a rotating order, so load from elsewhere
   falls on all alike; a per-run query asks every store about the same run. A query that
   fails on a store is recorded as its one-line error.

Writes the JSON to ``--json`` (with the machine's load average at each stage); ``--markdown``
prints the table rows for docs/deploy.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # mlprov_rdf from this checkout, and tests.servers

import bench_report  # noqa: E402  (beside this file: benchmarks/ is on sys.path when run as a script)
import store_bench  # noqa: E402

from mlprov_rdf import ingest, queries, vocab  # noqa: E402
from mlprov_rdf.errors import UserError  # noqa: E402
from mlprov_rdf.plan import load  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402
from tests import servers  # noqa: E402

STORES = {"embedded": "embedded store", "oxigraph": "Oxigraph server", "virtuoso": "Virtuoso"}
PER_RUN = ("run-params", "run-metrics", "run-cells", "run-artifacts")
ALL_RUNS = (  # (label, query, parameters)
    ("runs", "runs", {}), ("runs (every run)", "runs", {"limit": "0"}), ("plans", "plans", {}),
    ("runs-by-status", "runs-by-status", {}), ("best-runs", "best-runs", {}),
)
ASK = "ASK {}"


class Servers:
    """The servers asked for, each on its own database folder under ``workdir``; restartable."""

    def __init__(self, names: list[str], workdir: Path):
        self.names, self.workdir = names, workdir
        self.running: dict[str, ExitStack] = {}
        self.urls: dict[str, str] = {}

    def start(self, name: str) -> None:
        stack = ExitStack()
        if name == "oxigraph":
            self.urls[name] = stack.enter_context(servers.oxigraph_server(self.workdir / "oxigraph-server"))
        else:
            self.urls[name] = stack.enter_context(servers.virtuoso_server(self.workdir / "virtuoso")).url
        self.running[name] = stack

    def stop(self, name: str) -> None:
        self.running.pop(name).close()

    def restart_all(self) -> None:
        for name in self.names:
            self.stop(name)
            self.start(name)

    def close(self) -> None:
        for name in list(self.running):
            self.stop(name)


def _locations(workdir: Path, running: Servers) -> dict[str, StoreLocation]:
    out = {"embedded": StoreLocation(workdir / "embedded")}
    for name in running.names:
        out[name] = StoreLocation.server(running.urls[name], journal_dir=workdir / "journal")
    return out


def _runs(args, workdir: Path) -> tuple[list[dict], list[Path], dict]:
    """The plans and journals to ingest, made now or (``--reuse``) found in ``workdir``."""
    journal_dir = workdir / "journal"
    if args.reuse:
        plans = json.loads((workdir / "plans.json").read_text())
        found = sorted({ingest.plain_journal(p) for pattern in ("*.nt", "*.nt.gz") for p in journal_dir.glob(pattern)})
        if len(found) < args.runs:
            raise UserError(f"--reuse: {journal_dir} holds {len(found)} runs, fewer than --runs "
                             f"{args.runs}; run without --reuse to make them")
        print(f"reusing {args.runs} of the {len(found)} runs in {journal_dir}", flush=True)
        return plans, found[: args.runs], {"reused": True}
    shutil.rmtree(journal_dir, ignore_errors=True)
    print(f"making {args.runs} runs with the capture code in {workdir} ...", flush=True)
    plans = store_bench._plans(workdir)
    journals, make_s = store_bench.make_runs(args.runs, workdir, plans, args.make_workers)
    (workdir / "plans.json").write_text(json.dumps(plans))
    print(f"  {make_s:.1f} s", flush=True)
    return plans, journals, {"reused": False, "make_runs_s": round(make_s, 1)}


def _ingest(name: str, location: StoreLocation, plans: list[dict], journals: list[Path]) -> dict:
    """The plans (untimed), then every journal through ``ingest_journals``, timed to the store's close."""
    with open_store(location) as store:
        for plan in plans:
            loaded = load(Path(plan["file"]))
            ingest.store_plan(store, loaded.graph, loaded.plan)
    subprocess.run(["sync"], check=False)
    load_before = os.getloadavg()
    started = time.perf_counter()
    with open_store(location) as store:
        results = ingest.ingest_journals(store, journals)
    seconds = time.perf_counter() - started
    triples = sum(r.triples for r in results)
    statuses = sorted({r.status for r in results})
    entry = {
        "runs": len(results), "triples": triples, "seconds": round(seconds, 2),
        "ms_per_run": round(seconds / len(results) * 1000, 2), "triples_per_s": round(triples / seconds),
        "statuses": statuses, "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }
    print(f"  {name:9s} {entry['ms_per_run']:7.2f} ms a run, {entry['triples_per_s']:>9,} triples/s "
          f"({len(results)} runs, {seconds:.1f} s)", flush=True)
    return entry


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    return line if isinstance(error, UserError) else f"{type(error).__name__}: {line}"


def _cases(run_iris: list[str], reps_run: int, reps_all: int, reps_ask: int, rng: random.Random):
    """(label, scope, repetitions, call) where call(store, i) runs the i-th repetition and gives its rows."""
    cases = []
    picks = [rng.choice(run_iris) for _ in range(reps_run + 1)]
    for name in PER_RUN:
        query = queries.resolve(name)
        cases.append((name, "run", reps_run,
                      lambda store, i, q=query: len(queries.run(store, q, {"run": picks[i]}).rows)))
    for label, name, params in ALL_RUNS:
        query = queries.resolve(name)
        cases.append((label, "all", reps_all,
                      lambda store, i, q=query, p=params: len(queries.run(store, q, p).rows)))
    cases.append((ASK, "round trip", reps_ask, lambda store, i: int(bool(store.query(ASK)))))
    return cases


def bench_queries(locations: dict[str, StoreLocation], cases) -> dict:
    """p50/p95 a store for every case; the stores take turns in each repetition, the order rotating."""
    names = list(locations)
    out: dict = {}
    with ExitStack() as opened:
        stores = {n: opened.enter_context(open_store(loc, create=False, read_only=True)) for n, loc in locations.items()}
        for label, scope, reps, call in cases:
            times: dict[str, list[float]] = {n: [] for n in names}
            rows: dict[str, int] = {}
            errors: dict[str, str] = {}
            for i in range(reps + 1):  # the first, untimed: every store's pages for it in memory
                order = names[i % len(names):] + names[: i % len(names)]
                for n in order:
                    if n in errors:
                        continue
                    started = time.perf_counter()
                    try:
                        rows[n] = call(stores[n], i)
                    except Exception as error:  # recorded, and the other stores go on
                        errors[n] = _one_line(error)
                        continue
                    if i:
                        times[n].append(time.perf_counter() - started)
            out[label] = {"scope": scope, "stores": {
                n: {"error": errors[n]} if n in errors else {**bench_report.stats(times[n]), "rows": rows[n]} for n in names}}
            shown = "  ".join(f"{n} {'fails' if n in errors else format(out[label]['stores'][n]['p50_ms'], '8.2f')}"
                              for n in names)
            print(f"  {label:24s} p50 ms: {shown}", flush=True)
    return out


def _versions(names: list[str]) -> dict:
    found = {"pyoxigraph": ox.__version__}
    if "oxigraph" in names:
        found["oxigraph"] = subprocess.run([servers.oxigraph_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    if "virtuoso" in names:
        done = subprocess.run([servers.VIRTUOSO, "+version"], capture_output=True, text=True, timeout=30)
        found["virtuoso"] = next((line.strip() for line in (done.stdout + done.stderr).splitlines() if "Version" in line), "")
    return found


# -- the table ------------------------------------------------------------------------------


def _cell(entry: dict, reference: dict | None) -> str:
    if "error" in entry:
        return f"fails: {entry['error'][:90]}"
    text = f"{_ms(entry['p50_ms'])} ({_ms(entry['p95_ms'])})"
    if reference is not None and "rows" in reference and entry["rows"] != reference["rows"]:
        text += f", {entry['rows']} rows"
    return text


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _shown(label: str) -> str:
    """``runs (every run)`` as `runs` (every run): the query's name as code."""
    name, _, rest = label.partition(" (")
    return f"`{name}`" + (f" ({rest}" if rest else "")


def markdown(report: dict) -> str:
    """The rows of the table in docs/deploy.md, "Speed"."""
    names = list(report["ingest"])
    steady, first = report["queries"]["after_restart"], report["queries"]["after_ingest"]
    load = report["machine"]["load_average_start"][0]
    lines = [f"{report['runs']:,} runs, {report['triples_per_run']:,.0f} triples each; load average {load:.1f} on "
             f"{report['machine']['cpus']} cores at the start. `{report['command']}`:", "",
             "| | " + " | ".join(STORES[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines.append("| ingest (`ingest.ingest_journals`) | " + " | ".join(
        f"{report['ingest'][n]['ms_per_run']:.1f} ms a run, {report['ingest'][n]['triples_per_s']:,} triples/s" for n in names) + " |")
    for label, entry in steady.items():
        reference = entry["stores"]["embedded"]
        rows = f", {reference['rows']:,} rows" if entry["scope"] == "all" and "rows" in reference else ""
        what = "one round trip (`ASK {}`)" if label == ASK else _shown(label) + rows
        lines.append(f"| {what}, p50 (p95) ms | " + " | ".join(
            _cell(entry["stores"][n], None if n == "embedded" else reference) for n in names) + " |")
    for label in ("runs", "runs (every run)"):
        entry = first[label]
        lines.append(f"| {_shown(label)} right after the ingest, before a restart, p50 (p95) ms | " + " | ".join(
            _cell(entry["stores"][n], None if n == "embedded" else entry["stores"]["embedded"]) for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="runs to make and ingest (N) [1000]",
                                 workdir_help="scratch folder, kept [a new temporary one, removed]",
                                 reuse_help="take the runs already in --workdir instead of making them")
    parser.add_argument("--servers", default="oxigraph,virtuoso", help="servers beside the embedded store [oxigraph,virtuoso]")
    parser.add_argument("--markdown", action="store_true", help="print the table rows for docs/deploy.md")
    parser.add_argument("--reps-run", type=int, default=30, help="repetitions of a per-run query [30]")
    parser.add_argument("--reps-all", type=int, default=10, help="repetitions of an all-runs query [10]")
    parser.add_argument("--reps-ask", type=int, default=100, help="repetitions of ASK {} [100]")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = sorted(set(names) - {"oxigraph", "virtuoso"})
    if unknown or len(set(names)) != len(names):
        parser.error(f"--servers {args.servers}: name each of oxigraph, virtuoso at most once")
    if args.reuse and args.workdir is None:
        parser.error("--reuse needs --workdir, the folder that holds the runs")
    if "virtuoso" in names and not servers.HAVE_VIRTUOSO:
        parser.error(f"--servers virtuoso: {servers.NO_VIRTUOSO}")

    os.environ[ingest.KEEP_PLAIN_JOURNALS] = "1"
    workdir = bench_report.scratch(args.workdir, "mlprov-server-bench-")
    report: dict = {
        **bench_report.report_head(__file__, argv, **_versions(names)), "runs": args.runs,
        "journals": "kept plain (MLPROV_KEEP_PLAIN_JOURNALS=1): every store ingests the same files, no compression timed",
    }
    running = Servers(names, workdir)
    try:
        plans, journals, made = _runs(args, workdir)
        report.update(made)
        for folder in ("embedded", "oxigraph-server", "virtuoso"):  # every store starts empty
            shutil.rmtree(workdir / folder, ignore_errors=True)
        for name in names:
            running.start(name)
        locations = _locations(workdir, running)
        print("ingesting the same journals into each store ...", flush=True)
        report["ingest"] = {n: _ingest(n, loc, plans, journals) for n, loc in locations.items()}
        report["triples_per_run"] = round(report["ingest"]["embedded"]["triples"] / args.runs, 1)
        run_iris = [vocab.run_iri(ingest.plain_journal(j).stem) for j in journals]
        cases = _cases(run_iris, args.reps_run, args.reps_all, args.reps_ask, random.Random(42))
        report["queries"] = {}
        print("queries right after the ingest ...", flush=True)
        report["queries"]["after_ingest"] = bench_queries(locations, cases)
        report["machine"]["load_average_after_ingest_queries"] = os.getloadavg()
        running.restart_all()
        locations = _locations(workdir, running)
        print("queries after the servers were restarted ...", flush=True)
        report["queries"]["after_restart"] = bench_queries(locations, cases)
    except (servers.ServerDidNotStart, UserError) as error:
        print(f"server_bench: {error}", file=sys.stderr)
        return 2
    finally:
        running.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    bench_report.write_report(report, args.json)
    if args.markdown:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
