"""Store benchmark: realistic runs made by the real capture code, ingested and queried.

    python benchmarks/store_bench.py --runs 10000 --json store-bench.json

1. Makes N runs with ``mlprov_rdf.capture.Run`` in-process (no IPython): for every code
   cell of a really generated notebook it calls ``_begin_cell(code)``, the log calls the
   templates make (data set, preparation, splits, model, 100 per-epoch training losses,
   test metrics, artifacts) with Iris-like values and varied settings (data sets,
   models, optimizers, learning rates, epochs ...), then ``_end_cell(None)``. Settings
   are recorded from a stand-in for the kernel's namespace. Journals land on disk,
   exactly as a kernel writes them.
2. Ingests them into a fresh embedded store with ``ingest.ingest_journals`` (batches,
   each run whole or not at all) and, from a dump of that store, bulk-loads the same quads into
   a fresh pyoxigraph store (``Store.bulk_load``; from a pipe a read-only process dumps into
   where the dump would not fit twice on the disk, ``bulk_load_from``: ``pipe``, which can
   only slow the bulk load down): triples per second for both, and the
   size on disk: ``store_bytes`` is the store and the journal folder ingest leaves (compressed
   journals, markers), ``bytes_per_run`` that over N, ``ingest_peak_rss_bytes`` the peak
   memory during ingest (Linux: the larger of the process's VmHWM, reset before it, and
   the peak of its and its worker processes' summed PSS, sampled four times a second).
3. Times every canned query in ``queries/`` (p50, p95) through mlprov
   (``queries.run``) and on the raw ``pyoxigraph.Store`` (the text mlprov prepared and
   the same substitutions), on the same open store, after an untimed execution that
   puts the repetition's data in the page cache for both; and on rdflib's in-memory ``Dataset`` for
   the first ``--rdflib-runs`` runs only, each query under ``--rdflib-timeout`` seconds.
   A query that takes a ``run``/``other`` parameter has scope ``run``, else ``all``; a
   query whose ``run`` is optional is timed both ways (``NAME`` and ``NAME (all runs)``).
   Before them, one run's questions through the Python API that ``serve`` and ``diff`` call
   (settings, results, cells, artifacts, environment: the canned query found by name, bound,
   run and collected; the whole run: ``run_record.read_run_record``) against raw pyoxigraph
   running the same SPARQL, under the 2 ms target (``run_api`` in the JSON;
   ``--run-api-only`` times only these).
4. Makes ``--add-runs`` more runs and ingests them into an empty store, then into the
   store of N runs: ``ingest_into_full`` holds both times and their ratio (empty over
   full; the target is 0.8 or more). The store then holds N plus these runs.

Writes the JSON to ``--json`` and a table to stdout. Needs a few GB of disk at N=10,000.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_report  # noqa: E402  (beside this file)
from bench_report import stats  # noqa: E402
from mlprov_rdf import capture, ingest, queries, run_record, vocab  # noqa: E402
from mlprov_rdf.generate import build_notebook  # noqa: E402
from mlprov_rdf.plan import load  # noqa: E402
from mlprov_rdf.scaffold import write_plan  # noqa: E402
from mlprov_rdf.store import StoreLocation, open_store  # noqa: E402
from mlprov_rdf.tasks import all_tasks  # noqa: E402

TASK = "multiclass-classification"
PLANS = ("iris-mlp", "iris-tuning", "spirals-mlp", "tabular-baselines")
TARGETS = {"run_p50_ms": 20.0, "all_p50_ms": 150.0, "overhead_ratio": 1.3, "ingest_ratio": 0.8, "run_api_p50_ms": 2.0}
#: One run's questions through the Python API: the canned query, or None for the whole run (its page).
RUN_API = {"settings": "run-params", "results": "run-metrics", "cells": "run-cells", "artifacts": "run-artifacts",
           "environment": "environment", "whole run": None}

# -- making runs -------------------------------------------------------------------------

DATASETS = {  # name: (source, samples, features, classes)
    "iris": ("sklearn.datasets.load_iris", 150, 4, ["setosa", "versicolor", "virginica"]),
    "wine": ("sklearn.datasets.load_wine", 178, 13, ["class_0", "class_1", "class_2"]),
    "breast_cancer": ("sklearn.datasets.load_breast_cancer", 569, 30, ["malignant", "benign"]),
    "spirals": ("generated spirals", 300, 2, ["arm 0", "arm 1", "arm 2"]),
    "moons": ("sklearn.datasets.make_moons", 300, 2, ["upper moon", "lower moon"]),
}
OPTIMIZERS = {"Adam": 0.04, "SGD": -0.06, "RMSprop": 0.02, "Adagrad": -0.02, "Adadelta": -0.12, "Adamax": 0.01}
LEARNING_RATES = [0.1, 0.03, 0.01, 0.003, 0.001]
MODELS = ["mlp"] * 17 + ["logreg", "rf", "svm"]
SCALERS = {"standard": "StandardScaler", "minmax": "MinMaxScaler", "none": "FunctionTransformer"}


class _Param:
    def __init__(self, n: int):
        self.n = n

    def numel(self) -> int:
        return self.n


class _Model:
    """What ``log_model`` reads from a torch module: its repr and its parameters."""

    def __init__(self, text: str, sizes: list[int]):
        self.text, self.sizes = text, sizes

    def __repr__(self) -> str:
        return self.text

    def parameters(self):
        return [_Param(n) for n in self.sizes]


def _mlp(features: int, classes: int, layers: int, width: int, activation: str) -> _Model:
    lines, sizes, i, fan_in = [], [], 0, features
    act = {"relu": "ReLU()", "tanh": "Tanh()", "sigmoid": "Sigmoid()"}[activation]
    for _ in range(layers):
        lines.append(f"  ({i}): Linear(in_features={fan_in}, out_features={width}, bias=True)")
        lines.append(f"  ({i + 1}): {act}")
        sizes += [fan_in * width, width]
        fan_in, i = width, i + 2
    lines.append(f"  ({i}): Linear(in_features={fan_in}, out_features={classes}, bias=True)")
    sizes += [fan_in * classes, classes]
    return _Model("Sequential(\n" + "\n".join(lines) + "\n)", sizes)


def _settings(rng: random.Random, values: dict) -> dict:
    """One run's parameter values: the plan's, with varied overrides (as papermill gives)."""
    ns = dict(values)
    dataset = rng.choice(list(DATASETS))
    ns.update(
        dataset=dataset,
        model=rng.choice(MODELS),
        optimizer=rng.choice(list(OPTIMIZERS)),
        learning_rate=rng.choice(LEARNING_RATES),
        hidden_layers=rng.choice([1, 2, 3]),
        hidden_neurons=rng.choice([8, 16, 32, 50, 64]),
        activation=rng.choice(["relu", "tanh", "sigmoid"]),
        scaler=rng.choice(list(SCALERS)),
        epochs=100,
        seed=rng.randrange(1000),
        test_size=rng.choice([0.2, 0.25, 0.3]),
    )
    return ns


def _accuracy(rng: random.Random, ns: dict, test_samples: int) -> float:
    base = {"iris": 0.93, "wine": 0.94, "breast_cancer": 0.95, "spirals": 0.78, "moons": 0.9}[ns["dataset"]]
    base += OPTIMIZERS[ns["optimizer"]] - 0.03 * abs(math.log10(ns["learning_rate"]) + 2)
    base += rng.gauss(0, 0.04)
    correct = round(min(1.0, max(0.3, base)) * test_samples)
    return correct / test_samples


_PLANS: list[dict] = []
_ARTIFACT = ""


def _worker_init(plans: list[dict], journal_dir: str, artifact: str) -> None:
    global _PLANS, _ARTIFACT
    _PLANS, _ARTIFACT = plans, artifact
    os.environ["MLPROV_JOURNAL_DIR"] = journal_dir
    os.environ.pop("MLPROV_RUN_ID", None)
    # Package versions do not change between runs: reading each distribution's metadata
    # again (1-2 ms a package, every run) would only slow the making of runs down. The
    # triples written are the same.
    import functools
    import importlib.metadata

    importlib.metadata.version = functools.lru_cache(maxsize=None)(importlib.metadata.version)


def _make_run(index: int) -> tuple[str, float]:
    """One run through the real capture code; returns its journal path and seconds taken."""
    started = time.perf_counter()
    rng = random.Random(index)
    plan = _PLANS[index % len(_PLANS)]
    ns = _settings(rng, plan["values"])
    capture._user_namespace = lambda: ns  # the kernel's namespace, without IPython
    os.environ["MLPROV_NOTEBOOK"] = plan["notebook"]
    run = capture.Run(
        plan=plan["iri"], title=plan["title"], plan_digest=plan["digest"], steps=plan["steps"], parameters=plan["parameters"]
    )
    source, samples, features, classes = DATASETS[ns["dataset"]]
    nprng = np.random.default_rng(index)
    X = nprng.normal(size=(samples, features)).round(3)
    y = nprng.integers(0, len(classes), size=samples)
    test_n = max(len(classes), int(samples * ns["test_size"]))
    accuracy = _accuracy(rng, ns, test_n)
    handles: dict[str, str] = {}
    for kind, code in plan["cells"]:
        run._begin_cell(code)
        if kind == "DataIngestionStep":
            handles["raw"] = run.log_dataset(ns["dataset"], source=source, features=X, labels=y, classes=classes)
        elif kind == "DataPreparationStep":
            run.log_preparation(scaler=ns["scaler"], operation=SCALERS[ns["scaler"]])
        elif kind == "DataSegregationStep":
            cut = samples - test_n
            handles["train"] = run.log_split("train", features=X[:cut], labels=y[:cut], derived_from=handles["raw"])
            handles["test"] = run.log_split("test", features=X[cut:], labels=y[cut:], derived_from=handles["raw"])
        elif kind == "ModelDefinitionStep":
            handles["model"] = _mlp(features, len(classes), ns["hidden_layers"], ns["hidden_neurons"], ns["activation"])
            handles["untrained"] = run.log_model(handles["model"], name="untrained model", derived_from=handles["train"])
        elif kind == "TrainingStep":
            mlp = ns["model"] == "mlp"
            if mlp:
                loss, floor = 1.1 + rng.random() * 0.2, 0.02 + (1 - accuracy) * 1.5
                for epoch in range(1, ns["epochs"] + 1):
                    loss = floor + (loss - floor) * (0.93 + rng.random() * 0.04)
                    run.log_metric("training_loss", loss, epoch=epoch, split="train")
            handles["trained"] = run.log_model(
                handles["model"], name="trained model", derived_from=handles["train"], revision_of=handles["untrained"]
            )
            run.log_metric("training_accuracy", min(1.0, accuracy + 0.02), split="train", model=handles["trained"])
            if mlp:
                run.log_artifact(_ARTIFACT, label="loss curve", kind="figure", derived_from=handles["trained"])
        elif kind == "EvaluationStep":
            trained = handles["trained"]
            scores = {
                "accuracy": accuracy,
                "loss": max(0.01, (1 - accuracy) * 2 + rng.random() * 0.1),
                "macro_f1": max(0.0, accuracy - rng.random() * 0.03),
                "roc_auc_ovr": min(1.0, accuracy + 0.03),
                "mae": (1 - accuracy) * 0.8,
                "mse": (1 - accuracy) * 1.1,
            }
            for name, value in scores.items():
                run.log_metric(name, value, split="test", model=trained)
            for name in classes:
                run.log_metric("f1", min(1.0, max(0.0, accuracy + rng.gauss(0, 0.03))), split="test", for_class=name, model=trained)
            wrong = test_n - round(accuracy * test_n)
            matrix = [[0] * len(classes) for _ in classes]
            for k in range(test_n):
                matrix[k % len(classes)][(k + (k < wrong)) % len(classes)] += 1
            run.log_metric("confusion_matrix", matrix, split="test", model=trained)
            if features == 2:
                run.log_artifact(_ARTIFACT, label="decision boundary", kind="figure", derived_from=trained)
        run._end_cell(None)
    run.close()
    return str(run.journal_path), time.perf_counter() - started


def _plans(workdir: Path) -> list[dict]:
    out = []
    for name in PLANS:
        path = workdir / "plans" / f"{name}.ttl"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_plan(all_tasks()[TASK], path, title=name.replace("-", " ").title(), author="Benchmark")
        loaded = load(path)
        plan = loaded.plan
        nb = build_notebook(plan)
        notebook = workdir / "plans" / f"{name}.ipynb"
        notebook.write_text(json.dumps(nb))
        kinds = {}
        for cell in nb.cells:
            step = cell.metadata.get("mlprov", {}).get("step_class")
            if cell.cell_type == "code":
                kinds[id(cell)] = step.rsplit("#", 1)[1] if step else "parameters"
        out.append(
            {
                "file": str(path),
                "iri": plan.iri,
                "title": plan.title,
                "digest": plan.digest,
                "steps": {s.iri: s.label for s in plan.steps},
                "parameters": {p.name: p.iri for p in plan.parameters},
                "values": dict(plan.values()),
                "notebook": str(notebook),
                "cells": [(kinds[id(c)], c.source) for c in nb.cells if c.cell_type == "code"],
            }
        )
    return out


def make_runs(n: int, workdir: Path, plans: list[dict], workers: int) -> tuple[list[Path], float]:
    journal_dir = workdir / "journal"
    journal_dir.mkdir(parents=True, exist_ok=True)
    artifact = workdir / "figure.png"
    artifact.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(20000)))
    started = time.perf_counter()
    args = (plans, str(journal_dir), str(artifact))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init, initargs=args) as pool:
            made = pool.map(_make_run, range(n), chunksize=50)
    else:
        _worker_init(*args)
        made = [_make_run(i) for i in range(n)]
    return [Path(p) for p, _ in made], time.perf_counter() - started


# -- timing helpers ------------------------------------------------------------------------


#: What a quad takes in the N-Quads dump, at most (the runs' average is about 260 bytes).
DUMP_BYTES_PER_QUAD = 320


def _dump_quads(database: Path, target: Path) -> subprocess.Popen:
    """A read-only process that writes the store's quads to ``target`` (a file or a named pipe)."""
    code = ("import sys, pyoxigraph as ox\n"  # through a Python file: a path is synced at the end, which a pipe refuses
            "with open(sys.argv[2], 'wb', buffering=1 << 20) as out:\n"
            "    ox.Store.read_only(sys.argv[1]).dump(output=out, format=ox.RdfFormat.N_QUADS)")
    return subprocess.Popen([sys.executable, "-c", code, str(database), str(target)])


