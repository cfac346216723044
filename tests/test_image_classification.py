"""The image-classification task, for real: generated notebooks run in a Jupyter kernel on tiny
data sets written in the formats torchvision reads from disk, then ingested into a real store.

Kernels inherit this module's environment: one intra-op thread (fast and repeatable on a busy
two-core machine) and an empty torch cache (no pretrained weights appear from elsewhere).
"""

from __future__ import annotations

from urllib.parse import urlparse
from urllib.request import url2pathname

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pyoxigraph as ox
import pytest
import torch
from sklearn.datasets import load_digits
from torchvision import models

from mlprov_rdf import series, vocab
from mlprov_rdf.errors import UserError
from mlprov_rdf.generate import build_notebook
from mlprov_rdf.plan import load
from mlprov_rdf.scaffold import turtle_literal, write_plan
from mlprov_rdf.store import StoreLocation, open_store
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import RunOutcome, run

from .image_data import (
    cifar10_checksum_shim,
    files_sha256,
    write_cifar10,
    write_image_folder,
    write_mnist,
)

TASK = "image-classification"
PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in vocab.PREFIXES.items())

# A few plans that together use every data set, model, optimizer, loss and preparation
# option; "{data}", "{folder}" and "{weights}" become the paths of the files written for them.
MATRIX = {
    "mnist-resnet18": dict(
        dataset="MNIST", data_root="{data}", architecture="resnet18", optimizer="Adam", loss="CrossEntropyLoss",
        resize=16, augment=True, num_workers=1, validation_fraction=0.25, max_train_samples=24, max_test_samples=10,
        epochs=1, batch_size=8, log_every=1,
    ),
    "cifar10-vgg16": dict(
        dataset="CIFAR10", data_root="{data}", architecture="vgg16", optimizer="SGD", momentum=0.9, learning_rate=0.01,
        loss="NLLLoss", resize=32, center_crop=32, validation_fraction=0.0, max_train_samples=8, max_test_samples=8,
        epochs=1, batch_size=8, save_checkpoint=False,
    ),
    "fashionmnist-shufflenet-pretrained": dict(
        dataset="FashionMNIST", data_root="{data}", architecture="shufflenet_v2_x1_0", pretrained=True,
        weights_file="{weights}", optimizer="RMSprop", momentum=0.5, weight_decay=0.0001, loss="CrossEntropyLoss",
        center_crop=24, normalize=False, validation_fraction=0.25, max_train_samples=16, max_test_samples=10,
        epochs=2, batch_size=8, save_checkpoint=False,
    ),
    "fakedata-small-cnn": dict(
        dataset="FakeData", fake_size=48, fake_image_size=16, fake_channels=3, fake_classes=3, data_seed=3,
        architecture="small_cnn", optimizer="Adagrad", loss="NLLLoss", center_crop=12, augment=True,
        test_fraction=0.25, validation_fraction=0.0, epochs=2, batch_size=8,
    ),
    "imagefolder-small-cnn": dict(
        dataset="ImageFolder", image_folder="{folder}", architecture="small_cnn", optimizer="Adadelta",
        learning_rate="default", resize=12, test_fraction=0.25, validation_fraction=0.2, epochs=1, batch_size=8,
    ),
    "digits-small-cnn-adamax": dict(
        dataset="digits", architecture="small_cnn", optimizer="Adamax", loss="NLLLoss", max_train_samples=200,
        max_test_samples=100, validation_fraction=0.1, epochs=2, batch_size=32, save_checkpoint=False,
    ),
}
# What each plan's splits hold, and how many classes its data set has.
SPLITS = {
    "mnist-resnet18": ({"train": 18, "validation": 6, "test": 10}, 10),
    "cifar10-vgg16": ({"train": 8, "test": 8}, 10),
    "fashionmnist-shufflenet-pretrained": ({"train": 12, "validation": 4, "test": 10}, 10),
    "fakedata-small-cnn": ({"train": 36, "test": 12}, 3),
    "imagefolder-small-cnn": ({"train": 14, "validation": 4, "test": 6}, 3),
    "digits-small-cnn-adamax": ({"train": 180, "validation": 20, "test": 100}, 10),
}
N_TRAIN, N_TEST = 40, 20  # images in each tiny torchvision data set


