"""What the store says about plans, as the plan pages show it: one plan whole (its steps and
their graph, variables, code, derivation, runs), and every plan in a list.

A stored plan is read as it is, without validating it again: it was validated when it was
stored, and a page must show a plan that an older or newer mlprov would refuse. One plan
costs four reads: its named graph (small, read whole through rdflib), one query for the
plans it derives from and that derive from it with what they change, one for its newest
runs with their headline results (a second only when none records a usual one), one
counting its runs.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Iterable
from urllib.parse import unquote

import pyoxigraph as ox
import rdflib
from rdflib import RDF, RDFS, URIRef

from . import queries, vocab
from .errors import UserError
from .plan import DCTERMS, MLPROV, PPLAN, PROV
from .plan.checks import step_variables
from .plan.naming import compact
from .step_order import topological_order
from .store import RemoteStore, Store, StoreLocation
from .tasks import task_by_iri

log = logging.getLogger(__name__)

_METRIC_PREFIX = "https://w3id.org/mlprov/metric"
#: The result a plan's runs are listed with, the first of these its runs record; else the
#: result most of them record.
HEADLINE_RESULTS = (
    vocab.metric_namespace("test") + "accuracy",
    vocab.metric_namespace("all") + "silhouette",
    vocab.metric_namespace("test") + "macro_f1",
)
#: Step types that every step has and that say nothing of what it does.
_GENERIC_STEP_TYPES = {str(PPLAN.Step), vocab.REPR + "Cell"}

_DERIVATIONS = """
PREFIX prov:    <http://www.w3.org/ns/prov#>
PREFIX p-plan:  <http://purl.org/net/p-plan#>
PREFIX mlprov:  <https://w3id.org/mlprov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?plan ?derived ?original ?title ?original_title ?name ?value WHERE {
  { ?derived prov:wasDerivedFrom ?plan . BIND (?plan AS ?original) }
  UNION
  { ?plan prov:wasDerivedFrom ?original . BIND (?plan AS ?derived) }
  ?derived a p-plan:Plan .
  ?original a p-plan:Plan .
  OPTIONAL { ?derived dcterms:title ?title }
  OPTIONAL { ?original dcterms:title ?original_title }
  # what the derived plan changes, as 'mlprov query plans' says it: each value that differs
  # from the one it was copied from, or that the original left to the task's default
  OPTIONAL {
    ?variable p-plan:isVariableOfPlan ?derived ; mlprov:parameterName ?name ; prov:value ?value .
    OPTIONAL { ?variable prov:wasDerivedFrom ?copied . ?copied prov:value ?original_value }
    FILTER (!BOUND(?original_value) || COALESCE(?original_value != ?value, !sameTerm(?original_value, ?value)))
  }
}
"""

#: The plan page lists this many of a plan's runs, the newest; the runs page lists them all.
RUNS_SHOWN = 100

# Runs are told from the reproductions (which name their plan too) by their IRI, not by
# `?run a mls:Run`: joining every run's type costs ten times as much at 10,000 runs.
_IS_RUN = f'FILTER (STRSTARTS(STR(?run), "{vocab.RUN_BASE}"))'

_RUN_COUNT = f"""
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?plan (COUNT(?run) AS ?runs) WHERE {{ ?run mlprov:plan ?plan {_IS_RUN} }} GROUP BY ?plan
"""

# The plan's newest runs and their results; RESULTS picks which: the usual headline results
# by name (one lookup each), else every direct result (a scan of each run's properties).
_RUNS = f"""
PREFIX prov:   <http://www.w3.org/ns/prov#>
PREFIX mlprov: <https://w3id.org/mlprov#>
SELECT ?plan ?run ?status ?started ?duration ?result ?value WHERE {{{{
  {{{{
    SELECT ?plan ?run ?started WHERE {{{{
      ?run mlprov:plan ?plan {_IS_RUN}
      OPTIONAL {{{{ ?run prov:startedAtTime ?started }}}}
    }}}}
    ORDER BY DESC(?started) DESC(?run)
    LIMIT {RUNS_SHOWN}
  }}}}
  OPTIONAL {{{{ ?run mlprov:status ?status }}}}
  OPTIONAL {{{{ ?run mlprov:duration ?duration }}}}
  OPTIONAL {{{{ {{results}} }}}}
}}}}
"""
_HEADLINE_RESULTS = "VALUES ?result { " + " ".join(f"<{iri}>" for iri in HEADLINE_RESULTS) + " } ?run ?result ?value"
_ANY_RESULT = f'?run ?result ?value . FILTER (STRSTARTS(STR(?result), "{_METRIC_PREFIX}"))'


class PlanNotFound(UserError):
    """The IRI names no plan in the store; the web app answers 404."""

    http_status = 404


@dataclass(frozen=True)
class Variable:
    iri: str
    name: str | None  # mlprov:parameterName: the notebook variable
    label: str
    value: str | None  # the value's text as the plan states it; None for an output
    datatype: str | None  # compact, e.g. xsd:integer
    comment: str
    read_by: tuple[str, ...]  # step IRIs
    written_by: tuple[str, ...]

    @property
    def shown_name(self) -> str:
        return self.name or self.label


@dataclass(frozen=True)
class Step:
    iri: str
    label: str
    kind: str  # the step class's local name: TrainingStep, CodeStep
    index: int  # 1-based place in the order the notebook's cells follow
    position: int | None  # mlprov:position, where the plan gives one
    description: str
    follows: tuple[str, ...]  # p-plan:isPrecededBy
    inputs: tuple[Variable, ...]
    outputs: tuple[Variable, ...]
    code: str | None  # a code step's source


@dataclass(frozen=True)
class PlanLink:
    """Another plan, as a derivation names it: what it changes relative to its original."""

    iri: str
    title: str
    changes: str  # "epochs = 20, optimizer = SGD"; empty when nothing differs


@dataclass(frozen=True)
class PlanRun:
    iri: str
    status: str  # Completed, Failed, Interrupted, or empty
    started: str  # "2026-12-02 11:29:04" (UTC), or empty
    duration: float | None  # seconds
    headline: float | str | None  # the plan's headline result for this run


@dataclass(frozen=True)
class PlanRecord:
    iri: str
    title: str
    description: str
    author: str
    task: str
    steps: tuple[Step, ...]  # in the notebook's order
    variables: tuple[Variable, ...]  # parameters (by name), then outputs
    derived_from: PlanLink | None  # with what this plan changes
    derived: tuple[PlanLink, ...]
    runs: tuple[PlanRun, ...]  # newest first, at most RUNS_SHOWN
    run_count: int  # every run of the plan
    headline: str  # the result in PlanRun.headline: "accuracy (test)", or empty

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(earlier step, later step) for every ``p-plan:isPrecededBy`` between the plan's steps."""
        known = {s.iri for s in self.steps}
        return [(before, step.iri) for step in self.steps for before in step.follows if before in known]


