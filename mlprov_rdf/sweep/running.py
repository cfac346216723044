"""Running a sweep: points checked, plans stored, tasks run, each run ingested as it arrives.

The client alone writes the store, opening it for each run as ``mlprov run`` does (never
while a kernel runs), and rewrites the sweep's graph after each run: a worker killed
mid-sweep loses only its running task, which Dask runs again elsewhere; a finished run is
stored the moment it comes back. Ctrl-C (or SIGTERM) stops the sweep: what finished is
kept (a signal that comes while a run is being stored waits for the store to be closed)
and the sweep is recorded ``Interrupted``; ``--resume`` then runs only the points with
no Completed run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import ingest, interrupts, vocab
from ..arguments import write_output
from ..errors import UserError
from ..plan import load
from ..store import StoreLocation, open_store
from . import record
from .executor import DaskExecutor, Executor, LocalExecutor, default_workers
from .grid import Axis, Point, grid_points, random_points
from .points import PreparedPoint, prepare_points, store_plans, write_files
from .task import NotebookJob, TaskResult, new_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PointOutcome:
    point: Point
    plan: str
    run: str | None  # None: the task ended without a run (a kernel that never started, a lost worker)
    status: str  # the run's status, or Failed
    error: str | None


@dataclass
class SweepOutcome:
    sweep: str
    status: str  # Completed | Interrupted | Failed
    outcomes: list[PointOutcome] = field(default_factory=list)
    skipped: int = 0  # points a resumed sweep had completed already


@dataclass(frozen=True)
class Settings:
    """How to run: the executor and its options, shared by a new sweep and a resumed one."""

    executor: str = "dask"  # or "local"
    workers: int | None = None
    scheduler: str | None = None
    retries: int = 2
    timeout_s: int | None = None


def make_executor(settings: Settings, points: int) -> Executor:
    """The executor asked for; a LocalCluster of as many workers as asked, else as cores, never more than points."""
    if settings.executor == "local":
        if settings.scheduler is not None:
            raise UserError("--scheduler names a Dask cluster; it needs --executor dask")
        return LocalExecutor(retries=settings.retries)
    workers = settings.workers or min(default_workers(), max(points, 1))
    return DaskExecutor(workers=workers, scheduler=settings.scheduler, retries=settings.retries)


def sweep(
    plan_file: Path, location: StoreLocation, axes: list[Axis], settings: Settings, *,
    random_count: int | None = None, seed: int | None = None, force: bool = False,
    on_point: Callable[[PointOutcome, int, int], None] | None = None,
) -> SweepOutcome:
    """A new sweep of ``plan_file`` over ``axes`` (every combination, or ``random_count`` drawn with ``seed``)."""
    _check(settings)
    if random_count is None and seed is not None:
        raise UserError("--seed draws random points: give --random N with it")
    points = grid_points(axes) if random_count is None else random_points(axes, random_count, seed or 0)
    loaded = load(plan_file)
    prepared = prepare_points(loaded, plan_file, points, force=force)
    rec = record.SweepRecord(
        record.new_sweep_iri(), loaded.plan.iri, str(Path(plan_file).absolute()), axes,
        [record.RecordedPoint(p.key, p.plan_iri, p.point) for p in prepared], settings.executor, 0, record.now(),
        "grid" if random_count is None else "random", None if random_count is None else (seed or 0), settings.scheduler,
    )
    with make_executor(settings, len(prepared)) as executor:  # a cluster that cannot be reached: nothing stored or written
        with open_store(location) as store:
            store_plans(store, loaded, prepared)
        write_files(prepared)
        return _run(rec, prepared, location, settings, executor, on_point=on_point)


def resume(
    sweep_iri: str, location: StoreLocation, settings: Settings, *, plan_file: Path | None = None, force: bool = False,
    on_point: Callable[[PointOutcome, int, int], None] | None = None,
) -> SweepOutcome:
    """Run the points of a stored sweep that have no Completed run, in the same sweep."""
    _check(settings)
    with open_store(location, create=False, read_only=True) as store:
        rec = record.read(store, sweep_iri)
        done = record.completed_plans(store, sweep_iri)
    plan_file = Path(plan_file or rec.plan_file)
    if not plan_file.is_file():
        raise UserError(f"{plan_file}: the plan file of sweep {sweep_iri} is not there; give it as PLAN")
    loaded = load(plan_file)
    if loaded.plan.iri != rec.plan:
        raise UserError(f"{plan_file}: plan <{loaded.plan.iri}>, but sweep {sweep_iri} swept <{rec.plan}>; give its plan")
    missing = [p for p in rec.points if p.plan not in done]
    if not missing:  # nothing to run: the sweep is complete, whatever it was recorded as
        rec.status, rec.ended = "Completed", rec.ended or record.now()
        with open_store(location) as store:
            record.write(store, rec)
        return SweepOutcome(rec.iri, "Completed", skipped=len(rec.points))
    prepared = prepare_points(loaded, plan_file, [p.point for p in missing], force=force)
    for p, recorded in zip(prepared, missing):
        if p.plan_iri != recorded.plan:
            raise UserError(f"{plan_file}: has changed since sweep {sweep_iri} ran (point {dict(p.point)} now derives "
                            f"<{p.plan_iri}>, not <{recorded.plan}>); start a new sweep")
    rec.executor, rec.scheduler, rec.ended = settings.executor, settings.scheduler, None
    with make_executor(settings, len(prepared)) as executor:
        with open_store(location) as store:
            store_plans(store, loaded, prepared)
        write_files(prepared)
        outcome = _run(rec, prepared, location, settings, executor, on_point=on_point)
    outcome.skipped = len(rec.points) - len(missing)
    return outcome


def _check(settings: Settings) -> None:
    if settings.retries < 0:
        raise UserError(f"--retries {settings.retries}: give how many times to start a kernel again, 0 or more")
    if settings.workers is not None and settings.workers < 1:
        raise UserError(f"--workers {settings.workers}: give 1 or more")
    if settings.timeout_s is not None and settings.timeout_s <= 0:
        raise UserError(f"--timeout {settings.timeout_s}: give the seconds a cell may run, a whole number above 0")


def _run(rec: record.SweepRecord, prepared: list[PreparedPoint], location: StoreLocation, settings: Settings,
         executor: Executor, *, on_point: Callable[[PointOutcome, int, int], None] | None) -> SweepOutcome:
    batch = new_batch()
    jobs = [NotebookJob(p.key, p.notebook.name, p.notebook.read_text(encoding="utf-8"), str(p.notebook.parent.absolute()),
                        settings.timeout_s, batch, str(location.artifact_dir)) for p in prepared]
    by_key = {p.key: p for p in prepared}
    outcome = SweepOutcome(rec.iri, "Interrupted")
    location.journal_dir.mkdir(parents=True, exist_ok=True)
    rec.workers = executor.workers
    with open_store(location) as store:
        record.write(store, rec)
    try:
        for job, result in executor.outcomes(jobs):
            with interrupts.deferred():  # a Ctrl-C now would cut a store write short: it stops the sweep after it
                point = _arrived(rec, by_key[job.key], result, location)
                outcome.outcomes.append(point)
            if on_point is not None:
                on_point(point, len(outcome.outcomes), len(jobs))
            if isinstance(result, TaskResult) and result.stop == "SIGINT":
                raise KeyboardInterrupt  # the local executor's kernel took the signal
            if isinstance(result, TaskResult) and result.stop == "SIGTERM":
                raise SystemExit(143)  # as mlprov run ends on SIGTERM; recorded Interrupted below
        failed = any(p.status != "Completed" for p in outcome.outcomes)
        outcome.status = "Failed" if failed or len(outcome.outcomes) < len(jobs) else "Completed"
    except KeyboardInterrupt:
        log.warning("sweep %s interrupted after %d of %d points", rec.iri, len(outcome.outcomes), len(jobs))
    finally:
        rec.status, rec.ended = outcome.status, record.now()
        with interrupts.deferred(), open_store(location) as store:
            record.write(store, rec)
    return outcome


def _arrived(rec: record.SweepRecord, point: PreparedPoint, result: TaskResult | BaseException,
             location: StoreLocation) -> PointOutcome:
    """One task's outcome: its journal and notebook written here, the run ingested into the sweep."""
    if not isinstance(result, TaskResult):
        return PointOutcome(point.point, point.plan_iri, None, "Failed", f"{type(result).__name__}: {result}")
    if result.notebook is not None:
        write_output(point.notebook, result.notebook.encode("utf-8"))
    if result.journal is None:
        return PointOutcome(point.point, point.plan_iri, None, "Failed", result.error or "the notebook recorded no run")
    journal = location.journal_dir / f"{result.run_id}.nt"
    text = result.journal[: result.journal.rfind("\n") + 1]  # a line cut off by a killed kernel is dropped, as ingest does
    run = vocab.run_iri(result.run_id)
    write_output(journal, (text + record.sweep_line(run, rec.iri)).encode("utf-8"))
    with open_store(location) as store:
        stored = ingest.ingest_journal(store, journal)
        rec.members.append(stored.run)
        record.write(store, rec)
    return PointOutcome(point.point, point.plan_iri, stored.run, stored.status, result.error)
