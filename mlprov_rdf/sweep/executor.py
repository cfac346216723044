"""Where a sweep's tasks run: one after another in this process, or on a Dask cluster.

Both yield each point's outcome as it finishes, so the client ingests runs one by one.
Dask does the scheduling, the retries (``retries=K``: only ``KernelStartFailed`` is raised
by a task) and the rescheduling of a task whose worker died; a task that still cannot
finish (``KilledWorker`` after Dask's allowed failures, retries used up) comes back as its
exception, to be reported. The local executor is the baseline and needs no Dask; it
retries a kernel that did not start the same ``K`` times.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Iterator, Protocol

from ..errors import UserError
from .task import KernelStartFailed, NotebookJob, TaskResult, execute_job, remove_scratch

log = logging.getLogger(__name__)

#: What a point came back as: its result, or the exception that ended its task.
Outcome = tuple[NotebookJob, TaskResult | BaseException]


class Executor(Protocol):
    name: str
    workers: int
    scheduler: str | None

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc) -> None: ...

    def outcomes(self, jobs: list[NotebookJob]) -> Iterator[Outcome]: ...


@dataclass
class LocalExecutor:
    """A plain loop in this process: a Ctrl-C stops the running cell, as in ``mlprov run``."""

    retries: int = 2
    name: str = "local"
    workers: int = 1
    scheduler: str | None = None

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def outcomes(self, jobs: list[NotebookJob]) -> Iterator[Outcome]:
        for job in jobs:
            for attempt in range(self.retries + 1):
                try:
                    yield job, execute_job(job)
                    break
                except KernelStartFailed as error:
                    if attempt == self.retries:
                        yield job, error


def default_workers() -> int:
    return max(2, os.cpu_count() or 2)


class DaskExecutor:
    """A ``dask.distributed`` client: of a LocalCluster of worker processes on 127.0.0.1, or of
    the cluster at ``scheduler``, through the same code. Each worker runs one task at a time
    (one thread): a notebook's kernel uses a core, and ``execute`` sets the kernel's
    environment in the worker's process."""

    name = "dask"

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None, retries: int = 2):
        if importlib.util.find_spec("distributed") is None:
            raise UserError("--executor dask needs dask.distributed: pip install 'mlprov-rdf[dask]', "
                            "or run with --executor local")
        self.scheduler = scheduler
        self.requested = workers
        self.retries = retries
        self.workers = 0
        self._cluster = None
        self._client = None
        self._futures: list = []
        self._batches: set[str] = set()

    def __enter__(self) -> "DaskExecutor":
        from distributed import Client, LocalCluster

        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            logging.getLogger("distributed").setLevel(logging.ERROR)  # its own INFO lines, unless -v asked for them
        try:
            if self.scheduler is None:
                self._cluster = LocalCluster(
                    n_workers=self.requested or default_workers(), threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler, timeout="30s")
        except OSError as error:
            raise UserError(f"--scheduler {self.scheduler}: cannot reach the Dask scheduler ({error}); "
                            "start it, or leave --scheduler out for a cluster on this machine") from None
        self.workers = len(self._client.scheduler_info().get("workers", {}))
        log.info("dask client %s with %d workers", self._client, self.workers)
        return self

    def __exit__(self, *exc) -> None:
        """Tasks cancelled, the cluster closed, and the scratch folders killed workers left removed:
        on the workers still there (another machine's), then here once ours are gone."""
        if self._client is not None:
            self._client.cancel(self._futures, force=True)
            if self._cluster is None:
                for batch in sorted(self._batches):
                    self._remove_on_workers(batch)
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        for batch in sorted(self._batches):
            remove_scratch(batch)

    def _remove_on_workers(self, batch: str) -> None:
        try:
            self._client.run(remove_scratch, batch)
        except Exception as error:  # noqa: BLE001 -- a lost scheduler or worker: their folders stay, said once
            log.warning("could not remove the sweep's scratch folders on the workers: %s", error)

    def outcomes(self, jobs: list[NotebookJob]) -> Iterator[Outcome]:
        from distributed import as_completed

        by_key = {}
        for job in jobs:  # the batch in the key: two sweeps of one plan on one cluster are two sets of tasks
            self._batches.add(job.batch)
            future = self._client.submit(execute_job, job, key=f"mlprov-point-{job.key}-{job.batch}", retries=self.retries,
                                         pure=False)
            by_key[future.key] = job
            self._futures.append(future)
        for future in as_completed(self._futures):
            job = by_key[future.key]
            try:
                yield job, future.result()
            except Exception as error:  # noqa: BLE001 -- KilledWorker, KernelStartFailed, a lost scheduler
                log.warning("point %s: %s: %s", job.key, type(error).__name__, error)
                yield job, error
