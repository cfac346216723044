"""The clustering task on real kernels: every algorithm, data set and measure, run once.

Seven runs into one store (about a minute on two cores): k-means on R15 twice (determinism), agglomerative
clustering on Aggregation from a plan without its scaling step, DBSCAN on moons, a Gaussian
mixture on min-max-scaled blobs, DBSCAN on unscaled iris with a radius that makes one cluster
(no internal measure is defined), and k-means on blobs with a code step that drops the labels.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from importlib.resources import files
from pathlib import Path

import nbformat
import numpy as np
import pytest
import rdflib
from click.testing import CliRunner
from rdflib import RDF, Literal, URIRef
from sklearn import cluster, metrics, preprocessing

from mlprov_rdf import api
from mlprov_rdf.cli import main
from mlprov_rdf.generate import notebook_bytes
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import all_tasks
from tests.conftest import make_plan
from mlprov_rdf.workflow import run

TASK = "clustering"
MLPROV = rdflib.Namespace("https://w3id.org/mlprov#")
PPLAN = rdflib.Namespace("http://purl.org/net/p-plan#")
ALGORITHMS = ("kmeans", "agglomerative", "dbscan", "gaussian_mixture")
DATASETS = ("blobs", "moons", "iris", "aggregation", "r15")
INTERNAL = {"silhouette", "davies_bouldin", "calinski_harabasz"}
EXTERNAL = {"adjusted_rand_index", "normalized_mutual_info"}

#: name → (plan values as Turtle literals, steps to leave out, code to run before the evaluation)
CASES = {
    "kmeans-r15": ({"dataset": '"r15"', "n_clusters": "8"}, (), None),
    "kmeans-r15-again": ({"dataset": '"r15"', "n_clusters": "8"}, (), None),
    "agglomerative-aggregation": (
        {"dataset": '"aggregation"', "algorithm": '"agglomerative"', "n_clusters": "7", "linkage": '"single"'},
        ("DataPreparationStep",),
        None,
    ),
    "dbscan-moons": ({"dataset": '"moons"', "algorithm": '"dbscan"'}, (), None),
    "gaussian_mixture-blobs": ({"algorithm": '"gaussian_mixture"', "scaler": '"minmax"'}, (), None),
    "dbscan-iris-one-cluster": ({"dataset": '"iris"', "algorithm": '"dbscan"', "dbscan_eps": "10", "scaler": '"none"'}, (), None),
    "kmeans-blobs-unlabelled": ({}, (), "y = None  # as if the points came without labels"),
}


def clustering_plan(path: Path, values: dict[str, str], without: tuple[str, ...] = (), code: str | None = None) -> Path:
    """A plan from `mlprov init --task clustering` with some values replaced, some steps left
    out and, when ``code`` is given, a code step between training and evaluation."""
    make_plan(path, task=TASK, title=f"Clustering {path.stem}", **values)
    graph = rdflib.Graph().parse(path, format="turtle")
    graph.remove((None, MLPROV.position, None))  # the order follows p-plan:isPrecededBy alone
    for cls in without:
        step = graph.value(predicate=RDF.type, object=MLPROV[cls])
        before = list(graph.objects(step, PPLAN.isPrecededBy))
        for follower in list(graph.subjects(PPLAN.isPrecededBy, step)):
            graph.remove((follower, PPLAN.isPrecededBy, step))
            for node in before:
                graph.add((follower, PPLAN.isPrecededBy, node))
        for var in [*graph.objects(step, PPLAN.hasInputVar), *graph.objects(step, PPLAN.hasOutputVar), step]:
            graph.remove((var, None, None))
    if code is not None:
        plan_iri = graph.value(predicate=RDF.type, object=PPLAN.Plan)
        training = graph.value(predicate=RDF.type, object=MLPROV.TrainingStep)
        evaluation = graph.value(predicate=RDF.type, object=MLPROV.EvaluationStep)
        step = URIRef(f"{plan_iri}#drop-labels")
        graph.add((step, RDF.type, MLPROV.CodeStep))
        graph.add((step, rdflib.RDFS.label, Literal("Drop the labels")))
        graph.add((step, PPLAN.isStepOfPlan, plan_iri))
        graph.add((step, PPLAN.isPrecededBy, training))
        graph.add((step, MLPROV.code, Literal(code)))
        graph.remove((evaluation, PPLAN.isPrecededBy, None))
        graph.add((evaluation, PPLAN.isPrecededBy, step))
    graph.serialize(path, format="turtle")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every case run in a real kernel into one store: name → outcome, plan, metrics, settings."""
    root = tmp_path_factory.mktemp("clustering")
    location = StoreLocation(root / "store")
    out = {"location": location, "root": root}
    for name, (values, without, code) in CASES.items():
        plan_file = clustering_plan(root / f"{name}.ttl", values, without, code)
        outcome = run(plan_file, location, output=root / f"{name}.ipynb")
        assert outcome.ok, (name, outcome.error)
        out[name] = {"outcome": outcome, "plan_file": plan_file, "notebook": root / f"{name}.ipynb"}
    with api.open_store(location) as store:
        for name in CASES:
            run_iri = out[name]["outcome"].run
            frame = store.query("run-metrics", run=run_iri)
            out[name]["metrics"] = {
                str(row.measure).removeprefix(str(MLPROV)): (row.value, row.split) for row in frame.itertuples()
            }
            settings = store.query("run-params", run=run_iri)
            out[name]["settings"] = dict(zip(settings["parameter"], settings["value"]))
            out[name]["artifacts"] = store.query(
                "SELECT ?label ?kind ?file WHERE { <%s> <http://www.w3.org/ns/mls#hasOutput> ?a . "
                "?a <https://w3id.org/mlprov#artifactKind> ?kind ; <http://www.w3.org/2000/01/rdf-schema#label> ?label ; "
                "<http://www.w3.org/ns/prov#atLocation> ?file }" % run_iri
            )
    return out


