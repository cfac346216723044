"""The bad-input catalogue for stores: damaged, unusual and misplaced store folders.

Every case is refused with one line and exit 2, twice in a row (the original defect: the
second call re-created the database over its files), and every file of the store is
byte-for-byte what it was before.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bad_input import mlprov, refuse
from tests.conftest import make_plan
from tests.store_damage import ON_OPEN, folder_digest, garbage_inside_data_blocks

PLAN_IRI = "https://example.org/plans/p"  # make_plan names the plan after its file
#: A reader and a writer, as a user types them (the plan is p.ttl in the working directory).
READER = ["runs"]
WRITER = ["generate", "p.ttl", "-o", "new.ipynb"]


@pytest.fixture(scope="module")
def healthy_store(tmp_path_factory) -> Path:
    """A store folder holding one plan, stored by a real `mlprov generate`."""
    root = tmp_path_factory.mktemp("healthy")
    make_plan(root / "p.ttl")
    done = mlprov(["generate", "p.ttl", "--store", "S"], cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "S"


@pytest.fixture
def workdir(tmp_path: Path, healthy_store: Path) -> Path:
    """A working directory with the plan and a copy of the healthy store in ./S."""
    make_plan(tmp_path / "p.ttl")
    shutil.copytree(healthy_store, tmp_path / "S")
    return tmp_path


def refused_twice_and_untouched(args: list[str], workdir: Path, home: Path, says: list[str]) -> None:
    before = folder_digest(home)
    for _ in range(2):
        refuse([*args, "--store", str(home)], cwd=workdir, watch=[home], says=says)
        assert folder_digest(home) == before, "a file of the store changed"


CASES = [
    pytest.param(kind, verb, id=f"{kind}-{name}")
    for kind in ON_OPEN
    for name, verb in (("reader", READER), ("writer", WRITER))
]


@pytest.mark.parametrize("kind, args", CASES)
def test_a_store_damaged_on_disk_is_refused_and_left_as_it_was(workdir: Path, kind: str, args: list[str]):
    ON_OPEN[kind](workdir / "S" / "oxigraph")
    refused_twice_and_untouched(args, workdir, workdir / "S", says=["damaged", "nothing was changed", "backup"])


@pytest.mark.parametrize("args", [
    pytest.param(["query", "SELECT ?plan WHERE { ?plan a <http://purl.org/net/p-plan#Plan> }"], id="query"),
    pytest.param(["export", PLAN_IRI], id="export"),
    pytest.param(["regenerate", PLAN_IRI, "-o", "again.ipynb"], id="regenerate"),
    pytest.param(["store", "check"], id="store-check"),
])
def test_damage_found_only_while_reading_is_the_same_one_line(workdir: Path, args: list[str]):
    """(pyoxigraph's evaluation of the 'runs' query spins on such a block instead of
    failing: its time limit stops it, and 'mlprov store check' names the damage.)"""
    garbage_inside_data_blocks(workdir / "S" / "oxigraph")
    refused_twice_and_untouched(args, workdir, workdir / "S", says=["damaged", "nothing was changed"])


@pytest.mark.parametrize("args", [pytest.param(READER, id="reader"), pytest.param(WRITER, id="writer")])
def test_a_store_path_that_is_a_file_is_refused(workdir: Path, args: list[str]):
    (workdir / "file-store").write_text("a file, not a store\n")
    refused_twice_and_untouched(args, workdir, workdir / "file-store", says=["is a file"])


@pytest.mark.parametrize("args", [
    pytest.param(READER, id="runs"),
    pytest.param(["query", "plans"], id="query"),
    pytest.param(["store", "check"], id="store-check"),
])
def test_a_store_path_naming_a_folder_of_other_files_is_no_store(workdir: Path, args: list[str]):
    other = workdir / "documents"
    other.mkdir()
    (other / "thesis.txt").write_text("chapter one\n")
    refused_twice_and_untouched(args, workdir, other, says=["no mlprov store here"])


@pytest.mark.parametrize("args", [pytest.param(READER, id="reader"), pytest.param(WRITER, id="writer")])
def test_a_store_path_naming_the_database_folder_itself_is_refused(workdir: Path, args: list[str]):
    refused_twice_and_untouched(args, workdir, workdir / "S" / "oxigraph", says=["Oxigraph database folder"])
