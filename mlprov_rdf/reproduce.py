"""`mlprov reproduce`: run a recorded run again and say, metric by metric, whether it reproduced.

From the store: the run's plan (its named graph, validated again with ``plan.from_graph``)
and the settings the run actually used (every ``mls:HyperParameterSetting`` of the run,
seed included, papermill overrides included). The plan's parameter values are replaced by
those settings, so they reach the regenerated notebook's parameters cell through
``generate.py_literal`` like any plan value. The notebook is executed and ingested by
``workflow.run``, then every scalar evaluation of the original run (``mls:hasOutput``
evaluations without ``mlprov:epoch``), every data hash (``mlprov:sha256`` of its data
sets and splits) and every output of its code steps (``prov:value``, or ``mlprov:sha256``
of an object) is compared with the new run's. Numbers agree within a relative
tolerance (0: exactly; one tolerance for all, or one per measure); JSON values (confusion
matrices) must be equal; anything else must be the same literal.

A run imported from MLProvCodeGen (``mlprov:LegacyRun``) is compared through
:mod:`mlprov_rdf.legacy_measures`: each of its measures with mlprov's counterpart, its
classes named by index in label order, its last epoch's training loss with the new run's
at that epoch; a measure mlprov does not compute is a check that says so ("not
comparable"), which neither agrees nor fails; and it says once that the original had no
seed.

The outcome goes into its own named graph ``urn:mlprov:reproduction:NEWRUNID``: a
``prov:Activity``/``mlprov:Reproduction`` that used the original run, links both runs and
the plan, states the tolerance, and holds one ``mlprov:ReproductionCheck`` per metric and
hash with the original and new value and ``mlprov:reproduced true/false``. It
``prov:used`` the original run's bundle (its record: PROV-O's ``prov:used`` points at
entities, and PROV-O keeps activities and entities disjoint) and the compared entities, and
``prov:wasInformedBy`` both runs.

Only the ``Store`` API is used (query, has_graph, rdflib_graph, replace_graph), so this
works on every store backend.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import math
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyoxigraph as ox
import rdflib

from . import __version__, generate, queries, series, vocab
from .legacy_measures import class_pairs, counterpart, seed_note
from .arguments import checked_run_iri
from .errors import UserError
from .plan import Parameter, Plan, typed_value, from_graph
from .store import Store, StoreLocation, open_store

log = logging.getLogger(__name__)

REPRODUCTION_BASE = "urn:mlprov:reproduction:"

_NUMERIC = {
    vocab.XSD + t
    for t in ("integer", "int", "long", "short", "byte", "decimal", "double", "float",
              "nonNegativeInteger", "positiveInteger", "unsignedInt", "unsignedLong")
}
_JSON = vocab.RDF + "JSON"
_STRING = vocab.XSD + "string"

_PREFIXES = """
PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX mlprov: <https://w3id.org/mlprov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX p-plan: <http://purl.org/net/p-plan#>
"""

# Every query projects the variables it is given (Oxigraph substitutes projected ones only).
_RUN_QUERY = _PREFIXES + """
SELECT ?g ?run ?plan ?status WHERE {
  GRAPH ?g { ?run a mls:Run ; mlprov:plan ?plan . OPTIONAL { ?run mlprov:status ?status } }
}"""

_SETTINGS_QUERY = _PREFIXES + """
SELECT ?g ?run ?name ?value WHERE {
  GRAPH ?g {
    ?run mls:hasInput ?setting .
    ?setting a mls:HyperParameterSetting ; mlprov:parameterName ?name ; mls:hasValue ?value .
  }
}"""

_METRICS_QUERY = _PREFIXES + """
SELECT ?g ?run ?m ?measure ?value ?split ?class WHERE {
  GRAPH ?g {
    ?run mls:hasOutput ?m .
    ?m a mls:ModelEvaluation ; mls:specifiedBy ?measure ; mls:hasValue ?value .
    OPTIONAL { ?m mlprov:splitName ?split }
    OPTIONAL { ?m mlprov:forClass ?class }
    FILTER NOT EXISTS { ?m mlprov:epoch ?epoch }
  }
}"""

_DATA_QUERY = _PREFIXES + """
SELECT ?g ?d ?hash ?split ?identifier ?label WHERE {
  GRAPH ?g {
    ?d a mls:Dataset ; mlprov:sha256 ?hash .
    OPTIONAL { ?d mlprov:splitName ?split }
    OPTIONAL { ?d dcterms:identifier ?identifier }
    OPTIONAL { ?d rdfs:label ?label }
  }
}"""


# A code step's outputs: each is an entity of the cell execution; a cell run again by hand
# made another, and the last execution's value is the one compared.
_LEGACY_QUERY = _PREFIXES + """
SELECT ?g ?run ?seed WHERE { GRAPH ?g { ?run a mlprov:LegacyRun . OPTIONAL { ?run mlprov:seed ?seed } } }"""

# Per-epoch values: compared only with a legacy run's, which recorded its last epoch's loss.
_EPOCH_METRICS_QUERY = _PREFIXES + """
SELECT ?g ?run ?m ?measure ?value ?split ?epoch ?series WHERE {
  GRAPH ?g {
    ?run mls:hasOutput ?m .
    ?m a mls:ModelEvaluation ; mls:specifiedBy ?measure ; mls:hasValue ?value ; mlprov:epoch ?epoch .
    OPTIONAL { ?m mlprov:splitName ?split }
    OPTIONAL { ?m mlprov:series ?series }
  }
}"""

_OUTPUTS_QUERY = _PREFIXES + """
SELECT ?g ?o ?order ?step ?name ?value ?hash WHERE {
  GRAPH ?g {
    ?o a p-plan:Entity ; mlprov:parameterName ?name ; prov:wasGeneratedBy ?cell .
    ?cell mlprov:executionOrder ?order ; p-plan:correspondsToStep ?step .
    OPTIONAL { ?o prov:value ?value }
    OPTIONAL { ?o mlprov:sha256 ?hash }
  }
}"""


@dataclass(frozen=True)
class Recorded:
    """One metric, data hash or code-step output of a run: what is compared, keyed by what it measures."""

    kind: str  # "metric" | "data" | "output"
    key: tuple
    name: str  # shown in the table and stored as rdfs:label
    node: str  # the entity in the run's graph
    value: ox.Literal
    measure: str | None = None
    split: str | None = None
    for_class: str | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class Tolerance:
    """Relative tolerances: one for every value, and one per measure where given (``accuracy=0.1``)."""

    default: float = 0.0
    per_measure: dict[str, float] = field(default_factory=dict)

    def of(self, *measures: str) -> float:
        """The tolerance of the first of ``measures`` that has its own, else the default."""
        return next((self.per_measure[m] for m in measures if m in self.per_measure), self.default)

    def describe(self) -> str:
        own = ", ".join(f"{name}={value:g}" for name, value in sorted(self.per_measure.items()))
        return f"{self.default:g}" + (f" ({own})" if own else "")


def parse_tolerances(values: tuple[str, ...] | list[str]) -> Tolerance:
    """``("1e-6", "accuracy=0.1")`` as a Tolerance; a bad value is a UserError."""
    default, per_measure = 0.0, {}
    for text in values:
        name, _, number = text.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if math.isnan(value) or value < 0 or (name == "" and "=" in text) or (name and not re.fullmatch(r"[\w.-]+", name)):
            raise UserError(
                f"--tolerance {text}: give a relative tolerance of 0 or more (1e-6), or one for a measure (accuracy=0.1)"
            )
        if name:
            per_measure[name] = value
        else:
            default = value
    return Tolerance(default, per_measure)


@dataclass(frozen=True)
class Check:
    kind: str
    name: str
    original: Recorded | None
    new: Recorded | None
    reproduced: bool
    difference: float | None  # relative difference of two numbers
    tolerance: float = 0.0
    comparable: bool = True  # False: the new run measures something else (``note`` says what)
    note: str | None = None

    @property
    def original_text(self) -> str:
        return _show(self.original.value) if self.original else "(missing)"

    @property
    def new_text(self) -> str:
        if self.new is None:
            return "(missing)" if self.comparable else "-"
        other = self.original is not None and self.new.measure != self.original.measure
        return _show(self.new.value) + (f" ({_local(self.new.measure)})" if other and self.new.measure else "")

    @property
    def verdict(self) -> str:
        if not self.comparable:
            return "not comparable"
        return "reproduced" if self.reproduced else "NOT reproduced"


@dataclass
class Reproduction:
    iri: str  # the reproduction activity
    graph: str
    original_run: str
    new_run: str
    plan: str
    tolerance: Tolerance
    status: str  # the new run's status
    notebook: Path
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    new_only: list[str] = field(default_factory=list)  # values only the new run recorded
    notes: list[str] = field(default_factory=list)  # what the comparison cannot do, said once

    @property
    def compared(self) -> list[Check]:
        return [c for c in self.checks if c.comparable]

    @property
    def reproduced(self) -> bool:
        return bool(self.compared) and all(c.reproduced for c in self.compared) and self.status == "Completed"

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.compared if not c.reproduced]


# -- reading a run -------------------------------------------------------------------


def _bindings(store: Store, sparql: str, **values: str) -> list[dict[str, Any]]:
    subs = {k: ox.NamedNode(v) for k, v in values.items()}
    names = [v.lstrip("?") for v in re.search(r"SELECT (.*?) WHERE", sparql).group(1).split()]
    return [{name: solution[name] for name in names} for solution in store.query(sparql, subs)]


def _run_facts(store: Store, run: str) -> tuple[str, str, str | None]:
    """(bundle graph, plan IRI, status) of a recorded run (a checked run IRI), or a UserError."""
    graph = vocab.bundle_iri(vocab.run_id_of(run))
    if not store.has_graph(graph):
        raise UserError(f"{run}: no run with this IRI in the store {getattr(store.location, 'display', store.location.home)}; list runs with 'mlprov runs'")
    rows = _bindings(store, _RUN_QUERY, g=graph, run=run)
    if not rows:
        raise UserError(f"{run}: the store has this run's graph but no mlprov:plan for it; it cannot be reproduced")
    plans = sorted({r["plan"].value for r in rows})
    status = rows[0]["status"].value.rsplit("#", 1)[-1] if rows[0].get("status") is not None else None
    return graph, plans[0], status


def recorded_settings(store: Store, run: str) -> dict[str, ox.Literal]:
    graph = vocab.bundle_iri(vocab.run_id_of(run))
    return {r["name"].value: r["value"] for r in _bindings(store, _SETTINGS_QUERY, g=graph, run=run)}


def _local(iri: str) -> str:
    return re.split(r"[#/]", iri)[-1]


def recorded_results(store: Store, run: str) -> dict[tuple, Recorded]:
    """The scalar metrics and data hashes of a run, keyed so that two runs can be matched."""
    graph = vocab.bundle_iri(vocab.run_id_of(run))
    out: dict[tuple, Recorded] = {}
    for r in _bindings(store, _METRICS_QUERY, g=graph, run=run):
        measure = r["measure"].value
        split = r["split"].value if r.get("split") is not None else None
        cls = r["class"].value if r.get("class") is not None else None
        key = ("metric", measure, split, cls)
        detail = ", ".join(x for x in (split, cls) if x)
        name = _local(measure) + (f" ({detail})" if detail else "")
        out[key] = Recorded("metric", key, name, r["m"].value, r["value"], measure, split, cls)
    for r in _bindings(store, _DATA_QUERY, g=graph):
        split = r["split"].value if r.get("split") is not None else None
        if split is not None:
            key = ("data", "split", split)
            name = f"sha256 of the {split} split"
        else:
            ident = r.get("identifier") or r.get("label")
            ident_text = ident.value if ident is not None else _local(r["d"].value)
            key = ("data", "dataset", ident_text)
            name = f"sha256 of data set {ident_text}"
        out[key] = Recorded("data", key, name, r["d"].value, r["hash"], split=split)
    latest: dict[tuple, float] = {}
    for r in _bindings(store, _OUTPUTS_QUERY, g=graph):
        value = r["value"] if r.get("value") is not None else r.get("hash")
        order = float(r["order"].value)
        key = ("output", r["step"].value, r["name"].value)
        if value is None or latest.get(key, -math.inf) > order:
            continue
        latest[key] = order
        name = f"{r['name'].value} (output of {_local(r['step'].value)})"
        out[key] = Recorded("output", key, name, r["o"].value, value)
    return out


def recorded_epoch_metrics(store: Store, run: str) -> dict[tuple, Recorded]:
    """A run's per-epoch evaluations, keyed by measure, split and epoch."""
    graph = vocab.bundle_iri(vocab.run_id_of(run))
    out: dict[tuple, Recorded] = {}
    for r in _bindings(store, _EPOCH_METRICS_QUERY, g=graph, run=run):
        measure = r["measure"].value
        split = r["split"].value if r.get("split") is not None else None
        if r.get("series") is None:  # one epoch's node, of a run stored before series
            points = [(int(r["epoch"].value), r["value"])]
        else:
            points = [(epoch, queries.point_term(value)) for epoch, value in series.decode(r["series"].value)]
        for epoch, value in points:
            key = ("metric", measure, split, None, epoch)
            name = f"{_local(measure)} ({', '.join(x for x in (split, f'epoch {epoch}') if x)})"
            out[key] = Recorded("metric", key, name, r["m"].value, value, measure, split, None, epoch)
    return out


