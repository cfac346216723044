"""Everything one run's page shows, read from the store: :func:`read_run_record`.

Ingest keeps the part of the record that lives in the run's own graph as one ``rdf:JSON``
literal of the run (``mlprov:runRecord``, built by :func:`kept_record_line` from the
statements it writes): reading a run is that literal, its cells' code, and the queries for
what lies outside the graph and changes after ingest (the plan's title and derivations;
whether a reproduction names the run, and only then its verdicts). A run without the
literal (a store written before it, an imported run) has its bundle read whole and sorted
into the record in Python, by the functions ingest builds the literal with, so both ways
give the same record.

Fields a run does not have (a run imported from MLProvCodeGen has no code, a clustering run
no split and no per-epoch series) are empty, so a page can leave them out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import pyoxigraph as ox

from . import capture, queries, vocab
from .series import points as epoch_points
from .errors import UserError

if TYPE_CHECKING:
    from .store import RemoteStore, Store

log = logging.getLogger(__name__)

_TYPE = vocab.RDF + "type"
_LABEL = vocab.RDFS + "label"

PLAN_FACTS = f"""
PREFIX prov: <{vocab.PROV}>
PREFIX dcterms: <{vocab.DCTERMS}>
SELECT ?plan ?title ?origin ?origin_title
WHERE {{
  {{ ?plan dcterms:title ?title }}
  UNION
  {{ ?plan prov:wasDerivedFrom ?origin . OPTIONAL {{ ?origin dcterms:title ?origin_title }} }}
}}
"""

# Whether a reproduction names the run: most runs have none, and this costs a fifth of the rows' query.
REPRODUCED = f"""
PREFIX mlprov: <{vocab.MLPROV}>
SELECT ?run WHERE {{ {{ ?activity mlprov:reproducedRun ?run }} UNION {{ ?activity mlprov:reproducingRun ?run }} }} LIMIT 1
"""

# One row per check of every reproduction the run takes part in, as the original or the new run.
REPRODUCTIONS = f"""
PREFIX prov: <{vocab.PROV}>
PREFIX mlprov: <{vocab.MLPROV}>
SELECT ?run ?activity ?role ?other ?verdict ?tolerance ?started ?check ?name ?check_verdict ?original ?new ?comment
WHERE {{
  {{ ?activity mlprov:reproducedRun ?run ; mlprov:reproducingRun ?other . BIND ("reproduced by" AS ?role) }}
  UNION
  {{ ?activity mlprov:reproducingRun ?run ; mlprov:reproducedRun ?other . BIND ("reproduces" AS ?role) }}
  OPTIONAL {{ ?activity mlprov:reproduced ?verdict }}
  OPTIONAL {{ ?activity mlprov:tolerance ?tolerance }}
  OPTIONAL {{ ?activity prov:startedAtTime ?started }}
  OPTIONAL {{ ?activity mlprov:check ?check .
             OPTIONAL {{ ?check mlprov:checkName ?name }}
             OPTIONAL {{ ?check mlprov:reproduced ?check_verdict }}
             OPTIONAL {{ ?check mlprov:originalValue ?original }}
             OPTIONAL {{ ?check mlprov:newValue ?new }}
             OPTIONAL {{ ?check <{vocab.RDFS}comment> ?comment }} }}
}}
"""

_GRAPH_OF = f"SELECT ?run ?graph WHERE {{ GRAPH ?graph {{ ?run a <{vocab.MLS}Run> }} }} LIMIT 1"

# The shared environment nodes (``vocab.env_iri``) a run links, as ingest keeps them.
SHARED_ENVIRONMENT = f"""
SELECT ?run ?bundle ?s ?p ?o
WHERE {{ GRAPH ?bundle {{ ?run <{vocab.REPR}hasSetting> ?s }} GRAPH <{vocab.ENV_GRAPH}> {{ ?s ?p ?o }} }}
"""

_SOURCE_CODE = vocab.MLPROV + "sourceCode"
KEPT_RECORD = f"SELECT ?graph ?run ?record WHERE {{ GRAPH ?graph {{ ?run <{vocab.RUN_RECORD}> ?record }} }}"
CELL_CODE = f"SELECT ?graph ?cell ?code WHERE {{ GRAPH ?graph {{ ?cell <{_SOURCE_CODE}> ?code }} }}"


class RunNotFound(UserError):
    """The IRI names no run in the store; the web app answers 404."""

    http_status = 404


# -- the record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    iri: str
    label: str
    kind: str  # "person", "software", "agent"


@dataclass(frozen=True)
class Result:
    """A final value: one row of ``mlprov query run-metrics``."""

    measure: str  # the measure's name, e.g. "accuracy"
    split: str | None
    for_class: str | None
    value: Any

    @property
    def name(self) -> str:
        """``accuracy (test)``, ``f1 (test) [setosa]``: the name ``mlprov diff`` gives it."""
        text = self.measure + (f" ({self.split})" if self.split else "")
        return text + (f" [{self.for_class}]" if self.for_class else "")


@dataclass(frozen=True)
class Series:
    """A per-epoch metric, in epoch order."""

    measure: str
    split: str | None
    epochs: list[int]
    values: list[float]

    @property
    def name(self) -> str:
        return self.measure + (f" ({self.split})" if self.split else "")


@dataclass(frozen=True)
class Entity:
    """A data set, split, model, file or input of the run, with what it derives from."""

    iri: str
    kind: str  # "data set", "data split", "model", "figure", "file", "input"...
    label: str
    sha256: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # sample count, architecture, source ...
    derived_from: tuple[str, ...] = ()  # IRIs of entities of the run
    revision_of: tuple[str, ...] = ()
    location: str | None = None  # a file's prov:atLocation

    @property
    def path(self) -> Path | None:
        """The file on this machine that the location names (file: URLs only)."""
        if not self.location:
            return None
        url = urlparse(self.location)
        if url.scheme != "file" or url.netloc not in ("", "localhost"):
            return None
        return Path(url2pathname(unquote(url.path)))

    def readable(self) -> bool:
        path = self.path
        return path is not None and path.is_file()

    def content_matches(self) -> bool:
        """Whether the file is there and still holds what the run recorded (its SHA-256)."""
        path = self.path
        if path is None or self.sha256 is None:
            return False
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() == self.sha256
        except OSError:
            return False


@dataclass(frozen=True)
class Usage:
    """What a cell or a run used (``cell_resources``): CPU seconds, peak bytes."""

    cpu_user_s: float | None = None
    cpu_system_s: float | None = None
    peak_memory: int | None = None  # this cell's peak, or the highest of the run's cells
    process_peak_memory: int | None = None  # where only the kernel's lifetime peak was known
    peak_gpu_memory: int | None = None
    energy_kwh: float | None = None  # codecarbon's estimate (``cell_energy``), where the run asked for one
    emissions_kg_co2eq: float | None = None
    energy_method: str | None = None  # on a run: how the estimates were made
    energy_unavailable: str | None = None  # on a run that asked for estimates: why there are none

    @property
    def cpu_s(self) -> float | None:
        return None if self.cpu_user_s is None else self.cpu_user_s + (self.cpu_system_s or 0.0)

    def __bool__(self) -> bool:
        return self.cpu_user_s is not None or self.peak_memory is not None or self.process_peak_memory is not None


def _usage(graph: "_Graph", iri: str) -> Usage:
    def number(name: str) -> Any:
        return graph.one(iri, vocab.MLPROV + name)

    return Usage(number("cpuUserTime"), number("cpuSystemTime"), number("peakMemory"), number("processPeakMemory"),
                 number("peakGpuMemory"), number("energyConsumed"), number("carbonEmissions"), number("energyMethod"),
                 number("energyUnavailable"))


@dataclass(frozen=True)
class Cell:
    order: int | None
    iri: str
    label: str
    step: str | None
    kind: str | None  # StepCell, ParametersCell, AddedCell
    status: str | None
    duration: float | None
    drifted: bool  # its code differs from the code generated from the plan's step
    code: str | None
    code_truncated: bool  # the code is a preview; the full text is in a file beside the journal
    error: str | None
    usage: Usage = Usage()

    @property
    def added(self) -> bool:
        return self.kind == "AddedCell"


@dataclass(frozen=True)
class Check:
    name: str
    reproduced: bool | None
    original: Any
    new: Any
    comment: str | None


@dataclass
class Verdict:
    """One ``mlprov reproduce`` this run took part in."""

    activity: str
    role: str  # "reproduced by" (this run is the original) or "reproduces"
    other_run: str
    reproduced: bool | None
    tolerance: float | None
    started: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.reproduced is False]


@dataclass
class Environment:
    notebook: str | None = None
    notebook_sha256: str | None = None
    kernel: str | None = None
    language: str | None = None
    os: str | None = None
    hardware: str | None = None
    hardware_details: dict[str, Any] = field(default_factory=dict)
    packages: list[tuple[str, str | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.notebook, self.kernel, self.language, self.os, self.hardware, self.packages))


@dataclass
class RunRecord:
    """One run as its page shows it: who, when, what it used, what it produced, how it went."""

    iri: str
    bundle: str
    label: str | None
    status: str | None
    stop_reason: str | None
    legacy: bool
    import_notes: list[str]
    plan: str | None
    plan_title: str | None
    plan_digest: str | None
    derived_from: list[tuple[str, str | None]]  # (plan IRI, title) the run's plan was derived from
    agents: list[Agent]
    started: str | None
    ended: str | None
    duration: float | None
    seed: int | None
    environment: Environment
    settings: dict[str, Any]  # parameter name → value as used, by name
    results: list[Result]
    series: list[Series]
    entities: list[Entity]  # in kind order: data, models, files, inputs
    cells: list[Cell]
    verdicts: list[Verdict]
    usage: Usage = Usage()

    @property
    def run_id(self) -> str | None:
        return self.iri[len(vocab.RUN_BASE):] if self.iri.startswith(vocab.RUN_BASE) else None

    @property
    def figures(self) -> list[Entity]:
        return [e for e in self.entities if e.kind == "figure"]

    @property
    def data(self) -> list[Entity]:
        return [e for e in self.entities if e.kind in ("data set", "data split")]

    @property
    def models(self) -> list[Entity]:
        return [e for e in self.entities if e.kind == "model"]

    @property
    def files(self) -> list[Entity]:
        """Files and inputs other than figures (checkpoints, weights, large values)."""
        return [e for e in self.entities if e.kind not in ("data set", "data split", "model", "figure")]

    def entity(self, iri: str) -> Entity | None:
        return next((e for e in self.entities if e.iri == iri), None)

    def label_of(self, iri: str) -> str:
        found = self.entity(iri)
        return found.label if found else iri

    def scalar_results(self) -> list[Result]:
        """Results over all classes with a number or text value (the confusion matrix is JSON)."""
        return [r for r in self.results if r.for_class is None and not isinstance(r.value, (list, dict))]


# -- reading ---------------------------------------------------------------------------------


def term_value(term: ox.Term) -> Any:
    """A Python value; date-times stay text (no pandas for one page); JSON is parsed."""
    if isinstance(term, ox.Literal):
        return literal_value(term.value, term.datatype.value)
    return queries.python_value(term)


def literal_value(lexical: str, datatype: str) -> Any:
    """:func:`term_value` of a literal given as its lexical form and datatype IRI."""
    if datatype in (vocab.XSD + "dateTime", vocab.XSD + "dateTimeStamp"):
        return lexical
    if datatype == vocab.RDF + "JSON":
        try:
            return json.loads(lexical)
        except ValueError:
            return lexical
    return queries.literal_value(lexical, datatype)


class _Literal(str):
    """A literal as an N-Triples term, turned into its value (:func:`term_value`) when read."""

    def value(self) -> Any:
        close = self.rindex('"')
        lexical, tail = self[1:close], self[close + 1:]
        if "\\" in lexical:
            lexical = capture.literal_text(self)
        if tail[:3] != "^^<":
            return lexical  # a plain or language-tagged string
        datatype = tail[3:-1]
        if datatype not in _VALUE_AS_WRITTEN:  # a date-time, kept as text: in the store's form
            literal = ox.Literal(lexical, datatype=ox.NamedNode(datatype))
            lexical = next(iter(_CANONICAL.query("SELECT ?value {}", substitutions={_VALUE: literal})))[0].value
        return literal_value(lexical, datatype)


#: Datatypes whose value (:func:`term_value`) is the same whatever lexical form the store keeps.
_VALUE_AS_WRITTEN = frozenset({vocab.XSD + "string", vocab.RDF + "JSON", vocab.XSD + "boolean", vocab.XSD + "integer",
                               vocab.XSD + "double", vocab.XSD + "decimal"})
#: An empty store, which gives a literal back in the canonical form the store writes
#: (``...15.984850+00:00`` becomes ``...15.98485Z``).
_CANONICAL = ox.Store()
_VALUE = ox.Variable("value")


class _Graph:
    """The bundle as subject → predicate → values, with the types apart."""

    def __init__(self) -> None:
        self.props: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        self.types: dict[str, set[str]] = defaultdict(set)
        self.inverse: dict[tuple[str, str], list[str]] = defaultdict(list)  # (predicate, object IRI) → subjects

    @classmethod
    def parsed(cls, ntriples: bytes) -> "_Graph":
        """The graph of a bundle as the store writes it."""
        graph = cls()
        for triple in ox.parse(ntriples, format=ox.RdfFormat.N_TRIPLES):
            subject, predicate, obj = triple.subject.value, triple.predicate.value, triple.object
            if predicate == _TYPE:
                graph.types[subject].add(obj.value)
            elif isinstance(obj, ox.NamedNode):  # half the objects: their value is the IRI, no conversion
                graph._link(subject, predicate, obj.value)
            else:
                graph.props[subject][predicate].append(term_value(obj))
        return graph

    @classmethod
    def of_lines(cls, lines: Iterable[str], leave_out: frozenset[str] = frozenset()) -> "_Graph | None":
        """The graph of plain N-Triples lines (``<s> <p> <o> .``, as ingest writes a run), each
        split at its first two spaces and its literals read when asked for, without the lines
        whose predicate (N-Triples) is in ``leave_out``; None when a line is not of that form
        or names a blank node, whose identity the store does not keep."""
        graph = cls()
        props, types, inverse = graph.props, graph.types, graph.inverse  # (local names: this runs for every line)
        for line in dict.fromkeys(lines):
            try:
                s, p, o = line.split(" ", 2)
            except ValueError:
                return None
            if p in leave_out:
                continue
            if s[:1] != "<" or p[:1] != "<" or o[-2:] != " .":
                return None
            subject, predicate, first = s[1:-1], p[1:-1], o[:1]
            if first == "<":
                iri = o[1:-3]
                if predicate == _TYPE:
                    types[subject].add(iri)
                else:
                    props[subject][predicate].append(iri)
                    inverse[(predicate, iri)].append(subject)
            elif first == '"':
                props[subject][predicate].append(_Literal(o[:-2]))
            else:
                return None
        return graph

    def _link(self, subject: str, predicate: str, iri: str) -> None:
        self.props[subject][predicate].append(iri)
        self.inverse[(predicate, iri)].append(subject)

    def one(self, subject: str, predicate: str) -> Any:
        values = self.props.get(subject, {}).get(predicate)
        if not values:
            return None
        if isinstance(values[-1], _Literal):
            values[-1] = values[-1].value()
        return values[-1]

    def all(self, subject: str, predicate: str) -> list[Any]:
        values = self.props.get(subject, {}).get(predicate, [])
        values[:] = [v.value() if isinstance(v, _Literal) else v for v in values]
        return list(values)

    def has_type(self, subject: str, *types: str) -> bool:
        known = self.types.get(subject)
        return known is not None and any(t in known for t in types)


def _local(iri: Any) -> str | None:
    """``mlprov:Completed`` → ``Completed``; other IRIs unchanged."""
    if isinstance(iri, str) and iri.startswith(vocab.MLPROV):
        return iri[len(vocab.MLPROV):]
    return iri


def _bundle_of(store: "Store | RemoteStore", run: str) -> str | None:
    if run.startswith(vocab.RUN_BASE):
        bundle = vocab.bundle_iri(run[len(vocab.RUN_BASE):])
        return bundle if store.has_graph(bundle) else None
    rows = list(store.query(_GRAPH_OF, {"run": ox.NamedNode(run)}))
    return rows[0]["graph"].value if rows else None


def read_run_record(store: "Store | RemoteStore", run: str) -> RunRecord:
    """The record of ``run`` (an IRI); :class:`RunNotFound` when the store has no such run."""
    bundle = _bundle_of(store, run)
    record = (_kept_record(store, run, bundle) or _bundle_record(store, run, bundle)) if bundle else None
    if record is None:
        raise RunNotFound(f"run {run}: not in this store; the runs page (/runs) lists the runs it has")
    title, derived = _plan_facts(store, record.plan)
    return replace(record, plan_title=title, derived_from=derived, verdicts=_verdicts(store, run))


def shared_environment(store: "Store | RemoteStore", run: str, bundle: str) -> str:
    """N-Triples of the environment nodes the run links, kept once for all runs in
    ``vocab.ENV_GRAPH``: what a reader of the bundle alone adds for the whole run."""
    rows = store.query(SHARED_ENVIRONMENT, {"run": ox.NamedNode(run), "bundle": ox.NamedNode(bundle)})
    return "".join(f"{row['s']} {row['p']} {row['o']} .\n" for row in rows)


def _bundle_record(store: "Store | RemoteStore", run: str, bundle: str) -> RunRecord | None:
    """The record from the bundle read whole: a run ingest kept no record of."""
    ntriples = store.graph_ntriples(bundle)
    if vocab.ENV_BASE.encode() in ntriples:
        ntriples += shared_environment(store, run, bundle).encode("utf-8")
    graph = _Graph.parsed(ntriples)
    log.debug("run %s: no kept record; %d subjects in its bundle %s", run, len(graph.props), bundle)
    return _graph_record(graph, run, bundle)


def _graph_record(graph: _Graph, run: str, bundle: str) -> RunRecord | None:
    """What the run's own graph says; the plan's title, derivations and the verdicts left empty."""
    if not graph.has_type(run, vocab.MLS + "Run"):
        return None
    return RunRecord(
        iri=run,
        bundle=bundle,
        label=graph.one(run, _LABEL),
        status=_local(graph.one(run, vocab.MLPROV + "status")),
        stop_reason=graph.one(run, vocab.MLPROV + "stopReason"),
        legacy=graph.has_type(run, vocab.MLPROV + "LegacyRun"),
        import_notes=sorted(graph.all(run, vocab.MLPROV + "importNote")),
        plan=graph.one(run, vocab.MLPROV + "plan"),
        plan_title=None,
        plan_digest=graph.one(run, vocab.MLPROV + "planDigest"),
        derived_from=[],
        agents=_agents(graph, run),
        started=graph.one(run, vocab.PROV + "startedAtTime"),
        ended=graph.one(run, vocab.PROV + "endedAtTime"),
        duration=graph.one(run, vocab.MLPROV + "duration"),
        seed=graph.one(run, vocab.MLPROV + "seed"),
        environment=_environment(graph, run),
        settings=_settings(graph, run),
        results=_results(graph, run),
        series=_series(graph, run),
        entities=_entities(graph, run),
        cells=_cells(graph, run),
        verdicts=[],
        usage=_usage(graph, run),
    )


def _plan_facts(store: "Store | RemoteStore", plan: str | None) -> tuple[str | None, list[tuple[str, str | None]]]:
    if not plan:
        return None, []
    title, derived = None, {}
    for row in store.query(PLAN_FACTS, {"plan": ox.NamedNode(plan)}):
        if row["title"] is not None:
            title = row["title"].value
        if row["origin"] is not None:
            derived[row["origin"].value] = row["origin_title"].value if row["origin_title"] is not None else None
    return title, sorted(derived.items())


def _agents(graph: _Graph, run: str) -> list[Agent]:
    agents = []
    for iri in sorted(set(graph.all(run, vocab.PROV + "wasAssociatedWith"))):
        if graph.has_type(iri, vocab.REPR + "Kernel"):
            continue  # the kernel ran the cells; it is shown with the environment
        kind = ("person" if graph.has_type(iri, vocab.PROV + "Person")
                else "software" if graph.has_type(iri, vocab.PROV + "SoftwareAgent") else "agent")
        agents.append(Agent(iri, graph.one(iri, _LABEL) or iri, kind))
    return sorted(agents, key=lambda a: (a.kind != "person", a.label))


def _environment(graph: _Graph, run: str) -> Environment:
    env = Environment()
    for notebook in graph.all(run, vocab.PROV + "used"):
        if graph.has_type(notebook, vocab.REPR + "Notebook"):
            env.notebook, env.notebook_sha256 = graph.one(notebook, _LABEL), graph.one(notebook, vocab.MLPROV + "sha256")
    for entity in graph.all(run, vocab.REPR + "hasSetting"):
        label = graph.one(entity, _LABEL)
        if graph.has_type(entity, vocab.REPR + "Kernel"):
            env.kernel = label
        elif graph.has_type(entity, vocab.REPR + "ProgrammingLanguage"):
            env.language = label
        elif graph.has_type(entity, vocab.REPR + "OperatingSystem"):
            env.os = label
        elif graph.has_type(entity, vocab.MLPROV + "Hardware"):
            if env.hardware is None or graph.one(entity, vocab.MLPROV + "cpuModel") is not None:
                env.hardware = label  # the machine's; a GPU (its own node since capture shares them) adds details
            for name in ("cpuModel", "cpuCores", "memoryBytes", "gpuModel", "cudaVersion"):
                value = graph.one(entity, vocab.MLPROV + name)
                if value is not None:
                    env.hardware_details[name] = value
        elif graph.has_type(entity, vocab.REPR + "Package"):
            name = graph.one(entity, vocab.MLPROV + "packageName") or label or entity
            env.packages.append((str(name), graph.one(entity, vocab.MLPROV + "version")))
    env.packages.sort(key=lambda p: p[0].lower())
    return env


def _settings(graph: _Graph, run: str) -> dict[str, Any]:
    settings = {}
    for setting in graph.all(run, vocab.MLS + "hasInput"):
        name = graph.one(setting, vocab.MLPROV + "parameterName")
        if name is not None and graph.has_type(setting, vocab.MLS + "HyperParameterSetting"):
            settings[str(name)] = graph.one(setting, vocab.MLS + "hasValue")
    return dict(sorted(settings.items()))


def _evaluations(graph: _Graph, run: str) -> list[str]:
    return [e for e in graph.all(run, vocab.MLS + "hasOutput") if graph.has_type(e, vocab.MLS + "ModelEvaluation")]


def _measure(graph: _Graph, evaluation: str) -> str | None:
    return _local(graph.one(evaluation, vocab.MLS + "specifiedBy"))


def _results(graph: _Graph, run: str) -> list[Result]:
    results = []
    for evaluation in _evaluations(graph, run):
        value = graph.one(evaluation, vocab.MLS + "hasValue")
        measure = _measure(graph, evaluation)
        if measure is None or value is None or graph.one(evaluation, vocab.MLPROV + "epoch") is not None:
            continue
        results.append(Result(measure, graph.one(evaluation, vocab.MLPROV + "splitName"),
                              graph.one(evaluation, vocab.MLPROV + "forClass"), value))
    return sorted(results, key=lambda r: (r.for_class is not None, r.measure, r.split or "", str(r.for_class or "")))


def _series(graph: _Graph, run: str) -> list[Series]:
    points: dict[tuple[str, str | None], list[tuple[int, float]]] = defaultdict(list)
    for evaluation in _evaluations(graph, run):
        measure = _measure(graph, evaluation)
        if measure is None:
            continue
        key = (measure, graph.one(evaluation, vocab.MLPROV + "splitName"))
        for epoch, value in epoch_points(graph.one(evaluation, vocab.MLPROV + "series"),
                                          graph.one(evaluation, vocab.MLPROV + "epoch"), graph.one(evaluation, vocab.MLS + "hasValue")):
            if isinstance(value, (int, float)):
                points[key].append((int(epoch), float(value)))
    series = []
    for (measure, split), pairs in sorted(points.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        pairs.sort()
        series.append(Series(measure, split, [e for e, _ in pairs], [v for _, v in pairs]))
    return series


_DETAILS = {"sampleCount": "samples", "featureCount": "features", "classCount": "classes",
            "parameterCount": "parameters", "architecture": "architecture", "byteSize": "bytes"}


def _kind(graph: _Graph, entity: str) -> str | None:
    if graph.has_type(entity, vocab.MLPROV + "DataSplit"):
        return "data split"
    if graph.has_type(entity, vocab.MLS + "Dataset"):
        return "data set"
    if graph.has_type(entity, vocab.MLS + "Model"):
        return "model"
    if graph.has_type(entity, vocab.MLPROV + "Artifact"):
        kind = graph.one(entity, vocab.MLPROV + "artifactKind")
        return str(kind) if kind else "file"
    return None


_KIND_ORDER = {"data set": 0, "data split": 1, "model": 2, "figure": 3}


def _entities(graph: _Graph, run: str) -> list[Entity]:
    """Data, models and files the run's cells generated or read (found from its cells)."""
    cells = graph.inverse[(vocab.DCTERMS + "isPartOf", run)]
    found = set(graph.all(run, vocab.MLS + "hasOutput"))
    for cell in cells:
        found.update(graph.inverse[(vocab.PROV + "wasGeneratedBy", cell)])
        found.update(graph.all(cell, vocab.PROV + "used"))
    entities = []
    for iri in found:
        kind = _kind(graph, iri)
        if kind is None:
            continue
        details = {shown: graph.one(iri, vocab.MLPROV + name) for name, shown in _DETAILS.items()}
        details["split"] = graph.one(iri, vocab.MLPROV + "splitName")
        details["source"] = graph.one(iri, vocab.DCTERMS + "source")
        entities.append(Entity(
            iri=iri,
            kind=kind,
            label=str(graph.one(iri, _LABEL) or iri),
            sha256=graph.one(iri, vocab.MLPROV + "sha256"),
            details={k: v for k, v in details.items() if v is not None},
            derived_from=tuple(sorted(graph.all(iri, vocab.PROV + "wasDerivedFrom"))),
            revision_of=tuple(sorted(graph.all(iri, vocab.PROV + "wasRevisionOf"))),
            location=graph.one(iri, vocab.PROV + "atLocation"),
        ))
    return sorted(entities, key=lambda e: (_KIND_ORDER.get(e.kind, 9), e.iri))


