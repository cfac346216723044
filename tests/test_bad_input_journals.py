"""The bad-input catalogue for journals: every bad journal is one line, exit 2, nothing stored or marked.

Each case starts from the journal of a real run (a real Iris notebook in a real kernel,
``executed_run``), writes a damaged or hostile copy into the test's folder, and runs the real
``mlprov ingest FILE --store HOME`` in a subprocess through :func:`tests.bad_input.refuse`.
HOME is a real store that already holds a run, so "no graph changed" means something.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from mlprov_rdf import capture, vocab
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.workflow import ingest_paths
from tests.bad_input import refuse

RUN_ID = "20260101T000000-0badf00d"
RUN = vocab.run_iri(RUN_ID)
MLPROV, MLS, RDF = vocab.MLPROV, vocab.MLS, vocab.RDF + "type"
OVER = "x" * (capture.LARGE_VALUE_CHARS + 10)


@pytest.fixture(scope="module")
def real_journal(executed_run) -> str:
    """The text of a real run's journal, with its run id replaced by ``RUN_ID``."""
    run_id = vocab.run_id_of(executed_run["outcome"].run)
    journal = executed_run["location"].journal_dir / f"{run_id}.nt"
    return journal.read_text(encoding="utf-8").replace(run_id, RUN_ID)


@pytest.fixture(scope="module")
def home(executed_run, tmp_path_factory) -> Path:
    """A store holding one real run: refusals must leave its graphs as they are."""
    home = tmp_path_factory.mktemp("journals-home") / "home"
    journal = executed_run["location"].journal_dir / f"{vocab.run_id_of(executed_run['outcome'].run)}.nt"
    (home / "journal").mkdir(parents=True)
    shutil.copy(journal, home / "journal" / journal.name)
    ingest_paths([], StoreLocation(home))
    return home


def _with_line(line: str) -> Callable[[str], str]:
    """The real journal with one more line after its third."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        return "\n".join(lines[:3] + [line] + lines[3:])
    return edit


def _shared_node_rewritten(text: str) -> str:
    """The real journal with one more statement about the first environment node it describes."""
    node = next(line.split(" ", 1)[0] for line in text.split("\n") if line.startswith("<" + vocab.ENV_BASE))
    return _with_line(f'{node} <{MLPROV}version> "0.0.0" .')(text)


@dataclass(frozen=True)
class Case:
    """A journal file written from the real journal's text, the name it gets, and what the line says."""

    name: str
    content: Callable[[str], str | bytes] | None  # None: the case makes the path itself
    says: tuple[str, ...]
    make: Callable[[Path], None] | None = None  # builds something at the path instead of a file


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


def _folder(path: Path) -> None:
    path.mkdir()


def _notebook_without_run(path: Path) -> None:
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "1 + 1", "metadata": {}, "outputs": [],
                                           "execution_count": 1}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


def _notebook_of_a_lost_journal(path: Path) -> None:
    announced = f"mlprov: recording run {RUN} (journal: {path.parent / 'elsewhere' / RUN_ID}.nt)\n"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "run = capture.start()", "metadata": {},
                                           "execution_count": 1,
                                           "outputs": [{"output_type": "stream", "name": "stdout", "text": announced}]}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