def _finished(process: subprocess.Popen) -> None:
    if process.wait() != 0:
        raise RuntimeError(f"dumping the store failed (exit {process.returncode})")


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _reset_peak_rss() -> None:
    """Linux: the process's peak resident size (VmHWM) set back to its current size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the peak is that of the whole process so far


def _peak_rss_bytes() -> int:
    """The process's peak resident size since :func:`_reset_peak_rss` (Linux), else since it started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _pss_bytes(pid: int) -> int:
    """A process's proportional set size (Linux): its shared pages split among their sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


class _PeakMemory:
    """The peak of this process's and its children's summed PSS (ingest's worker processes
    included), sampled every ``every`` seconds in a thread, beside the process's own VmHWM."""

    def __init__(self, every: float = 0.25):
        import threading

        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            me = os.getpid()
            self.peak = max(self.peak, _pss_bytes(me) + sum(_pss_bytes(c) for c in _children(me)))

    def __enter__(self) -> "_PeakMemory":
        _reset_peak_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout()


# -- the benchmark ---------------------------------------------------------------------------


def _query_cases(library: dict, runs: list[str], plans: list[str], rng: random.Random, reps: int):
    """(label, query, scope, [params per repetition]) for every canned query."""
    cases = []
    for name, query in library.items():
        names = {p.name for p in query.params}
        takes_run = bool(names & {"run", "other"})

        def params(with_run: bool):
            out = {}
            for p in query.params:
                if p.name == "run" and with_run:
                    out["run"] = rng.choice(runs)
                elif p.name == "other" and with_run:
                    out["other"] = rng.choice(runs)
                elif p.name == "plan":
                    out["plan"] = rng.choice(plans)
                elif p.name == "threshold":
                    out["threshold"] = "0.9"
                elif p.type == "metric":
                    out[p.name] = p.default or p.example or "accuracy"
                elif p.required and p.default is None:
                    out[p.name] = p.example or ""
            return out

        cases.append((name, query, "run" if takes_run else "all", [params(True) for _ in range(reps)]))
        run_param = query.param("run")
        if run_param is not None and not run_param.required and run_param.default is None:
            cases.append((f"{name} (all runs)", query, "all", [params(False) for _ in range(reps)]))
    return cases