def _default(name):
    return all_tasks()[TASK].parameter(name).default


def image_plan(path: Path, **values) -> Path:
    """A plan from `mlprov init --task image-classification`, with some values replaced."""
    write_plan(all_tasks()[TASK], path, title=f"Image test plan {path.stem}", author="Test Author")
    text = path.read_text()
    for name, value in values.items():
        literal = turtle_literal(value)
        text, n = re.subn(
            rf'(mlprov:parameterName "{name}" ;\n    prov:value )[^\n]+ \.', lambda m: f"{m.group(1)}{literal} .", text
        )
        assert n == 1, name
    path.write_text(text)
    return path


@dataclass
class Ran:
    plan_file: Path
    location: StoreLocation
    outcome: RunOutcome
    values: dict
    folder: Path


def execute(folder: Path, *, env: dict[str, str] | None = None, **values) -> Ran:
    plan_file = image_plan(folder / "plan.ttl", **values)
    location = StoreLocation(folder / "store")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value, prepend=os.pathsep if key == "PYTHONPATH" else None)
        outcome = run(plan_file, location, output=folder / "plan.ipynb")
    return Ran(plan_file, location, outcome, values, folder)


def select(ran: Ran, sparql: str) -> list[list[str | None]]:
    """Rows of a SELECT about the run ?run (Oxigraph binds only projected variables)."""
    with open_store(ran.location) as store:
        solutions = store.query(
            PREFIXES + sparql.replace("SELECT ", "SELECT ?run ", 1), {"run": ox.NamedNode(ran.outcome.run)}
        )
        return [[None if t is None else t.value for t in list(row)[1:]] for row in solutions]


def settings_of(ran: Ran) -> dict[str, str]:
    query = "SELECT ?name ?value WHERE { ?run mls:hasInput ?s . ?s mlprov:parameterName ?name ; mls:hasValue ?value }"
    return dict(select(ran, query))


def metrics_of(ran: Ran) -> dict[str, str]:
    """Every evaluation of the run, keyed by its IRI after the run's: metric/NAME/SPLIT[/class/C][/epoch/E]."""
    query = "SELECT ?e ?value WHERE { ?run mls:hasOutput ?e . ?e a mls:ModelEvaluation ; mls:hasValue ?value }"
    rows = select(ran, query)
    return {e.removeprefix(ran.outcome.run + "/"): value for e, value in rows}


def operations_of(ran: Ran) -> set[str]:
    rows = select(ran, "SELECT ?op WHERE { ?p mlprov:operation ?op ; prov:wasGeneratedBy/dcterms:isPartOf ?run }")
    return {r[0] for r in rows}


