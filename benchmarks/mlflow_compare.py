"""mlprov against MLflow on the same runs: the questions a lab asks, timed alternately.

    pip install -e ".[benchmark]"      # MLflow, for this script only
    python benchmarks/mlflow_compare.py --runs 10000 --json mlflow-compare.json

1. Makes N realistic runs with the real capture code (``store_bench.make_runs``: 33
   settings, about ten results, a per-epoch training loss, a figure) and ingests them into
   a fresh embedded mlprov store.
2. Logs the same runs into MLflow on its SQLite backend as a fair user would: one
   ``create_run``, one ``log_batch`` (the settings as params, the numeric results as
   metrics, the per-epoch loss as a metric with steps), the figure with ``log_artifact``,
   ``set_terminated``. The values are read back from the mlprov store, so both hold the
   same numbers.
3. Times the same questions on both, alternately, each repetition picking the same run
   for both: best 20 by accuracy among the runs with one optimizer, all runs with one
   optimizer, the newest 100, one run's settings, one run's results, one run whole, one
   metric history. mlprov answers through its Python API (``mlprov_rdf.api``), MLflow
   through ``MlflowClient``. Logging time per run is capture plus ingest for mlprov and the
   calls above for MLflow.

The JSON holds, under ``questions``, ``mlprov_ms`` and ``mlflow_ms`` (p50) and p95 for
each question, with the machine's load average before and after.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_report  # noqa: E402
import pyoxigraph as ox  # noqa: E402
import serve_bench  # noqa: E402
import store_bench  # noqa: E402

from mlprov_rdf import api, queries  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402

OPTIMIZER = "Adam"
HISTORY = "training_loss"
PARAM = "https://w3id.org/mlprov/param#"
BEST_WITH_SETTING = f"""PREFIX param: <{PARAM}>
PREFIX test:  <https://w3id.org/mlprov/metric/test#>
SELECT ?run ?accuracy WHERE {{ ?run param:optimizer "{OPTIMIZER}" ; test:accuracy ?accuracy }}
ORDER BY DESC(?accuracy) LIMIT 20"""


def _mlflow():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        sys.exit("mlflow_compare: MLflow is missing; pip install -e '.[benchmark]'")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    return MlflowClient


def build_mlprov(workdir: Path, runs: int, workers: int) -> tuple[StoreLocation, list[str], float]:
    """N runs captured and ingested (as serve_bench builds its store); the store, the run IRIs
    and seconds a run (capture + ingest)."""
    shutil.rmtree(workdir / "journal", ignore_errors=True)
    shutil.rmtree(workdir / "mlprov-store", ignore_errors=True)
    iris, _plans, timings = serve_bench.build_store(workdir, runs, workers)
    # capture ran in `workers` processes: per run it cost make_s * workers / runs of one core
    return StoreLocation(workdir / "mlprov-store"), iris, (timings["make_runs_s"] * workers + timings["ingest_s"]) / runs


def _run_content(store, run: str) -> dict[str, Any]:
    """One run's settings, numeric results and per-epoch loss, as the mlprov store holds them."""
    params = queries.run(store, queries.resolve("run-params"), {"run": run})
    metrics = queries.run(store, queries.resolve("run-metrics"), {"run": run})
    history = queries.run(store, queries.resolve("metric-history"), {"run": run, "metric": HISTORY})
    started = list(store.query("SELECT ?run ?t WHERE { ?run <http://www.w3.org/ns/prov#startedAtTime> ?t }", {"run": ox.NamedNode(run)}))

    def rows(result) -> list[dict[str, Any]]:
        return [{c: (t.value if t is not None else None) for c, t in zip(result.columns, row)} for row in result.rows]

    settings = {str(r["parameter"]).rsplit("#", 1)[-1]: r["value"] for r in rows(params) if r.get("parameter")}
    results = {}
    for r in rows(metrics):
        try:
            value = float(r["value"])
        except (TypeError, ValueError):
            continue  # a confusion matrix: MLflow keeps numbers only
        key = "_".join(str(part).rsplit("#", 1)[-1] for part in (r["split"], r["measure"], r["class"]) if part)
        results[key] = value
    series = [(int(r["epoch"]), float(r["value"])) for r in rows(history)]
    stamp = started[0]["t"].value if started else None
    return {"settings": settings, "results": results, "series": series, "started": stamp}


def build_mlflow(workdir: Path, location: StoreLocation, runs: list[str]) -> tuple[Any, str, dict[str, str], float]:
    """The same runs logged into MLflow's SQLite store; returns client, experiment, mlprov→MLflow ids, s a run."""
    from datetime import datetime

    from mlflow.entities import Metric, Param

    client_class = _mlflow()
    shutil.rmtree(workdir / "mlflow", ignore_errors=True)
    (workdir / "mlflow").mkdir()
    uri = f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}"
    client = client_class(tracking_uri=uri)
    experiment = client.create_experiment("runs", artifact_location=str(workdir / "mlflow" / "artifacts"))
    figure = workdir / "figure.png"
    with open_store(location, read_only=True) as store:
        contents = {run: _run_content(store, run) for run in runs}
    ids: dict[str, str] = {}
    spent = 0.0
    for run, content in contents.items():
        stamp = int(datetime.fromisoformat(str(content["started"])).timestamp() * 1000) if content["started"] else 0
        started = time.perf_counter()
        created = client.create_run(experiment, start_time=stamp, run_name=run.rsplit(":", 1)[-1])
        rid = created.info.run_id
        metrics = [Metric(k, v, stamp, 0) for k, v in content["results"].items()]
        metrics += [Metric(f"train_{HISTORY}", v, stamp, epoch) for epoch, v in content["series"]]
        params = [Param(k, str(v)) for k, v in content["settings"].items()]
        client.log_batch(rid, metrics=metrics, params=params)
        client.log_artifact(rid, str(figure))
        client.set_terminated(rid)
        spent += time.perf_counter() - started
        ids[run] = rid
    return client, experiment, ids, spent / len(runs)


