"""What a worker does for one point: execute its notebook in a kernel of its own, send the journal back.

The worker never opens the store (embedded Oxigraph allows one writer, and a remote worker
may not see it): its journal and executed notebook go back to the client as text, in a
``TaskResult``. A kernel that fails to start raises ``KernelStartFailed``, the one
exception a task raises, so that Dask's ``retries`` retry exactly that: kernels started at
once can collide on a port (papermill #511) -- jupyter_client picks free ports, closes them
and hands them to the kernel, another process binds one meanwhile, the kernel exits with
``ZMQError: Address already in use`` and the client sees "Kernel died before replying to
kernel_info". Nothing ran then, so starting again loses nothing. Every other ending (a cell
that raised, a timeout, a dead kernel mid-run) is a result, never retried.

A task works in a scratch folder of the worker's temporary folder, named for its batch
(``mlprov-sweep-BATCH-*``): the folder goes when the task ends, and what a killed worker left
is removed by :func:`remove_scratch` when the sweep ends.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import capture
from ..execute import execute_notebook

log = logging.getLogger(__name__)

#: How jupyter_client reports a kernel that never answered (``KernelClient.wait_for_ready``).
_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond")


class KernelStartFailed(RuntimeError):
    """The kernel did not start (nothing ran): the task may be run again as it is."""


def new_batch() -> str:
    """A name for the tasks of one sweep's run: their Dask keys and scratch folders hold it."""
    return uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class NotebookJob:
    key: str  # the point's key (see ``points.PreparedPoint.key``)
    name: str  # the notebook's file name
    text: str  # the generated notebook
    folder: str  # the plan's folder on the client: the kernel's working folder where the worker sees it
    timeout_s: int | None = None
    batch: str = field(default_factory=new_batch)  # the tasks of one sweep's run, and their scratch
    artifacts: str = ""  # the store's artifact folder where the worker sees it [default: the task's scratch]


def _scratch_prefix(batch: str) -> str:
    return f"mlprov-sweep-{batch}-"


def remove_scratch(batch: str) -> None:
    """Remove the scratch folders of ``batch``'s tasks left in this machine's temporary folder
    (by a worker killed mid-task)."""
    for folder in sorted(Path(tempfile.gettempdir()).glob(_scratch_prefix(batch) + "*")):
        log.info("removing %s, left by a task that did not end", folder)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class TaskResult:
    key: str
    run_id: str
    journal: str | None  # None: the notebook recorded nothing
    notebook: str | None  # the executed notebook
    ok: bool
    error: str | None
    stop: str | None  # a stop's cause (SIGINT, timeout, ...) when the run stopped before its end
    worker_pid: int


def is_start_failure(error: BaseException) -> bool:
    if isinstance(error, RuntimeError) and str(error).startswith(_START_FAILURES):
        return True
    return getattr(error, "errno", None) == errno.EADDRINUSE  # zmq.ZMQError, raised in this process


def execute_job(job: NotebookJob) -> TaskResult:
    """Run ``job``'s notebook once; raises ``KernelStartFailed`` only (see the module's docstring)."""
    run_id = capture.new_run_id()
    with tempfile.TemporaryDirectory(prefix=_scratch_prefix(job.batch), ignore_cleanup_errors=True) as tmp:
        scratch = Path(tmp)
        shared = Path(job.folder) / job.name
        source = shared if shared.is_file() else scratch / job.name  # relative paths resolve in the plan's folder
        if source != shared:
            source.write_text(job.text, encoding="utf-8")
        journal_dir = scratch / "journal"
        journal_dir.mkdir()
        output = scratch / "executed.ipynb"
        try:
            execution = execute_notebook(source, output, journal_dir=journal_dir, run_id=run_id,
                                         artifact_dir=Path(job.artifacts or scratch / "artifacts"), timeout_s=job.timeout_s)
        except Exception as error:  # noqa: BLE001 -- whatever the kernel machinery raised, in one line
            journal = journal_dir / f"{run_id}.nt"
            if is_start_failure(error) and not journal.exists():
                log.warning("point %s: the kernel did not start (%s)", job.key, error)
                raise KernelStartFailed(f"the kernel did not start: {error}") from None
            return _result(job, run_id, journal, None, False, f"{type(error).__name__}: {error}", None)
        notebook = output.read_text(encoding="utf-8") if output.is_file() else None
        stop = execution.stop.cause if execution.stop is not None else None
        return _result(job, run_id, journal_dir / f"{run_id}.nt", notebook, execution.ok, execution.error, stop)


def _result(job: NotebookJob, run_id: str, journal: Path, notebook: str | None, ok: bool, error: str | None,
            stop: str | None) -> TaskResult:
    text = journal.read_text(encoding="utf-8") if journal.is_file() else None
    return TaskResult(job.key, run_id, text, notebook, ok, error, stop, os.getpid())
