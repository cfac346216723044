"""Run a notebook in a real Jupyter kernel with nbclient, cell by cell.

The kernel writes its own journal (see ``capture``); this module only starts the
kernel with the journal folder and run id in its environment, reports progress and
says how the execution ended. It never opens the store.

Every way a run stops before its end goes one way (``_Stopper``): SIGINT, SIGTERM and
``timeout_s`` interrupt the running cell (capture records it ``Interrupted``), a kernel
that does not stop within ``KILL_AFTER_S`` is killed, the kernel is shut down, the
notebook is saved with the outputs so far, and one ``mlprov:stopReason`` statement is
appended to the journal ("timeout after 5 s in cell 5"); a dead kernel is recorded the
same way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from . import vocab
from .series import journaled_epochs
from .arguments import write_output
from .errors import UserError
from .interrupts import signals_to

log = logging.getLogger(__name__)
#: nbclient logs timeouts and dead kernels as errors; execution reports them itself, once.
_nbclient_log = logging.getLogger(__name__ + ".nbclient")
_nbclient_log.setLevel(logging.CRITICAL)
#: Seconds an interrupted cell gets to stop before its kernel is killed.
KILL_AFTER_S = 10.0
STOP_REASON = vocab.MLPROV + "stopReason"


@dataclass(frozen=True)
class Stop:
    """Why a notebook stopped before its end, and in which code cell (1-based)."""

    cause: str  # "SIGINT" | "SIGTERM" | "timeout" | "kernel died"
    cell: int
    started: bool = True  # False: the stop came between cells, before ``cell`` began
    timeout_s: int | None = None

    @property
    def reason(self) -> str:
        """The run's ``mlprov:stopReason``, e.g. ``timeout after 5 s in cell 5``."""
        where = f"{'in' if self.started else 'before'} cell {self.cell}"
        if self.cause == "timeout":
            return f"timeout after {self.timeout_s} s {where}"
        if self.cause == "kernel died":
            return f"kernel died {where}"
        return f"{self.cause} received {where}"

    @property
    def exit_code(self) -> int:
        """What ``mlprov run`` exits with: 128 + the signal, 1 for a run that failed."""
        return 128 + int(signal.Signals[self.cause]) if self.cause in ("SIGINT", "SIGTERM") else 1


@dataclass
class Execution:
    notebook: Path
    ok: bool
    error: str | None  # one line: what stopped the notebook
    stop: Stop | None = None
    unsaved: str | None = None  # why the executed notebook could not be saved (the journal holds the run)


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


class _Stopper:
    """Stops the running cell once, for a signal or a timeout: interrupts the kernel, and
    kills it when it has not stopped after ``KILL_AFTER_S`` (at once on a second signal)."""

    def __init__(self, client: NotebookClient, timeout_s: int | None):
        self.client = client
        self.timeout_s = timeout_s
        self.cell = 1  # the code cell that runs, or runs next while ``running`` is False
        self.running = False
        self.stop: Stop | None = None
        self._kill_timer: threading.Timer | None = None

    def _signal_kernel(self, signum: int) -> None:
        provisioner = getattr(self.client.km, "provisioner", None)
        pgid, pid = getattr(provisioner, "pgid", None), getattr(provisioner, "pid", None)
        try:
            if pgid:
                os.killpg(pgid, signum)
            elif pid:
                os.kill(pid, signum)
        except OSError:
            pass  # the kernel is gone already

    def request(self, cause: str) -> None:
        if self.stop is not None:
            self._signal_kernel(signal.SIGKILL)
            return
        self.stop = Stop(cause, self.cell, self.running, self.timeout_s if cause == "timeout" else None)
        self._signal_kernel(signal.SIGINT)
        self._kill_timer = threading.Timer(KILL_AFTER_S, self._signal_kernel, (signal.SIGKILL,))
        self._kill_timer.daemon = True
        self._kill_timer.start()

    def cancel(self) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()