def artifacts_of(ran: Ran) -> list[tuple[str, str, str]]:
    """(kind, path, sha256) of the files the run wrote or read besides its data."""
    rows = select(
        ran,
        """SELECT ?kind ?location ?sha WHERE {
             ?a a mlprov:Artifact ; mlprov:artifactKind ?kind ; prov:atLocation ?location ; mlprov:sha256 ?sha .
             { ?a prov:wasGeneratedBy/dcterms:isPartOf ?run } UNION { ?cell prov:used ?a ; dcterms:isPartOf ?run }
           } ORDER BY ?kind ?location""",
    )
    return [(kind, url2pathname(urlparse(location).path), sha) for kind, location, sha in rows]


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def kernel_environment(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("empty-torch-home")))
        yield


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Tiny MNIST, FashionMNIST, CIFAR10 and ImageFolder data, and a weights file."""
    root = tmp_path_factory.mktemp("image-data")
    data = root / "data"
    files = {
        "MNIST": write_mnist(data, name="MNIST", n_train=N_TRAIN, n_test=N_TEST, seed=1),
        "FashionMNIST": write_mnist(data, name="FashionMNIST", n_train=N_TRAIN, n_test=N_TEST, seed=2),
        "CIFAR10": write_cifar10(data, per_batch=N_TRAIN // 5, n_test=N_TEST, seed=3),
    }
    folder = write_image_folder(root / "shapes", per_class=8, size=20)
    torch.manual_seed(0)
    weights = root / "shufflenet-imagenet-shaped.pt"
    torch.save(models.shufflenet_v2_x1_0().state_dict(), weights)  # 1000 classes, like ImageNet weights
    return {
        "paths": {"data": str(data), "folder": str(folder), "weights": str(weights)},
        "files": files,
        "shim": cifar10_checksum_shim(root / "shim", data).parent,
    }


@pytest.fixture(scope="module")
def matrix(image_files, tmp_path_factory):
    """Runs a plan of MATRIX the first time a test asks for it."""
    runs: dict[str, Ran] = {}

    def get(name: str) -> Ran:
        if name not in runs:
            values = {
                k: v.format(**image_files["paths"]) if isinstance(v, str) else v for k, v in MATRIX[name].items()
            }
            env = {"PYTHONPATH": str(image_files["shim"])} if values["dataset"] == "CIFAR10" else None
            runs[name] = execute(tmp_path_factory.mktemp(name), env=env, **values)
        return runs[name]

    return get


# -- plans and notebooks (no kernel) ---------------------------------------------------


def test_the_matrix_uses_every_data_set_model_optimizer_loss_and_preparation_option():
    task = all_tasks()[TASK]
    plans = [{**{p.name: p.default for p in task.parameters}, **values} for values in MATRIX.values()]
    for name in ("dataset", "architecture", "optimizer", "loss"):
        assert {p[name] for p in plans} == set(task.parameter(name).choices), name
    grayscale = {"MNIST", "FashionMNIST", "digits"}
    assert any(p["dataset"] in grayscale and p["architecture"] != "small_cnn" for p in plans)  # converted
    assert any(p["dataset"] in grayscale and p["architecture"] == "small_cnn" for p in plans)  # left alone
    assert any(p["dataset"] == "CIFAR10" and p["architecture"] != "small_cnn" for p in plans)  # never converted
    assert all(any(p[option] for p in plans) for option in ("resize", "center_crop", "augment", "pretrained"))
    assert {p["normalize"] for p in plans} == {True, False}
    assert {p["learning_rate"] is None or p["learning_rate"] == "default" for p in plans} == {True, False}


def test_plan_values_reach_the_code_only_through_the_parameters_cell_or_as_the_code_they_chose(tmp_path):
    plan = image_plan(
        tmp_path / "p.ttl", dataset="FakeData", fake_size=4321, data_root="unique-root-name", learning_rate=0.0123
    )
    nb = build_notebook(load(plan).plan)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    parameters = [c for c in code if c.startswith(vocab.PARAMETERS_MARKER)]
    assert len(parameters) == 1
    steps = [c for c in code if c is not parameters[0]]
    for literal in ("4321", "0.0123"):  # read at run time: the parameters cell alone holds them
        assert f" = {literal}  # " in parameters[0]
        assert not any(literal in c for c in steps), literal
    # FakeData chose the code: written where the code needs the name, never a variable
    assert not any(line.startswith("dataset =") for line in parameters[0].splitlines())
    assert "'FakeData'" in "".join(steps)
    assert "datasets.FakeData(" in "".join(steps) and "MNIST" not in "".join(steps)
    # data_root is read by no code of a FakeData notebook
    assert not any("unique-root-name" in c or "data_root" in c for c in code)


def test_an_image_folder_must_be_an_existing_folder_when_selected(tmp_path):
    (tmp_path / "a-file.png").write_bytes(b"not a folder")
    with pytest.raises(UserError, match="'image_folder' is required when dataset = 'ImageFolder'"):
        load(image_plan(tmp_path / "p1.ttl", dataset="ImageFolder"))
    with pytest.raises(UserError, match="folder 'no-such-folder' does not exist"):
        load(image_plan(tmp_path / "p2.ttl", dataset="ImageFolder", image_folder="no-such-folder"))
    with pytest.raises(UserError, match="folder 'a-file.png' does not exist"):
        load(image_plan(tmp_path / "p3.ttl", dataset="ImageFolder", image_folder="a-file.png"))
    (tmp_path / "classes" / "a").mkdir(parents=True)
    assert load(image_plan(tmp_path / "p4.ttl", dataset="ImageFolder", image_folder="classes")).plan


# -- the matrix, executed ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", MATRIX)
def test_each_plan_of_the_matrix_completes_with_metrics_splits_and_figures(matrix, name):
    ran = matrix(name)
    values = {**{p.name: p.default for p in all_tasks()[TASK].parameters}, **ran.values}
    assert ran.outcome.ok, ran.outcome.error
    assert ran.outcome.status == "Completed"

    settings = settings_of(ran)
    for key in ("dataset", "architecture", "optimizer", "loss", "epochs"):
        assert settings[key] == str(values[key]), key

    sizes, n_classes = SPLITS[name]
    splits = select(
        ran,
        """SELECT ?split ?size WHERE {
             ?d a mls:Dataset ; prov:wasGeneratedBy/dcterms:isPartOf ?run .
             ?s a mlprov:DataSplit ; prov:wasDerivedFrom ?d ; mlprov:splitName ?split ; mlprov:sampleCount ?size ;
                mlprov:sha256 ?sha .
           }""",
    )
    assert {split: int(size) for split, size in splits} == sizes

    recorded = metrics_of(ran)
    test = {k.split("/")[1]: v for k, v in recorded.items() if k.endswith("/test")}
    assert {"accuracy", "loss", "macro_f1", "macro_precision", "macro_recall", "confusion_matrix"} <= set(test)
    assert 0.0 <= float(test["accuracy"]) <= 1.0
    assert 0.0 < float(test["loss"]) < math.inf
    confusion = json.loads(test["confusion_matrix"])
    assert len(confusion) == n_classes and sum(map(sum, confusion)) == sizes["test"]
    assert len([k for k in recorded if k.startswith("metric/f1/test/class/")]) == n_classes
    epochs = list(range(1, values["epochs"] + 1))
    series_epochs = {e.removeprefix(ran.outcome.run + "/"): [epoch for epoch, _ in series.decode(text)] for e, text in
                     select(ran, "SELECT ?e ?series WHERE { ?run mls:hasOutput ?e . ?e mlprov:series ?series }")}
    assert series_epochs["metric/training_loss/train/series"] == epochs
    assert series_epochs.get("metric/accuracy/validation/series", []) == (epochs if "validation" in sizes else [])

    artifacts = artifacts_of(ran)
    assert [kind for kind, _, _ in artifacts if kind == "figure"] == ["figure", "figure"]
    for kind, location, sha in artifacts:
        assert Path(location).is_file() and sha256_file(location) == sha, location
    checkpoints = [location for kind, location, _ in artifacts if kind == "checkpoint"]
    assert len(checkpoints) == (1 if values["save_checkpoint"] else 0)
    for location in checkpoints:
        assert Path(location).parent == ran.location.artifact_dir / vocab.run_id_of(ran.outcome.run)  # the run's folder
        saved = torch.load(location, weights_only=True)
        assert saved["architecture"] == values["architecture"] and "model_state_dict" in saved


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-resnet18", "fashionmnist-shufflenet-pretrained", "cifar10-vgg16"])
def test_torchvision_data_sets_are_read_by_their_own_classes_from_the_real_files(matrix, image_files, name):
    ran = matrix(name)
    assert ran.outcome.ok, ran.outcome.error
    dataset = ran.values["dataset"]
    rows = select(
        ran,
        """SELECT ?id ?source ?sha ?n ?classes ?features WHERE {
             ?d a mls:Dataset ; dcterms:identifier ?id ; dcterms:source ?source ; mlprov:sha256 ?sha ;
                mlprov:sampleCount ?n ; mlprov:classCount ?classes ; mlprov:featureCount ?features ;
                prov:wasGeneratedBy/dcterms:isPartOf ?run .
             FILTER NOT EXISTS { ?d a mlprov:DataSplit }
           }""",
    )
    features = 3 * 32 * 32 if dataset == "CIFAR10" else 28 * 28
    sha = files_sha256(image_files["files"][dataset])
    assert rows == [[dataset, f"torchvision.datasets.{dataset}", sha, str(N_TRAIN + N_TEST), "10", str(features)]]


@pytest.mark.slow
def test_generated_data_sets_are_hashed_from_their_tensors_and_folders_from_their_files(matrix, image_files):
    digits = matrix("digits-small-cnn-adamax")
    bunch = load_digits()
    images = (bunch.images / 16.0).astype("float32")[:, None]  # as the notebook reads them: N x 1 x 8 x 8
    labels = bunch.target.astype("int64")
    expected = hashlib.sha256(
        f"{images.shape}|{images.dtype}|".encode() + images.tobytes()
        + f"{labels.shape}|{labels.dtype}|".encode() + labels.tobytes()
    ).hexdigest()
    query = """SELECT ?sha WHERE {
                 ?d a mls:Dataset ; mlprov:sha256 ?sha ; prov:wasGeneratedBy/dcterms:isPartOf ?run
                 FILTER NOT EXISTS { ?d a mlprov:DataSplit }
               }"""
    assert select(digits, query) == [[expected]]
    folder = matrix("imagefolder-small-cnn")
    assert select(folder, query) == [[files_sha256(Path(image_files["paths"]["folder"]).rglob("*.png"))]]


@pytest.mark.slow
def test_grayscale_becomes_three_channels_only_where_a_three_channel_model_meets_one_channel_data(matrix):
    mnist = operations_of(matrix("mnist-resnet18"))
    assert {"grayscale_to_rgb=True", "image_size=3 x 16 x 16"} <= mnist
    assert "augmentation=RandomCrop + RandomHorizontalFlip" in mnist
    assert "normalize=mean=[0.1307, 0.1307, 0.1307] std=[0.3081, 0.3081, 0.3081]" in mnist
    fashion = operations_of(matrix("fashionmnist-shufflenet-pretrained"))
    assert {"grayscale_to_rgb=True", "image_size=3 x 24 x 24", "center_crop=24", "normalize=none"} <= fashion
    cifar = operations_of(matrix("cifar10-vgg16"))
    assert {"grayscale_to_rgb=False", "image_size=3 x 32 x 32", "augmentation=none"} <= cifar
    assert "normalize=mean=[0.4914, 0.4822, 0.4465] std=[0.247, 0.2435, 0.2616]" in cifar
    digits = operations_of(matrix("digits-small-cnn-adamax"))
    assert {"grayscale_to_rgb=False", "image_size=1 x 8 x 8"} <= digits  # the small CNN takes one channel


@pytest.mark.slow
def test_pretrained_weights_come_from_a_local_weights_file_with_its_hash(matrix, image_files):
    ran = matrix("fashionmnist-shufflenet-pretrained")
    assert ran.outcome.ok, ran.outcome.error
    weights = image_files["paths"]["weights"]
    assert ("weights", weights, sha256_file(weights)) in artifacts_of(ran)
    rows = select(
        ran,
        """SELECT ?step WHERE {
             ?w mlprov:artifactKind "weights" .
             ?cell prov:used ?w ; dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step .
             ?m a mls:Model ; rdfs:label "untrained model" ; prov:wasDerivedFrom ?w .
           }""",
    )
    assert [r[0].rsplit("#", 1)[1] for r in rows] == ["model-definition"]
    nb = nbformat.read(str(ran.outcome.notebook), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "new classifier head ['fc.weight', 'fc.bias']" in text


# -- failures the notebook explains ----------------------------------------------------


def _failure(ran: Ran) -> tuple[str, str]:
    rows = select(
        ran,
        """SELECT ?step ?error WHERE {
             ?cell dcterms:isPartOf ?run ; mlprov:error ?error ; p-plan:correspondsToStep ?step
           }""",
    )
    assert len(rows) == 1
    status = select(ran, "SELECT ?status WHERE { ?run mlprov:status ?status }")
    assert status == [[vocab.MLPROV + "Failed"]]
    return rows[0][0].rsplit("#", 1)[1], rows[0][1]


@pytest.mark.slow
def test_pretrained_without_weights_file_offline_stops_with_a_clear_error(tmp_path):
    ran = execute(tmp_path, architecture="resnet18", pretrained=True, epochs=1)
    assert not ran.outcome.ok
    step, error = _failure(ran)
    assert step == "model-definition"
    assert error.startswith("FileNotFoundError: pretrained = True")
    assert "set weights_file" in error and "allow_download = True" in error


@pytest.mark.slow
def test_a_missing_torchvision_data_set_offline_stops_with_an_error_naming_the_data_root(tmp_path):
    empty = tmp_path / "no-data-here"
    ran = execute(tmp_path, dataset="MNIST", data_root=str(empty))
    assert not ran.outcome.ok
    step, error = _failure(ran)
    assert step == "data-ingestion"
    assert error.startswith(f"FileNotFoundError: MNIST is not in data_root = {str(empty)!r}")
    assert str(empty / "MNIST" / "raw") in error and "allow_download = True" in error
    assert "train-images-idx3-ubyte" in error
    assert not empty.exists()  # nothing was downloaded


# -- the defaults, determinism and the loss --------------------------------------------


@pytest.mark.slow
def test_init_then_run_with_the_defaults_trains_a_small_cnn_on_digits_offline(digits_run):
    """The session's `mlprov init` then `mlprov run` of the image task (tests/conftest.py)."""
    plan, root = digits_run["plan_file"], digits_run["root"]
    text = plan.read_text()
    assert "One of: digits | MNIST | FashionMNIST | CIFAR10 | FakeData | ImageFolder." in text
    assert "One of: small_cnn | resnet18 | shufflenet_v2_x1_0 | vgg16." in text
    outcome = RunOutcome(digits_run["run"], "Completed", True, None, root / "digits.ipynb")
    ran = Ran(plan, digits_run["location"], outcome, {}, root)
    settings = settings_of(ran)
    assert (settings["dataset"], settings["architecture"], settings["pretrained"]) == ("digits", "small_cnn", "false")
    recorded = metrics_of(ran)
    assert float(recorded["metric/accuracy/test"]) >= 0.8
    assert float(recorded["metric/roc_auc_ovr/test"]) >= 0.9
    (loss,) = select(ran, """SELECT ?series WHERE { ?run mls:hasOutput ?e . ?e mlprov:series ?series
                              FILTER (STRENDS(STR(?e), "/metric/training_loss/train/series")) }""")
    assert [epoch for epoch, _ in series.decode(loss[0])] == list(range(1, _default("epochs") + 1))
    assert [kind for kind, _, _ in artifacts_of(ran)] == ["checkpoint", "figure", "figure"]


@pytest.mark.slow
def test_the_same_plan_twice_gives_identical_metrics_and_nll_loss_runs_on_log_softmax(matrix, tmp_path):
    first = matrix("digits-small-cnn-adamax")
    assert first.outcome.ok, first.outcome.error
    again = run(first.plan_file, first.location, output=first.folder / "again.ipynb")
    second = Ran(first.plan_file, first.location, again, first.values, first.folder)
    assert second.outcome.ok, second.outcome.error
    assert second.outcome.run != first.outcome.run
    recorded = metrics_of(first)
    assert len(recorded) > 20
    assert metrics_of(second) == recorded
    # NLLLoss on log-softmax is cross-entropy, to the last bit: the same plan with
    # CrossEntropyLoss gives the same numbers. (On softmax output it would be negative.)
    cross_entropy = execute(tmp_path, **{**first.values, "loss": "CrossEntropyLoss"})
    assert cross_entropy.outcome.ok, cross_entropy.outcome.error
    assert metrics_of(cross_entropy) == recorded
    assert all(float(v) > 0 for k, v in recorded.items() if k.startswith(("metric/training_loss/", "metric/loss/")))
