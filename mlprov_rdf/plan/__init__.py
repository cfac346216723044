"""Plans: an RDF file or graph in, a validated, typed plan out.

Validation runs in layers, each reporting every problem it finds, a line each that names
the file and node, says what is wrong and what to do (``problems.py``): parsing, the terms
and nodes the graph may hold, the SHACL shapes in ``ontology/shapes.ttl``, then the
structure and parameters a task's templates need (``templates/<task>/task.toml``). A layer
runs only when the ones before it found nothing, for it relies on what they check. Everything downstream reads the typed plan only,
so a plan gives the same notebook whatever serialization or triple order it came in.
"""

from __future__ import annotations

from pathlib import Path

import rdflib

from .checks import check_own_nodes, check_shapes, check_terms, own_nodes, the_plan
from .model import DCTERMS, MLPROV, PPLAN, PROV, REPR, LoadedPlan, OutputVariable, Parameter, Plan, Step
from .reading import FORMATS, digest, normalise, parse_file, rdflib_warnings_silenced, with_code_files
from .structure import build, typed_value

__all__ = [
    "DCTERMS", "FORMATS", "MLPROV", "PPLAN", "PROV", "REPR", "LoadedPlan", "OutputVariable", "Parameter", "Plan",
    "Step", "digest", "from_graph", "load", "normalise", "own_nodes", "parse_file", "rdflib_warnings_silenced",
    "typed_value", "with_code_files",
]


def load(path: Path) -> LoadedPlan:
    """A plan file, validated; its graph carries the text of any code files, as it is stored."""
    path = Path(path)
    graph = with_code_files(parse_file(path), path.parent, str(path))
    return LoadedPlan(graph, from_graph(graph, source=str(path), base_dir=path.parent))


def from_graph(graph: rdflib.Graph, *, source: str, base_dir: Path | None = None) -> Plan:
    """Validate ``graph`` and build the typed plan; ``source`` names it in errors."""
    graph = normalise(graph)
    check_terms(graph, source)
    plan_iri = the_plan(graph, source)
    check_own_nodes(graph, plan_iri, source)
    check_shapes(graph, source)
    return build(graph, plan_iri, source, base_dir)