def _raw(inner: ox.Store, text: str, substitutions: dict):
    result = inner.query(text, use_default_graph_as_union=True, substitutions={ox.Variable(k): v for k, v in substitutions.items()} or None)
    if isinstance(result, ox.QuerySolutions):
        return len([tuple(s) for s in result])
    if isinstance(result, ox.QueryBoolean):
        return int(bool(result))
    return len(list(result))


def _to_rdflib(term):
    import rdflib

    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if term.datatype.value == vocab.XSD + "string":
        return rdflib.Literal(term.value)
    return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))


_PROBE = """
import json, sys, time
import pyoxigraph as ox
store = ox.Store.read_only(sys.argv[1])
job = json.loads(sys.stdin.read())
subs = {ox.Variable(k): next(iter(ox.parse(f"<urn:s> <urn:p> {v} .", format=ox.RdfFormat.N_TRIPLES))).object
        for k, v in job["subs"].items()}
started = time.perf_counter()
result = store.query(job["text"], use_default_graph_as_union=True, substitutions=subs or None)
rows = len(list(result)) if isinstance(result, (ox.QuerySolutions, ox.QueryTriples)) else 1
print(json.dumps({"s": time.perf_counter() - started, "rows": rows}))
"""


def _probe(database: Path, text: str, subs: dict, cap_s: float) -> float | None:
    """Seconds one execution takes, in a read-only process that is stopped after ``cap_s``
    (pyoxigraph cannot interrupt a query); None when it ran longer."""
    job = json.dumps({"text": text, "subs": {k: str(v) for k, v in subs.items()}})
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(database)], input=job, capture_output=True, text=True, timeout=cap_s
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)["s"]


