"""A result against a setting across a plan's runs: the chart of ``/compare/chart``.

The runs of a plan and of the plans derived from it (:func:`read_plan_family`) and the two
chosen direct values of each (:func:`read_family_points`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pyoxigraph as ox

from . import vocab
from .run_record import term_value

if TYPE_CHECKING:
    from .store import RemoteStore, Store

# A plan may have thousands of runs, each with a few hundred statements, so the runs' values
# are not read whole: the settings and results there are to choose from (and how much each
# setting varies) come from a sample of the runs, and the points from the two chosen
# direct values of every run, two index lookups per run.

#: Runs whose direct values say which settings and results a plan's runs have.
FAMILY_SAMPLE = 60

_FAMILY_PATTERN = f"""
  VALUES ?plan {{ $PLAN }}
  ?member <{vocab.PROV}wasDerivedFrom>* ?plan .
  ?run <{vocab.MLPROV}plan> ?member .
"""

_FAMILY_RUNS = f"""
SELECT ?run ?member ?member_title ?label
WHERE {{
  {_FAMILY_PATTERN}
  OPTIONAL {{ ?member <{vocab.DCTERMS}title> ?member_title }}
  OPTIONAL {{ ?run <{vocab.RDFS}label> ?label }}
}}
"""

_SAMPLE_VALUES = f"""
SELECT ?run ?key ?value
WHERE {{
  VALUES ?run {{ $RUNS }}
  ?run ?key ?value .
  FILTER (STRSTARTS(STR(?key), "{vocab.PARAM}") || STRSTARTS(STR(?key), "https://w3id.org/mlprov/metric"))
}}
"""

_POINTS = f"""
SELECT ?run ?x ?y
WHERE {{
  {_FAMILY_PATTERN}
  ?run $X ?x ; $Y ?y .
}}
"""

_METRIC_PATH = "https://w3id.org/mlprov/metric"


@dataclass(frozen=True)
class FamilyRun:
    run: str
    label: str | None
    plan: str  # the plan it ran: the plan asked for or one derived from it
    plan_title: str | None


@dataclass(frozen=True)
class Point:
    run: FamilyRun
    x: Any
    y: Any


@dataclass
class PlanFamily:
    """The runs of a plan and of the plans derived from it, and what they can be charted by."""

    plan: str
    runs: list[FamilyRun]
    settings: dict[str, list[Any]]  # setting name → its values in the sampled runs
    results: list[str]  # ``SPLIT:NAME`` (``NAME`` without a split) of numeric results


def result_key(prop: str) -> str | None:
    """``test:accuracy`` for ``<.../metric/test#accuracy>``, ``accuracy`` for ``<.../metric#accuracy>``."""
    if not prop.startswith(_METRIC_PATH) or "#" not in prop:
        return None
    space, name = prop[len(_METRIC_PATH):].split("#", 1)
    split = unquote(space.lstrip("/"))
    return f"{split}:{unquote(name)}" if split else unquote(name)


def result_property(key: str) -> str:
    """The direct property of a result key: the inverse of :func:`result_key`."""
    split, _, name = key.rpartition(":")
    return vocab.metric_namespace(split or None) + quote(name, safe="")


def _fill(template: str, **iris: str | list[str]) -> str:
    """The template with each ``$NAME`` replaced, in one pass, by IRIs in their N-Triples form
    (which escapes anything that could end one), so no given text can change the query."""
    def term(match: re.Match) -> str:
        value = iris[match.group(1)]
        return " ".join(str(ox.NamedNode(v)) for v in ([value] if isinstance(value, str) else value))

    return re.sub(r"\$([A-Z]+)", term, template)


def read_plan_family(store: "Store | RemoteStore", plan: str) -> PlanFamily:
    """The runs of ``plan`` and of its derived plans, with the settings and results they have."""
    runs = []
    for row in store.query(_fill(_FAMILY_RUNS, PLAN=plan)):
        runs.append(FamilyRun(row["run"].value, row["label"].value if row["label"] is not None else None,
                              row["member"].value, row["member_title"].value if row["member_title"] is not None else None))
    runs.sort(key=lambda r: r.run)
    step = max(1, len(runs) // FAMILY_SAMPLE)
    sample = runs[::step][:FAMILY_SAMPLE]
    settings: dict[str, list[Any]] = defaultdict(list)
    results: set[str] = set()
    if sample:
        for row in store.query(_fill(_SAMPLE_VALUES, RUNS=[r.run for r in sample])):
            prop, value = row["key"].value, term_value(row["value"])
            if prop.startswith(vocab.PARAM):
                settings[unquote(prop[len(vocab.PARAM):])].append(value)
            elif (key := result_key(prop)) is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                results.add(key)
    return PlanFamily(plan, runs, dict(sorted(settings.items())), sorted(results))


def read_family_points(store: "Store | RemoteStore", family: PlanFamily, setting: str, result: str) -> list[Point]:
    """Every run of the family that has both values: the setting's and the result's."""
    text = _fill(_POINTS, PLAN=family.plan, X=vocab.param_property(setting), Y=result_property(result))
    by_iri = {r.run: r for r in family.runs}
    points = []
    for row in store.query(text):
        run = by_iri.get(row["run"].value)
        if run is not None:
            points.append(Point(run, term_value(row["x"]), term_value(row["y"])))
    return sorted(points, key=lambda p: p.run.run)
