"""What `mlprov ingest` and the import of a folder show in a log: plain progress lines, as
`mlprov run` does (tests/test_run_progress.py), and nothing with --quiet. A sweep's lines are
checked in passing by tests/test_sweep.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bad_input import PROGRESS_LINE, error_lines, mlprov
from tests.test_ingest import _copies, _journal

LEGACY_FILE = Path(__file__).parent / "data" / "Provenance_MulticlassClassification_2022-05-19--11-09-37.json"
QUIET = pytest.mark.parametrize("quiet", [False, True], ids=["log", "quiet"])


def _shown(done, quiet: bool, desc: str, total: int, unit: str) -> None:
    """Progress lines only on stderr, the last one for the whole work; with --quiet, nothing."""
    assert done.returncode == 0, done.stderr
    if quiet:
        assert done.stderr == ""
        return
    lines = done.stderr.splitlines()
    assert lines and all(PROGRESS_LINE.fullmatch(line) for line in lines) and error_lines(done.stderr) == [], lines
    assert lines[-1] == f"{desc}: {total}/{total} {unit}s"
    assert set(lines) <= {f"{desc}: {i}/{total} {unit}s" for i in range(1, total + 1)}


@QUIET
def test_ingest_into_a_log_shows_plain_progress_lines_and_none_with_quiet(executed_run, tmp_path, quiet):
    _copies(_journal(executed_run), tmp_path / "journal", 3)
    done = mlprov(["ingest", tmp_path / "journal", "--store", tmp_path / "home", *(["--quiet"] if quiet else [])],
                  cwd=tmp_path)
    _shown(done, quiet, "ingesting", 3, "run")
    assert done.stdout.count(": completed, ") == 3


@QUIET
def test_importing_a_folder_into_a_log_shows_plain_progress_lines_and_none_with_quiet(tmp_path, quiet):
    folder = tmp_path / "history"
    folder.mkdir()
    shutil.copy(LEGACY_FILE, folder)
    done = mlprov(["import-mlprovcodegen", folder, "--store", tmp_path / "home", *(["-q"] if quiet else [])], cwd=tmp_path)
    _shown(done, quiet, "importing", 1, "file")
    assert "1 imported, 0 refused, of 1 files" in done.stdout