def _library() -> tuple[dict, dict]:
    """The canned queries; a file that does not load (being edited) is left out and named."""
    from mlprov_rdf.resources import queries_dir

    library, broken = {}, {}
    for path in sorted(queries_dir().glob("*.rq"), key=lambda p: p.stem):
        try:
            library[path.stem] = queries.load_file(path, in_library=True)
        except queries.UserError as error:
            broken[path.stem] = str(error)
            print(f"  {path.stem}: not loaded ({error})", flush=True)
    return library, broken


def bench_queries(store, cases, reps_run: int, reps_all: int, cap_s: float, budget_s: float) -> dict:
    """p50/p95 through mlprov and on the raw store, interleaved; few repetitions of slow ones."""
    results = {}
    for label, query, scope, param_sets in list(cases):
        try:
            text0, subs0 = queries.prepare(query, param_sets[0])
        except queries.UserError as error:
            print(f"  {label}: skipped ({error})", flush=True)
            cases.remove((label, query, scope, param_sets))
            continue
        probe = _probe(store.location.database, text0, subs0, cap_s)
        if probe is None:
            results[label] = {"scope": scope, "mlprov": None, "pyoxigraph": None, "rows_last": None, "over_cap_s": cap_s}
            print(f"  {label:32s} {scope:3s} over {cap_s:.0f} s: not timed", flush=True)
            continue
        reps = reps_run if scope == "run" else reps_all
        if probe * reps * 2 > budget_s:
            reps = max(2, int(budget_s / (2 * probe)))
        warm = 1 if probe < 1 else 0  # the probe already read the data into the page cache
        mine, raw, rows = [], [], None
        for i in range(reps + warm):
            params = param_sets[i % len(param_sets)]
            text, subs = queries.prepare(query, params)  # the text mlprov sends: slots filled
            _raw(store.inner, text, subs)  # untimed: this repetition's data in the page cache for both
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                t = time.perf_counter()
                if which == 0:
                    rows = len(queries.run(store, query, params).rows)
                    (mine if i >= warm else []).append(time.perf_counter() - t)
                else:
                    _raw(store.inner, text, subs)
                    (raw if i >= warm else []).append(time.perf_counter() - t)
        results[label] = {"scope": scope, "mlprov": stats(mine), "pyoxigraph": stats(raw), "rows_last": rows}
        print(f"  {label:32s} {scope:3s} mlprov p50 {results[label]['mlprov']['p50_ms']:9.2f} ms   "
              f"pyoxigraph p50 {results[label]['pyoxigraph']['p50_ms']:9.2f} ms  ({len(mine)} reps)", flush=True)
    return results


def _plan_of(inner: ox.Store, run: str) -> ox.NamedNode:
    """The run's plan (read before the timing: the record finds it in the bundle it reads anyway)."""
    rows = inner.query(f"SELECT ?plan WHERE {{ {ox.NamedNode(run)} <{vocab.MLPROV}plan> ?plan }}", use_default_graph_as_union=True)
    return next(iter(rows))["plan"]