def is_legacy_run(store: Store, run: str) -> tuple[bool, str | None]:
    """(imported from MLProvCodeGen, the seed it recorded) of a run."""
    graph = vocab.bundle_iri(vocab.run_id_of(run))
    rows = _bindings(store, _LEGACY_QUERY, g=graph, run=run)
    return bool(rows), next((r["seed"].value for r in rows if r.get("seed") is not None), None)


# -- the plan with the values the run used -------------------------------------------


def _to_rdflib(term: ox.Literal) -> rdflib.Literal:
    if term.language:
        return rdflib.Literal(term.value, lang=term.language)
    if term.datatype is None or term.datatype.value == _STRING:
        return rdflib.Literal(term.value)
    return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))


def plan_with_settings(plan: Plan, settings: dict[str, ox.Literal], run: str) -> tuple[Plan, list[str]]:
    """The plan, its parameter values replaced by those the run used; and what was not recorded."""
    task = plan.task
    code_inputs = {p.name: p.spec for s in plan.steps if s.is_code for p in s.inputs}
    values: dict[str, Any] = {}
    for name, term in sorted(settings.items()):
        spec = task.parameter(name) or code_inputs.get(name)
        if spec is None:
            raise UserError(
                f"{run}: the run used parameter {name!r}, which task {task.name} no longer has "
                "(its templates changed since the run); it cannot be reproduced with this version of mlprov"
            )
        where = f"{run}: recorded setting {name!r}"
        values[name] = typed_value(_to_rdflib(term), spec, where, None)
    steps = []
    present = set()
    for step in plan.steps:
        inputs = []
        for param in step.inputs:
            present.add(param.name)
            if param.name in values:
                param = dataclasses.replace(param, value=values[param.name])
            inputs.append(param)
        # A task parameter that the run recorded but the plan left out (it had its default).
        for spec in task.parameters_of(step.spec):
            if spec.name in values and spec.name not in present and spec.name not in {p.name for p in inputs}:
                inputs.append(Parameter(f"{plan.iri}#{spec.name}", spec.name, values[spec.name], spec))
        order = {p.name: i for i, p in enumerate(task.parameters)}  # a code step's inputs keep their order
        steps.append(dataclasses.replace(step, inputs=tuple(sorted(inputs, key=lambda p: order.get(p.name, len(order))))))
    unrecorded = sorted(p.name for s in plan.steps for p in s.inputs if p.name not in values)
    return dataclasses.replace(plan, steps=tuple(steps)), unrecorded


