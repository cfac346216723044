"""The graph browser: one plan or one run as an interactive, offline HTML page.

MLProvCodeGen's users found its static provenance graph too cluttered; they asked for
hidden technical nodes, colour, ordering, zoom and search. So this view:

- draws resources only; literals go into a hover tooltip (escaped: plans are untrusted text);
- colours and shapes nodes by kind and explains the colours in a legend;
- lays the pipeline out left to right in the order the notebook runs (a step after every
  step it follows: the p-plan:isPrecededBy graph, which may join branches, is drawn as its
  edges; steps above their cell executions, parameters fanned out above the steps that
  read them, each under the run's setting for it, outputs below the cells that made them)
  and bends edges around nodes in their way;
- draws the plan author's code steps, and the values their cells recorded, in colours of
  their own;
- opens fitted to the window, or at a readable zoom on the pipeline's start when it is long;
- folds environment, package and hardware nodes behind one "environment" node, and long
  per-epoch or per-class metric series behind one node each (click to expand);
- leaves out edges that the layout already says (every step is a step of the plan);
- works offline: vis-network is inlined and pyvis's CDN links are removed;
- renders byte-identically for the same graph (sorted nodes, edges and rows; fixed positions).
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import rdflib
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node as RdfNode

from .arguments import PAGE_MARKER, run_or_iri, write_output
from .errors import UserError
from .step_order import topological_order
from .vocab import (
    AGENT_BASE,
    BUNDLE_BASE,
    DCTERMS,
    ENV_BASE,
    MLPROV,
    MLS,
    PPLAN,
    PREFIXES,
    PROV,
    RDF,
    RDFS,
    REPR,
    RUN_BASE,
    bundle_iri,
)

log = logging.getLogger(__name__)

__all__ = ["BrowseSummary", "KINDS", "Kind", "build_network", "collect", "compact", "write_html"]


# -- kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How one kind of node looks, and what the legend says about it."""

    name: str
    legend: str
    description: str
    fill: str
    border: str
    shape: str


#: Every kind the browser knows, in legend order. Colours are light fills with dark borders
#: so that black labels stay readable; shapes differ too, for readers who cannot tell the
#: colours apart.
KINDS: tuple[Kind, ...] = (
    Kind("plan", "plan", "the experiment plan", "#6baed6", "#08519c", "box"),
    Kind("step", "step", "a planned step of the experiment, in plan order", "#c6dbef", "#2171b5", "box"),
    Kind("code", "code step", "a planned step whose Python code the plan's author wrote (mlprov:code)",
         "#99d8c9", "#00695c", "box"),
    Kind("parameter", "parameter", "a plan variable: a parameter value or a planned output",
         "#fff3b0", "#b59f00", "ellipse"),
    Kind("setting", "setting", "the value a run used for a plan parameter", "#ffd98e", "#b8860b", "ellipse"),
    Kind("run", "run", "one execution of the plan", "#fc9272", "#a50f15", "box"),
    Kind("cell", "cell execution", "one executed notebook cell, in execution order",
         "#fdd0a2", "#d94801", "box"),
    Kind("data", "data", "a data set or a split of it", "#a1d99b", "#238b45", "database"),
    Kind("model", "model", "a trained model", "#dab6e8", "#6a3d9a", "box"),
    Kind("metric", "metric", "an evaluation result", "#f7b6d2", "#c51b7d", "ellipse"),
    Kind("output", "code output", "a value a code step's cell left in one of its output variables",
         "#e0f3db", "#2b8cbe", "ellipse"),
    Kind("agent", "agent", "a person or program responsible", "#e3d3bd", "#7f5a2e", "ellipse"),
    Kind("environment", "environment", "software, packages and hardware a run used (click to expand)",
         "#d9d9d9", "#636363", "box"),
    Kind("other", "other", "anything else", "#f7f7f7", "#969696", "ellipse"),
)
_KIND = {k.name: k for k in KINDS}
_KIND_ORDER = {k.name: i for i, k in enumerate(KINDS)}

_STEP_CLASSES = frozenset(
    MLPROV + name
    for name in (
        "SetupStep",
        "DataIngestionStep",
        "DataPreparationStep",
        "DataSegregationStep",
        "ModelDefinitionStep",
        "TrainingStep",
        "EvaluationStep",
    )
) | {PPLAN + "Step", REPR + "Cell"}
_ENV_CLASSES = frozenset(
    {REPR + "Package", MLPROV + "Hardware", REPR + "OperatingSystem", REPR + "ProgrammingLanguage", REPR + "Kernel"}
)
_ENV_ORDER = {
    REPR + "Kernel": 0,
    REPR + "ProgrammingLanguage": 1,
    REPR + "OperatingSystem": 2,
    MLPROV + "Hardware": 3,
    REPR + "Package": 4,
}
_AGENT_CLASSES = frozenset(
    {PROV + "Agent", PROV + "Person", PROV + "SoftwareAgent", PROV + "Organization"}
)
_SKIPPED_CLASSES = frozenset({PPLAN + "Bundle", PROV + "Bundle"})
#: Untyped objects of these predicates still get the right kind.
_KIND_HINTS = {
    MLPROV + "plan": "plan",
    PROV + "hadPlan": "plan",
    PPLAN + "isStepOfPlan": "plan",
    PPLAN + "isVariableOfPlan": "plan",
    PPLAN + "correspondsToStep": "step",
    PPLAN + "correspondsToVariable": "parameter",
    PROV + "wasAttributedTo": "agent",
    PROV + "wasAssociatedWith": "agent",
}

# -- edges the layout already shows ------------------------------------------------------

#: Membership edges: drawn for the first member only (plan -> first step, run -> first cell).
_FIRST_MEMBER_ONLY = frozenset({PPLAN + "isStepOfPlan", DCTERMS + "isPartOf"})
#: Shortcuts and inverses: drawn only when the member would otherwise float unconnected.
_IMPLIED = _FIRST_MEMBER_ONLY | {
    PPLAN + "isVariableOfPlan",
    PPLAN + "isInputVarOf",
    PPLAN + "isOutputVarOf",
    MLS + "hasInput",
    MLS + "hasOutput",
}
#: For these the member is the object, for the other implied ones the subject.
_MEMBER_IS_OBJECT = frozenset({MLS + "hasInput", MLS + "hasOutput"})
#: Links from a run's records to the plan: dashed.
_PLAN_LINKS = frozenset(
    {PPLAN + "correspondsToStep", PPLAN + "correspondsToVariable", MLPROV + "plan", PROV + "hadPlan"}
)

# -- layout constants (vis-network pixels) ------------------------------------------------

_DX = 200  # column spacing
_Y_STEP = 0
_GAP = 22  # between nodes in a row
_ROW_GAP = 34  # between rows
_GRID_COLS = 3
_GRID_DX = 165
_GRID_DY = 54
_MAX_WIDTH = 150
_MAX_LABEL = 60
_MAX_VALUE = 300
_MAX_VALUES = 8  # values per property in a tooltip
_MAX_LINES = 10  # lines of a multi-line value (source code) in a tooltip
_GROUP_MIN = 3  # a metric series of this many values or more is folded

_VOCAB_NAMESPACES = tuple(sorted(PREFIXES.values(), key=len, reverse=True))


# -- public API --------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowseSummary:
    """What a rendered page holds; the CLI prints it, tests check it."""

    nodes: int
    edges: int
    kinds: dict[str, int]
    path: Path
    grouped: int = 0  # nodes folded behind a group node (hidden until expanded)


