"""Run a notebook in a real Jupyter kernel with nbclient, cell by cell.

The kernel writes its own journal (see ``capture``); this module only starts the
kernel with the journal folder and run id in its environment, reports progress and
says how the execution ended. It never opens the store.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

log = logging.getLogger(__name__)


@dataclass
class Execution:
    notebook: Path
    ok: bool
    error: str | None  # one line: what stopped the notebook


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The kernel inherits this process's environment when it starts."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(
    source: Path,
    output: Path,
    *,
    journal_dir: Path,
    run_id: str,
    timeout_s: int | None = None,
    on_cell: Callable[[int, int], None] | None = None,
) -> Execution:
    """Execute ``source`` in its own folder and save the result (with outputs) to ``output``."""
    nb = nbformat.read(str(source), as_version=4)
    total = sum(1 for c in nb.cells if c.cell_type == "code")
    done = 0

    def cell_done(cell, cell_index, execute_reply=None, **_):
        nonlocal done
        if cell.cell_type == "code":
            done += 1
            if on_cell:
                on_cell(done, total)

    client = NotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not the kernel's transport chatter
        resources={"metadata": {"path": str(Path(source).parent.absolute())}},
        on_cell_executed=cell_done,
    )
    env = {
        "MLPROV_JOURNAL_DIR": str(journal_dir),
        "MLPROV_RUN_ID": run_id,
        "MLPROV_NOTEBOOK": str(Path(source).absolute()),
    }
    error = None
    with _environment(env):
        try:
            client.execute()
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
        except CellTimeoutError:
            error = f"a cell ran longer than {timeout_s} s"
        except DeadKernelError:
            error = "the kernel died"
    _save(nb, output)
    return Execution(Path(output), error is None, error)


def _save(nb, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(path)