def test_the_cases_cover_every_algorithm_and_data_set():
    task = all_tasks()[TASK]
    chosen = [{name: v.get(name, f'"{task.parameter(name).default}"').strip('"') for name in ("algorithm", "dataset")}
              for v, _, _ in CASES.values()]
    assert {c["algorithm"] for c in chosen} == set(ALGORITHMS) == set(task.parameter("algorithm").choices)
    assert {c["dataset"] for c in chosen} == set(DATASETS) == set(task.parameter("dataset").choices)


def test_every_run_completes_with_its_algorithms_measures_on_all_the_points(runs):
    expected = {
        "kmeans-r15": {"cluster_count", "inertia"} | INTERNAL | EXTERNAL,
        "agglomerative-aggregation": {"cluster_count"} | INTERNAL | EXTERNAL,
        "dbscan-moons": {"cluster_count", "noise_count"} | INTERNAL | EXTERNAL,
        "gaussian_mixture-blobs": {"cluster_count", "bic"} | INTERNAL | EXTERNAL,
        "dbscan-iris-one-cluster": {"cluster_count", "noise_count"} | EXTERNAL,
        "kmeans-blobs-unlabelled": {"cluster_count", "inertia"} | INTERNAL,
    }
    for name, measures in expected.items():
        assert runs[name]["outcome"].status == "Completed", name
        assert set(runs[name]["metrics"]) == measures, name
        assert {split for _, split in runs[name]["metrics"].values()} == {"all"}, name


def test_the_measures_are_those_of_the_clusters_found(runs):
    r15 = runs["kmeans-r15"]["metrics"]
    assert r15["cluster_count"][0] == 8
    assert r15["adjusted_rand_index"][0] > 0.95 and r15["normalized_mutual_info"][0] > 0.95
    # The same clustering computed here, from the shipped file, gives the same numbers.
    table = np.loadtxt((files("mlprov_rdf.datasets") / "R15.csv").read_text().splitlines(), delimiter=",")
    X = preprocessing.StandardScaler().fit_transform(table[:, :2])
    labels = cluster.KMeans(n_clusters=8, init="k-means++", n_init=10, random_state=42).fit_predict(X)
    assert r15["silhouette"][0] == pytest.approx(metrics.silhouette_score(X, labels), rel=1e-9)
    assert r15["davies_bouldin"][0] == pytest.approx(metrics.davies_bouldin_score(X, labels), rel=1e-9)
    assert r15["calinski_harabasz"][0] == pytest.approx(metrics.calinski_harabasz_score(X, labels), rel=1e-9)
    assert r15["adjusted_rand_index"][0] == pytest.approx(metrics.adjusted_rand_score(table[:, 2], labels), rel=1e-9)

    moons = runs["dbscan-moons"]["metrics"]
    assert moons["cluster_count"][0] == 2 and moons["adjusted_rand_index"][0] == 1.0
    aggregation = runs["agglomerative-aggregation"]["metrics"]
    assert aggregation["cluster_count"][0] == 7
    for name in ("kmeans-r15", "agglomerative-aggregation", "dbscan-moons", "gaussian_mixture-blobs"):
        m = runs[name]["metrics"]
        assert -1 <= m["silhouette"][0] <= 1 and m["davies_bouldin"][0] >= 0 and m["calinski_harabasz"][0] > 0, name