def _raw_run_record(inner: ox.Store, run: str, plan: ox.NamedNode) -> int:
    """What ``run_record.read_run_record`` asks the store, on the raw store: the record kept
    at ingest (``mlprov:runRecord``) parsed as JSON and the cells' code (or, without it, the
    bundle as N-Triples parsed into triples), the plan's facts, whether a reproduction names
    the run and then its rows; the record's characters (or triples) and the rows of the rest."""
    bundle, node = ox.NamedNode(vocab.bundle_iri(vocab.run_id_of(run))), ox.NamedNode(run)
    kept = [row["record"].value for row in inner.query(run_record.KEPT_RECORD, use_default_graph_as_union=True,
                                                       substitutions={ox.Variable("graph"): bundle, ox.Variable("run"): node})]
    if kept:
        json.loads(kept[0])
        read = len(kept[0]) + _raw(inner, run_record.CELL_CODE, {"graph": bundle})
    else:  # a store written before runs kept their record: the bundle as N-Triples parsed into triples
        read = len(list(ox.parse(inner.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=bundle), format=ox.RdfFormat.N_TRIPLES)))
    return (read
            + _raw(inner, run_record.PLAN_FACTS, {"plan": plan})
            + (_raw(inner, run_record.REPRODUCTIONS, {"run": node}) if _raw(inner, run_record.REPRODUCED, {"run": node}) else 0))


def bench_run_api(store, run_iris: list[str], reps: int, seed: int = 11) -> dict:
    """One run's questions through the Python API that ``serve`` and ``diff`` call (the query
    found by name, bound, run and collected; the whole record for the run page) against raw
    pyoxigraph running the same SPARQL; the same run for both in a repetition, after an
    untimed call that reads its data into the page cache, in alternating order."""
    rng = random.Random(seed)
    picked = [rng.choice(run_iris) for _ in range(reps)]
    out = {}
    for question, name in RUN_API.items():
        mine, raw = [], []
        for i, run in enumerate(picked):
            if name is None:
                plan = _plan_of(store.inner, run)
                ours = lambda: run_record.read_run_record(store, run)  # noqa: E731
                theirs = lambda: _raw_run_record(store.inner, run, plan)  # noqa: E731
            else:
                text, subs = queries.prepare(queries.resolve(name), {"run": run})
                ours = lambda: queries.run(store, queries.resolve(name), {"run": run})  # noqa: E731
                theirs = lambda: _raw(store.inner, text, subs)  # noqa: E731
            theirs()
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                started = time.perf_counter()
                (ours if which == 0 else theirs)()
                (mine if which == 0 else raw).append(time.perf_counter() - started)
        entry = {"query": name or "run_record.read_run_record", "mlprov": stats(mine), "pyoxigraph": stats(raw)}
        entry["mlprov_over_pyoxigraph"] = round(entry["mlprov"]["p50_ms"] / entry["pyoxigraph"]["p50_ms"], 3)
        entry["meets_latency_target"] = entry["mlprov"]["p50_ms"] <= TARGETS["run_api_p50_ms"]
        out[question] = entry
        print(f"  {question:12s} mlprov p50 {entry['mlprov']['p50_ms']:7.3f} ms   pyoxigraph p50 "
              f"{entry['pyoxigraph']['p50_ms']:7.3f} ms  ({reps} reps)", flush=True)
    return out


def run_api_table(results: dict) -> str:
    """The one-run questions as a Markdown table (for docs/performance.md)."""
    lines = [f"| one run's | through | mlprov p50 (p95) ms | pyoxigraph p50 ms | mlprov / pyoxigraph | ≤ {TARGETS['run_api_p50_ms']:g} ms |",
             "|---|---|---|---|---|---|"]
    for question, q in results.items():
        lines.append(f"| {question} | {q['query']} | {q['mlprov']['p50_ms']:.2f} ({q['mlprov']['p95_ms']:.2f}) "
                     f"| {q['pyoxigraph']['p50_ms']:.2f} | {q['mlprov_over_pyoxigraph']:.2f} | {'yes' if q['meets_latency_target'] else 'no'} |")
    return "\n".join(lines)


def bench_rdflib(store, run_iris: list[str], plan_iris: list[str], cases, timeout_s: float, reps: int) -> tuple[dict, dict]:
    import rdflib

    started = time.perf_counter()
    ds = rdflib.Dataset(default_union=True)
    graphs = [vocab.ONTOLOGY_GRAPH, vocab.ENV_GRAPH] + plan_iris + [ingest.inferred_graph_iri(p) for p in plan_iris]
    graphs += [vocab.bundle_iri(vocab.run_id_of(r)) for r in run_iris]
    triples = 0
    for g in graphs:
        data = store.graph_ntriples(g)
        if data:
            ds.graph(rdflib.URIRef(g)).parse(data=data.decode("utf-8"), format="nt")
    triples = len(ds)
    load_s = time.perf_counter() - started
    print(f"  rdflib: loaded {len(run_iris)} runs, {triples} triples in {load_s:.1f} s", flush=True)
    rng = random.Random(7)
    results = {}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for label, query, scope, param_sets in cases:
            times, timed_out = [], False
            for i in range(reps + 1):
                params = dict(param_sets[i % len(param_sets)])
                for key in ("run", "other"):
                    if key in params:
                        params[key] = rng.choice(run_iris)
                text, subs = queries.prepare(query, params)
                bindings = {k: _to_rdflib(v) for k, v in subs.items()}
                signal.setitimer(signal.ITIMER_REAL, timeout_s)
                t = time.perf_counter()
                try:
                    list(ds.query(text, initBindings=bindings))
                    dt = time.perf_counter() - t
                except _Timeout:
                    timed_out = True
                    break
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if i:
                    times.append(dt)
                if i >= 2 and sum(times) > 10:
                    break
            entry = stats(times) if times else {"p50_ms": None, "p95_ms": None, "n": 0}
            entry["timed_out"] = timed_out
            results[label] = entry
            shown = f"{entry['p50_ms']:9.2f} ms" if entry["p50_ms"] is not None else f"timeout (> {timeout_s:.0f} s)"
            print(f"  {label:32s} rdflib p50 {shown}", flush=True)
    finally:
        signal.signal(signal.SIGALRM, old)
    return results, {"runs": len(run_iris), "triples": triples, "load_s": round(load_s, 2), "timeout_s": timeout_s}