@dataclass(frozen=True)
class PlanSummary:
    """One row of the plans list."""

    iri: str
    title: str
    author: str
    task: str
    steps: int
    runs: int
    last_started: str
    derived_from: str | None
    changes: str
    depth: int = 0  # how many derivations from a plan not derived from one listed


# -- one plan ----------------------------------------------------------------------------


def read_plan(store: Store | RemoteStore, iri: str) -> PlanRecord:
    """Everything the plan page shows of the plan ``iri`` (a PlanNotFound when there is none)."""
    if not store.has_graph(iri):
        raise PlanNotFound(f"{iri}: no plan with this IRI in the store; the plans page lists the stored plans")
    graph = store.rdflib_graph(iri)
    plan = URIRef(iri)
    if (plan, RDF.type, PPLAN.Plan) not in graph:
        raise PlanNotFound(f"{iri}: this graph of the store is not a plan; the plans page lists the stored plans")
    variables = _variables(graph, plan)
    steps = _steps(graph, plan, variables)
    derived_from, derived = _derivations(store, iri)
    runs, headline = _runs(store, iri)
    counted = next(iter(store.query(_RUN_COUNT, {"plan": ox.NamedNode(iri)})), None)
    author = graph.value(plan, PROV.wasAttributedTo)
    return PlanRecord(
        iri=iri,
        title=_text(graph, plan, DCTERMS.title) or iri,
        description=_text(graph, plan, DCTERMS.description),
        author=(_text(graph, author, RDFS.label) or str(author)) if author is not None else "",
        task=task_name(_text(graph, plan, MLPROV.task)),
        steps=tuple(steps),
        variables=tuple(sorted(variables.values(), key=lambda v: (v.value is None, v.shown_name, v.iri))),
        derived_from=derived_from,
        derived=derived,
        runs=runs,
        run_count=int(counted["runs"].value) if counted is not None else 0,
        headline=headline,
    )


def task_name(iri: str) -> str:
    """The installed task's name for a task IRI (``multiclass-classification``), else the IRI compacted."""
    if not iri:
        return ""
    task = task_by_iri(iri)
    return task.name if task is not None else queries.compact(iri)


