"""The bad-input contract, checked the way a user meets it: ``mlprov`` in a subprocess.

Every case in the catalogue (``tests/test_bad_input_*.py``) calls :func:`refuse`, which
runs the real command line and asserts what rule 5 promises: exit code 2, exactly one
line on stderr, no traceback, and nothing written: no file created, changed or removed
under the watched folders, and no graph added, changed or removed in the store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pyoxigraph as ox

MLPROV = [sys.executable, "-m", "mlprov_rdf"]


@dataclass(frozen=True)
class Refusal:
    """What a refused command printed: its stderr line (its lines, for several problems), and stdout."""

    line: str
    stdout: str


def _files(folders: Sequence[Path], skip: Sequence[Path] = ()) -> dict[str, tuple[int, int]]:
    """Every file under the folders, with size and modification time, but those under ``skip``."""
    skipped = {str(Path(s)) for s in skip}
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            st = folder.stat()
            seen[str(folder)] = (st.st_size, st.st_mtime_ns)
            continue
        if not folder.is_dir():
            continue
        for root, dirs, names in os.walk(folder, followlinks=False):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints")
                       and str(Path(root) / d) not in skipped]
            for name in names:
                path = Path(root) / name
                try:
                    st = path.lstat()
                except OSError:
                    continue
                seen[str(path)] = (st.st_size, st.st_mtime_ns)
    return seen


def store_graphs(home: Path) -> dict[str, int] | None:
    """Named graph → number of quads, read straight from the database; None without one."""
    db = Path(home) / "oxigraph"
    if not (db / "CURRENT").is_file():
        return None
    store = ox.Store.read_only(str(db))
    counts: dict[str, int] = {}
    for quad in store:
        key = str(quad.graph_name)
        counts[key] = counts.get(key, 0) + 1
    return counts


#: A progress line a long command writes into a log (``mlprov_rdf/progress.py``): what it does,
#: then a count ("running: 3/8 cells", "ingesting: 2/? runs", "running: epoch 5/40", "running: epoch 12").
PROGRESS_LINE = re.compile(r"[a-z]+: (?:\d+/(?:\d+|\?) [a-z]+s|[a-z]+ \d+(?:/\d+)?)")


def error_lines(stderr: str) -> list[str]:
    """What a command said on stderr, without the progress lines long commands write into a log."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS_LINE.fullmatch(line)]


def mlprov(args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
           stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``mlprov ARGS`` in a subprocess with the test's environment."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLPROV_STORE"}
    full_env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [*MLPROV, *map(str, args)],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refuse(
    args: Sequence[str],
    *,
    cwd: Path,
    watch: Sequence[Path] = (),
    store: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    says: Sequence[str] = (),
    problems: int = 1,
) -> Refusal:
    """Run ``mlprov ARGS`` and assert the bad-input contract; ``says``: words the line must hold.

    ``problems``: how many problems the input has; more than one are a line each, after a
    line that says how many, and ``says`` must be in one of them.

    ``watch`` lists the folders (or files) that must not change; ``cwd`` is always
    watched. ``store`` is an mlprov home folder whose graphs must not change; the
    database's own files (RocksDB rewrites its logs on every open) are compared as
    graphs, not as files.
    """
    watched = [Path(cwd), *map(Path, watch)]
    skip = [Path(store) / "oxigraph"] if store is not None else []
    files_before = _files(watched, skip)
    graphs_before = store_graphs(store) if store is not None else None
    done = mlprov(args, cwd=cwd, env=env, stdin=stdin, timeout=timeout)
    lines = error_lines(done.stderr)
    shown = f"mlprov {' '.join(map(str, args))}\nexit {done.returncode}\nstderr:\n{done.stderr}\nstdout:\n{done.stdout}"
    assert done.returncode == 2, shown
    assert len(lines) == (1 if problems == 1 else 1 + problems), shown
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, shown
    assert all(line.startswith("mlprov: error: ") for line in lines), shown
    if problems > 1:
        assert lines[0].endswith(f": {problems} problems, one a line below"), shown
    for word in says:
        assert any(word.lower() in line.lower() for line in lines), f"{word!r} not in the message\n{shown}"
    files_after = _files(watched, skip)
    created = sorted(set(files_after) - set(files_before))
    removed = sorted(set(files_before) - set(files_after))
    changed = sorted(p for p in files_before if p in files_after and files_before[p] != files_after[p])
    assert not (created or removed or changed), f"files touched: created {created}, removed {removed}, changed {changed}\n{shown}"
    if store is not None:
        assert store_graphs(store) == graphs_before, f"the store changed\n{shown}"
    return Refusal("\n".join(lines), done.stdout)
