"""Work in worker processes: results in order, a bound on the work ahead, logs and a dead worker."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from mlprov_rdf import worker_pool

PARENT = os.getpid()
log = logging.getLogger("tests.worker_pool")


def _square(n: int) -> int:
    return n * n


def _touch(path: Path) -> str:
    path.touch()
    return path.name


def _warn(n: int) -> int:
    if n % 10 == 3:
        log.warning("item %d looked odd (pid %d)", n, os.getpid())
    return n


def _dies_in_a_worker(n: int) -> int:
    if n == 37 and os.getpid() != PARENT:
        os._exit(1)
    return -n


def test_results_come_in_the_order_of_the_items():
    items = list(range(200))
    assert list(worker_pool.ordered_map(_square, items, workers=2, chunk=7)) == [n * n for n in items]


def test_the_workers_run_a_bounded_number_of_items_ahead(tmp_path):
    items = [tmp_path / f"{i:04d}" for i in range(400)]
    results = worker_pool.ordered_map(_touch, items, workers=2, chunk=5, ahead=3)
    assert next(results) == "0000"
    time.sleep(1.0)
    done = len(list(tmp_path.iterdir()))
    assert done <= (2 * 3 + 1) * 5, f"{done} items done after one was taken"
    assert len(list(results)) == 399


def test_a_warning_in_a_worker_is_logged_here(caplog):
    with caplog.at_level(logging.WARNING):
        assert list(worker_pool.ordered_map(_warn, list(range(40)), workers=2, chunk=4)) == list(range(40))
    odd = [r for r in caplog.records if r.name == "tests.worker_pool"]
    # (in the order the workers logged them, which two workers need not keep)
    assert sorted(r.getMessage().split(" (")[0] for r in odd) == sorted(f"item {n} looked odd" for n in (3, 13, 23, 33))
    assert all(f"pid {PARENT})" not in r.getMessage() for r in odd), "logged by the workers, not here"


def test_a_worker_that_dies_leaves_the_rest_to_this_process(caplog):
    with caplog.at_level(logging.WARNING):
        results = list(worker_pool.ordered_map(_dies_in_a_worker, list(range(100)), workers=2, chunk=4))
    assert results == [-n for n in range(100)]
    assert any("worker processes stopped" in r.getMessage() for r in caplog.records)
