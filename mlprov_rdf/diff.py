"""Two runs side by side, aligned by plan step: what ``mlprov diff RUN_A RUN_B`` prints.

For every step of the plan, in plan order: the settings the step takes, what its cell
generated (data sets and splits with their content hashes, models, files, metrics) and
the code it ran (code hash, whether it was edited by hand, its status, and a unified diff
of the source when the code differs). Then the cells without a step (the parameters cell,
cells added by hand) and the environment (kernel, language, operating system, hardware,
package versions). Start and end times and durations are left out: they always differ.
What the runs used (CPU time, peak memory, peak GPU memory) is shown in a group of its own,
beside, and never counted as a difference, for the same reason.

Items are aligned by what they are, not by their IRIs: a setting by its parameter name,
an entity by its IRI with the run's own prefix taken off (``data/iris/train``; a metric
is named ``accuracy (test)``, ``f1 (test) [setosa]``), a step's code by the step (by its
position when the runs followed different plans), cells without a step by their kind and
their order among cells of that kind. A per-epoch series is one item, its values in
epoch order. A step of a derived plan (``mlprov run PLAN -p ...``) is the step it was
derived from (``prov:wasDerivedFrom``, followed to the first plan), so a run of a plan and
a run of a plan derived from it align step by step.

A run imported from MLProvCodeGen (``mlprov:LegacyRun``) has a cell per step but no code,
so its code is not diffed; its settings and metrics carry a note naming the key of the file
they came from, and its metrics are put beside their counterparts by
:mod:`mlprov_rdf.legacy_measures` (``roc_auc_micro`` beside ``roc_auc_ovr``, said not to be
comparable; classes named by index beside mlprov's names; its last epoch's loss beside the
other run's loss at that epoch).

Everything is read with a few SPARQL queries per run, each with the run substituted, so a
diff costs the same in a store of ten runs or of ten thousand.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pyoxigraph as ox

from . import queries, vocab
from .series import points as epoch_points
from .arguments import checked_run_iri
from .errors import UserError
from .legacy_measures import class_pairs, counterpart

if TYPE_CHECKING:
    import pandas

    from .store import Store

_PREFIXES = """\
PREFIX prov:    <http://www.w3.org/ns/prov#>
PREFIX p-plan:  <http://purl.org/net/p-plan#>
PREFIX repr:    <https://w3id.org/reproduceme#>
PREFIX mls:     <http://www.w3.org/ns/mls#>
PREFIX mlprov:  <https://w3id.org/mlprov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs:    <http://www.w3.org/2000/01/rdf-schema#>
"""

# Each query starts from ?run, which is substituted: Oxigraph plans before it substitutes,
# so type tests go in FILTER EXISTS and every pattern is reached from the run.
_RUN = _PREFIXES + """
SELECT ?run ?label ?plan ?plan_title ?digest ?status ?started ?notebook ?legacy
WHERE {
  ?run a mls:Run .
  BIND (EXISTS { ?run a mlprov:LegacyRun } AS ?legacy)
  OPTIONAL { ?run rdfs:label ?label }
  OPTIONAL { ?run mlprov:plan ?plan . OPTIONAL { ?plan dcterms:title ?plan_title } }
  OPTIONAL { ?run mlprov:planDigest ?digest }
  OPTIONAL { ?run mlprov:status ?status }
  OPTIONAL { ?run prov:startedAtTime ?started }
  OPTIONAL { ?run prov:used ?nb .
             FILTER EXISTS { ?nb a repr:Notebook }
             OPTIONAL { ?nb rdfs:label ?notebook } }
}
"""

_CELLS = _PREFIXES + """
SELECT ?run ?cell ?order ?step ?step_label ?position ?cell_label ?kind ?hash ?drifted ?status ?error ?source
WHERE {
  ?cell dcterms:isPartOf ?run .
  FILTER EXISTS { ?cell a repr:CellExecution }
  OPTIONAL { ?cell mlprov:executionOrder ?order }
  OPTIONAL { ?cell p-plan:correspondsToStep ?step .
             OPTIONAL { ?step rdfs:label ?step_label }
             OPTIONAL { ?step mlprov:position ?position } }
  OPTIONAL { ?cell rdfs:label ?cell_label }
  OPTIONAL { ?cell mlprov:cellKind ?kind }
  OPTIONAL { ?cell mlprov:codeHash ?hash }
  OPTIONAL { ?cell mlprov:codeDrifted ?drifted }
  OPTIONAL { ?cell mlprov:status ?status }
  OPTIONAL { ?cell mlprov:error ?error }
  OPTIONAL { ?cell mlprov:sourceCode ?source }
}
"""

_USAGE = _PREFIXES + """
SELECT ?run ?cpu_user ?cpu_system ?peak_memory ?peak_gpu_memory ?energy_kwh ?emissions_kg ?energy_method
WHERE {
  ?run a mls:Run .
  OPTIONAL { ?run mlprov:cpuUserTime ?cpu_user }
  OPTIONAL { ?run mlprov:cpuSystemTime ?cpu_system }
  OPTIONAL { ?run mlprov:peakMemory ?peak_memory }
  OPTIONAL { ?run mlprov:peakGpuMemory ?peak_gpu_memory }
  OPTIONAL { ?run mlprov:energyConsumed ?energy_kwh }
  OPTIONAL { ?run mlprov:carbonEmissions ?emissions_kg }
  OPTIONAL { ?run mlprov:energyMethod ?energy_method }
}
"""
_USAGE_NAMES = {"cpu_user": "CPU s, user", "cpu_system": "CPU s, system", "peak_memory": "peak memory, bytes",
                "peak_gpu_memory": "peak GPU memory, bytes", "energy_kwh": "energy, kWh",
                "emissions_kg": "emissions, kg CO2eq", "energy_method": "energy estimated by"}

_SETTINGS = _PREFIXES + """
SELECT ?run ?name ?value ?step ?step_label ?position ?comment
WHERE {
  ?run mls:hasInput ?setting .
  ?setting mlprov:parameterName ?name .
  FILTER EXISTS { ?setting a mls:HyperParameterSetting }
  OPTIONAL { ?setting mls:hasValue ?value }
  OPTIONAL { ?setting rdfs:comment ?comment }
  OPTIONAL { ?setting p-plan:correspondsToVariable ?variable .
             OPTIONAL { ?step p-plan:hasInputVar ?variable .
                        OPTIONAL { ?step rdfs:label ?step_label }
                        OPTIONAL { ?step mlprov:position ?position } } }
}
"""

# What the run's cells generated, and the files they read that no cell generated.
_ENTITIES = _PREFIXES + """
SELECT ?run ?entity ?cell ?kind ?label ?value ?sha256 ?parameters ?architecture ?epoch ?series ?operation ?comment
WHERE {
  ?cell dcterms:isPartOf ?run .
  {
    ?entity prov:wasGeneratedBy ?cell .
    BIND (IF(EXISTS { ?entity a mls:ModelEvaluation }, "metric",
          IF(EXISTS { ?entity a mls:Dataset }, "data",
          IF(EXISTS { ?entity a mls:Model }, "model",
          IF(EXISTS { ?entity a mlprov:Artifact }, "file", "entity")))) AS ?kind)
  } UNION {
    ?cell prov:used ?entity .
    FILTER NOT EXISTS { ?entity prov:wasGeneratedBy ?generator }
    BIND ("input" AS ?kind)
  }
  OPTIONAL { ?entity rdfs:label ?label }
  OPTIONAL { ?entity mls:hasValue ?value }
  OPTIONAL { ?entity mlprov:sha256 ?sha256 }
  OPTIONAL { ?entity mlprov:parameterCount ?parameters }
  OPTIONAL { ?entity mlprov:architecture ?architecture }
  OPTIONAL { ?entity mlprov:epoch ?epoch }
  OPTIONAL { ?entity mlprov:series ?series }
  OPTIONAL { ?entity mlprov:operation ?operation }
  OPTIONAL { ?entity rdfs:comment ?comment }
}
"""

# The first step each of the run's steps was derived from, through derived plans of derived plans.
_ORIGINS = _PREFIXES + """
SELECT DISTINCT ?run ?step ?origin
WHERE {
  { ?cell dcterms:isPartOf ?run ; p-plan:correspondsToStep ?step }
  UNION
  { ?run mls:hasInput ?setting . ?setting p-plan:correspondsToVariable ?variable . ?step p-plan:hasInputVar ?variable }
  ?step prov:wasDerivedFrom+ ?origin .
  ?origin p-plan:isStepOfPlan ?plan .
  FILTER NOT EXISTS { ?origin prov:wasDerivedFrom ?earlier . ?earlier p-plan:isStepOfPlan ?earlier_plan }
}
"""

_KIND_ORDER = {"run": 0, "setting": 1, "input": 2, "data": 3, "entity": 4, "model": 5, "file": 6,
               "code": 7, "metric": 8, "kernel": 9, "language": 10, "os": 11, "hardware": 12, "package": 13}


@dataclass
class Item:
    """One thing both runs may have: a setting, a data hash, a metric, a cell's code ..."""

    kind: str
    name: str
    a: Any = None  # the value in run A; None where A has no such thing
    b: Any = None
    same: bool = True
    source_diff: str | None = None  # for code: a unified diff of the two sources
    note: str | None = None  # where a legacy run's value came from, how it was matched

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "a": _jsonable(self.a), "b": _jsonable(self.b), "same": self.same}
        if self.source_diff is not None:
            out["source_diff"] = self.source_diff
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass
class Group:
    """The items of one plan step, or of the run, the cells without a step, the environment."""

    key: str  # "run", a step IRI, "parameters", "added", "other settings", "environment"
    title: str
    step: str | None = None
    position: int | None = None
    items: list[Item] = field(default_factory=list)

    @property
    def differences(self) -> list[Item]:
        return [item for item in self.items if not item.same]

    def to_dict(self) -> dict:
        return {
            "group": self.key if self.step is None else "step",
            "title": self.title,
            "step": self.step,
            "position": self.position,
            "items": [item.to_dict() for item in self.items],
        }


