"""Runs side by side (``/compare?run=A&run=B[&run=C...]``) and a result against a setting
across a plan's runs (``/compare/chart?plan=PLAN&x=SETTING&y=RESULT``).

The side-by-side page has three parts: a table of every setting and result (rows) in every
run (columns), rows whose values differ marked; each run beside the first, aligned by plan
step as ``mlprov diff`` aligns them (:func:`mlprov_rdf.diff.diff_runs`); and the per-epoch
curves of the same metric overlaid, one chart per metric, one line per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...arguments import checked_run_iri
from ...diff import RunDiff, diff_runs
from ...errors import UserError
from ...plan_results import PlanFamily, Point, read_family_points, read_plan_family
from ...run_record import RunRecord, read_run_record
from ..context import plan_parameter, run_url, web_context
from .run import curve_charts, shown

if TYPE_CHECKING:
    from ...store import RemoteStore, Store


@dataclass(frozen=True)
class Row:
    """One setting or result in every run compared."""

    kind: str  # "setting" or "result"
    name: str
    values: list[Any]  # one per run, None where the run has none

    @property
    def differs(self) -> bool:
        first = self.values[0]
        return any(type(v) is not type(first) or v != first for v in self.values[1:])


def side_by_side(records: list[RunRecord]) -> list[Row]:
    """Settings, then scalar results, by name, each with its value in every run."""
    settings = sorted({name for r in records for name in r.settings})
    rows = [Row("setting", name, [r.settings.get(name) for r in records]) for name in settings]
    results = [{res.name: res.value for res in r.scalar_results()} for r in records]
    for name in sorted({name for values in results for name in values}):
        rows.append(Row("result", name, [values.get(name) for values in results]))
    return rows


def _run_names(records: list[RunRecord]) -> dict[str, str]:
    """Short names for legends and column heads: ``A · ID``, ``B · ID`` ..."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {r.iri: f"{letters[i % 26]} · {r.run_id or r.iri}" for i, r in enumerate(records)}


def read_comparison(store: "Store | RemoteStore", runs: list[str]) -> tuple[list[RunRecord], list[RunDiff]]:
    """The runs' records, and each run's differences from the first."""
    records = [read_run_record(store, run) for run in runs]
    return records, [diff_runs(store, runs[0], other) for other in runs[1:]]


def compare_page(request: Request) -> Response:
    web = web_context(request)
    given = [g for g in request.query_params.getlist("run") if g.strip()]
    if len(given) < 2:
        raise UserError("give two or more runs: /compare?run=RUN_A&run=RUN_B (run ids or IRIs; the runs page lists them)")
    runs = list(dict.fromkeys(checked_run_iri(g, argument="run") for g in given))
    if len(runs) < 2:
        raise UserError("give two different runs: the same run was given twice")

    records, diffs = web.cached_read("compare:" + "|".join(runs), read_comparison, runs)
    names = _run_names(records)
    first_plan = records[0].derived_from[0][0] if records[0].derived_from else records[0].plan
    return web.render(
        request, "compare.html.j2",
        view="runs",
        records=records,
        names=names,
        rows=side_by_side(records),
        diffs=diffs,
        charts=curve_charts(records, names),
        shown=shown,
        chart_plan=first_plan,
    )


# -- a result against a setting across a plan's runs ------------------------------------------


def _numeric(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def default_axes(family: PlanFamily, x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """Unless the request chose them: the setting that varies most across the sampled runs
    (numbers first), and accuracy on the test split, else the first result."""
    if x not in family.settings:
        def spread(name: str) -> tuple[int, bool, str]:
            values = family.settings[name]
            return (len({repr(v) for v in values}), _numeric(values), name)

        x = max(family.settings, key=spread) if family.settings else None
    if y not in family.results:
        y = "test:accuracy" if "test:accuracy" in family.results else (family.results[0] if family.results else None)
    return x, y


def result_label(key: str) -> str:
    """``accuracy (test)`` for ``test:accuracy``."""
    split, _, name = key.rpartition(":")
    return f"{name} ({split})" if split else name


def result_chart(x: str, y: str, points: list[Point]) -> dict[str, Any]:
    """The chart ``charts.js`` draws: one trace of points per plan (a derived plan is its own)."""
    traces: dict[str, dict[str, Any]] = {}
    for point in sorted(points, key=lambda p: (not _numeric([p.x]), p.x if _numeric([p.x]) else shown(p.x))):
        run = point.run
        trace = traces.setdefault(run.plan, {"name": run.plan_title or run.plan, "mode": "markers",
                                             "x": [], "y": [], "text": [], "links": []})
        trace["x"].append(point.x if _numeric([point.x]) else shown(point.x))
        trace["y"].append(point.y)
        trace["text"].append(run.label or run.run)
        trace["links"].append(run_url(run.run))
    return {"target": "result-chart", "title": f"{result_label(y)} against {x}",
            "x_title": x, "y_title": result_label(y), "traces": list(traces.values())}


def chart_page(request: Request) -> Response:
    web = web_context(request)
    plan = plan_parameter(request, "plan")
    family: PlanFamily = web.cached_read("compare:family:" + plan, read_plan_family, plan)
    x, y = default_axes(family, request.query_params.get("x"), request.query_params.get("y"))

    points: list[Point] = web.cached_read(f"compare:points:{plan}|{x}|{y}", read_family_points, family, x, y) if x and y else []
    return web.render(
        request, "compare.html.j2",
        view="chart",
        family=family,
        points=points,
        x=x,
        y=y,
        result_label=result_label,
        charts=[result_chart(x, y, points)] if points else [],
        shown=shown,
    )


routes = [
    Route("/compare", compare_page),
    Route("/compare/chart", chart_page),
]