# -- comparing -----------------------------------------------------------------------


def _number(term: ox.Literal) -> float | None:
    if term.datatype is None or term.datatype.value not in _NUMERIC:
        return None
    text = term.value.strip()
    if text in ("INF", "+INF"):
        return math.inf
    if text == "-INF":
        return -math.inf
    try:
        return float(text)
    except ValueError:
        return None


def compare_values(original: ox.Literal, new: ox.Literal, tolerance: float) -> tuple[bool, float | None]:
    """(reproduced, relative difference) of two recorded values."""
    a, b = _number(original), _number(new)
    if a is not None and b is not None:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b), None
        if a == b:
            return True, 0.0
        if math.isinf(a) or math.isinf(b):
            return False, math.inf
        difference = abs(a - b) / max(abs(a), abs(b))
        return tolerance > 0 and difference <= tolerance, difference
    json_types = [t.datatype is not None and t.datatype.value == _JSON for t in (original, new)]
    if all(json_types):
        try:
            return json.loads(original.value) == json.loads(new.value), None
        except ValueError:
            return original.value == new.value, None
    return (original.value == new.value and original.datatype == new.datatype and original.language == new.language), None


def _tolerance(tolerance: Tolerance | float) -> Tolerance:
    return tolerance if isinstance(tolerance, Tolerance) else Tolerance(float(tolerance))