def collect(store, iri: str) -> rdflib.Graph:
    """The triples to show for a plan IRI or a run IRI (its bundle plus the plan it ran).

    A bundle IRI or a bare run id are taken as the run too, because that is what users copy
    out of 'mlprov runs'.
    """
    iri = run_or_iri(iri, argument="IRI")
    graph = rdflib.Graph()
    if iri.startswith(RUN_BASE):
        bundle = bundle_iri(iri[len(RUN_BASE):])
        if store.has_graph(bundle):
            graph += store.rdflib_graph(bundle)
            plans = sorted(str(p) for p in graph.objects(URIRef(iri), URIRef(MLPROV + "plan")))
            for plan in plans:
                if store.has_graph(plan):
                    graph += store.rdflib_graph(plan)
                else:
                    log.warning("%s: the plan %s of this run is not in the store; showing the run only", iri, plan)
            log.debug("collected %d triples for run %s", len(graph), iri)
            return graph
    elif store.has_graph(iri):
        plan_graph = store.rdflib_graph(iri)
        if (URIRef(iri), URIRef(RDF + "type"), URIRef(PPLAN + "Plan")) in plan_graph:
            log.debug("collected %d triples for plan %s", len(plan_graph), iri)
            return plan_graph
    raise UserError(
        f"{iri}: no plan or run with this IRI in the store {store.location}; "
        "list runs with 'mlprov runs'"
    )


def build_network(graph: rdflib.Graph, focus: str | None = None):
    """The pyvis Network for ``graph``: positioned, coloured, grouped; nothing rendered yet."""
    return _View(graph, focus).network()


def write_html(graph: rdflib.Graph, focus: str, path: Path, title: str | None = None) -> BrowseSummary:
    """Write the interactive page for ``graph`` to ``path``; ``focus`` is the plan or run shown."""
    view = _View(graph, focus)
    net = view.network()
    page_title = title or f"mlprov: {view.label_of(focus)}"
    page = _page(net, page_title, focus, view)
    path = write_output(Path(path), page.encode("utf-8"))
    kinds: dict[str, int] = defaultdict(int)
    for node in view.nodes.values():
        kinds[node.kind] += 1
    summary = BrowseSummary(
        nodes=len(view.nodes),
        edges=len(view.edges),
        kinds=dict(sorted(kinds.items(), key=lambda kv: _KIND_ORDER.get(kv[0], 99))),
        path=path,
        grouped=sum(1 for n in view.nodes.values() if n.hidden),
    )
    log.info("wrote %s: %d nodes (%d folded), %d edges", path, summary.nodes, summary.grouped, summary.edges)
    return summary


# -- labels ------------------------------------------------------------------------------


def compact(iri: str) -> str:
    """A short readable name for an IRI: ``prov:used``, ``cell/3``, ``ingest``; never the whole IRI."""
    for ns in _VOCAB_NAMESPACES:
        if iri.startswith(ns) and len(iri) > len(ns):
            prefix = next(p for p, n in sorted(PREFIXES.items()) if n == ns)
            return _clip(f"{prefix}:{iri[len(ns):]}")
    if iri.startswith(RUN_BASE):
        run_id, _, rest = iri[len(RUN_BASE):].partition("/")
        return _clip(rest or f"run {run_id}")
    if iri.startswith(BUNDLE_BASE):
        return _clip("bundle " + iri[len(BUNDLE_BASE):])
    if iri.startswith(AGENT_BASE):
        return _clip(iri[len(AGENT_BASE):].split(":", 1)[-1])
    if iri.startswith(ENV_BASE):
        return _clip(iri[len(ENV_BASE):])
    if "#" in iri and iri.rsplit("#", 1)[1]:
        return _clip(iri.rsplit("#", 1)[1])
    parts = [p for p in re.split(r"[/:]", iri) if p]
    return _clip(parts[-1] if parts else iri)