@dataclass
class RunSummary:
    run: str
    label: str | None
    plan: str | None
    plan_title: str | None
    plan_digest: str | None
    status: str | None
    started: str | None
    notebook: str | None
    legacy: bool = False  # imported from MLProvCodeGen

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RunDiff:
    a: RunSummary
    b: RunSummary
    groups: list[Group]

    @property
    def differences(self) -> list[tuple[Group, Item]]:
        return [(group, item) for group in self.groups for item in group.items if not item.same]

    @property
    def identical(self) -> bool:
        return not self.differences

    def group(self, key_or_title: str) -> Group | None:
        """The group of a step IRI, a key ("run", "environment" ...) or a title."""
        return next((g for g in self.groups if key_or_title in (g.key, g.title, g.step)), None)

    def to_dict(self) -> dict:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "identical": self.identical,
            "differences": len(self.differences),
            "groups": [group.to_dict() for group in self.groups],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def to_dataframe(self) -> "pandas.DataFrame":
        """One row per item: group, step, kind, name, a, b, same."""
        import pandas as pd

        rows = [
            {"group": g.title, "step": g.step, "kind": i.kind, "name": i.name, "a": i.a, "b": i.b, "same": i.same}
            for g in self.groups
            for i in g.items
        ]
        return pd.DataFrame(rows, columns=["group", "step", "kind", "name", "a", "b", "same"])

    def to_table(self, *, show_all: bool = False, width: int = 36) -> str:
        """A readable report, grouped by step; identical items are counted, not listed."""
        return _table(self, show_all=show_all, width=width)