def _cells(graph: _Graph, run: str) -> list[Cell]:
    cells = []
    for iri in graph.inverse[(vocab.DCTERMS + "isPartOf", run)]:
        if not graph.has_type(iri, vocab.REPR + "CellExecution"):
            continue
        order = graph.one(iri, vocab.MLPROV + "executionOrder")
        cells.append(Cell(
            order=order,
            iri=iri,
            label=str(graph.one(iri, _LABEL) or iri),
            step=graph.one(iri, vocab.PPLAN + "correspondsToStep"),
            kind=_local(graph.one(iri, vocab.MLPROV + "cellKind")),
            status=_local(graph.one(iri, vocab.MLPROV + "status")),
            duration=graph.one(iri, vocab.MLPROV + "duration"),
            drifted=graph.one(iri, vocab.MLPROV + "codeDrifted") is True,
            code=graph.one(iri, vocab.MLPROV + "sourceCode"),
            code_truncated=graph.one(iri, vocab.MLPROV + "valueFile") is not None,
            error=graph.one(iri, vocab.MLPROV + "error"),
            usage=_usage(graph, iri),
        ))
    return sorted(cells, key=lambda c: (c.order is None, c.order or 0, c.iri))


def _verdicts(store: "Store | RemoteStore", run: str) -> list[Verdict]:
    verdicts: dict[str, Verdict] = {}
    if not list(store.query(REPRODUCED, {"run": ox.NamedNode(run)})):
        return []
    for row in store.query(REPRODUCTIONS, {"run": ox.NamedNode(run)}):
        get = {name: (term_value(row[name]) if row[name] is not None else None)
               for name in ("activity", "role", "other", "verdict", "tolerance", "started", "check", "name",
                            "check_verdict", "original", "new", "comment")}
        verdict = verdicts.setdefault(get["activity"], Verdict(
            get["activity"], get["role"], get["other"], get["verdict"], get["tolerance"], get["started"]))
        if get["check"] is not None:
            verdict.checks.append(Check(str(get["name"] or get["check"]), get["check_verdict"],
                                        get["original"], get["new"], get["comment"]))
    for verdict in verdicts.values():
        verdict.checks.sort(key=lambda c: (c.reproduced is not False, c.name))
    return sorted(verdicts.values(), key=lambda v: (v.started or "", v.activity))