def execute_notebook(
    source: Path,
    output: Path,
    *,
    journal_dir: Path,
    run_id: str,
    artifact_dir: Path,
    timeout_s: int | None = None,
    on_cell: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int, int | None], None] | None = None,
) -> Execution:
    """Execute ``source`` in its own folder and save the result (with outputs) to ``output``.

    The run keeps the files it writes in ``artifact_dir``/RUN-ID. A stop (see the module's
    docstring) ends the execution early; it is returned, not raised.
    ``on_cell(done, total)`` after each cell; ``on_epoch(epoch, None)`` as a training cell's
    epochs reach the journal.
    """
    nb = nbformat.read(str(source), as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not the kernel's transport chatter
        resources={"metadata": {"path": str(Path(source).parent.absolute())}},
        log=_nbclient_log,
    )
    env = {
        "MLPROV_JOURNAL_DIR": str(journal_dir),
        "MLPROV_RUN_ID": run_id,
        "MLPROV_ARTIFACT_DIR": str(artifact_dir),
        "MLPROV_NOTEBOOK": str(Path(source).absolute()),
    }
    stopper = _Stopper(client, timeout_s)
    error, died = None, None
    client.reset_execution_trackers()
    with _environment(env), signals_to(stopper.request):
        try:
            with client.setup_kernel():
                info = client.wait_for_reply(client.kc.kernel_info())
                if info is not None and "language_info" in info["content"]:
                    nb.metadata["language_info"] = info["content"]["language_info"]
                for stopper.cell, index in enumerate(code_cells, start=1):
                    if stopper.stop is not None:
                        break
                    timer = threading.Timer(timeout_s, stopper.request, ("timeout",)) if timeout_s else None
                    stopper.running = True
                    if timer is not None:
                        timer.daemon = True
                        timer.start()
                    watcher = _EpochWatcher(journal_dir / f"{run_id}.nt", on_epoch) if on_epoch else None
                    try:
                        client.execute_cell(nb.cells[index], index, execution_count=client.code_cells_executed + 1)
                    except CellExecutionError as exc:
                        error = f"{exc.ename}: {exc.evalue}"
                        break
                    except DeadKernelError:
                        died = Stop("kernel died", stopper.cell)
                        break
                    finally:
                        stopper.running = False
                        if timer is not None:
                            timer.cancel()
                        if watcher is not None:
                            watcher.stop()
                    if on_cell:
                        on_cell(stopper.cell, len(code_cells))
                    stopper.cell += 1
                client.set_widgets_metadata()
        finally:
            stopper.cancel()
    # A kernel killed because it did not stop is the stop's; a stop after the last cell stops nothing.
    stop = stopper.stop if stopper.stop and stopper.stop.cell <= len(code_cells) else died
    if stop is not None:
        _record_stop(journal_dir / f"{run_id}.nt", vocab.run_iri(run_id), stop)
        error = stop.reason
    try:
        _save(nb, output)
    except UserError as failure:  # a full disk, say: the run is in its journal and is still stored
        return Execution(Path(output), False, error or str(failure), stop, unsaved=str(failure))
    return Execution(Path(output), error is None, error, stop)


class _EpochWatcher(threading.Thread):
    """Reads what the kernel appends to the journal while a cell runs and reports the highest
    epoch seen in it: capture flushes a training loop's epochs as they come, each flush's as
    one ``mlprov:seriesChunk`` line (``"{\\"epochs\\":[4,5,6],...}"``, see ``series``)."""

    INTERVAL_S = 0.25

    def __init__(self, journal: Path, on_epoch: Callable[[int, int | None], None]):
        super().__init__(daemon=True)
        self.journal, self.on_epoch = journal, on_epoch
        self._offset = journal.stat().st_size if journal.exists() else 0
        self._done = threading.Event()
        self._highest = 0
        self.start()

    def run(self) -> None:
        while not self._done.wait(self.INTERVAL_S):
            self._read()

    def stop(self) -> None:
        self._done.set()
        self.join()
        self._read()

    def _read(self) -> None:
        try:
            with open(self.journal, "rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset += cut
        epochs = journaled_epochs(data[:cut])
        if epochs and max(epochs) > self._highest:
            self._highest = max(epochs)
            self.on_epoch(self._highest, None)


def _record_stop(journal: Path, run: str, stop: Stop) -> None:
    """Append the run's stop reason to its journal (the kernel is gone: nothing else writes)."""
    if not journal.is_file():
        return  # stopped before the notebook started recording
    line = f'<{run}> <{STOP_REASON}> "{stop.reason}" .\n'.encode("utf-8")
    try:
        with open(journal, "rb+") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size and (stream.seek(size - 1), stream.read(1))[1] != b"\n":
                line = b"\n" + line  # a line cut off by a killed kernel stays on a line of its own
            stream.write(line)
    except OSError as error:  # a full disk: the run is still stored, as ingest derives it
        log.warning("%s: could not record the stop reason (%s)", journal, error.strerror or error)


def _save(nb, path: Path) -> None:
    text = nbformat.writes(nb)
    write_output(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