# -- reading a run ---------------------------------------------------------------------------


def _select(store: "Store", text: str, run: str) -> list[dict[str, Any]]:
    """Rows of Python values (IRIs as strings) of one query about one run."""
    result = store.query(text, {"run": ox.NamedNode(run)})
    names = [v.value for v in result.variables]
    return [{name: _value(solution[name]) for name in names} for solution in result]


def _value(term: Any) -> Any:
    """A Python value; a date-time stays text (no pandas import for a diff)."""
    if isinstance(term, ox.Literal) and term.datatype.value == vocab.XSD + "dateTime":
        return term.value
    return queries.python_value(term)


def _summary(store: "Store", run: str) -> RunSummary:
    rows = _select(store, _RUN, run)
    if not rows:
        location = store.location
        where = getattr(location, "display", None) or location.home
        raise UserError(f"run {run}: not in the store {where}; 'mlprov runs' lists the runs it has")
    row = rows[0]
    return RunSummary(
        run=run,
        label=row["label"],
        plan=row["plan"],
        plan_title=row["plan_title"],
        plan_digest=row["digest"],
        status=_local(row["status"]),
        started=row["started"],
        notebook=row["notebook"],
        legacy=bool(row["legacy"]),
    )


@dataclass
class _Run:
    summary: RunSummary
    cells: list[dict]
    settings: list[dict]
    entities: list[dict]
    environment: dict[tuple[str, str], Any]
    origins: dict[str, str]  # step → the step it was first derived from
    usage: dict[str, Any]  # what the run used: _USAGE's columns