def _check(o: Recorded, n: Recorded | None, tolerance: float, *, comparable: bool = True, note: str | None = None) -> Check:
    if n is None or not comparable:
        return Check(o.kind, o.name, o, n, False, None, tolerance, comparable, note)
    ok, difference = compare_values(o.value, n.value, tolerance)
    return Check(o.kind, o.name, o, n, ok, difference, tolerance, comparable, note)


def _order(original: dict[tuple, Recorded]) -> list[tuple]:
    return sorted(original, key=lambda k: (k[0] != "data", str(k)))


def compare(original: dict[tuple, Recorded], new: dict[tuple, Recorded], tolerance: Tolerance | float) -> list[Check]:
    """One check per metric and data hash of the original run (data first, then metrics by name).

    A value the original has and the new run lacks fails its check; a value only the new run
    has is nothing to compare with (see :func:`new_only`).
    """
    tolerance = _tolerance(tolerance)
    return [_check(original[key], new.get(key), tolerance.of(_local(original[key].measure or ""))) for key in _order(original)]


def compare_legacy(original: dict[tuple, Recorded], new: dict[tuple, Recorded], tolerance: Tolerance | float) -> list[Check]:
    """The checks of a legacy run: each of its measures against mlprov's counterpart in the new run."""
    tolerance = _tolerance(tolerance)
    metrics = {(_local(r.measure), r.split, r.for_class, r.epoch): r for r in new.values() if r.kind == "metric" and r.measure}
    measures = {m for m, *_ in metrics}
    legacy_classes: dict[tuple, set[str]] = {}
    for r in original.values():
        if r.kind == "metric" and r.measure and r.for_class is not None:
            legacy_classes.setdefault((_local(r.measure), r.split), set()).add(r.for_class)
    checks = []
    for key in _order(original):
        o = original[key]
        if o.kind != "metric" or not o.measure:
            checks.append(_check(o, new.get(key), tolerance.default))
            continue
        ours = counterpart(_local(o.measure), measures)
        for_class, note = o.for_class, ours.note
        if for_class is not None:
            classes = {c for m, split, c, _ in metrics if m == ours.measure and split == o.split and c is not None}
            for_class = class_pairs(legacy_classes[(_local(o.measure), o.split)], classes).get(o.for_class)
            if for_class is not None and for_class != o.for_class:
                note = f"the original's class {o.for_class} is mlprov's {for_class!r}"
        n = metrics.get((ours.measure, o.split, for_class, o.epoch))
        checks.append(_check(o, n, tolerance.of(_local(o.measure), ours.measure), comparable=ours.comparable, note=note))
    return checks