def test_one_cluster_records_its_count_and_no_internal_measure(runs):
    found = runs["dbscan-iris-one-cluster"]["metrics"]
    assert found["cluster_count"][0] == 1 and found["noise_count"][0] == 0
    assert not INTERNAL & set(found)
    assert found["adjusted_rand_index"][0] == 0.0  # one cluster says nothing about the three species


def test_without_labels_there_is_no_agreement_measure(runs):
    unlabelled = runs["kmeans-blobs-unlabelled"]
    assert not EXTERNAL & set(unlabelled["metrics"])
    assert INTERNAL <= set(unlabelled["metrics"])


def test_same_plan_and_seed_give_the_same_metrics_and_data(runs):
    first, again = runs["kmeans-r15"], runs["kmeans-r15-again"]
    assert first["outcome"].run != again["outcome"].run
    assert first["metrics"] == again["metrics"]
    with api.open_store(runs["location"]) as store:
        hashes = [
            store.query("run-artifacts", run=r["outcome"].run).set_index("label")["sha256"]["r15"]
            for r in (first, again)
        ]
    assert re.fullmatch(r"[0-9a-f]{64}", hashes[0]) and hashes[0] == hashes[1]


def test_two_feature_runs_log_a_cluster_scatter_figure_and_iris_none(runs):
    for name in CASES:
        artifacts = runs[name]["artifacts"]
        if name == "dbscan-iris-one-cluster":
            assert artifacts.empty
            continue
        assert list(artifacts["label"]) == ["cluster scatter"], name
        assert list(artifacts["kind"]) == ["figure"]
        path = Path(str(artifacts["file"][0]).removeprefix("file://"))
        run_id = runs[name]["outcome"].run.rpartition(":")[2]
        assert path == runs["location"].artifact_dir / run_id / "clusters.png"  # the run's own folder
        assert path.read_bytes().startswith(b"\x89PNG")


def test_settings_are_the_parameters_the_code_used(runs):
    r15 = runs["kmeans-r15"]["settings"]
    assert set(r15) == {"dataset", "scaler", "algorithm", "seed", "n_clusters", "kmeans_init", "kmeans_n_init"}
    aggregation = runs["agglomerative-aggregation"]["settings"]
    assert set(aggregation) == {"dataset", "algorithm", "n_clusters", "linkage"}  # no scaling step, no scaler
    moons = runs["dbscan-moons"]["settings"]
    assert set(moons) == {"dataset", "generated_samples", "moon_noise", "data_seed", "scaler", "algorithm",
                          "dbscan_eps", "dbscan_min_samples"}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_notebook_holds_only_the_code_of_its_algorithm(algorithm, tmp_path):
    plan_file = clustering_plan(tmp_path / f"{algorithm}.ttl", {"algorithm": f'"{algorithm}"', "dataset": '"moons"'})
    plan = load(plan_file).plan
    code = "\n".join(c.source for c in nbformat.reads(notebook_bytes(plan).decode(), 4).cells if c.cell_type == "code")
    classes = {"kmeans": "KMeans", "agglomerative": "AgglomerativeClustering", "dbscan": "DBSCAN",
               "gaussian_mixture": "GaussianMixture"}
    for other, name in classes.items():
        assert (name in code) == (other == algorithm), name
    for other in ("make_blobs", "load_iris", "Aggregation.csv", "R15.csv", "MinMaxScaler"):
        assert other not in code
    parameters = {a.targets[0].id for a in _parameters_cell(plan).body}
    own = {"kmeans": {"kmeans_init", "kmeans_n_init", "seed", "n_clusters"}, "agglomerative": {"linkage", "n_clusters"},
           "dbscan": {"dbscan_eps", "dbscan_min_samples"}, "gaussian_mixture": {"covariance_type", "seed", "n_clusters"}}
    assert parameters == {"generated_samples", "moon_noise", "data_seed"} | own[algorithm]
    assert notebook_bytes(plan) == notebook_bytes(load(plan_file).plan)