def _read(store: "Store", run: str) -> _Run:
    summary = _summary(store, run)
    cells = sorted(_select(store, _CELLS, run), key=lambda c: (c["order"] is None, c["order"] or 0))
    settings = _select(store, _SETTINGS, run)
    entities = _select(store, _ENTITIES, run)
    origins = {row["step"]: row["origin"] for row in _select(store, _ORIGINS, run)}
    env_rows = queries.run(store, queries.resolve("environment"), {"run": run})
    environment: dict[tuple[str, str], Any] = {}
    for row in env_rows.rows:
        record = dict(zip(env_rows.columns, (queries.python_value(t) for t in row)))
        category, name, value = record["category"], record["name"], record["value"]
        if category == "notebook":
            continue  # the notebook is the code, compared cell by cell
        if category in ("kernel", "language", "os"):
            # The label names the version, mostly; the OS version is the kernel build.
            shown = str(name)
            if value is not None and str(value) not in shown:
                shown += f" ({value})"
            environment[(category, category)] = shown
        else:
            environment[(category, str(name))] = value
    usage = next(iter(_select(store, _USAGE, run)), {})
    return _Run(summary, cells, settings, entities, environment, origins, usage)


# -- comparing -------------------------------------------------------------------------------


def diff_runs(store: "Store", run_a: str, run_b: str) -> RunDiff:
    """Compare two runs in an open store; an unknown run is a UserError."""
    a_iri, b_iri = checked_run_iri(run_a, argument="RUN_A"), checked_run_iri(run_b, argument="RUN_B")
    a, b = _read(store, a_iri), _read(store, b_iri)

    groups: dict[str, Group] = {}
    run_group = Group("run", "Run")
    run_group.items = [
        _item("run", "plan", a.summary.plan, b.summary.plan),
        _item("run", "plan digest", a.summary.plan_digest, b.summary.plan_digest),
        _item("run", "status", a.summary.status, b.summary.status),
    ]
    groups["run"] = run_group

    # Steps, in plan order: those either run executed or takes settings in. Runs of one
    # plan align by step, and so do runs of plans derived one from the other (by the step
    # each was derived from); runs of two unrelated plans by the steps' positions.
    same_plan = a.summary.plan == b.summary.plan
    origin = {**a.origins, **b.origins}
    steps_a = {origin.get(r["step"], r["step"]) for r in a.cells + a.settings if r["step"]}
    steps_b = {origin.get(r["step"], r["step"]) for r in b.cells + b.settings if r["step"]}
    key_of_step: dict[str, str] = {}
    for row in a.cells + a.settings + b.cells + b.settings:
        step, position = row["step"], row["position"]
        if not step or step in key_of_step:
            continue
        first = origin.get(step, step)
        aligned = same_plan or (first in steps_a and first in steps_b)
        key = first if aligned or position is None else f"step {position}"
        key_of_step[step] = key
        if key not in groups:
            label = row["step_label"] or step
            title = f"{position}. {label}" if position is not None else label
            groups[key] = Group(key, title, step=step, position=position)

    def group_of_step(step: str | None, fallback: str, title: str) -> Group:
        if step and step in key_of_step:
            return groups[key_of_step[step]]
        if fallback not in groups:
            groups[fallback] = Group(fallback, title)
        return groups[fallback]

    # Settings, under the step that takes them.
    for name in sorted({s["name"] for s in a.settings + b.settings}):
        sa = next((s for s in a.settings if s["name"] == name), None)
        sb = next((s for s in b.settings if s["name"] == name), None)
        step = (sa or {}).get("step") or (sb or {}).get("step")
        group = group_of_step(step, "other settings", "Settings outside the plan's steps")
        item = _item("setting", name, (sa or {}).get("value"), (sb or {}).get("value"))
        item.note = _origin_note(a.summary.legacy and sa, b.summary.legacy and sb)
        group.items.append(item)

    # Code: the last execution of each step; cells without a step by kind and order.
    cells_a, cells_b = _cells_by_key(a, key_of_step), _cells_by_key(b, key_of_step)
    for key in list(dict.fromkeys(list(cells_a) + list(cells_b))):
        ca, cb = cells_a.get(key), cells_b.get(key)
        if key[0] == "step":
            group = groups[key[1]]
        elif key[0] == "ParametersCell":
            group = group_of_step(None, "parameters", "Parameters cell")
        else:
            group = group_of_step(None, "added", "Cells added by hand")
        group.items.extend(_code_items(key, ca, cb, recorded=not (a.summary.legacy or b.summary.legacy)))

    # Entities, under the step whose cell generated (or read) them.
    step_of_cell = {c["cell"]: c["step"] for c in a.cells + b.cells}
    ents_a, ents_b = _entities_by_key(a), _entities_by_key(b)
    if a.summary.legacy != b.summary.legacy:
        _align_legacy(*((ents_a, ents_b) if a.summary.legacy else (ents_b, ents_a)))
    for key in sorted(set(ents_a) | set(ents_b), key=lambda k: (_KIND_ORDER.get(k[0], 99), k[1])):
        ea, eb = ents_a.get(key), ents_b.get(key)
        cell = (ea or eb)["cell"]
        group = group_of_step(step_of_cell.get(cell), "other outputs", "Outputs of cells without a step")
        item = _item(key[0], key[1], (ea or {}).get("value"), (eb or {}).get("value"))
        origin = _origin_note(a.summary.legacy and ea, b.summary.legacy and eb)
        item.note = "; ".join(x for x in (origin, (ea or {}).get("mapping") or (eb or {}).get("mapping")) if x) or None
        item.same = item.same and not (ea or eb).get("incomparable")
        group.items.append(item)

    used = Group("usage", "Resources used (measured, never counted as a difference)")
    used.items = [Item("usage", title, a.usage.get(name), b.usage.get(name))
                  for name, title in _USAGE_NAMES.items() if a.usage.get(name) is not None or b.usage.get(name) is not None]
    env = Group("environment", "Environment")
    for key in sorted(set(a.environment) | set(b.environment), key=lambda k: (_KIND_ORDER.get(k[0], 99), k[1].lower())):
        name = key[1] if key[0] in ("hardware", "package") else key[0]
        env.items.append(_item(key[0], name, a.environment.get(key), b.environment.get(key)))

    ordered = [groups.pop("run")]
    steps = sorted((g for g in groups.values() if g.step), key=lambda g: (g.position is None, g.position or 0, g.key))
    ordered += steps
    for key in ("parameters", "added", "other settings", "other outputs"):
        if key in groups:
            ordered.append(groups[key])
    if used.items:
        ordered.append(used)
    ordered.append(env)
    for group in ordered:
        group.items.sort(key=lambda i: (_KIND_ORDER.get(i.kind, 99), i.name))
    return RunDiff(a.summary, b.summary, ordered)