def _clip(text: str, limit: int = _MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value_text(value: RdfNode) -> str:
    """A literal as people write it: 0.9667, true, [50, 50]."""
    if isinstance(value, Literal):
        try:
            py = value.toPython()
        except Exception:  # a malformed literal: show its text
            py = str(value)
        if isinstance(py, bool):
            return "true" if py else "false"
        if isinstance(py, float):
            return f"{py:.4g}"
        if isinstance(py, Decimal):
            return str(value)
        return str(value)
    return compact(str(value))


# -- the view model ----------------------------------------------------------------------


@dataclass
class _Node:
    id: str
    kind: str
    label: str
    tip: str = ""
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    hidden: bool = False
    group: str | None = None  # the hub that folds this node
    hub: bool = False
    status: str | None = None


@dataclass
class _Edge:
    source: str
    target: str
    predicates: list[str]
    hidden: bool = False
    group: str | None = None
    dashed: bool = False
    smooth: dict | None = None


@dataclass
class _Group:
    hub: str
    kind: str
    owner: str | None  # the node the hub hangs off (the run, or the cell that made a series)
    members: list[str]
    star: bool  # owner edges go hub -> member once expanded (environment)
    redirect_all: bool  # every outside edge is also drawn from the hub (metric series)
    label: str = ""
    tip: str = ""


class _View:
    """Everything computed from one graph: nodes, groups, positions, edges."""

    def __init__(self, graph: rdflib.Graph, focus: str | None):
        self.graph = graph
        self.focus = focus
        self.props: dict[RdfNode, dict[str, list[RdfNode]]] = defaultdict(lambda: defaultdict(list))
        self.types: dict[RdfNode, set[str]] = defaultdict(set)
        self.incoming: dict[RdfNode, list[tuple[RdfNode, str]]] = defaultdict(list)
        for s, p, o in graph:
            self.props[s][str(p)].append(o)
            if str(p) == RDF + "type":
                self.types[s].add(str(o))
            elif not isinstance(o, Literal):
                self.incoming[o].append((s, str(p)))
        self.ids: dict[RdfNode, str] = {}
        self.nodes: dict[str, _Node] = {}
        self.groups: dict[str, _Group] = {}
        self.edges: list[_Edge] = []
        self._terms: dict[str, RdfNode] = {}
        self._select_nodes()
        self._make_groups()
        self._layout()
        self._make_edges()
        self._route_edges()

    # -- nodes ----------------------------------------------------------------------

    def _node_id(self, term: RdfNode) -> str:
        """IRIs are their own ids; blank nodes get a content hash so ids survive re-parsing."""
        if isinstance(term, BNode):
            rows = sorted(
                f"{p} {o.n3() if not isinstance(o, BNode) else '_'}"
                for p, values in self.props[term].items()
                for o in values
            )
            digest = hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()[:12]
            base = f"_:b{digest}"
            candidate, n = base, 1
            while candidate in self._terms and self._terms[candidate] != term:
                n += 1
                candidate = f"{base}-{n}"
            return candidate
        return str(term)

    def _is_vocabulary(self, term: RdfNode) -> bool:
        return isinstance(term, URIRef) and str(term).startswith(_VOCAB_NAMESPACES) and term not in self.props

    def _skipped(self, term: RdfNode) -> bool:
        types = self.types.get(term, set())
        if types & _SKIPPED_CLASSES:
            return True
        return isinstance(term, BNode) and PROV + "Association" in types

    def _select_nodes(self) -> None:
        candidates: set[RdfNode] = set()
        for s in self.props:
            candidates.add(s)
        for o in self.incoming:
            candidates.add(o)
        chosen = []
        for term in candidates:
            if isinstance(term, Literal) or self._skipped(term):
                continue
            if self._is_vocabulary(term):  # mlprov:Completed, mlprov:accuracy: shown as values
                continue
            chosen.append(term)
        # blank-node ids depend on their rows only: assign in a stable order
        for term in sorted(chosen, key=lambda t: (isinstance(t, BNode), str(t) if not isinstance(t, BNode) else "")):
            node_id = self._node_id(term)
            self.ids[term] = node_id
            self._terms[node_id] = term
        for term, node_id in self.ids.items():
            self.nodes[node_id] = _Node(id=node_id, kind=self._kind(term), label="")
        for term, node_id in self.ids.items():
            node = self.nodes[node_id]
            node.label = self._label(term)
            node.status = self._status(term)
            node.w, node.h = _size(node.label, _KIND[node.kind].shape)
        for term, node_id in self.ids.items():  # after the labels: tooltips name their targets
            self.nodes[node_id].tip = self._tooltip(term, self.nodes[node_id])

    def _kind(self, term: RdfNode) -> str:
        types = self.types.get(term, set())
        props = self.props.get(term, {})
        iri = str(term)
        if types & _ENV_CLASSES or iri.startswith(ENV_BASE):
            return "environment"
        if MLS + "Run" in types or REPR + "Trial" in types:
            return "run"
        if REPR + "CellExecution" in types:
            return "cell"
        if PPLAN + "Plan" in types or REPR + "Experiment" in types:
            return "plan"
        if MLPROV + "CodeStep" in types:
            return "code"
        if types & _STEP_CLASSES or PPLAN + "isStepOfPlan" in props:
            return "step"
        if MLS + "HyperParameterSetting" in types:
            return "setting"
        if PPLAN + "Entity" in types and PPLAN + "correspondsToVariable" in props:
            return "output"
        if PPLAN + "Variable" in types or REPR + "Parameter" in types:
            return "parameter"
        if MLS + "ModelEvaluation" in types:
            return "metric"
        if MLS + "Model" in types:
            return "model"
        if MLS + "Dataset" in types or MLPROV + "DataSplit" in types:
            return "data"
        if types & _AGENT_CLASSES:
            return "agent"
        if not types:
            for _, predicate in sorted(self.incoming.get(term, []), key=lambda sp: sp[1]):
                if predicate in _KIND_HINTS:
                    return _KIND_HINTS[predicate]
        return "other"

    def _first(self, term: RdfNode, predicate: str) -> RdfNode | None:
        values = self.props.get(term, {}).get(predicate)
        if not values:
            return None
        return sorted(values, key=lambda v: (str(v), v.n3()))[0]

    def _label(self, term: RdfNode) -> str:
        """rdfs:label, dcterms:title, name = value, measure = value, else a compact name."""
        for predicate in (RDFS + "label", DCTERMS + "title"):
            value = self._first(term, predicate)
            if isinstance(value, Literal) and str(value).strip():
                return _clip(str(value))
        name = self._first(term, MLPROV + "parameterName")
        value = self._first(term, PROV + "value") or self._first(term, MLS + "hasValue")
        if name is not None:
            return _clip(f"{name} = {_value_text(value)}" if value is not None else str(name))
        measure = self._first(term, MLS + "specifiedBy")
        if measure is not None and value is not None:
            name = compact(str(measure)).split(":")[-1]
            for predicate, fmt in ((MLPROV + "forClass", "{} ({})"), (MLPROV + "epoch", "{}, epoch {}")):
                qualifier = self._first(term, predicate)
                if qualifier is not None:
                    name = fmt.format(name, _value_text(qualifier))
            return _clip(f"{name} = {_value_text(value)}")
        if isinstance(term, BNode):
            types = sorted(self.types.get(term, ()))
            return _clip(compact(types[0]).split(":")[-1] if types else "(blank node)")
        return compact(str(term))

    def label_of(self, iri: str | None) -> str:
        if iri is None:
            return "graph"
        node = self.nodes.get(iri)
        return node.label if node else compact(iri)

    def _status(self, term: RdfNode) -> str | None:
        value = self._first(term, MLPROV + "status")
        return compact(str(value)).split(":")[-1] if value is not None else None

    def _tooltip(self, term: RdfNode, node: _Node) -> str:
        """A small HTML table of the node's values; every piece of graph text is escaped."""
        rows = []
        types = sorted(self.types.get(term, ()), key=compact)
        if types:
            rows.append(("type", ", ".join(html.escape(compact(t)) for t in types)))
        for predicate in sorted(self.props.get(term, {}), key=lambda p: (compact(p), p)):
            if predicate == RDF + "type":
                continue
            values = sorted(self.props[term][predicate], key=lambda v: (_value_text(v), v.n3()))
            cells = [self._cell(v) for v in values[:_MAX_VALUES]]
            if len(values) > _MAX_VALUES:
                cells.append(f"<i>… {len(values) - _MAX_VALUES} more</i>")
            rows.append((html.escape(compact(predicate)), "<br>".join(cells)))
        head = (
            f'<div class="mp-tip"><div class="mp-tip-head"><b>{html.escape(node.label)}</b> '
            f'<span class="mp-tip-kind">{html.escape(_KIND[node.kind].legend)}</span></div>'
        )
        if not isinstance(term, BNode):
            head += f'<div class="mp-tip-iri">{html.escape(str(term))}</div>'
        return head + _table(rows) + "</div>"

    def _cell(self, value: RdfNode) -> str:
        if isinstance(value, Literal):
            text = str(value)
            datatype = compact(str(value.datatype)) if value.datatype else ""
            suffix = ""
            if datatype and datatype != "xsd:string":
                suffix = f' <span class="mp-dt">{html.escape(datatype)}</span>'
            elif value.language:
                suffix = f' <span class="mp-dt">@{html.escape(value.language)}</span>'
            if "\n" in text.strip():
                lines = text.strip("\n").splitlines()
                shown = "\n".join(line[:_MAX_VALUE] for line in lines[:_MAX_LINES])
                more = f"\n… {len(lines) - _MAX_LINES} more lines" if len(lines) > _MAX_LINES else ""
                return f"<pre>{html.escape(shown + more)}</pre>{suffix}"
            if len(text) > _MAX_VALUE:
                text = text[:_MAX_VALUE] + f"… ({len(str(value))} characters)"
            return html.escape(text) + suffix
        node_id = self.ids.get(value)
        if node_id is not None and self.nodes.get(node_id) and self.nodes[node_id].label:
            return html.escape(self.nodes[node_id].label)
        if isinstance(value, BNode):
            return html.escape(self._inline(value))
        return html.escape(compact(str(value)))

    def _inline(self, value: BNode) -> str:
        """A blank node that is not drawn (a qualified association) as one line of text."""
        types = sorted(compact(t).split(":")[-1] for t in self.types.get(value, ()))
        parts = []
        for predicate in sorted(self.props.get(value, {}), key=compact):
            if predicate == RDF + "type":
                continue
            for v in sorted(self.props[value][predicate], key=_value_text):
                target = self.ids.get(v)
                text = self.nodes[target].label if target in self.nodes else (
                    "…" if isinstance(v, BNode) else _value_text(v))
                parts.append(f"{compact(predicate).split(':')[-1]} {text}")
        return _clip(f"{', '.join(types) or 'blank node'}: {'; '.join(parts)}", 2 * _MAX_LABEL)

    # -- groups ---------------------------------------------------------------------

    def _make_groups(self) -> None:
        self._environment_groups()
        self._metric_series_groups()
        for group in self.groups.values():
            for member in group.members:
                self.nodes[member].group = group.hub
                self.nodes[member].hidden = True
            self.nodes[group.hub] = _Node(
                id=group.hub, kind=group.kind, label=group.label, tip=group.tip, hub=True
            )
            self.nodes[group.hub].w, self.nodes[group.hub].h = _size(group.label, "box")

    def _environment_groups(self) -> None:
        """One hub per run for kernel, language, OS, hardware and packages."""
        by_owner: dict[str | None, list[str]] = defaultdict(list)
        for term, node_id in self.ids.items():
            if self.nodes[node_id].kind != "environment":
                continue
            owners = sorted(
                self.ids[s]
                for s, p in self.incoming.get(term, [])
                if s in self.ids and self.nodes[self.ids[s]].kind == "run"
            )
            if not owners and str(term).startswith(RUN_BASE):
                prefix = str(term).split("/", 1)[0]
                owners = [prefix] if prefix in self.nodes else []
            by_owner[owners[0] if owners else None].append(node_id)
        for owner, members in sorted(by_owner.items(), key=lambda kv: kv[0] or ""):
            members.sort(key=self._env_sort_key)
            hub = f"mlprov-browse:environment:{owner or 'shared'}"
            counts: dict[str, int] = defaultdict(int)
            for m in members:
                counts[self._env_class(m)] += 1
            packages = counts.get(REPR + "Package", 0)
            language = next(
                (self.nodes[m].label for m in members if self._env_class(m) == REPR + "ProgrammingLanguage"), None
            )
            detail = [language] if language else []
            if packages:
                detail.append(f"{packages} package{'s' if packages != 1 else ''}")
            if counts.get(MLPROV + "Hardware"):
                detail.append("hardware")
            label = "Environment" + ("\n" + ", ".join(detail) if detail else "")
            rows = [
                (html.escape(compact(self._env_class(m)).split(":")[-1]), html.escape(self.nodes[m].label))
                for m in members
            ]
            tip = (
                '<div class="mp-tip"><div class="mp-tip-head"><b>Environment</b> '
                f'<span class="mp-tip-kind">{len(members)} nodes, click to show them</span></div>'
                + _table(rows)
                + "</div>"
            )
            self.groups[hub] = _Group(
                hub=hub, kind="environment", owner=owner, members=members, star=True,
                redirect_all=False, label=label, tip=tip,
            )

    def _env_class(self, node_id: str) -> str:
        types = self.types.get(self._terms[node_id], set()) & _ENV_CLASSES
        return min(types, key=lambda t: _ENV_ORDER[t]) if types else ENV_BASE

    def _env_sort_key(self, node_id: str) -> tuple:
        return (_ENV_ORDER.get(self._env_class(node_id), 9), self.nodes[node_id].label.lower(), node_id)

    def _metric_series_groups(self) -> None:
        """Per-epoch and per-class values of one measure become one node, so 100 epochs stay one box."""
        series: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for term, node_id in self.ids.items():
            if self.nodes[node_id].kind != "metric":
                continue
            if self._first(term, MLPROV + "epoch") is not None:
                axis = "epoch"
            elif self._first(term, MLPROV + "forClass") is not None:
                axis = "class"
            else:
                continue
            measure = self._first(term, MLS + "specifiedBy")
            maker = self._first(term, PROV + "wasGeneratedBy")
            series[(str(measure) if measure else "", axis, self.ids.get(maker, "") if maker else "")].append(node_id)
        for (measure, axis, maker), members in sorted(series.items()):
            if len(members) < _GROUP_MIN:
                continue
            members.sort(key=lambda m: self._series_key(m, axis))
            name = compact(measure).split(":")[-1] if measure else "metric"
            hub = f"mlprov-browse:series:{maker}:{measure}:{axis}"
            values = [(self._series_axis(m, axis), self._series_value(m)) for m in members]
            last = values[-1][1] if axis == "epoch" else ""
            label = f"{name} per {axis}\n{len(members)} values" + (f", last {last}" if last else "")
            shown = values if len(values) <= 20 else values[:10] + [("…", "…")] + values[-10:]
            rows = [(html.escape(f"{axis} {a}" if a != "…" else a), html.escape(v)) for a, v in shown]
            tip = (
                f'<div class="mp-tip"><div class="mp-tip-head"><b>{html.escape(name)} per {axis}</b> '
                f'<span class="mp-tip-kind">{len(members)} values, click to show them</span></div>'
                + _table(rows)
                + "</div>"
            )
            self.groups[hub] = _Group(
                hub=hub, kind="metric", owner=maker or None, members=members, star=False,
                redirect_all=True, label=_clip_lines(label), tip=tip,
            )

    def _series_axis(self, node_id: str, axis: str) -> str:
        term = self._terms[node_id]
        value = self._first(term, MLPROV + ("epoch" if axis == "epoch" else "forClass"))
        return _value_text(value) if value is not None else "?"

    def _series_value(self, node_id: str) -> str:
        value = self._first(self._terms[node_id], MLS + "hasValue")
        return _value_text(value) if value is not None else ""

    def _series_key(self, node_id: str, axis: str) -> tuple:
        text = self._series_axis(node_id, axis)
        try:
            return (0, float(text), text, node_id)
        except ValueError:
            return (1, 0.0, text, node_id)

    # -- layout ---------------------------------------------------------------------

    def _int(self, node_id: str, predicate: str) -> float:
        value = self._first(self._terms[node_id], predicate)
        try:
            return float(value.toPython()) if isinstance(value, Literal) else math.inf
        except (TypeError, ValueError):
            return math.inf

    def _ids_of(self, node_id: str, predicate: str) -> list[str]:
        term = self._terms.get(node_id)
        if term is None:
            return []
        return sorted(self.ids[o] for o in self.props.get(term, {}).get(predicate, []) if o in self.ids)

    def _ids_into(self, node_id: str, predicate: str) -> list[str]:
        term = self._terms.get(node_id)
        if term is None:
            return []
        return sorted(self.ids[s] for s, p in self.incoming.get(term, []) if p == predicate and s in self.ids)

    def _of_kind(self, kind: str) -> list[str]:
        return sorted(n.id for n in self.nodes.values() if n.kind == kind and not n.hub and not n.hidden)

    def _layout(self) -> None:
        """Fixed positions: columns follow plan and execution order, rows separate the roles.

        Rows, top to bottom: plan variables, each under the run's setting for it (and the
        plan's author); plan and steps; run and cell executions; data, models and the run's
        agents; metrics and the environment. Each row is packed left to right, every node as
        near as it can get to the column of the step or cell it belongs to, so edges stay
        short; a row too long for the pipeline is split into staggered sub-rows.
        """
        col: dict[str, float] = {}
        cells = sorted(
            self._of_kind("cell"), key=lambda c: (self._int(c, MLPROV + "executionOrder"), self.nodes[c].label, c)
        )
        for index, cell in enumerate(cells, start=1):
            col[cell] = index
        steps = self._plan_order(self._of_kind("step") + self._of_kind("code"))
        previous = 0.0
        taken: set[float] = set()
        for step in steps:
            ran = [col[c] for c in self._ids_into(step, PPLAN + "correspondsToStep") if c in col]
            if ran:
                col[step] = min(ran)
            else:
                col[step] = previous + 1 if previous + 1 not in taken else previous + 0.5
            taken.add(col[step])
            previous = col[step]
        plans, runs = self._of_kind("plan"), self._of_kind("run")
        for node_id in plans[:1] + runs[:1]:
            col[node_id] = 0

        # a row holds units: nodes stacked top to bottom that move together, with their column
        rows: dict[str, list[tuple[list[str], float]]] = defaultdict(list)
        rows["step"] = [([s], col[s]) for s in plans[:1] + steps]
        rows["cell"] = [([c], col[c]) for c in runs[:1] + cells]
        placed = {n for units in rows.values() for unit, _ in units for n in unit}

        settings_of: dict[str, str] = {}
        for setting in self._of_kind("setting"):
            target = next(
                (v for v in self._ids_of(setting, PPLAN + "correspondsToVariable")
                 if self.nodes[v].kind == "parameter" and v not in settings_of),
                None,
            )
            if target:
                settings_of[target] = setting
        for var in self._of_kind("parameter"):
            users = [
                col[s]
                for predicate in (PPLAN + "hasInputVar", PPLAN + "hasOutputVar")
                for s in self._ids_into(var, predicate)
                if s in col
            ] + [
                col[s]
                for predicate in (PPLAN + "isInputVarOf", PPLAN + "isOutputVarOf")
                for s in self._ids_of(var, predicate)
                if s in col
            ]
            unit = [settings_of[var], var] if var in settings_of else [var]
            rows["var"].append((unit, min(users, default=0)))
            placed.update(unit)

        # what a cell generated sits under it; what was derived from that, next to it
        made_in: dict[str, float] = {}
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            if node.id in placed or node.hidden:
                continue
            if node.hub:
                owner = self.groups[node.id].owner
                if owner in col and self.nodes[owner].kind == "cell":
                    made_in[node.id] = col[owner]
                continue
            makers = [col[m] for m in self._ids_of(node.id, PROV + "wasGeneratedBy") if m in col]
            if makers:
                made_in[node.id] = min(makers)
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            if node.id in placed or node.hidden or node.hub or node.id in made_in:
                continue
            sources = [made_in[s] for s in self._ids_of(node.id, PROV + "wasDerivedFrom") if s in made_in]
            if sources and node.kind in ("data", "model", "metric", "other"):
                made_in[node.id] = min(sources)
        for node_id, c in made_in.items():
            rows["metric" if self.nodes[node_id].kind == "metric" else "out"].append(([node_id], c))
            placed.add(node_id)

        # the rest hangs off the plan (above it) or off the run (below it)
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            if node.id in placed or node.hidden:
                continue
            sources = {self.nodes[s].kind for s in self._sources_of(node.id)}
            near_plan = not runs or (bool(sources & {"plan", "step", "code", "parameter"}) and not sources & {"run", "cell"})
            if near_plan or node.kind == "setting":
                row = "var"
            elif node.hub or node.kind == "environment":
                row = "metric"
            else:
                row = "out"
            rows[row].append(([node.id], 0.0))
            placed.add(node.id)

        # columns are _DX apart, wider where many variables or outputs gather
        fans = self._fan(rows["var"])
        need: dict[float, float] = defaultdict(float)
        for c, fan_rows in fans.items():
            need[c] = max(self._side_width(left) + gap + self._side_width(right) + _GAP for left, right, gap in fan_rows)
        for name in ("out", "metric"):
            per_col: dict[float, float] = defaultdict(float)
            for unit, c in rows[name]:
                per_col[c] += self._unit_size(unit)[0] + _GAP
            for c, width in per_col.items():
                need[c] = max(need[c], width)
        x_of: dict[float, float] = {}
        x, last_width = 0.0, 0.0
        for c in sorted({c for units in rows.values() for _, c in units} | {0.0}):
            width = max(_DX, need.get(c, 0.0))
            x = x + (last_width + width) / 2 if x_of else 0.0
            x_of[c], last_width = x, width
        rows = defaultdict(list, {name: [(unit, x_of[c]) for unit, c in units] for name, units in rows.items()})

        step_h, cell_h = self._row_height(rows["step"]), self._row_height(rows["cell"])
        self._place_row(rows["step"], _Y_STEP)
        y_top = _Y_STEP - step_h / 2
        y_bottom = _Y_STEP + step_h / 2 + _ROW_GAP * 2.2
        if rows["cell"]:
            self._place_row(rows["cell"], y_bottom + cell_h / 2)
            y_bottom += cell_h
        for name in ("out", "metric"):  # one row each: they run on past the last cell if need be
            if rows[name]:
                height = self._row_height(rows[name])
                y_bottom += _ROW_GAP * 1.5
                self._place_row(rows[name], y_bottom + height / 2)
                y_bottom += height
        self._place_fans(fans, x_of, y_top)

        # folded members: a grid under their hub, below any grid already there
        grids: list[tuple[float, float, float]] = []  # left, right, bottom
        for hub_id in sorted(self.groups, key=lambda h: (self.nodes[h].x, self.nodes[h].y, h)):
            group, hub = self.groups[hub_id], self.nodes[hub_id]
            left = hub.x - (_GRID_COLS / 2) * _GRID_DX
            right = hub.x + (_GRID_COLS / 2) * _GRID_DX
            grid_top = max(
                [hub.y + hub.h / 2 + _GRID_DY, y_bottom + _GRID_DY]
                + [bottom + _GRID_DY for l, r, bottom in grids if l < right and r > left]
            )
            for i, member in enumerate(group.members):
                row, column = divmod(i, _GRID_COLS)
                self._place(member, hub.x + (column - (_GRID_COLS - 1) / 2) * _GRID_DX, grid_top + row * _GRID_DY)
            rows_used = (len(group.members) + _GRID_COLS - 1) // _GRID_COLS
            grids.append((left, right, grid_top + max(rows_used - 1, 0) * _GRID_DY))

    def _plan_order(self, steps: list[str]) -> list[str]:
        """The steps as the notebook runs them: each after every step it follows
        (p-plan:isPrecededBy), steps the graph leaves unordered by mlprov:position, then IRI."""
        chosen = set(steps)
        before = {s: [p for p in self._ids_of(s, PPLAN + "isPrecededBy") if p in chosen and p != s] for s in steps}
        key = {s: (self._int(s, MLPROV + "position"), s) for s in steps}
        order = topological_order(steps, before, key=key.__getitem__)
        # A cycle (a graph that no plan validation has seen): its steps follow, in key order.
        return order + sorted(set(steps) - set(order), key=key.__getitem__)

    def _unit_size(self, unit: list[str]) -> tuple[float, float]:
        width = max(self.nodes[n].w for n in unit)
        height = sum(self.nodes[n].h for n in unit) + _ROW_GAP * 1.2 * (len(unit) - 1)
        return width, height

    def _row_height(self, units: list[tuple[list[str], float]]) -> float:
        return max((self._unit_size(unit)[1] for unit, _ in units), default=0.0)

    def _fan(self, units: list[tuple[list[str], float]]) -> dict[float, list[tuple[list[list[str]], list[list[str]], float]]]:
        """Per column, the variable rows from the bottom up: (left units, right units, gap).

        Outermost units go low and innermost high, with a free middle in the lower rows, so
        the edges that fan up from the step reach every variable without crossing another.
        """
        by_col: dict[float, list[list[str]]] = defaultdict(list)
        for unit, c in units:
            by_col[c].append(unit)
        fans = {}
        for c, members in by_col.items():
            members.sort(key=lambda u: self._stack_key(u[-1]))
            n = len(members)
            k = 1 if n <= 3 else 2 if n <= 6 else 3
            order = sorted(range(n), key=lambda i: (min(i, n - 1 - i), i))
            sizes = [n // k + (1 if r < n % k else 0) for r in range(k)]
            chunks, start = [], 0
            for size in sizes:
                chunks.append(sorted(order[start:start + size]))
                start += size
            rows: list[tuple[list[list[str]], list[list[str]], float]] = []
            above = 0.0
            for r in reversed(range(k)):  # top row first: it sets the gap of the rows below
                chunk = chunks[r]
                if r == k - 1:
                    left, right, gap = [members[i] for i in chunk], [], 0.0
                else:
                    left = [members[i] for i in chunk if i < (n - 1) / 2]
                    right = [members[i] for i in chunk if i >= (n - 1) / 2]
                    gap = 0.6 * above + _GAP
                rows.insert(0, (left, right, gap))
                above = self._side_width(left) + gap + self._side_width(right)
            fans[c] = rows
        return fans

    def _side_width(self, units: list[list[str]]) -> float:
        return sum(self._unit_size(u)[0] for u in units) + _GAP * max(len(units) - 1, 0)

    def _place_fans(self, fans, x_of: dict[float, float], y_floor: float) -> None:
        """Variable rows upwards from ``y_floor``; each column's row packed as one block."""
        depth = max((len(rows) for rows in fans.values()), default=0)
        for r in range(depth):
            blocks = []
            for c in sorted(fans):
                if r >= len(fans[c]):
                    continue
                left, right, gap = fans[c][r]
                wl, wr = self._side_width(left), self._side_width(right)
                # the block's centre moves so that the gap (or a gapless row) centres on the step
                blocks.append((c, x_of[c] + (wl - wr) / 2 if right else x_of[c], wl + gap + wr if right else wl))
            centres = _pack_blocks(blocks)
            height = max(
                (self._unit_size(u)[1] for c in fans if r < len(fans[c]) for side in fans[c][r][:2] for u in side),
                default=0.0,
            )
            y_floor -= _ROW_GAP * 1.5
            for c, _, width in blocks:
                left, right, gap = fans[c][r]
                x = centres[c] - width / 2
                for unit in left:
                    x = self._stand(unit, x, y_floor)
                if right:
                    x = centres[c] + width / 2 - self._side_width(right)
                    for unit in right:
                        x = self._stand(unit, x, y_floor)
            y_floor -= height

    def _stand(self, unit: list[str], left: float, floor: float) -> float:
        """Put a unit with its left edge at ``left`` and its last node on ``floor``; next left edge."""
        width, height = self._unit_size(unit)
        top = floor - height
        for node_id in unit:
            node = self.nodes[node_id]
            self._place(node_id, left + width / 2, top + node.h / 2)
            top += node.h + _ROW_GAP * 1.2
        return left + width + _GAP

    def _place_row(self, units: list[tuple[list[str], float]], y: float) -> None:
        """Units packed along one row, centred on its line."""
        xs = self._pack([(unit, wanted) for unit, wanted in units])
        for unit, _ in units:
            top = y - self._unit_size(unit)[1] / 2
            for node_id in unit:
                node = self.nodes[node_id]
                self._place(node_id, xs[unit[-1]], top + node.h / 2)
                top += node.h + _ROW_GAP * 1.2

    def _sources_of(self, node_id: str) -> list[str]:
        term = self._terms.get(node_id)
        if term is None:
            return []
        return sorted(self.ids[s] for s, _ in self.incoming.get(term, []) if s in self.ids)

    def _pack(self, row: list[tuple[list[str], float]]) -> dict[str, float]:
        """x of each unit (keyed by its last node): no overlaps, each cluster centred on its wishes."""
        rank = {unit[-1]: i for i, (unit, _) in enumerate(sorted(row, key=lambda u: (u[1],) + self._stack_key(u[0][-1])))}
        return _pack_blocks([(unit[-1], wanted, self._unit_size(unit)[0]) for unit, wanted in row], rank)

    def _stack_key(self, node_id: str) -> tuple:
        node = self.nodes[node_id]
        agent_order = 0 if PROV + "Person" in self.types.get(self._terms.get(node_id), set()) else 1
        return (node.hub, _KIND_ORDER.get(node.kind, 99), agent_order, node.label.lower(), node_id)

    def _place(self, node_id: str, x: float, y: float) -> None:
        node = self.nodes[node_id]
        node.x, node.y = round(x, 1), round(y, 1)

    # -- edges ----------------------------------------------------------------------

    def _make_edges(self) -> None:
        raw: list[tuple[str, str, str]] = []
        for s, p, o in self.graph:
            predicate = str(p)
            if predicate == RDF + "type" or isinstance(o, Literal):
                continue
            if s in self.ids and o in self.ids and self.ids[s] != self.ids[o]:
                raw.append((self.ids[s], self.ids[o], predicate))
        raw = sorted(set(raw))
        normal = [e for e in raw if e[2] not in _IMPLIED]
        degree: dict[str, int] = defaultdict(int)
        for s, t, _ in normal:
            degree[s] += 1
            degree[t] += 1
        implied = [e for e in raw if e[2] in _IMPLIED]
        first_member: dict[tuple[str, str], str] = {}
        for s, t, p in implied:
            if p in _FIRST_MEMBER_ONLY:
                best = first_member.get((p, t))
                if best is None or self._order_key(s) < self._order_key(best):
                    first_member[(p, t)] = s
        kept = list(normal)
        for s, t, p in implied:
            member = t if p in _MEMBER_IS_OBJECT else s
            if first_member.get((p, t)) == s or degree[member] == 0:
                kept.append((s, t, p))
                degree[s] += 1
                degree[t] += 1

        merged: dict[tuple[str, str, bool, str | None], list[str]] = defaultdict(list)

        def add(s: str, t: str, p: str, hidden: bool, group: str | None) -> None:
            if p not in merged[(s, t, hidden, group)]:
                merged[(s, t, hidden, group)].append(p)

        for s, t, p in kept:
            gs, gt = self.nodes[s].group, self.nodes[t].group
            if gs is None and gt is None:
                add(s, t, p, False, None)
                continue
            if gs is not None and gt is not None:
                add(s, t, p, True, gs)
                continue
            group = self.groups[gs or gt]
            outside = t if gs else s
            member = s if gs else t
            hub_s, hub_t = (group.hub, t) if gs else (s, group.hub)
            if outside == group.owner or group.redirect_all:
                add(hub_s, hub_t, p, False, None)
            if outside == group.owner and group.star:
                add(*((group.hub, member) if gt else (member, group.hub)), p, True, group.hub)
            else:
                add(s, t, p, True, group.hub)
        for group in self.groups.values():
            if group.owner is None:
                continue
            # a hub always hangs off its owner, even where no edge was redirected
            if not any(
                (k[0] == group.hub and k[1] == group.owner) or (k[0] == group.owner and k[1] == group.hub)
                for k in merged
            ):
                add(group.owner, group.hub, RDFS + "member", False, None)

        def edge_key(item) -> tuple:
            (s, t, hidden, group), _ = item
            a = self.nodes[s]
            return (hidden, t, a.y, a.x, s, group or "")

        for (s, t, hidden, group), predicates in sorted(merged.items(), key=edge_key):
            self.edges.append(
                _Edge(
                    source=s, target=t, predicates=sorted(predicates), hidden=hidden, group=group,
                    dashed=any(p in _PLAN_LINKS for p in predicates),
                )
            )

    def _order_key(self, node_id: str) -> tuple:
        node = self.nodes[node_id]
        return (node.x, node.y, node_id)

    def _route_edges(self) -> None:
        """Bend an edge when its straight line would cross another node's box."""
        boxes = [
            (n.id, n.x - n.w / 2 - 10, n.y - n.h / 2 - 8, n.x + n.w / 2 + 10, n.y + n.h / 2 + 8)
            for n in sorted(self.nodes.values(), key=lambda n: n.id)
            if not n.hidden
        ]
        for edge in self.edges:
            if edge.hidden:
                continue
            a, b = self.nodes[edge.source], self.nodes[edge.target]
            best: tuple[int, dict | None] | None = None
            for candidate in _CANDIDATES:
                hits = _hits(a, b, candidate, boxes)
                if best is None or hits < best[0]:
                    best = (hits, candidate)
                if hits == 0:
                    break
            edge.smooth = best[1] if best else None

    # -- the pyvis network ------------------------------------------------------------

    def network(self):
        """A pyvis Network, nodes and edges sorted, physics off (positions are fixed)."""
        from pyvis.network import Network

        net = Network(height="calc(100vh - 150px)", width="100%", directed=True, cdn_resources="in_line")
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            kind = _KIND[node.kind]
            border = kind.border
            border_width = 1
            dashes: bool | list[int] = False
            if node.status == "Failed":
                border, border_width = "#d62728", 3
            elif node.status == "Interrupted":
                border, border_width, dashes = "#d62728", 3, [4, 3]
            if node.hub:
                border_width, dashes = 2, [6, 4]
            font = {"size": 14, "face": "Helvetica, Arial, sans-serif", "color": "#111111"}
            if node.id == self.focus:
                border_width = max(border_width, 4)
                font["size"] = 16
            options = {
                "x": node.x,
                "y": node.y,
                "title": _guard(node.tip),
                "borderWidth": border_width,
                "font": font,
                "shapeProperties": {"borderDashes": dashes},
                "widthConstraint": {"maximum": _MAX_WIDTH},
                "mlprovKind": node.kind,
            }
            if node.hidden:
                options["hidden"] = True
            if node.group:
                options["mlprovGroup"] = node.group
            if node.hub:
                options["mlprovHub"] = True
            net.add_node(
                node.id,
                label=node.label,
                shape="box" if node.hub else kind.shape,
                color={
                    "background": kind.fill,
                    "border": border,
                    "highlight": {"background": kind.fill, "border": "#000000"},
                    "hover": {"background": kind.fill, "border": "#000000"},
                },
                **options,
            )
        labelled: set[tuple[str, str, tuple[str, ...], bool]] = set()
        for index, edge in enumerate(self.edges, start=1):
            label = "\n".join(compact(p) if "://" in p or p.startswith("urn:") else p for p in edge.predicates)
            # a fan of edges with one meaning into or out of one node is labelled once
            fans = {("to", edge.target, tuple(edge.predicates), edge.hidden),
                    ("from", edge.source, tuple(edge.predicates), edge.hidden)}
            if fans & labelled:
                label = ""
            labelled |= fans
            options = {
                "id": f"e{index}",
                "label": label,
                "title": _guard(html.escape("\n".join(edge.predicates))),
                "dashes": edge.dashed,
                "smooth": edge.smooth or {"enabled": False},
            }
            if edge.hidden:
                options["hidden"] = True
            if edge.group:
                options["mlprovGroup"] = edge.group
            net.add_edge(edge.source, edge.target, **options)
        net.options = _OPTIONS
        return net


# -- helpers -----------------------------------------------------------------------------


def _pack_blocks(blocks: list[tuple], rank: dict | None = None) -> dict:
    """Centres for (key, wanted centre, width) blocks in one row: no overlaps, clusters centred on their wishes.

    Left to right by wanted centre (then ``rank``, then key); a block that would overlap its
    left neighbour merges with it into a cluster, which is centred on the mean of its wishes.
    """
    clusters: list[list[tuple]] = []
    lefts: list[float] = []

    def best_left(cluster: list[tuple]) -> float:
        offset, shifts = 0.0, []
        for _, wanted, width in cluster:
            shifts.append(wanted - (offset + width / 2))
            offset += width + _GAP
        return sum(shifts) / len(shifts)

    def width_of(cluster: list[tuple]) -> float:
        return sum(w for _, _, w in cluster) + _GAP * (len(cluster) - 1)

    for block in sorted(blocks, key=lambda b: (b[1], (rank or {}).get(b[0], 0), str(b[0]))):
        clusters.append([block])
        lefts.append(best_left(clusters[-1]))
        while len(clusters) > 1 and lefts[-2] + width_of(clusters[-2]) + _GAP > lefts[-1]:
            merged = clusters[-2] + clusters[-1]
            clusters[-2:] = [merged]
            lefts[-2:] = [best_left(merged)]
    centres: dict = {}
    for cluster, left in zip(clusters, lefts):
        offset = left
        for key, _, width in cluster:
            centres[key] = offset + width / 2
            offset += width + _GAP
    return centres


def _table(rows: Iterable[tuple[str, str]]) -> str:
    """Rows are already escaped HTML."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>" if body else ""


def _guard(tip: str) -> str:
    """pyvis switches to a different popup when a title contains 'href'; an entity avoids that."""
    return tip.replace("href", "&#104;ref")


def _clip_lines(text: str) -> str:
    return "\n".join(_clip(line) for line in text.split("\n"))


def _wrap(label: str, width: int = 19) -> list[str]:
    lines: list[str] = []
    for part in label.split("\n"):
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def _size(label: str, shape: str) -> tuple[float, float]:
    """An estimate of the drawn box, good enough to keep stacks apart and route edges."""
    lines = _wrap(label)
    text_w = min(_MAX_WIDTH - 10, max((len(line) for line in lines), default=1) * 7.4)
    text_h = len(lines) * 17
    if shape == "ellipse":
        return min(_MAX_WIDTH, text_w + 10 + text_h + 10), (text_h + 10) * 1.6
    if shape == "database":
        return text_w + 16, text_h + 16 + 22
    return text_w + 16, text_h + 16


def _bezier_points(a: _Node, b: _Node, smooth: dict | None) -> list[tuple[float, float]]:
    """Sample the curve vis-network draws (its curvedCW/curvedCCW control point, reproduced)."""
    if smooth is None:
        vx, vy = (a.x + b.x) / 2, (a.y + b.y) / 2
    else:
        r = smooth["roundness"]
        dx, dy = b.x - a.x, a.y - b.y
        length = math.hypot(dx, dy)
        turn = (0.5 * r + 0.5) if smooth["type"] == "curvedCW" else (-0.5 * r + 0.5)
        angle = math.atan2(dy, dx) + turn * math.pi
        vx = a.x + (0.5 * r + 0.5) * length * math.sin(angle)
        vy = a.y + (0.5 * r + 0.5) * length * math.cos(angle)
    points = []
    for i in range(1, 32):
        t = i / 32
        points.append(
            (
                (1 - t) ** 2 * a.x + 2 * (1 - t) * t * vx + t * t * b.x,
                (1 - t) ** 2 * a.y + 2 * (1 - t) * t * vy + t * t * b.y,
            )
        )
    return points


def _hits(a: _Node, b: _Node, smooth: dict | None, boxes) -> int:
    """How much of the curve runs through other nodes (sample points inside their boxes)."""
    points = _bezier_points(a, b, smooth)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    count = 0
    for node_id, x0, y0, x1, y1 in boxes:
        if node_id in (a.id, b.id) or x1 < lo_x or x0 > hi_x or y1 < lo_y or y0 > hi_y:
            continue
        count += sum(1 for x, y in points if x0 <= x <= x1 and y0 <= y <= y1)
    return count


_CANDIDATES: tuple[dict | None, ...] = (None,) + tuple(
    {"enabled": True, "type": kind, "roundness": r}
    for r in (0.2, 0.35, 0.5, 0.7, 0.9)
    for kind in ("curvedCW", "curvedCCW")
)

_OPTIONS = {
    "physics": {"enabled": False},
    "layout": {"hierarchical": {"enabled": False}, "randomSeed": 1},
    "nodes": {"margin": 8, "borderWidthSelected": 3},
    "edges": {
        "arrows": {"to": {"enabled": True, "scaleFactor": 0.6}},
        "color": {"color": "#9a9a9a", "highlight": "#222222", "hover": "#444444"},
        # "middle" (rotated) labels land on the origin for right-to-left horizontal edges in
        # vis-network 9.1.2; horizontal labels are drawn where they belong and read easier
        "font": {"size": 10, "color": "#555555", "strokeWidth": 3, "strokeColor": "#ffffff", "align": "horizontal"},
        "width": 1.2,
        "selectionWidth": 1.5,
    },
    "interaction": {"hover": True, "tooltipDelay": 120, "multiselect": True, "navigationButtons": False},
}


# -- the page ----------------------------------------------------------------------------

_CSS = """
body { margin: 0; font-family: Helvetica, Arial, sans-serif; color: #111; background: #fff; }
#mp-header { padding: 8px 14px 6px; border-bottom: 1px solid #ddd; background: #fafafa; }
#mp-header h1 { font-size: 19px; margin: 0 0 2px; font-weight: 600; }
#mp-header .mp-sub { font-size: 12px; color: #555; margin-bottom: 6px; }
#mp-header .mp-tools { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; font-size: 13px; }
#mp-header input { font-size: 13px; padding: 3px 6px; width: 220px; }
#mp-header button { font-size: 13px; padding: 3px 9px; cursor: pointer; }
#mp-found { color: #555; font-size: 12px; min-width: 80px; }
.mp-legend { display: flex; flex-wrap: wrap; gap: 5px 12px; margin-left: 10px; align-items: center; }
.mp-chip { display: inline-block; border: 1.5px solid; border-radius: 4px; padding: 1px 7px; font-size: 12px; }
.mp-note { font-size: 12px; color: #555; }
.card { border: none; }
#mynetwork { border: none !important; }
div.vis-tooltip { font-family: Helvetica, Arial, sans-serif; font-size: 12px; max-width: 520px;
  white-space: normal; padding: 6px 8px; background: #fffef5; border: 1px solid #999; }
.mp-tip-head { font-size: 13px; margin-bottom: 2px; }
.mp-tip-kind { color: #666; font-size: 11px; margin-left: 6px; }
.mp-tip-iri { color: #777; font-size: 11px; word-break: break-all; margin-bottom: 4px; }
.mp-tip { max-height: 70vh; overflow: hidden; }
.mp-tip table { border-collapse: collapse; font-family: Helvetica, Arial, sans-serif; font-size: 12px; }
.mp-tip th { text-align: left; vertical-align: top; color: #444; font-weight: normal; padding: 1px 8px 1px 0;
  white-space: nowrap; }
.mp-tip td { vertical-align: top; padding: 1px 0; word-break: break-word; }
.mp-tip pre { margin: 0; font-size: 11px; white-space: pre-wrap; max-width: 480px; }
.mp-dt { color: #888; font-size: 10px; }
"""

_HEAD_SCRIPT = """
function mlprovTips(items) {
  // vis-network shows string titles as plain text; ours are escaped HTML tables
  for (var i = 0; i < items.length; i++) {
    if (typeof items[i].title === "string") {
      var box = document.createElement("div");
      box.innerHTML = items[i].title;
      items[i].title = box;
    }
  }
  return items;
}
"""

_BODY_SCRIPT = """
(function () {
  if (typeof network === "undefined") { return; }
  function setGroup(hub, show) {
    var members = nodes.get({filter: function (n) { return n.mlprovGroup === hub; }});
    if (show === undefined) { show = members.length > 0 && members[0].hidden === true; }
    nodes.update(members.map(function (n) { return {id: n.id, hidden: !show}; }));
    var links = edges.get({filter: function (e) { return e.mlprovGroup === hub; }});
    edges.update(links.map(function (e) { return {id: e.id, hidden: !show}; }));
    return show;
  }
  var hubs = nodes.get({filter: function (n) { return n.mlprovHub === true; }}).map(function (n) { return n.id; });
  var envHubs = nodes.get({filter: function (n) { return n.mlprovHub === true && n.mlprovKind === "environment"; }})
    .map(function (n) { return n.id; });
  var expanded = false;
  network.on("click", function (params) {
    if (params.nodes.length === 1 && hubs.indexOf(params.nodes[0]) >= 0) { setGroup(params.nodes[0]); }
  });
  var groupsButton = document.getElementById("mp-groups");
  if (groupsButton) {
    if (envHubs.length === 0) { groupsButton.style.display = "none"; }
    groupsButton.addEventListener("click", function () {
      expanded = !expanded;
      envHubs.forEach(function (h) { setGroup(h, expanded); });
      groupsButton.textContent = expanded ? "Hide environment" : "Show environment";
      network.fit({animation: true});
    });
  }
  document.getElementById("mp-fit").addEventListener("click", function () { network.fit({animation: true}); });
  var search = document.getElementById("mp-search");
  var found = document.getElementById("mp-found");
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    if (!q) { network.unselectAll(); found.textContent = ""; return; }
    var hits = nodes.get({filter: function (n) { return String(n.label || "").toLowerCase().indexOf(q) >= 0; }});
    hits.forEach(function (n) { if (n.hidden && n.mlprovGroup) { setGroup(n.mlprovGroup, true); } });
    var ids = hits.map(function (n) { return n.id; });
    network.selectNodes(ids);
    if (ids.length) { network.fit({nodes: ids, animation: true}); }
    found.textContent = ids.length + (ids.length === 1 ? " match" : " matches");
  }
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") { runSearch(); } });
  search.addEventListener("search", runSearch);
  // node sizes are known only once drawn: fit after the first drawing; a long pipeline
  // would shrink its labels out of reach, so then start readable at its left end (plan, run)
  network.once("afterDrawing", function () {
    network.fit();
    var minScale = 0.7;
    if (network.getScale() < minScale) {
      var ids = nodes.getIds({filter: function (n) { return !n.hidden; }});
      var box = null;
      ids.forEach(function (id) {
        var b = network.getBoundingBox(id);
        if (!box) { box = {left: b.left, right: b.right, top: b.top, bottom: b.bottom}; return; }
        box.left = Math.min(box.left, b.left); box.top = Math.min(box.top, b.top);
        box.bottom = Math.max(box.bottom, b.bottom);
      });
      var width = document.getElementById("mynetwork").clientWidth;
      network.moveTo({scale: minScale, position: {x: box.left - 20 + width / (2 * minScale), y: (box.top + box.bottom) / 2}});
      var hint = document.getElementById("mp-found");
      if (hint) { hint.textContent = "showing the start: drag to pan, Fit shows everything"; }
    }
  });
})();
"""

_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*/?>", re.I | re.S)
_LINKING_COMMENT = re.compile(r"<!--(?:(?!-->).)*?\b(?:src|href)\s*=(?:(?!-->).)*?-->", re.S)
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>", re.I)
_DATASET = re.compile(r"^(\s*)(nodes|edges) = new vis\.DataSet\((.*)\);\s*$", re.M)


def _page(net, title: str, focus: str | None, view: _View) -> str:
    """pyvis's page, made offline and given a header, legend, search box and HTML tooltips."""
    page = net.generate_html()
    page, scripts = _REMOTE_SCRIPT.subn("", page)
    page, links = _REMOTE_LINK.subn("", page)
    log.debug("removed %d remote scripts and %d remote stylesheets from the pyvis page", scripts, links)
    page = _LINKING_COMMENT.sub("", page)  # pyvis's commented-out node_modules links
    page = _EMPTY_HEADING.sub("", page)
    page, wrapped = _DATASET.subn(lambda m: f"{m.group(1)}{m.group(2)} = new vis.DataSet(mlprovTips({m.group(3)}));", page)
    if wrapped != 2:
        log.warning("pyvis page layout not recognised: tooltips will show as plain text")
    kinds_present = sorted({n.kind for n in view.nodes.values()}, key=lambda k: _KIND_ORDER[k])
    chips = "".join(
        f'<span class="mp-chip" style="background:{_KIND[k].fill};border-color:{_KIND[k].border}" '
        f'title="{html.escape(_KIND[k].description)}">{html.escape(_KIND[k].legend)}</span>'
        for k in kinds_present
    )
    shown = sum(1 for n in view.nodes.values() if not n.hidden)
    folded = sum(1 for n in view.nodes.values() if n.hidden)
    focus_text = f" · {html.escape(focus)}" if focus else ""
    header = (
        '<div id="mp-header">'
        f"<h1>{html.escape(title)}</h1>"
        f'<div class="mp-sub">{shown} nodes shown, {folded} folded{focus_text} · '
        "hover a node for its values · click a dashed box to unfold it · scroll to zoom, drag to move · "
        "dashed lines link the run to its plan</div>"
        '<div class="mp-tools"><input id="mp-search" type="search" placeholder="Search labels, then Enter">'
        '<button id="mp-fit" type="button">Fit</button>'
        '<button id="mp-groups" type="button">Show environment</button><span id="mp-found"></span>'
        f'<div class="mp-legend">{chips}'
        '<span class="mp-note">red border: failed</span></div></div></div>'
    )
    head = f"{PAGE_MARKER}\n<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n<script>{_HEAD_SCRIPT}</script>\n"
    page = page.replace("<head>", "<head>\n" + head, 1)
    page = page.replace("<body>", "<body>\n" + header, 1)
    page = _replace_last(page, "</body>", f"<script>{_BODY_SCRIPT}</script>\n</body>")
    return page


def _replace_last(text: str, old: str, new: str) -> str:
    head, sep, tail = text.rpartition(old)
    return head + new + tail if sep else text + new