def measure_names(recorded: dict[tuple, Recorded], *, legacy: bool) -> set[str]:
    """The measures a per-measure tolerance may name: the run's own, and for a legacy run their counterparts."""
    names = {_local(r.measure) for r in recorded.values() if r.kind == "metric" and r.measure}
    return names | ({counterpart(m, set()).measure for m in names} if legacy else set())


def new_only(original: dict[tuple, Recorded], new: dict[tuple, Recorded], checks: list[Check] | None = None) -> list[str]:
    """The values only the new run recorded (per-epoch ones aside), those a check used counting as compared."""
    used = {c.new.key for c in checks or [] if c.new is not None}
    return sorted(new[k].name for k in set(new) - set(original) - used if new[k].epoch is None)


# -- recording -----------------------------------------------------------------------


def _n(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


def _lit(value: Any) -> ox.Literal:
    if isinstance(value, bool):
        return ox.Literal("true" if value else "false", datatype=_n(vocab.XSD + "boolean"))
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=_n(vocab.XSD + "integer"))
    if isinstance(value, float):
        text = "INF" if value == math.inf else "-INF" if value == -math.inf else "NaN" if value != value else repr(value)
        return ox.Literal(text, datatype=_n(vocab.XSD + "double"))
    if isinstance(value, datetime):
        return ox.Literal(value.isoformat(), datatype=_n(vocab.XSD + "dateTime"))
    return ox.Literal(str(value))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower() or "x"