def _local(iri: str | None) -> str | None:
    if iri and iri.startswith(vocab.MLPROV):
        return iri[len(vocab.MLPROV):]
    return iri


def _same(x: Any, y: Any) -> bool:
    """Equal values of the same type: 1, 1.0 and True are three different settings."""
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    numbers = (bool, int, float)
    if isinstance(x, numbers) and isinstance(y, numbers) and type(x) is not type(y):
        return False
    return x == y


def _item(kind: str, name: str, a: Any, b: Any) -> Item:
    return Item(kind, name, a, b, _same(a, b))


def _cells_by_key(run: _Run, key_of_step: dict[str, str]) -> dict[tuple[str, str], list[dict]]:
    """A step's executions under ("step", its group); other cells under (kind, "1"), (kind, "2") ..."""
    out: dict[tuple[str, str], list[dict]] = {}
    counts: dict[str, int] = {}
    for cell in run.cells:
        if cell["step"]:
            out.setdefault(("step", key_of_step[cell["step"]]), []).append(cell)
            continue
        kind = _local(cell["kind"]) or "AddedCell"
        kind = "ParametersCell" if kind == "ParametersCell" else "AddedCell"
        counts[kind] = counts.get(kind, 0) + 1
        out[(kind, str(counts[kind]))] = [cell]
    return out


