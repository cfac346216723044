"""Every point's derived plan, validated before anything runs, then its plan file and notebook.

A bad value at any point is one ``UserError`` and nothing is stored, written or run. The
files are those ``mlprov run PLAN -p ...`` writes for the same overrides (PLAN.NAME-VALUE.ttl
and .ipynb beside the plan), so a point run by hand and in a sweep is the same plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .. import derive, generate, ingest
from ..arguments import check_output
from ..derive import DerivedPlan
from ..plan import LoadedPlan
from ..store import Store, RemoteStore
from .grid import Point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedPoint:
    point: Point
    derived: DerivedPlan
    notebook: Path
    plan_file: Path

    @property
    def plan_iri(self) -> str:
        return self.derived.plan.iri

    @property
    def key(self) -> str:
        """The derived plan's digest: names the point in the sweep's IRIs and in Dask's task keys."""
        return self.plan_iri.rsplit("/", 1)[-1]


def prepare_points(loaded: LoadedPlan, plan_file: Path, points: list[Point], *, force: bool = False) -> list[PreparedPoint]:
    """Derive and check every point; nothing is written here."""
    plan_file = Path(plan_file)
    prepared = []
    for point in points:
        derived = derive.derive_plan(loaded.graph, loaded.plan, dict(point), base_dir=plan_file.parent)
        notebook = plan_file.with_name(f"{plan_file.stem}.{derived.file_stem}.ipynb")
        derived_file = notebook.with_suffix(".ttl")
        derive.check_plan_file(derived_file, inputs=[plan_file], force=force)
        check_output(notebook, kind="notebook", inputs=[plan_file, derived_file], force=force)
        prepared.append(PreparedPoint(point, derived, notebook, derived_file))
    log.info("%d points of plan %s checked", len(prepared), loaded.plan.iri)
    return prepared


def store_plans(store: Store | RemoteStore, loaded: LoadedPlan, prepared: list[PreparedPoint]) -> None:
    ingest.store_plan(store, loaded.graph, loaded.plan)
    for p in prepared:
        ingest.store_plan(store, p.derived.graph, p.derived.plan)


def write_files(prepared: list[PreparedPoint]) -> None:
    for p in prepared:
        derive.write_plan_file(p.derived, p.plan_file)
        generate.write_notebook(p.derived.plan, p.notebook)