def check_iri(graph: str, recorded: Recorded) -> str:
    """``GRAPH/check/metric/accuracy/test``, ``GRAPH/check/data/split/train``,
    ``GRAPH/check/output/features/n_features`` (step, then name), a legacy run's last epoch
    ``GRAPH/check/metric/training_loss/train/epoch-100``: readable and unique."""
    if recorded.kind == "metric":
        parts = [_local(recorded.measure or "metric"), recorded.split, recorded.for_class,
                 None if recorded.epoch is None else f"epoch-{recorded.epoch}"]
    elif recorded.kind == "output":
        parts = [_local(recorded.key[1]), recorded.key[2]]
    else:
        parts = list(recorded.key[1:])
    return f"{graph}/check/{recorded.kind}/" + "/".join(_slug(str(p)) for p in parts if p is not None)


def reproduction_triples(rep: Reproduction, started: datetime, ended: datetime) -> list[ox.Triple]:
    P, M, R = vocab.PROV, vocab.MLPROV, vocab.RDFS
    act = _n(rep.iri)
    graph = _n(rep.graph)
    t: list[ox.Triple] = []

    def add(s, p, o):
        t.append(ox.Triple(s, _n(p), o))

    add(graph, vocab.RDF + "type", _n(P + "Bundle"))
    add(graph, P + "wasGeneratedBy", act)
    for cls in (P + "Activity", M + "Reproduction"):
        add(act, vocab.RDF + "type", _n(cls))
    add(act, R + "label", _lit(f"reproduction of {rep.original_run}"))
    # What it used is the original run's record, its bundle: PROV-O makes whatever prov:used
    # points at a prov:Entity, and an activity (the run itself) cannot be one.
    add(act, P + "used", _n(vocab.bundle_iri(vocab.run_id_of(rep.original_run))))
    add(act, P + "wasInformedBy", _n(rep.original_run))
    add(act, P + "wasInformedBy", _n(rep.new_run))
    add(act, M + "reproducedRun", _n(rep.original_run))
    add(act, M + "reproducingRun", _n(rep.new_run))
    add(act, M + "plan", _n(rep.plan))
    add(act, M + "tolerance", _lit(float(rep.tolerance.default)))
    for note in rep.notes:
        add(act, R + "comment", _lit(note))
    add(act, M + "reproduced", _lit(rep.reproduced))
    add(act, P + "startedAtTime", _lit(started))
    add(act, P + "endedAtTime", _lit(ended))
    add(act, M + "duration", ox.Literal(f"{(ended - started).total_seconds():.6f}", datatype=_n(vocab.XSD + "decimal")))
    software = vocab.AGENT_BASE + f"software:mlprov-rdf-{__version__}"
    person = vocab.AGENT_BASE + "person:" + _slug(getpass.getuser())
    for agent, cls, label in ((software, "SoftwareAgent", f"mlprov-rdf {__version__}"), (person, "Person", person.rsplit(":", 1)[1])):
        add(act, P + "wasAssociatedWith", _n(agent))
        add(_n(agent), vocab.RDF + "type", _n(P + "Agent"))
        add(_n(agent), vocab.RDF + "type", _n(P + cls))
        add(_n(agent), R + "label", _lit(label))
    used = set()
    for check in rep.checks:
        node = _n(check_iri(rep.graph, check.original or check.new))
        add(act, M + "check", node)
        add(node, vocab.RDF + "type", _n(P + "Entity"))
        add(node, vocab.RDF + "type", _n(M + "ReproductionCheck"))
        add(node, R + "label", _lit(f"{check.name}: {check.verdict.lower()}"))
        if check.note:
            add(node, R + "comment", _lit(check.note if check.comparable else f"not comparable: {check.note}"))
        if check.comparable and check.tolerance != rep.tolerance.default:
            add(node, R + "comment", _lit(f"compared within relative tolerance {check.tolerance:g}, given for this measure"))
        add(node, M + "checkName", _lit(check.name))
        add(node, M + "reproduced", _lit(check.reproduced))
        add(node, P + "wasGeneratedBy", act)
        if check.original is not None:
            add(node, M + "originalValue", check.original.value)
            add(node, M + "originalEntity", _n(check.original.node))
            add(node, P + "wasDerivedFrom", _n(check.original.node))
            used.add(check.original.node)
        if check.new is not None:
            add(node, M + "newValue", check.new.value)
            add(node, M + "newEntity", _n(check.new.node))
            add(node, P + "wasDerivedFrom", _n(check.new.node))
            used.add(check.new.node)
        if check.difference is not None and not math.isnan(check.difference):
            add(node, M + "relativeDifference", _lit(float(check.difference)))
    for entity in sorted(used):
        add(act, P + "used", _n(entity))
    return t