def _parameters_cell(plan) -> ast.Module:
    nb = nbformat.reads(notebook_bytes(plan).decode(), 4)
    return ast.parse(next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])))


def test_clustering_table1_has_a_row_per_run_with_data_settings_and_measures(runs):
    home = str(runs["location"].home)
    result = CliRunner().invoke(main, ["query", "clustering-table1", "--format", "json", "--store", home])
    assert result.exit_code == 0, result.output
    rows = [{k: v["value"] for k, v in row.items()} for row in json.loads(result.output)["results"]["bindings"]]
    assert [row["run"] for row in rows] == [runs[name]["outcome"].run for name in CASES]
    by_run = {row["run"]: row for row in rows}
    expected = {  # data set, points, features, true clusters, scaler, algorithm
        "kmeans-r15": ("r15", "320", "2", "8", "standard", "kmeans"),
        "agglomerative-aggregation": ("aggregation", "788", "2", "7", "none", "agglomerative"),
        "dbscan-moons": ("moons", "300", "2", "2", "standard", "dbscan"),
        "gaussian_mixture-blobs": ("blobs", "300", "2", "3", "minmax", "gaussian_mixture"),
        "dbscan-iris-one-cluster": ("iris", "150", "4", "3", "none", "dbscan"),
    }
    columns = ("dataset", "samples", "features", "true_clusters", "scaler", "algorithm")
    for name, values in expected.items():
        row = by_run[runs[name]["outcome"].run]
        assert tuple(row[c] for c in columns) == values, name
        assert row["status"] == "Completed" and float(row["fit_seconds"]) > 0
        for measure in INTERNAL | EXTERNAL:
            if measure in runs[name]["metrics"]:
                assert float(row[measure]) == runs[name]["metrics"][measure][0], (name, measure)
            else:
                assert measure not in row, (name, measure)
    assert by_run[runs["agglomerative-aggregation"]["outcome"].run]["linkage"] == "single"
    assert by_run[runs["dbscan-moons"]["outcome"].run]["dbscan_eps"] == "0.3"

    one = CliRunner().invoke(main, ["query", "clustering-table1", "-p", f"run={runs['dbscan-moons']['outcome'].run}",
                                    "--format", "json", "--store", home])
    assert one.exit_code == 0, one.output
    assert len(json.loads(one.output)["results"]["bindings"]) == 1


def test_query_list_shows_the_clustering_table():
    result = CliRunner().invoke(main, ["query", "--list"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^clustering-table1\s+Clustering runs", result.output, re.MULTILINE)


def test_init_writes_a_clustering_plan_that_validates(tmp_path):
    plan_file = tmp_path / "clusters.ttl"
    written = CliRunner().invoke(main, ["init", "--task", TASK, str(plan_file)])
    assert written.exit_code == 0, written.output
    checked = CliRunner().invoke(main, ["validate", str(plan_file)])
    assert checked.exit_code == 0, checked.output
    assert "valid clustering plan" in checked.output
    plan = load(plan_file).plan
    assert plan.task.iri == str(MLPROV.Clustering)
    assert [s.spec.cls for s in plan.steps] == [s.cls for s in all_tasks()[TASK].steps]


def test_the_shape_sets_ship_in_the_package_as_their_readme_describes():
    folder = files("mlprov_rdf.datasets")
    readme = (folder / "README.md").read_text()
    for name, points, clusters in (("Aggregation.csv", 788, 7), ("R15.csv", 320, 8)):
        data = (folder / name).read_bytes()
        assert f"| `{name}` | {points} | {clusters} | `{hashlib.sha256(data).hexdigest()}` |" in readme
        table = np.loadtxt(data.decode().splitlines(), delimiter=",")
        assert table.shape == (points, 3)
        assert sorted(set(table[:, 2].astype(int))) == list(range(1, clusters + 1))
    assert "BSD 3-Clause License" in readme and "Gionis" in readme and "Veenman" in readme and "Fränti" in readme
