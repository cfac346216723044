"""The bad-input catalogue for the commands that run notebooks, write output files and take
IRIs: every case is one line on stderr, exit 2, and nothing written or stored."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from mlprov_rdf.store import StoreLocation
from mlprov_rdf.workflow import generate_notebook
from tests.bad_input import MLPROV, refuse
from tests.conftest import make_plan

PLAN_IRI = "https://example.org/plans/q"
ABSENT_RUN = "urn:mlprov:run:19990101T000000-ffffffff"
#: Text that is no IRI and no run id: a space, a literal, nothing, angle brackets, a relative
#: name (for a plan IRI), an IRI with a space, a run id with '/'.
BAD_IRIS = {
    "space": "a b",
    "literal": '"x"',
    "empty": "",
    "angle-brackets": "<x>",
    "iri-with-space": "urn:x y",
    "run-id-with-slash": "2026/run",
}


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder with a plan (stored in ``home``), a user's notebook, a .py file, links to the plan."""
    root = tmp_path_factory.mktemp("bad-commands")
    plan = make_plan(root / "q.ttl")
    generate_notebook(plan, root / "q.ipynb", StoreLocation(root / "home"))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('mine')")]), root / "mine.ipynb")
    (root / "script.py").write_text("print('mine')\n")
    os.link(root / "q.ttl", root / "hard.ttl")
    (root / "sym.ipynb").symlink_to(root / "q.ttl")
    (root / "afile").write_text("in the way\n")
    (root / "folder.ipynb").mkdir()
    (root / "not-a-notebook.ipynb").write_text("{not json")
    return root


def _generate_onto(target: str) -> list[str]:
    return ["generate", "q.ttl", "-o", target, "--store", "fresh-store"]


GENERATE_CASES = {
    "generate-onto-the-plan": (_generate_onto("q.ttl"), ["input"]),
    "generate-onto-a-hard-link-of-the-plan": (_generate_onto("hard.ttl"), ["input"]),
    "generate-onto-a-symlink-to-the-plan": (_generate_onto("sym.ipynb"), ["input"]),
    "generate-onto-a-py-file": (_generate_onto("script.py"), ["--force"]),
    "generate-onto-a-users-notebook": (_generate_onto("mine.ipynb"), ["not a notebook mlprov wrote"]),
    "generate-under-a-file-in-the-way": (_generate_onto("afile/q.ipynb"), ["is a file"]),
    "generate-onto-a-folder": (_generate_onto("folder.ipynb"), ["folder"]),
    "generate-default-output-is-a-users-notebook": (["generate", "mine.ttl", "--store", "fresh-store"], ["--force"]),
    "run-plan-onto-the-plan": (["run", "q.ttl", "-o", "q.ttl", "--store", "fresh-store"], ["input"]),
    "run-plan-onto-a-py-file": (["run", "q.ttl", "-o", "script.py", "--store", "fresh-store"], ["--force"]),
    "run-a-missing-notebook": (["run", "missing.ipynb", "--store", "fresh-store"], ["no such notebook"]),
    "run-a-non-notebook-ipynb": (["run", "not-a-notebook.ipynb", "--store", "fresh-store"], ["not a readable notebook"]),
    "run-timeout-zero": (["run", "q.ttl", "--timeout", "0", "--store", "fresh-store"], ["--timeout 0"]),
    "run-timeout-negative": (["run", "q.ttl", "--timeout", "-5", "--store", "fresh-store"], ["--timeout -5"]),
}


@pytest.mark.parametrize("args, says", GENERATE_CASES.values(), ids=GENERATE_CASES.keys())
def test_an_output_or_notebook_that_cannot_be_used_is_refused_before_anything_is_stored(place, args, says):
    if args[1] == "mine.ttl":  # a plan beside a user's notebook of the same name
        (place / "mine.ttl").write_text((place / "q.ttl").read_text())
    try:
        refuse(args, cwd=place, says=says)
    finally:
        (place / "mine.ttl").unlink(missing_ok=True)


def _iri_commands(iri: str) -> dict[str, list[str]]:
    return {
        "regenerate": ["regenerate", iri, "-o", "again.ipynb", "--store", "home"],
        "export": ["export", iri, "--store", "home"],
        "browse": ["browse", iri, "-o", "graph.html", "--store", "home"],
        "reproduce": ["reproduce", iri, "--dir", "again", "--store", "home"],
        "diff": ["diff", iri, ABSENT_RUN, "--store", "home"],
    }