def compare(location: StoreLocation, client, experiment: str, ids: dict[str, str], reps: int, seed: int) -> dict:
    """Each question on both, alternately; the same run for both in one repetition."""
    prov_ctx = api.open_store(location)
    prov = prov_ctx.__enter__()
    filter_setting = f"params.optimizer = '{OPTIMIZER}'"
    every = {"limit": 0}  # all of them, not the first page

    def every_with_setting():
        found, token = [], None
        while True:
            page = client.search_runs([experiment], filter_string=filter_setting, max_results=50000, page_token=token)
            found += page
            token = page.token
            if not token:
                return found

    def whole_mlflow(rid):
        found = client.get_run(rid)
        return found, client.list_artifacts(rid)

    questions: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {
        "best 20 by accuracy, one optimizer": (
            lambda run: prov.query(BEST_WITH_SETTING),
            lambda rid: client.search_runs([experiment], filter_string=filter_setting,
                                           order_by=["metrics.test_accuracy DESC"], max_results=20)),
        "all runs with one optimizer": (
            lambda run: prov.query("runs-by-setting", optimizer=[OPTIMIZER], **every),
            lambda rid: every_with_setting()),
        "newest 100": (
            lambda run: prov.query("runs", limit=100),
            lambda rid: client.search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=100)),
        "one run's settings": (
            lambda run: prov.query("run-params", run=run),
            lambda rid: client.get_run(rid).data.params),
        "one run's results": (
            lambda run: prov.query("run-metrics", run=run),
            lambda rid: client.get_run(rid).data.metrics),
        "one run whole": (prov.run, whole_mlflow),
        "one metric history": (
            lambda run: prov.query("metric-history", run=run, metric=HISTORY),
            lambda rid: client.get_metric_history(rid, f"train_{HISTORY}")),
    }
    rng = random.Random(seed)
    runs = list(ids)
    out = {}
    for name, (ours, theirs) in questions.items():
        ours(runs[0]), theirs(ids[runs[0]])  # warm both: imports, caches, the page cache
        times_ours, times_theirs = [], []
        for _ in range(reps):
            run = rng.choice(runs)
            for fn, arg, times in ((ours, run, times_ours), (theirs, ids[run], times_theirs)):
                started = time.perf_counter()
                fn(arg)
                times.append(time.perf_counter() - started)
        ours_ms, theirs_ms = bench_report.stats(times_ours), bench_report.stats(times_theirs)
        out[name] = {"mlprov_ms": round(ours_ms["p50_ms"], 2), "mlflow_ms": round(theirs_ms["p50_ms"], 2),
                     "mlprov_p95_ms": round(ours_ms["p95_ms"], 2), "mlflow_p95_ms": round(theirs_ms["p95_ms"], 2),
                     "reps": reps}
        out[name]["faster"] = "mlprov" if out[name]["mlprov_ms"] < out[name]["mlflow_ms"] else "mlflow"
        print(f"  {name:<36} mlprov {out[name]['mlprov_ms']:>9.2f} ms   MLflow {out[name]['mlflow_ms']:>9.2f} ms", flush=True)
    prov_ctx.__exit__(None, None, None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="runs to log into both (N) [1000]",
                                 workdir_help="scratch folder [a new temporary one, removed]",
                                 reuse_help="reuse the stores already in --workdir (questions only)")
    parser.add_argument("--reps", type=int, default=30, help="repetitions of each question [30]")
    args = parser.parse_args(argv)
    _mlflow()
    workdir = bench_report.scratch(args.workdir, "mlprov-mlflow-")
    import mlflow

    report: dict[str, Any] = {**bench_report.report_head(__file__, argv, mlflow=mlflow.__version__), "runs": args.runs}
    saved = workdir / "built.json"
    location = StoreLocation(workdir / "mlprov-store")
    try:
        if args.reuse:
            built = json.loads(saved.read_text())
            client = _mlflow()(tracking_uri=built["mlflow_uri"])
            experiment, ids = built["experiment"], built["ids"]
        else:
            print(f"making and ingesting {args.runs} runs into mlprov in {workdir} ...", flush=True)
            location, runs, mlprov_log_s = build_mlprov(workdir, args.runs, args.make_workers)
            print("logging the same runs into MLflow (SQLite) ...", flush=True)
            client, experiment, ids, mlflow_log_s = build_mlflow(workdir, location, runs)
            built = {"mlflow_uri": client.tracking_uri, "experiment": experiment, "ids": ids,
                     "logging": {"mlprov_ms": round(mlprov_log_s * 1000, 2), "mlflow_ms": round(mlflow_log_s * 1000, 2)}}
            saved.write_text(json.dumps(built))
        print(f"timing the questions ({args.reps} repetitions each, alternating) ...", flush=True)
        questions = compare(location, client, experiment, ids, args.reps, seed=0)
        logging_ms = built["logging"]
        questions["logging a run"] = {**logging_ms, "faster": "mlprov" if logging_ms["mlprov_ms"] < logging_ms["mlflow_ms"] else "mlflow"}
        report["questions"] = questions
        report["sizes"] = {"mlprov_store_bytes": store_bench._du(location.database),
                           "mlflow_db_bytes": (workdir / "mlflow" / "mlflow.db").stat().st_size}
        report["mlprov_faster_on_every_question"] = all(q["faster"] == "mlprov" for q in questions.values())
        bench_report.write_report(report, args.json)
        print(f"mlprov faster on every question: {report['mlprov_faster_on_every_question']}")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