def main(argv: list[str] | None = None) -> int:
    parser = bench_report.parser(__doc__, runs_help="runs to make and ingest (N) [1000]",
                                 workdir_help="scratch folder [a new temporary one, removed unless --keep]",
                                 reuse_help="reuse the runs, store and ingest figures already in --workdir (queries only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--rdflib-runs", type=int, default=200, help="runs loaded into rdflib (it is slow) [200]")
    parser.add_argument("--rdflib-timeout", type=float, default=10.0, help="seconds per rdflib query [10]")
    parser.add_argument("--reps-run", type=int, default=30, help="repetitions of per-run queries [30]")
    parser.add_argument("--reps-all", type=int, default=10, help="repetitions of all-runs queries [10]")
    parser.add_argument("--query-cap", type=float, default=90.0, help="skip a query whose one execution takes longer [90 s]")
    parser.add_argument("--query-budget", type=float, default=40.0, help="seconds of repetitions per query and engine pair [40]")
    parser.add_argument("--reps-run-api", type=int, default=100,
                        help="repetitions of each question about one run through the Python API [100]")
    parser.add_argument("--add-runs", type=int, default=1000,
                        help="runs made after the queries and ingested into an empty store, then into the full one "
                             "(ingest_into_full in the JSON; 0: not measured) [1000]")
    parser.add_argument("--run-api-only", action="store_true",
                        help="time only one run's questions through the Python API (settings, results, cells, artifacts, "
                             "environment, whole run), not every canned query")
    args = parser.parse_args(argv)

    workdir = bench_report.scratch(args.workdir, "mlprov-bench-")
    report: dict = {**bench_report.report_head(__file__, argv, pyoxigraph=ox.__version__), "runs": args.runs,
                    "targets": TARGETS}
    try:
        saved = workdir / "ingest.json"
        if args.reuse:
            plans = json.loads((workdir / "plans.json").read_text())
            journals = sorted({ingest.plain_journal(j) for j in (workdir / "journal").glob("*.nt*")})
            report.update(json.loads(saved.read_text()))
            location = StoreLocation(workdir / "mlprov-store")
            print(f"reusing {len(journals)} runs and the store in {workdir}", flush=True)
        else:
            for leftover in ("journal", "mlprov-store", "pyoxigraph-bulk"):  # an earlier run's
                shutil.rmtree(workdir / leftover, ignore_errors=True)
            (workdir / "all.nq").unlink(missing_ok=True)
            print(f"making {args.runs} runs with the capture code in {workdir} ...", flush=True)
            plans = _plans(workdir)
            journals, make_s = make_runs(args.runs, workdir, plans, args.make_workers)
            journal_lines = sum(1 for j in journals[:200] for _ in open(j, encoding="utf-8")) / min(200, len(journals))
            print(f"  {make_s:.1f} s ({make_s / args.runs * 1000:.1f} ms a run, {args.make_workers} processes)", flush=True)

            # -- ingest ------------------------------------------------------------------------
            location = StoreLocation(workdir / "mlprov-store")
            _store_plans(location, plans)
            subprocess.run(["sync"], check=False)
            print("ingesting ...", flush=True)
            with _PeakMemory() as memory:
                started = time.perf_counter()
                with open_store(location) as store:
                    results = ingest.ingest_journals(store, journals)
                ingest_s = time.perf_counter() - started  # includes the flush on close
            ingest_peak_rss = max(_peak_rss_bytes(), memory.peak)
            journal_bytes = _du(workdir / "journal")  # what ingest keeps: compressed journals, markers, large values
            triples = sum(r.triples for r in results)
            assert all(r.status == "Completed" for r in results)
            mlprov_bytes = _du(location.database)
            print(f"  mlprov: {triples} triples in {ingest_s:.1f} s = {triples / ingest_s:,.0f} triples/s", flush=True)

            dump = workdir / "all.nq"
            with open_store(location) as store:
                total_quads = len(store.inner)
            # 100,000 runs dump to about 17 GB: where that would not fit twice on the disk, the
            # bulk load reads the dump from a pipe as a read-only process writes it.
            via_pipe = total_quads * DUMP_BYTES_PER_QUAD * 2 > shutil.disk_usage(workdir).free
            if via_pipe:
                os.mkfifo(dump)
            dumping = _dump_quads(location.database, dump)
            if not via_pipe:
                _finished(dumping)
                subprocess.run(["sync"], check=False)
            bulk_dir = workdir / "pyoxigraph-bulk"
            started = time.perf_counter()
            bulk = ox.Store(str(bulk_dir))
            bulk.bulk_load(path=str(dump), format=ox.RdfFormat.N_QUADS)
            bulk.flush()
            del bulk
            bulk_s = time.perf_counter() - started
            if via_pipe:
                _finished(dumping)
            bulk_bytes = _du(bulk_dir)
            print(f"  pyoxigraph bulk_load: {total_quads} quads in {bulk_s:.1f} s = {total_quads / bulk_s:,.0f} triples/s", flush=True)
            shutil.rmtree(bulk_dir, ignore_errors=True)
            dump.unlink()
            with open_store(location) as store:  # reopen: what a user sees after the first job
                pass
            report.update(
                {
                    "triples": triples,
                    "triples_per_run": round(triples / args.runs, 1),
                    "journal_lines_per_run": round(journal_lines, 1),
                    "make_runs_s": round(make_s, 1),
                    "ingest_s": {"mlprov": round(ingest_s, 2), "pyoxigraph": round(bulk_s, 2)},
                    "ingest_triples_per_s": {"mlprov": round(triples / ingest_s), "pyoxigraph": round(total_quads / bulk_s)},
                    "ingest_ratio": round((triples / ingest_s) / (total_quads / bulk_s), 3),
                    "bulk_load_from": "pipe" if via_pipe else "file",
                    "store_bytes": _du(location.database) + journal_bytes,
                    "bytes_per_run": round((_du(location.database) + journal_bytes) / args.runs),
                    "ingest_peak_rss_bytes": ingest_peak_rss,
                    "store_bytes_detail": {"mlprov": mlprov_bytes, "mlprov_after_reopen": _du(location.database),
                                           "journals_kept": journal_bytes, "pyoxigraph_bulk": bulk_bytes},
                }
            )

            (workdir / "plans.json").write_text(json.dumps(plans))
            saved.write_text(json.dumps({k: report[k] for k in (
                "triples", "triples_per_run", "journal_lines_per_run", "make_runs_s", "ingest_s",
                "ingest_triples_per_s", "ingest_ratio", "bulk_load_from", "store_bytes", "bytes_per_run", "ingest_peak_rss_bytes",
                "store_bytes_detail")}, indent=2))

        # -- queries -----------------------------------------------------------------------
        library, broken = _library()
        report["queries_not_loaded"] = broken
        run_iris = [vocab.run_iri(j.stem) for j in journals]
        plan_iris = [p["iri"] for p in plans]
        rng = random.Random(42)
        cases = _query_cases(library, run_iris, plan_iris, rng, max(args.reps_run, args.reps_all) + 1)
        print("one run through the Python API (mlprov and raw pyoxigraph, same store) ...", flush=True)
        with open_store(location, create=False, read_only=True) as store:
            report["run_api"] = bench_run_api(store, run_iris, args.reps_run_api)
        report["summary"] = {"run_api_missing_2ms": sorted(k for k, v in report["run_api"].items() if not v["meets_latency_target"])}
        print(run_api_table(report["run_api"]), flush=True)
        if args.run_api_only:
            bench_report.write_report(report, args.json)
            return 0
        print("queries (mlprov and raw pyoxigraph, same store) ...", flush=True)
        with open_store(location, create=False) as store:
            qresults = bench_queries(store, cases, args.reps_run, args.reps_all, args.query_cap, args.query_budget)
            rdflib_runs = run_iris[: min(args.rdflib_runs, len(run_iris))]
            print(f"queries on rdflib's in-memory Dataset ({len(rdflib_runs)} runs) ...", flush=True)
            rresults, rinfo = bench_rdflib(store, rdflib_runs, plan_iris, cases, args.rdflib_timeout, min(args.reps_all, 5))
        out = {}
        for label, entry in qresults.items():
            target = TARGETS["run_p50_ms"] if entry["scope"] == "run" else TARGETS["all_p50_ms"]
            rd = rresults.get(label, {"p50_ms": None, "p95_ms": None, "n": 0, "timed_out": None})
            if entry["mlprov"] is None:
                out[label] = {
                    "scope": entry["scope"],
                    "p50_ms": {"mlprov": None, "pyoxigraph": None, "rdflib": rd["p50_ms"]},
                    "p95_ms": {"mlprov": None, "pyoxigraph": None, "rdflib": rd["p95_ms"]},
                    "not_timed": f"one execution took over {entry['over_cap_s']:.0f} s",
                    "rdflib_timed_out": rd["timed_out"],
                    "rows": None,
                    "mlprov_over_pyoxigraph": None,
                    "meets_latency_target": False,
                }
                continue
            ratio = entry["mlprov"]["p50_ms"] / entry["pyoxigraph"]["p50_ms"] if entry["pyoxigraph"]["p50_ms"] else None
            out[label] = {
                "scope": entry["scope"],
                "p50_ms": {"mlprov": entry["mlprov"]["p50_ms"], "pyoxigraph": entry["pyoxigraph"]["p50_ms"], "rdflib": rd["p50_ms"]},
                "p95_ms": {"mlprov": entry["mlprov"]["p95_ms"], "pyoxigraph": entry["pyoxigraph"]["p95_ms"], "rdflib": rd["p95_ms"]},
                "repetitions": {"mlprov": entry["mlprov"]["n"], "pyoxigraph": entry["pyoxigraph"]["n"], "rdflib": rd["n"]},
                "rdflib_timed_out": rd["timed_out"],
                "rows": entry["rows_last"],
                "mlprov_over_pyoxigraph": round(ratio, 3) if ratio else None,
                "meets_latency_target": entry["mlprov"]["p50_ms"] <= target,
            }
        report["queries"] = out
        report["rdflib"] = {**rinfo, "note": f"rdflib holds only the first {rinfo['runs']} runs (of {args.runs}); "
                            f"a query over {rinfo['timeout_s']:.0f} s is stopped and its p50 is null"}
        report["summary"] |= {
            "run_queries_meeting_20ms": sorted(k for k, v in out.items() if v["scope"] == "run" and v["meets_latency_target"]),
            "run_queries_missing_20ms": sorted(k for k, v in out.items() if v["scope"] == "run" and not v["meets_latency_target"]),
            "all_queries_meeting_150ms": sorted(k for k, v in out.items() if v["scope"] == "all" and v["meets_latency_target"]),
            "all_queries_missing_150ms": sorted(k for k, v in out.items() if v["scope"] == "all" and not v["meets_latency_target"]),
            "max_mlprov_over_pyoxigraph": max(v["mlprov_over_pyoxigraph"] or 0 for v in out.values()),
            "queries_over_1_3x": sorted(k for k, v in out.items() if (v["mlprov_over_pyoxigraph"] or 0) > TARGETS["overhead_ratio"]),
            "ingest_ratio": report["ingest_ratio"],
        }
        if args.add_runs:
            print(f"adding {args.add_runs} more runs to an empty store, then to the store of {args.runs} runs ...", flush=True)
            report["ingest_into_full"] = ingest_into_full(workdir, location, plans, args.add_runs, args.make_workers)
            report["summary"]["ingest_into_full_ratio"] = report["ingest_into_full"]["ratio"]
        bench_report.write_report(report, args.json)
        print(table(report))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _store_plans(location: StoreLocation, plans: list[dict]) -> None:
    """The benchmark's plans into a store, as ``mlprov run`` puts a plan there before its runs."""
    with open_store(location) as store:
        for plan in plans:
            loaded = load(Path(plan["file"]))
            ingest.store_plan(store, loaded.graph, loaded.plan)