IRI_CASES = {
    f"{command}-{name}": args
    for name, iri in BAD_IRIS.items()
    for command, args in _iri_commands(iri).items()
}
IRI_CASES |= {
    "regenerate-a-relative-name": ["regenerate", "relative", "-o", "again.ipynb", "--store", "home"],
    "regenerate-an-absent-plan": ["regenerate", "https://example.org/plans/absent", "-o", "again.ipynb", "--store", "home"],
    "export-an-absent-run": ["export", ABSENT_RUN, "--store", "home"],
    "browse-an-absent-run": ["browse", ABSENT_RUN, "-o", "graph.html", "--store", "home"],
    "reproduce-an-absent-run": ["reproduce", ABSENT_RUN, "--dir", "again", "--store", "home"],
    "reproduce-a-plan-iri": ["reproduce", PLAN_IRI, "--dir", "again", "--store", "home"],
    "diff-an-absent-run": ["diff", ABSENT_RUN, ABSENT_RUN, "--store", "home"],
    "export-a-relative-name-absent": ["export", "relative", "--store", "home"],
}


@pytest.mark.parametrize("args", IRI_CASES.values(), ids=IRI_CASES.keys())
def test_a_bad_or_absent_iri_argument_is_one_line_naming_it(place, args):
    refuse(args, cwd=place, store=place / "home", says=["mlprov query plans" if args[0] == "regenerate" else "mlprov runs"])


OUTPUT_CASES = {
    "regenerate-onto-the-plan-file": (["regenerate", PLAN_IRI, "-o", "q.ttl", "--store", "home"], ["--force"]),
    "regenerate-onto-a-users-notebook": (["regenerate", PLAN_IRI, "-o", "mine.ipynb", "--store", "home"], ["--force"]),
    "export-onto-an-existing-file": (["export", PLAN_IRI, "-o", "script.py", "--store", "home"], ["--force"]),
    "browse-onto-a-file-it-did-not-write": (["browse", PLAN_IRI, "-o", "script.py", "--store", "home"], ["--force"]),
    "browse-under-a-file-in-the-way": (["browse", PLAN_IRI, "-o", "afile/graph.html", "--store", "home"], ["is a file"]),
}


@pytest.mark.parametrize("args, says", OUTPUT_CASES.values(), ids=OUTPUT_CASES.keys())
def test_an_output_that_is_not_mlprovs_own_is_never_replaced_without_force(place, args, says):
    refuse(args, cwd=place, store=place / "home", says=says)


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder nobody may write to: a read-only bind mount as root, chmod otherwise."""
    source, target = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    target.mkdir()
    if os.geteuid() != 0:
        source.chmod(0o555)
        yield source
        source.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"no read-only bind mount here (mount --bind failed: {mounted.stderr.decode().strip()})")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], capture_output=True)
        if remounted.returncode != 0:
            pytest.skip(f"no read-only bind mount here (remount,ro failed: {remounted.stderr.decode().strip()})")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_generate_into_a_read_only_folder_stores_nothing(place, read_only_folder, tmp_path):
    home = tmp_path / "home-ro-case"
    refuse(["generate", str(place / "q.ttl"), "-o", str(read_only_folder / "q.ipynb"), "--store", str(home)],
           cwd=tmp_path, watch=[place], says=["not writable"])
    assert not home.exists(), "the store was created although the notebook could not be written"


def test_force_replaces_a_file_mlprov_did_not_write(place, tmp_path):
    target = tmp_path / "mine.py"
    target.write_text("print('mine')\n")
    done = subprocess.run([*MLPROV, "generate", str(place / "q.ttl"), "-o", str(target),
                           "--store", str(tmp_path / "home"), "--force"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "mlprov" in nbformat.read(str(target), as_version=4).metadata


def test_a_notebook_mlprov_wrote_is_replaced_without_force(place, tmp_path):
    target = tmp_path / "q.ipynb"
    for _ in range(2):
        done = subprocess.run([*MLPROV, "generate", str(place / "q.ttl"), "-o", str(target),
                               "--store", str(tmp_path / "home")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