def _origin_note(legacy_a: dict | None, legacy_b: dict | None) -> str | None:
    """``A: MLProvCodeGen: entity[...]``: where a legacy run's value came from (its rdfs:comment)."""
    notes = [f"{side}: {row['comment']}" for side, row in (("A", legacy_a), ("B", legacy_b)) if row and row.get("comment")]
    return "; ".join(notes) or None


def _code_items(key: tuple[str, str], ca: list[dict] | None, cb: list[dict] | None, *, recorded: bool = True) -> list[Item]:
    """The code of a step's (or cell's) last execution; ``recorded`` False: one run recorded no code (a legacy run)."""
    last_a, last_b = (ca or [None])[-1], (cb or [None])[-1]
    prefix = "" if key[0] == "step" else ("parameters cell " if key[0] == "ParametersCell" else "added cell ") + key[1] + ": "
    hash_a, hash_b = (last_a or {}).get("hash"), (last_b or {}).get("hash")
    code = _item("code", prefix + "code sha256", hash_a, hash_b)
    if not recorded:
        code.note = "MLProvCodeGen recorded no code"
    elif not code.same and (key[0] != "step" or (last_a and last_b)):
        # A step that one run never reached shows as missing, without its whole source.
        code.source_diff = _source_diff(last_a, last_b)
    items = [code]
    if key[0] == "step":
        items.append(_item("code", prefix + "edited by hand", (last_a or {}).get("drifted"), (last_b or {}).get("drifted")))
        if len(ca or []) > 1 or len(cb or []) > 1:
            items.append(_item("code", prefix + "executions", len(ca or []), len(cb or [])))
    status_a, status_b = _local((last_a or {}).get("status")), _local((last_b or {}).get("status"))
    items.append(_item("code", prefix + "status", status_a, status_b))
    error_a, error_b = (last_a or {}).get("error"), (last_b or {}).get("error")
    if error_a or error_b:
        items.append(_item("code", prefix + "error", error_a, error_b))
    return items


def _source_diff(a: dict | None, b: dict | None) -> str:
    def lines(cell: dict | None) -> list[str]:
        if cell is None:
            return []
        source = cell.get("source")
        if source is None:
            return ["# (source not recorded)"]
        return source.splitlines()

    def name(side: str, cell: dict | None) -> str:
        if cell is None:
            return f"{side} (no such cell)"
        return f"{side} cell {cell.get('order')}"

    diff = difflib.unified_diff(lines(a), lines(b), name("A", a), name("B", b), lineterm="", n=2)
    return "\n".join(diff)