# -- the job -------------------------------------------------------------------------


def reproduce(
    run_iri: str,
    location: StoreLocation,
    *,
    tolerance: Tolerance | float = 0.0,
    directory: Path | None = None,
    timeout_s: int | None = None,
    on_cell: Callable[[int, int], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> Reproduction:
    """Regenerate, execute and ingest a recorded run, compare it, and record the comparison."""
    from .workflow import run as run_notebook  # workflow imports the library; keep this module importable alone

    tolerance = _tolerance(tolerance)
    if tolerance.default < 0 or math.isnan(tolerance.default):
        raise UserError(f"--tolerance {tolerance.default}: give a relative tolerance of 0 or more, e.g. 1e-6")
    original = checked_run_iri(run_iri, argument="RUN_IRI")
    with open_store(location, create=False, read_only=True) as store:
        _graph, plan_iri, status = _run_facts(store, original)
        if not store.has_graph(plan_iri):
            raise UserError(f"{original}: its plan <{plan_iri}> is not in the store; store it with 'mlprov generate PLAN.ttl'")
        plan_graph = store.rdflib_graph(plan_iri)
        settings = recorded_settings(store, original)
        before = recorded_results(store, original)
        legacy, seed = is_legacy_run(store, original)
        if legacy:
            before.update(recorded_epoch_metrics(store, original))
    unknown = sorted(set(tolerance.per_measure) - measure_names(before, legacy=legacy))
    if unknown:
        known = ", ".join(sorted(measure_names(before, legacy=legacy))) or "none"
        raise UserError(f"--tolerance {unknown[0]}=...: {original} recorded no measure {unknown[0]!r}; its measures are {known}")
    notes = [seed_note(seed)] if legacy else []
    for note in notes:
        if echo:
            echo(f"note: {note}")
    if status != "Completed" and echo:
        echo(f"note: the original run's status is {status or 'unknown'}; what it did not record cannot be compared")
    if not before:
        raise UserError(f"{original}: the run recorded no metrics, data hashes or code-step outputs; there is nothing to compare")
    plan = from_graph(plan_graph, source=f"stored plan <{plan_iri}>")
    plan, unrecorded = plan_with_settings(plan, settings, original)
    if unrecorded and echo:
        echo(f"note: the run recorded no value for {', '.join(unrecorded)}; the plan's values are used")

    folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="mlprov-reproduce-"))
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / f"reproduce-{_slug(vocab.run_id_of(original)).upper()}.ipynb"
    generate.write_notebook(plan, notebook)
    if echo:
        echo(f"reproducing {original} (plan <{plan_iri}>, {len(settings)} recorded settings) in {notebook}")
    started = datetime.now(timezone.utc)
    outcome = run_notebook(notebook, location, output=notebook, timeout_s=timeout_s, on_cell=on_cell)

    run_id = vocab.run_id_of(outcome.run)
    graph = REPRODUCTION_BASE + run_id
    rep = Reproduction(
        iri=graph + "/activity",
        graph=graph,
        original_run=original,
        new_run=outcome.run,
        plan=plan_iri,
        tolerance=tolerance,
        status=outcome.status,
        notebook=notebook,
        error=outcome.error,
        notes=notes,
    )
    with open_store(location) as store:
        after = recorded_results(store, outcome.run)
        if legacy:
            after.update(recorded_epoch_metrics(store, outcome.run))
        rep.checks = (compare_legacy if legacy else compare)(before, after, tolerance)
        rep.new_only = new_only(before, after, rep.checks)
        store.replace_graph(graph, reproduction_triples(rep, started, datetime.now(timezone.utc)))
    log.info("reproduction %s: %s", rep.iri, "reproduced" if rep.reproduced else "not reproduced")
    return rep