def _text(graph: rdflib.Graph, node, prop) -> str:
    value = graph.value(node, prop)
    return str(value) if value is not None else ""


def _variables(graph: rdflib.Graph, plan: URIRef) -> dict[URIRef, Variable]:
    steps = set(graph.subjects(PPLAN.isStepOfPlan, plan))
    read_by: dict[URIRef, list[str]] = {}
    written_by: dict[URIRef, list[str]] = {}
    for step in steps:
        for variable in step_variables(graph, step, output=False):
            read_by.setdefault(variable, []).append(str(step))
        for variable in step_variables(graph, step, output=True):
            written_by.setdefault(variable, []).append(str(step))
    nodes = set(graph.subjects(PPLAN.isVariableOfPlan, plan)) | set(read_by) | set(written_by)
    found: dict[URIRef, Variable] = {}
    for node in nodes:
        value = graph.value(node, PROV.value)
        datatype = value.datatype if isinstance(value, rdflib.Literal) else None
        found[node] = Variable(
            iri=str(node),
            name=_text(graph, node, MLPROV.parameterName) or None,
            label=_text(graph, node, RDFS.label) or compact(node),
            value=str(value) if value is not None else None,
            datatype=compact(datatype) if datatype is not None else None,
            comment=_text(graph, node, RDFS.comment),
            read_by=tuple(sorted(read_by.get(node, ()))),
            written_by=tuple(sorted(written_by.get(node, ()))),
        )
    return found


def _steps(graph: rdflib.Graph, plan: URIRef, variables: dict[URIRef, Variable]) -> list[Step]:
    """The steps in the order the notebook's cells follow (as validation orders them); steps on
    a cycle, which a stored plan cannot have, come last rather than not at all."""
    nodes = sorted(set(graph.subjects(PPLAN.isStepOfPlan, plan)), key=str)
    before = {n: sorted(set(graph.objects(n, PPLAN.isPrecededBy)), key=str) for n in nodes}
    positions = {n: _position(graph.value(n, MLPROV.position)) for n in nodes}
    key = {n: (positions[n] if positions[n] is not None else math.inf, str(n)) for n in nodes}
    ordered = topological_order(nodes, before, key=key.__getitem__)
    ordered += [n for n in nodes if n not in set(ordered)]
    steps = []
    for index, node in enumerate(ordered, start=1):
        code = graph.value(node, MLPROV.code)
        steps.append(Step(
            iri=str(node),
            label=_text(graph, node, RDFS.label) or compact(node),
            kind=_kind(graph, node),
            index=index,
            position=positions[node],
            description=_text(graph, node, DCTERMS.description),
            follows=tuple(str(n) for n in before[node]),
            inputs=_of_step(variables, step_variables(graph, node, output=False)),
            outputs=_of_step(variables, step_variables(graph, node, output=True)),
            code=str(code) if code is not None else None,
        ))
    return steps


def _position(value) -> int | None:
    try:
        return int(value.toPython()) if value is not None else None
    except (TypeError, ValueError):
        return None


def _kind(graph: rdflib.Graph, step: URIRef) -> str:
    types = sorted(str(t) for t in graph.objects(step, RDF.type) if str(t) not in _GENERIC_STEP_TYPES)
    ours = [t for t in types if t.startswith(vocab.MLPROV)] or types
    return compact(URIRef(ours[0])).split(":", 1)[-1] if ours else "Step"


def _of_step(variables: dict[URIRef, Variable], nodes: Iterable) -> tuple[Variable, ...]:
    return tuple(sorted((variables[n] for n in nodes if n in variables), key=lambda v: (v.shown_name, v.iri)))


def _derivations(store: Store | RemoteStore, iri: str) -> tuple[PlanLink | None, tuple[PlanLink, ...]]:
    """The plan this one was derived from (with what this one changes), and the plans derived from it."""
    titles: dict[tuple[str, str], str] = {}
    changes: dict[tuple[str, str], set[str]] = {}
    for row in store.query(_DERIVATIONS, {"plan": ox.NamedNode(iri)}):
        derived, original = row["derived"].value, row["original"].value
        pair = (derived, original)
        theirs = row["title"] if derived != iri else row["original_title"]
        titles[pair] = theirs.value if theirs is not None else (original if derived == iri else derived)
        changed = changes.setdefault(pair, set())
        if row["name"] is not None:
            changed.add(f"{row['name'].value} = {row['value'].value}")
    links = {pair: PlanLink(pair[1] if pair[0] == iri else pair[0], titles[pair], ", ".join(sorted(changes[pair])))
             for pair in titles}
    derived_from = next((link for pair, link in sorted(links.items()) if pair[0] == iri), None)
    derived = tuple(sorted((link for pair, link in links.items() if pair[0] != iri), key=lambda l: (l.changes, l.iri)))
    return derived_from, derived