# -- the record kept at ingest ---------------------------------------------------------------

#: The layout of the kept record; a literal of another version is not read (the bundle is).
RECORD_VERSION = 1


class _NotKept(ValueError):
    """A value the kept record does not hold exactly (a date as a pandas Timestamp, a JSON NaN)."""


def _value(value: Any) -> Any:
    """One value of the record as JSON that decodes to the same Python value and type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (list, dict)):  # an rdf:JSON value, as its text: the order of its keys kept
        return {"json": json.dumps(value, allow_nan=False)}
    raise _NotKept(f"a {type(value).__name__} value")


def _unvalue(value: Any) -> Any:
    if isinstance(value, dict):
        return float(value["float"]) if "float" in value else json.loads(value["json"])
    return value


def _flat(obj: Any, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Fields of a dataclass by name, those without a value left out (most of a cell's usage)."""
    names = [f.name for f in fields(obj)] if names is None else names
    return {name: _value(value) for name in names if (value := getattr(obj, name)) is not None}


def _unflat(data: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: _unvalue(data.get(name)) for name in names}


def _names(cls: type, *leave_out: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in leave_out)


def _pairs(mapping: dict[str, Any]) -> list[list[Any]]:
    return [[name, _value(value)] for name, value in mapping.items()]  # a list: the order is the record's