# -- output --------------------------------------------------------------------------


def _show(term: ox.Literal, width: int = 40) -> str:
    number = _number(term)
    if number is not None and term.datatype.value.endswith(("double", "float", "decimal")):
        text = repr(number)
    elif term.datatype is not None and term.datatype.value == _JSON:
        try:
            text = json.dumps(json.loads(term.value), separators=(",", ":"))
        except ValueError:
            text = term.value
    elif re.fullmatch(r"[0-9a-f]{64}", term.value):
        text = term.value[:16] + "…"  # a sha256: enough to tell two apart
    else:
        text = term.value
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rep: Reproduction) -> str:
    """One row per check; a note column (why not comparable, how classes matched, a measure's own
    tolerance) when some check has one."""
    header = ("check", "original", "new", "verdict", "note")

    def note(c: Check) -> str:
        own = f"tolerance {c.tolerance:g}" if c.comparable and c.tolerance != rep.tolerance.default else ""
        return "; ".join(x for x in (c.note, own) if x)

    rows = [
        tuple(queries.terminal_text(v) for v in (c.name, c.original_text, c.new_text, c.verdict, note(c)))
        for c in rep.checks
    ]
    columns = 5 if any(r[4] for r in rows) else 4
    header, rows = header[:columns], [r[:columns] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(columns)]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def summary(rep: Reproduction) -> str:
    total, failed = len(rep.compared), len(rep.failures)
    tol = rep.tolerance
    how = "exactly" if tol.default == 0 and not tol.per_measure else f"within relative tolerance {tol.describe()}"
    extra = f"; the new run also recorded {len(rep.new_only)} values the original did not" if rep.new_only else ""
    skipped = len(rep.checks) - total
    extra += f"; {skipped} not comparable" if skipped else ""
    if rep.reproduced:
        return f"reproduced: all {total} checks agree {how} (new run {rep.new_run}; record <{rep.graph}>{extra})"
    why = f"{failed} of {total} checks differ" if failed else f"the new run is {rep.status.lower()}"
    if not total:
        why = "no check could be compared"
    if rep.status != "Completed" and failed:
        why += f"; the new run is {rep.status.lower()}"
    return f"NOT reproduced: {why} (tolerance {tol.describe()}; new run {rep.new_run}; record <{rep.graph}>{extra})"
