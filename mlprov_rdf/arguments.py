"""What users name on the command line, checked once for every command that takes it.

IRIs and run ids (``regenerate``, ``export``, ``browse``, ``reproduce``, ``diff``) become
checked IRIs or one clear ``UserError`` naming the argument; files a command writes
(``generate``, ``run -o``, ``regenerate``, ``export -o``, ``browse -o``,
``import-mlprovcodegen``) are checked before any work is done and written atomically,
never over an input and never over a file mlprov did not write, unless ``--force``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Literal

import pyoxigraph as ox

from . import vocab
from .errors import UserError

RUN_EXAMPLE = "urn:mlprov:run:20261123T194201-3fa2c1d0 or 20261123T194201-3fa2c1d0"
PLAN_EXAMPLE = "https://example.org/plans/iris"
#: The marker that ``browse`` writes into its pages, so a later ``browse`` may replace them.
PAGE_MARKER = '<meta name="generator" content="mlprov browse">'

OutputKind = Literal["notebook", "page", "file"]


def _iri_problem(text: str) -> str | None:
    """Why ``text`` is not an absolute IRI, or None when it is one."""
    if not text:
        return "empty"
    try:
        ox.NamedNode(text)
    except ValueError as error:
        return f"not an absolute IRI ({error})"
    return None


def checked_iri(text: str, *, argument: str, listing: str) -> str:
    """An absolute IRI given as ``argument``; ``listing`` says which command lists them."""
    text = text.strip()
    problem = _iri_problem(text)
    if problem:
        raise UserError(f"{argument} {text!r}: {problem}; give an absolute IRI such as {PLAN_EXAMPLE} ({listing})")
    return text


def _run_or_iri(text: str) -> str | None:
    """A run IRI from a run IRI, its bundle IRI or a bare run id; any other absolute IRI as
    it is; None for anything else."""
    text = text.strip()
    if text.startswith(vocab.BUNDLE_BASE):
        text = vocab.RUN_BASE + text[len(vocab.BUNDLE_BASE):]
    elif vocab.RUN_ID.fullmatch(text):
        text = vocab.run_iri(text)
    bad_run_id = text.startswith(vocab.RUN_BASE) and not vocab.RUN_ID.fullmatch(text[len(vocab.RUN_BASE):])
    return None if bad_run_id or _iri_problem(text) else text


def run_or_iri(text: str, *, argument: str) -> str:
    """A plan or run as ``export`` and ``browse`` take it: an IRI, a bundle IRI or a run id."""
    iri = _run_or_iri(text)
    if iri is None:
        raise UserError(f"{argument} {text.strip()!r}: not an IRI or a run id; give a plan IRI such as {PLAN_EXAMPLE} "
                        f"or a run as {RUN_EXAMPLE} ('mlprov runs' and 'mlprov query plans' list them)")
    return iri


def checked_run_iri(text: str, *, argument: str) -> str:
    """A run IRI (``urn:mlprov:run:ID``) from a run IRI, its bundle IRI or a bare run id."""
    iri = _run_or_iri(text)
    if iri is None or not iri.startswith(vocab.RUN_BASE):
        raise UserError(f"{argument} {text.strip()!r}: not a run IRI or run id; give {RUN_EXAMPLE} ('mlprov runs' lists them)")
    return iri


# -- output files ------------------------------------------------------------------------


def _written_by_mlprov(path: Path, kind: OutputKind) -> bool:
    """Whether ``path`` holds what this kind of output is: a notebook with mlprov's metadata,
    a page ``browse`` wrote. Other files (plans, exports, code) are never taken as ours."""
    try:
        if kind == "notebook":
            with open(path, encoding="utf-8") as stream:
                notebook = json.load(stream)
            return isinstance(notebook, dict) and "mlprov" in (notebook.get("metadata") or {}) and "cells" in notebook
        if kind == "page":
            with open(path, encoding="utf-8") as stream:
                return PAGE_MARKER in stream.read(8192)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: Path, *, kind: OutputKind, inputs: Iterable[Path] = (), force: bool = False, option: str = "-o"
) -> Path:
    """``path``, if the command may write it; else a UserError, before anything is done.

    Never an input (the same file by any name: a hard link, a symbolic link), never a
    folder, never an existing file that this kind of output is not (unless ``force``),
    and its folder must exist or be creatable, and be writable.
    """
    path = Path(path)
    for source in inputs:
        if _same_file(path, source):
            raise UserError(f"{option} {path}: this is the input {source}; writing there would replace it; give another file name")
    if path.is_dir():
        raise UserError(f"{option} {path}: a folder; give a file name")
    if path.exists() and not force and not _written_by_mlprov(path, kind):
        ours = {"notebook": ", and is not a notebook mlprov wrote", "page": ", and is not a page 'mlprov browse' wrote"}
        raise UserError(f"{option} {path}: exists already{ours.get(kind, '')}; choose another name or pass --force to replace it")
    folder = path.absolute().parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {path}: cannot create the folder {folder}: {existing} is a file; choose another place")
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{option} {path}: the folder {existing} is not writable; choose another place")
    return path


def write_output(path: Path, data: bytes) -> Path:
    """Write atomically (a temporary file beside it, then a rename): never half a file.

    A failure (a full disk, a folder made read-only meanwhile) is a UserError, and the
    temporary file is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot be written ({error.strerror or error}); free some space or choose another place") from None
    return path