def _entities_by_key(run: _Run) -> dict[tuple[str, str], dict]:
    """Entities by (kind, name); a per-epoch series becomes one entity with a list of values."""
    prefix = run.summary.run + "/"
    run_id = run.summary.run.rsplit(":", 1)[-1]
    out: dict[tuple[str, str], dict] = {}
    series: dict[tuple[str, str], list[tuple[int, Any, str]]] = {}
    series_parts: dict[tuple[str, str], tuple] = {}
    operations: dict[str, list[str]] = {}
    for row in run.entities:
        iri = row["entity"]
        local = iri[len(prefix):] if iri.startswith(prefix) else iri
        local = re.sub(re.escape(run_id), "RUNID", local, flags=re.IGNORECASE)
        kind = row["kind"]
        if row["operation"] is not None:
            operations.setdefault(local, []).append(str(row["operation"]))
        if row["epoch"] is not None:  # a series node, or one epoch's node of a run stored before series
            stem = re.sub(r"/(?:epoch/\d+|series)$", "", local)
            name = _metric_name(stem) + " per epoch"
            series.setdefault((kind, name), []).extend(
                (epoch, value, row["cell"]) for epoch, value in epoch_points(row["series"], row["epoch"], row["value"]))
            series_parts[(kind, name)] = (_metric_parts(stem), row["comment"])
            continue
        value = _entity_value(kind, row)
        key = (kind, _metric_name(local) if kind == "metric" else local)
        if key not in out or value is not None:
            out[key] = {"value": value, "cell": row["cell"], "comment": row["comment"],
                        "parts": _metric_parts(local) if kind == "metric" else None}
    for local, ops in operations.items():
        for kind in ("entity",):
            if (kind, local) in out:
                out[(kind, local)]["value"] = ", ".join(sorted(set(ops)))
    for key, points in series.items():
        points.sort(key=lambda p: p[0])
        parts, comment = series_parts[key]
        out[key] = {"value": [p[1] for p in points], "cell": points[-1][2], "comment": comment, "parts": parts,
                    "epochs": {p[0]: (p[1], p[2]) for p in points}}
    return out


def _align_legacy(legacy: dict[tuple[str, str], dict], other: dict[tuple[str, str], dict]) -> None:
    """Put each metric of a legacy run under the key of its counterpart in the other run."""
    by_parts = {(e["parts"], "epochs" in e): key for key, e in other.items() if e.get("parts")}
    measures = {parts[0] for parts, _ in by_parts}
    legacy_classes: dict[tuple, set[str]] = {}
    for entry in legacy.values():
        if entry.get("parts") and entry["parts"][2] is not None:
            legacy_classes.setdefault(entry["parts"][:2], set()).add(entry["parts"][2])
    for key, entry in list(legacy.items()):
        if not entry.get("parts"):
            continue
        measure, split, cls, step = entry["parts"]
        ours = counterpart(measure, measures)
        if cls is not None:
            classes = {p[2] for p, _ in by_parts if p[0] == ours.measure and p[1] == split and p[2] is not None}
            cls = class_pairs(legacy_classes[(measure, split)], classes).get(cls, cls)
        target = by_parts.get(((ours.measure, split, cls, step), "epochs" in entry))
        if target is None:
            continue
        if "epochs" in entry:  # its last epoch only: beside the other run's value at that epoch
            del legacy[key]
            series = other[target]
            for epoch, (value, cell) in entry["epochs"].items():
                at = (key[0], key[1].replace(" per epoch", f" epoch {epoch}"))
                legacy[at] = {**entry, "value": value, "cell": cell,
                              "mapping": f"MLProvCodeGen recorded epoch {epoch} only"}
                if epoch in series["epochs"]:
                    other[at] = {**series, "value": series["epochs"][epoch][0]}
                    other.pop(target, None)  # the series is shown at the epochs the original recorded
            continue
        if ours.comparable and target == key:
            continue
        if ours.comparable:
            entry["mapping"] = f"the original's class {entry['parts'][2]} is {cls!r}"
            legacy[target] = legacy.pop(key)
            continue
        both = (key[0], key[1].replace(measure, f"{measure} / {ours.measure}", 1))
        legacy[both] = {**legacy.pop(key), "mapping": f"not comparable: {ours.note}", "incomparable": True}
        other[both] = other.pop(target)


def _metric_parts(local: str) -> tuple[str, str | None, str | None, str | None] | None:
    """``metric/f1/test/class/setosa`` as (measure, split, class, repeated step); None for no metric IRI."""
    m = re.fullmatch(r"metric/([^/]+)(?:/([^/]+))?(?:/class/(.+?))?(?:/step/([0-9]+))?", local)
    return m.groups() if m else None


def _metric_name(local: str) -> str:
    """``metric/f1/test/class/setosa`` as ``f1 (test) [setosa]``, a repeated step's
    ``metric/accuracy/test/step/9`` as ``accuracy (test) by step 9``; other names as they are."""
    parts = _metric_parts(local)
    if not parts:
        return local
    measure, split, cls, step = parts
    return measure + (f" ({split})" if split else "") + (f" [{cls}]" if cls else "") + (f" by step {step}" if step else "")