def _unpairs(pairs: list[list[Any]]) -> dict[str, Any]:
    return {name: _unvalue(value) for name, value in pairs}


_RUN_FIELDS = ("label", "status", "stop_reason", "legacy", "plan", "plan_digest", "started", "ended", "duration", "seed")
_ENVIRONMENT_FIELDS = _names(Environment, "hardware_details", "packages")
_ENTITY_FIELDS = _names(Entity, "details", "derived_from", "revision_of")
_CELL_FIELDS = _names(Cell, "code", "usage")
_USAGE_FIELDS, _AGENT_FIELDS, _RESULT_FIELDS = _names(Usage), _names(Agent), _names(Result)


def record_json(record: RunRecord) -> str:
    """The record as deterministic JSON (sorted keys), without what :func:`read_run_record`
    reads apart: the cells' code, the plan's title and derivations, the verdicts."""
    env = record.environment
    data = {
        "version": RECORD_VERSION,
        "run": _flat(record, _RUN_FIELDS),
        "import_notes": [_value(note) for note in record.import_notes],
        "agents": [_flat(agent) for agent in record.agents],
        "environment": {**_flat(env, _ENVIRONMENT_FIELDS), "hardware_details": _pairs(env.hardware_details),
                        "packages": [[name, _value(version)] for name, version in env.packages]},
        "settings": _pairs(record.settings),
        "results": [_flat(result) for result in record.results],
        "series": [{**_flat(s, ("measure", "split")), "epochs": s.epochs, "values": [_value(v) for v in s.values]}
                   for s in record.series],
        "entities": [{**_flat(e, _ENTITY_FIELDS), "details": _pairs(e.details), "derived_from": list(e.derived_from),
                      "revision_of": list(e.revision_of)} for e in record.entities],
        "cells": [{**_flat(cell, _CELL_FIELDS), "usage": _flat(cell.usage)} for cell in record.cells],
        "usage": _flat(record.usage),
    }
    return json.dumps(data, allow_nan=False, sort_keys=True, separators=(",", ":"))