CASES = {
    "name-with-a-space": Case("my run.nt", lambda t: t, ("my run.nt", "not named as mlprov names journals")),
    "name-is-not-its-run": Case("notarun.nt", lambda t: t, ("notarun.nt", f"the journal of run <{RUN}>",
                                                            f"rename it {RUN_ID}.nt")),
    "name-of-another-run": Case("20260101T000000-00000000.nt", lambda t: t, (f"the journal of run <{RUN}>",)),
    "run-outside-mlprov-iris": Case(f"{RUN_ID}.nt", lambda t: t.replace(RUN, "https://evil.example/run"),
                                    ("<https://evil.example/run>", "give the journal file its run wrote")),
    "empty": Case(f"{RUN_ID}.nt", lambda t: "", ("the journal is empty",)),
    "blank-lines-only": Case(f"{RUN_ID}.nt", lambda t: "\n\n  \n", ("the journal is empty",)),
    "binary": Case(f"{RUN_ID}.nt", lambda t: bytes(range(256)) * 8, ("not UTF-8 text",)),
    "text-that-is-no-journal": Case(f"{RUN_ID}.nt", lambda t: "hello\x00world\n" * 40, ("records no run",)),
    "cut-before-the-run-line": Case(f"{RUN_ID}.nt", lambda t: t.split("\n")[0] + "\n", ("records no run",)),
    "about-another-run": Case(f"{RUN_ID}.nt", _with_line(
        f"<urn:mlprov:run:OTHER> <{MLPROV}status> <{MLPROV}Completed> ."), ("line 4", "<urn:mlprov:run:OTHER>",
                                                                        "its own run only")),
    "about-a-plan": Case(f"{RUN_ID}.nt", _with_line(
        f'<https://example.org/plans/iris> <{vocab.DCTERMS}title> "Hijacked" .'),
        ("line 4", "<https://example.org/plans/iris>")),
    "about-the-ontology": Case(f"{RUN_ID}.nt", _with_line(
        f'<{MLPROV}status> <{vocab.RDFS}label> "changed" .'), ("line 4", f"<{MLPROV}status>")),
    "about-another-bundle": Case(f"{RUN_ID}.nt", _with_line(
        f"<urn:mlprov:bundle:OTHER> <{RDF}> <{vocab.PPLAN}Bundle> ."), ("<urn:mlprov:bundle:OTHER>",)),
    "a-second-run-under-its-own-iri": Case(f"{RUN_ID}.nt", _with_line(f"<{RUN}/fake> <{RDF}> <{MLS}Run> ."),
                                           ("line 4", "describes a second run", f"<{RUN}/fake>")),
    "a-blank-node-run": Case(f"{RUN_ID}.nt", _with_line(f"_:phantom <{RDF}> <{MLS}Run> ."),
                             ("describes a second run",)),
    "a-shared-agent-made-a-run": Case(f"{RUN_ID}.nt", _with_line(
        f"<{vocab.AGENT_BASE}person:root> <{MLPROV}status> <{MLPROV}Completed> ."),
        (f"<{vocab.AGENT_BASE}person:root>",)),
    "rewrites-a-shared-environment-node": Case(f"{RUN_ID}.nt", _shared_node_rewritten,
                                               ("line 4", vocab.ENV_BASE, "not named by what its lines say")),
    "an-environment-node-under-a-made-up-name": Case(f"{RUN_ID}.nt", _with_line(
        f'<{vocab.ENV_BASE}package:{"0" * 32}> <{vocab.RDFS}label> "numpy 0.0" .'),
        ("line 4", "not named by what its lines say")),
    "an-environment-node-holding-a-blank-node": Case(f"{RUN_ID}.nt", _with_line(
        f"<{vocab.ENV_BASE}package:{'0' * 32}> <{MLPROV}version> _:v ."), ("line 4", "without blank nodes")),
    "tab-separated-foreign-statement": Case(f"{RUN_ID}.nt", _with_line(
        f"<urn:mlprov:run:OTHER>\t<{MLPROV}status>\t<{MLPROV}Completed> ."), ("<urn:mlprov:run:OTHER>",)),
    "indented-foreign-statement": Case(f"{RUN_ID}.nt", _with_line(
        f"   <urn:mlprov:run:OTHER> <{MLPROV}status> <{MLPROV}Completed> ."), ("<urn:mlprov:run:OTHER>",)),
    "statement-in-a-named-graph": Case(f"{RUN_ID}.nt", _with_line(
        f"<{RUN}> <{MLPROV}status> <{MLPROV}Completed> <urn:mlprov:bundle:OTHER> ."),
        ("line 4", "named graph <urn:mlprov:bundle:OTHER>")),
    "over-size-statement-about-another-run": Case(f"{RUN_ID}.nt", _with_line(
        f'<urn:mlprov:run:OTHER> <{MLPROV}sourceCode> "{OVER}" .'), ("line 4", "<urn:mlprov:run:OTHER>")),
    "over-size-iri": Case(f"{RUN_ID}.nt", _with_line(f"<{RUN}> <{MLPROV}plan> <urn:{OVER}> ."),
                          ("line 4", "not a literal value")),
    "missing-file": Case(f"{RUN_ID}.nt", None, ("no such file or folder",), make=lambda p: None),
    "folder-named-nt": Case(f"{RUN_ID}.nt", None, ("a folder with no journal",), make=_folder),
    "fifo-named-nt": Case(f"{RUN_ID}.nt", None, ("not a regular file",), make=_fifo),
    "symlink-loop": Case(f"{RUN_ID}.nt", None, ("symbolic link to nothing",), make=_loop),
    "not-a-journal-suffix": Case(f"{RUN_ID}.txt", lambda t: t, ("not a journal (.nt)",)),
    "notebook-that-recorded-no-run": Case("executed.ipynb", None, ("recorded no run",), make=_notebook_without_run),
    "notebook-of-a-journal-not-here": Case("executed.ipynb", None, ("journal not found",),
                                           make=_notebook_of_a_lost_journal),
    "notebook-that-is-not-json": Case("executed.ipynb", lambda t: "{ not json", ("not a readable notebook",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_journal_is_refused_in_one_line_and_nothing_is_stored_or_marked(case: Case, real_journal, home, tmp_path):
    path = tmp_path / case.name
    if case.make is not None:
        case.make(path)
    else:
        content = case.content(real_journal)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    refusal = refuse(["ingest", path.name, "--store", home], cwd=tmp_path, watch=[home], store=home, says=case.says)
    assert refusal.stdout == ""
    assert not list(tmp_path.glob("*.ingested")) and not list(tmp_path.glob("*.files"))


def test_an_unreadable_journal_is_refused(real_journal, home, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file whatever its mode, so no file is unreadable here")
    path = tmp_path / f"{RUN_ID}.nt"
    path.write_text(real_journal, encoding="utf-8")
    path.chmod(0)
    try:
        refuse(["ingest", path.name, "--store", home], cwd=tmp_path, watch=[home], store=home,
               says=("cannot read the journal",))
    finally:
        path.chmod(0o644)