def _entity_value(kind: str, row: dict) -> Any:
    if kind == "metric":
        return row["value"]
    if kind == "model":
        text = " ".join(str(row["architecture"] or row["label"] or "").split())
        if row["parameters"] is not None:
            text += f" ({row['parameters']} parameters)"
        return text
    if row["sha256"] is not None:
        return row["sha256"]
    return row["label"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# -- the table -------------------------------------------------------------------------------


def _show(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list):
        last = _show(value[-1], 12) if value else "-"
        text = f"{len(value)} values, last {last}"
    elif isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40,}", value):
        text = value[:12] + "…"  # a hash: its start is enough to tell two apart
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


_NOUNS = {  # kind: (one, many)
    "run": ("run field", "run fields"), "setting": ("setting", "settings"),
    "input": ("input file", "input files"), "data": ("data set", "data sets"),
    "entity": ("other output", "other outputs"), "model": ("model", "models"),
    "file": ("file", "files"), "code": ("code item", "code items"), "metric": ("metric", "metrics"),
    "kernel": ("kernel", "kernels"), "language": ("language", "languages"), "os": ("os", "os"),
    "hardware": ("hardware field", "hardware fields"), "package": ("package", "packages"),
}


def _count(items: Iterable[Item]) -> str:
    """``3 settings, 1 data set, 2 code items``."""
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    parts = []
    for kind, n in sorted(kinds.items(), key=lambda kv: _KIND_ORDER.get(kv[0], 99)):
        one, many = _NOUNS.get(kind, (kind, kind + "s"))
        parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def _table(diff: RunDiff, *, show_all: bool, width: int) -> str:
    lines: list[str] = []
    for side, s in (("A", diff.a), ("B", diff.b)):
        started = (s.started or "")[:19].replace("T", " ")
        lines.append(f"run {side}  {s.run}  {s.status or '?':11}  started {started}  {s.notebook or ''}".rstrip())
    if diff.a.plan == diff.b.plan:
        digest = "same plan digest" if diff.a.plan_digest == diff.b.plan_digest else "plan digests differ"
        lines.append(f"plan   {diff.a.plan} ({digest})")
    else:
        lines.append(f"plans  A {diff.a.plan}, B {diff.b.plan}")
    n = len(diff.differences)
    total = sum(len(g.items) for g in diff.groups)
    if n == 0:
        lines.append(f"no differences: {total} items identical")
    else:
        by_kind = _count(item for _, item in diff.differences)
        lines.append(f"{n} difference{'s' if n != 1 else ''} ({by_kind}); {total - n} items identical")

    rows_all = [item for g in diff.groups for item in (g.items if show_all or g.key == "usage" else g.differences)]
    name_width = min(32, max([len(i.name) for i in rows_all] + [4]))
    kind_width = max([len(i.kind) for i in rows_all] + [4])
    header = f"  {'':{kind_width}}  {'':{name_width}}  {'A':{width}}  B"
    for group in diff.groups:
        shown = group.items if show_all or group.key == "usage" else group.differences
        identical = [i for i in group.items if i.same and i not in shown]
        lines.append("")
        lines.append(f"{group.title}")
        if not group.items:
            lines.append("  (nothing recorded)")
            continue
        if shown:
            lines.append(header.rstrip())
        for item in shown:
            mark = " " if item.same else "≠"
            name = item.name if len(item.name) <= name_width else item.name[: name_width - 1] + "…"
            lines.append(
                f"{mark} {item.kind:{kind_width}}  {name:{name_width}}  {_show(item.a, width):{width}}  {_show(item.b, width)}".rstrip()
            )
            if item.source_diff:
                lines.extend("      " + line for line in item.source_diff.splitlines())
            if item.note:
                lines.append(f"      ({item.note})")
        if not show_all:
            if identical and not group.differences:
                lines.append(f"  identical: {_count(identical)}")
            elif identical:
                lines.append(f"  also identical: {_count(identical)}")
    return "\n".join(queries.terminal_text(line) for line in lines)  # stored text goes to a terminal