def _decoded(text: str, run: str, bundle: str, code: dict[str, Any]) -> RunRecord | None:
    """The record a kept literal holds, the cells' code put back; None for another version."""
    data = json.loads(text)
    if data.get("version") != RECORD_VERSION:
        return None
    env = data["environment"]
    return RunRecord(
        iri=run, bundle=bundle, plan_title=None, derived_from=[], verdicts=[],
        **_unflat(data["run"], _RUN_FIELDS),
        import_notes=[_unvalue(note) for note in data["import_notes"]],
        agents=[Agent(**_unflat(agent, _AGENT_FIELDS)) for agent in data["agents"]],
        environment=Environment(**_unflat(env, _ENVIRONMENT_FIELDS), hardware_details=_unpairs(env["hardware_details"]),
                                packages=[(name, _unvalue(version)) for name, version in env["packages"]]),
        settings=_unpairs(data["settings"]),
        results=[Result(**_unflat(result, _RESULT_FIELDS)) for result in data["results"]],
        series=[Series(**_unflat(s, ("measure", "split")), epochs=s["epochs"], values=[_unvalue(v) for v in s["values"]])
                for s in data["series"]],
        entities=[Entity(**_unflat(e, _ENTITY_FIELDS), details=_unpairs(e["details"]),
                         derived_from=tuple(e["derived_from"]), revision_of=tuple(e["revision_of"]))
                  for e in data["entities"]],
        cells=[Cell(**_unflat(cell, _CELL_FIELDS), code=code.get(cell["iri"]), usage=Usage(**_unflat(cell["usage"], _USAGE_FIELDS)))
               for cell in data["cells"]],
        usage=Usage(**_unflat(data["usage"], _USAGE_FIELDS)),
    )