def _runs(store: Store | RemoteStore, iri: str) -> tuple[tuple[PlanRun, ...], str]:
    """The plan's newest runs, each with the one result that the plan's runs are listed by."""
    facts: dict[str, dict] = {}
    results: dict[str, dict[str, ox.Literal]] = {}
    for clause in (_HEADLINE_RESULTS, _ANY_RESULT):
        for row in store.query(_RUNS.format(results=clause), {"plan": ox.NamedNode(iri)}):
            run = row["run"].value
            if run not in facts:
                facts[run] = {"status": row["status"], "started": row["started"], "duration": row["duration"]}
                results[run] = {}
            if row["result"] is not None and isinstance(row["value"], ox.Literal):
                results[run][row["result"].value] = row["value"]
        if not facts or any(results.values()):
            break  # no runs, or a headline result found: no need to look through every result
    headline = _headline(results.values())
    runs = [
        PlanRun(
            iri=run,
            status=f["status"].value.rsplit("#", 1)[-1] if f["status"] is not None else "",
            started=_started(f["started"]),
            duration=_number(f["duration"]),
            headline=_number(results[run].get(headline)) if headline else None,
        )
        for run, f in facts.items()
    ]
    runs.sort(key=lambda r: (r.started, r.iri), reverse=True)
    return tuple(runs), result_name(headline) if headline else ""


def _headline(results: Iterable[dict[str, ox.Literal]]) -> str | None:
    counts = Counter(name for values in results for name in values)
    for preferred in HEADLINE_RESULTS:
        if preferred in counts:
            return preferred
    return min(counts, key=lambda name: (-counts[name], name)) if counts else None


def result_name(iri: str) -> str:
    """``accuracy (test)`` for ``…/metric/test#accuracy``; ``accuracy`` when it names no split."""
    namespace, _, name = iri.partition("#")
    split = namespace[len(_METRIC_PREFIX) + 1:]
    return f"{unquote(name)} ({unquote(split)})" if split else unquote(name)


def _started(term: ox.Literal | None) -> str:
    return term.value[:19].replace("T", " ") if term is not None else ""


def _number(term) -> float | str | None:
    if term is None:
        return None
    try:
        return float(term.value)
    except ValueError:
        return term.value


# -- every plan --------------------------------------------------------------------------


def list_plans(location: StoreLocation, *, timeout_s: float) -> list[PlanSummary]:
    """Every stored plan (the canned query ``plans``, within the time limit), each derived
    plan right after the plan it was derived from, one level deeper."""
    result = queries.run_stoppable(location, queries.resolve("plans"), timeout_s=timeout_s)
    rows = [dict(zip(result.columns, row)) for row in result.rows]
    plans = {}
    for row in rows:
        iri = row["plan"].value
        plans[iri] = PlanSummary(
            iri=iri,
            title=_value(row["title"]) or iri,
            author=_value(row["author"]),
            task=task_name(_value(row["task"])),
            steps=int(_value(row["steps"]) or 0),
            runs=int(_value(row["runs"]) or 0),
            last_started=_started(row["last_started"]),
            derived_from=_value(row["derived_from"]) or None,
            changes=_value(row["changes"]),
        )
    return _as_tree(plans)


def _value(term) -> str:
    return term.value if term is not None else ""


def _as_tree(plans: dict[str, PlanSummary]) -> list[PlanSummary]:
    """Originals by title; under each, the plans derived from it by what they change, and so on."""
    children: dict[str | None, list[PlanSummary]] = {}
    for plan in plans.values():
        parent = plan.derived_from if plan.derived_from in plans and plan.derived_from != plan.iri else None
        children.setdefault(parent, []).append(plan)
    ordered: list[PlanSummary] = []
    placed: set[str] = set()

    def place(plan: PlanSummary, depth: int) -> None:
        if plan.iri in placed:
            return
        placed.add(plan.iri)
        ordered.append(replace(plan, depth=depth))
        for child in sorted(children.get(plan.iri, []), key=lambda p: (p.changes, p.title, p.iri)):
            place(child, depth + 1)

    for root in sorted(children.get(None, []), key=lambda p: (p.title.casefold(), p.iri)):
        place(root, 0)
    for plan in sorted(plans.values(), key=lambda p: p.iri):  # on a derivation cycle, which no tool writes
        place(plan, 0)
    return ordered
