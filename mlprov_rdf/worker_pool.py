"""CPU-bound Python spread over processes: results in order, a bounded number ahead, and
the workers' log records handed to this process's logging.

``concurrent.futures.ProcessPoolExecutor`` does the work. What its ``map`` lacks before
Python 3.14 (``buffersize``) is a bound on the results waiting: ingest reads 100,000
journals of about 150 KB each, more than memory holds if the workers run far ahead of
the store's writes.

Workers are forked, all at the first submission (``ProcessPoolExecutor`` starts forked
workers together), before this module starts a thread. Spawned or forkserver workers
would import the caller's main script again, which runs it whole where it has no
``if __name__ == "__main__"`` guard (a script that cleared a folder first would clear it
again under the work). A forked worker inherits the threads' state of an open store's
database, which it never touches: it runs Python on files and exits with ``os._exit``.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, Sequence, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Forward(logging.Handler):
    """A worker's record, logged here by the logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def _start_worker(queue: multiprocessing.Queue, level: int) -> None:
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(queue)]
    root.setLevel(level)


def _each(fn: Callable[[Item], Result], chunk: Sequence[Item]) -> list[Result]:
    return [fn(item) for item in chunk]


def ordered_map(fn: Callable[[Item], Result], items: Sequence[Item], *, workers: int, chunk: int = 16,
                ahead: int = 3) -> Iterator[Result]:
    """``fn(item)`` for each item, in order, computed in ``workers`` processes.

    ``fn`` must be a module-level function (it is pickled by name) and should return
    failures as values: an exception it raises ends the iteration. At most ``ahead``
    chunks of ``chunk`` items a worker are under way or waiting. If the workers cannot be
    started or one dies, the items not yet given are computed here, with a warning.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, _Forward())
    given, listening = 0, False
    pool = None
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                   initargs=(queue, logging.getLogger().getEffectiveLevel()))
        starts = iter(range(0, len(items), chunk))
        pending: deque[Future] = deque()

        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                pending.append(pool.submit(_each, fn, items[start:start + chunk]))

        for _ in range(workers * ahead):
            submit()
        listener.start()  # after the workers are forked: they get no copy of its thread
        listening = True
        while pending:
            results = pending.popleft().result()
            submit()
            for result in results:
                given += 1
                yield result
    except BrokenProcessPool as error:
        log.warning("the worker processes stopped (%s); the other %d items are computed in this process",
                    error, len(items) - given)
        for item in items[given:]:
            yield fn(item)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if listening:
            listener.stop()
        queue.close()
