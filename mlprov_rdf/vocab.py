"""Namespace IRIs and the IRI shapes of everything mlprov writes.

Plain strings on purpose: the kernel-side capture module imports this, and it
must not pull in rdflib.
"""

import hashlib
import re
from typing import Iterable
from urllib.parse import quote

PROV = "http://www.w3.org/ns/prov#"
PPLAN = "http://purl.org/net/p-plan#"
REPR = "https://w3id.org/reproduceme#"
MLS = "http://www.w3.org/ns/mls#"
MLPROV = "https://w3id.org/mlprov#"
DCTERMS = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SH = "http://www.w3.org/ns/shacl#"

#: Direct properties that ingest writes on each run beside the settings and evaluations
#: they summarise, so that a query over many runs reads a value in one lookup:
#: ``<run> param:optimizer "Adam"``, ``<run> test:accuracy 0.97`` (see docs/data-model.md).
PARAM = "https://w3id.org/mlprov/param#"
METRIC = "https://w3id.org/mlprov/metric#"
#: The run's record as its page reads it, kept by ingest in the run's graph: a cache of the
#: graph's own statements, which exports and graph views leave out (see docs/data-model.md).
RUN_RECORD = MLPROV + "runRecord"
#: The UTC second a run started in, as a direct value: what pages of runs in start order
#: are read by (see ``start_windows``).
START_SECOND = MLPROV + "startSecond"


def param_property(name: str) -> str:
    """``param:NAME``; a name with characters an IRI cannot hold has them percent-encoded."""
    return PARAM + quote(name, safe="")


def metric_namespace(split: str | None) -> str:
    """``https://w3id.org/mlprov/metric/test#`` for the test split; METRIC for none.

    A split named ``hold out`` gets ``metric/hold%20out#``.
    """
    return f"https://w3id.org/mlprov/metric/{quote(split, safe='')}#" if split else METRIC


PREFIXES = {
    "prov": PROV,
    "p-plan": PPLAN,
    "repr": REPR,
    "mls": MLS,
    "mlprov": MLPROV,
    "dcterms": DCTERMS,
    "xsd": XSD,
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "param": PARAM,
    "test": metric_namespace("test"),
    "train": metric_namespace("train"),
}

#: Named graph that holds the project ontology inside a store.
ONTOLOGY_GRAPH = "https://w3id.org/mlprov"

#: Instance IRIs minted by mlprov. Plans keep the IRIs their authors chose.
RUN_BASE = "urn:mlprov:run:"
#: A run id: what journals are named and run IRIs end with (it becomes part of IRIs).
RUN_ID = re.compile(r"[A-Za-z0-9._-]+")
BUNDLE_BASE = "urn:mlprov:bundle:"
INFERRED_BASE = "urn:mlprov:inferred:"
AGENT_BASE = "urn:mlprov:agent:"
ENV_BASE = "urn:mlprov:env:"
#: The named graph of the environment descriptions runs share (see :func:`env_iri`).
ENV_GRAPH = "urn:mlprov:environment"

#: Marker comment on the first line of every generated step cell.
STEP_MARKER = "# mlprov step "
#: Marker comment on the first line of the generated parameters cell.
PARAMETERS_MARKER = "# mlprov parameters "


def run_iri(run_id: str) -> str:
    return RUN_BASE + run_id


def bundle_iri(run_id: str) -> str:
    """The named graph (a p-plan:Bundle) that holds one run's records."""
    return BUNDLE_BASE + run_id


def run_id_of(run: str) -> str:
    if not run.startswith(RUN_BASE):
        raise ValueError(f"not a run IRI: {run}")
    return run[len(RUN_BASE):]


def env_iri(kind: str, description: Iterable[str]) -> str:
    """``urn:mlprov:env:KIND:HASH``: an environment node (a package, the language, the kernel,
    the operating system, the hardware) named by its description, so that every run that
    had it links the one node and a journal cannot change what another run's node says.

    ``description`` is the node's statements without their subject, each ``<predicate>
    object`` in the N-Triples form capture writes; HASH is the first 32 hex digits of the
    sha256 of those lines, distinct and sorted, each ending in a line break.
    """
    text = "".join(sorted({line + "\n" for line in description}))
    return f"{ENV_BASE}{kind}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"