def ingest_into_full(workdir: Path, full: StoreLocation, plans: list[dict], n: int, workers: int) -> dict:
    """``n`` new runs ingested into an empty store, then the same into the full one: how
    much slower a store that holds many runs takes new ones (the ratio, empty over full)."""
    later = workdir / "later"
    shutil.rmtree(later, ignore_errors=True)
    journals, _ = make_runs(n, later, plans, workers)
    copy = later / "journal-copy"
    shutil.copytree(later / "journal", copy)  # ingest compresses what it stored: each store gets its own
    empty = StoreLocation(later / "empty-store")
    _store_plans(empty, plans)
    seconds = {}
    for name, location, folder in (("empty_s", empty, copy), ("full_s", full, later / "journal")):
        subprocess.run(["sync"], check=False)
        started = time.perf_counter()
        with open_store(location) as store:
            ingest.ingest_journals(store, [folder / j.name for j in journals])
        seconds[name] = round(time.perf_counter() - started, 2)
    shutil.rmtree(later, ignore_errors=True)
    return {"runs_added": n, **seconds, "ratio": round(seconds["empty_s"] / seconds["full_s"], 3)}


def table(report: dict) -> str:
    """The results as a Markdown table (for docs/performance.md)."""
    def ms(v):
        return "timeout" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    lines = [
        f"| query | scope | mlprov p50 (p95) ms | pyoxigraph p50 ms | mlprov / pyoxigraph | rdflib p50 ms ({report['rdflib']['runs']} runs) | rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, q in report["queries"].items():
        if q["p50_ms"]["mlprov"] is None:
            lines.append(f"| {label} | {q['scope']} | {q['not_timed']} | | | {ms(q['p50_ms']['rdflib'])} | |")
            continue
        lines.append(
            f"| {label} | {q['scope']} | {ms(q['p50_ms']['mlprov'])} ({ms(q['p95_ms']['mlprov'])}) | {ms(q['p50_ms']['pyoxigraph'])} "
            f"| {q['mlprov_over_pyoxigraph']:.2f} | {ms(q['p50_ms']['rdflib'])} | {q['rows']} |"
        )
    ing = report["ingest_triples_per_s"]

    def mib(key):
        value = report["store_bytes_detail"].get(key)
        return "unknown" if value is None else f"{value / 2**20:,.0f} MiB"

    lines += [
        "",
        f"Ingest: mlprov {ing['mlprov']:,} triples/s ({report['ingest_s']['mlprov']} s), pyoxigraph bulk_load {ing['pyoxigraph']:,} "
        f"triples/s ({report['ingest_s']['pyoxigraph']} s): ratio {report['ingest_ratio']:.2f}. "
        f"{report['triples']:,} triples, {report['triples_per_run']} a run. Store {mib('mlprov')} "
        f"({mib('mlprov_after_reopen')} after reopening; bulk-loaded {mib('pyoxigraph_bulk')}); journals kept "
        f"{mib('journals_kept')}; {report['bytes_per_run']:,} bytes a run on disk; ingest peak RSS "
        f"{report['ingest_peak_rss_bytes'] / 2**20:,.0f} MiB.",
    ]
    if added := report.get("ingest_into_full"):
        lines.append(f"{added['runs_added']:,} more runs: {added['empty_s']} s into an empty store, {added['full_s']} s into "
                     f"the store of {report['runs']:,} runs: ratio {added['ratio']:.2f}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