def _kept_record(store: "Store | RemoteStore", run: str, bundle: str) -> RunRecord | None:
    graph = ox.NamedNode(bundle)
    kept = [row["record"].value for row in store.query(KEPT_RECORD, {"graph": graph, "run": ox.NamedNode(run)})]
    if not kept:
        return None
    code = {row["cell"].value: term_value(row["code"]) for row in store.query(CELL_CODE, {"graph": graph})}
    return _decoded(kept[-1], run, bundle, code)


#: Predicates (N-Triples) the record does not hold: the code, read apart (most of a run's bytes).
_LEFT_OUT = frozenset({f"<{_SOURCE_CODE}>", f"<{vocab.MLPROV}codeHash>"})


def kept_record_line(run: str, lines: Iterable[str]) -> str | None:
    """The N-Triples line ``<run> mlprov:runRecord "{...}"^^rdf:JSON .`` for the run whose
    graph is ``lines`` (plain N-Triples, as ingest writes them); None when the lines are
    not all plain or a value would not come back exactly (:func:`read_run_record` then
    reads the bundle, as for a run stored before)."""
    graph = _Graph.of_lines(lines, _LEFT_OUT)
    if graph is None:
        return None
    try:
        record = _graph_record(graph, run, vocab.bundle_iri(vocab.run_id_of(run)))
        text = record_json(record) if record else None
    except ValueError as error:  # _NotKept, or a NaN inside a JSON value
        log.debug("run %s: no kept record (%s); its page reads its bundle", run, error)
        return None
    if text is None:
        return None
    return f'<{run}> <{vocab.RUN_RECORD}> "{capture._escape(text)}"^^<{vocab.RDF}JSON> .'
