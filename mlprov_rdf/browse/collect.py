"""Reading the store: the triples to show for one plan or one run.

A run is shown with its bundle and the plan it ran; the IRI may be a run, its bundle or a
bare run id, as users copy them out of 'mlprov runs'.
"""

from __future__ import annotations

import logging

import rdflib
from rdflib import URIRef

from ..arguments import run_or_iri
from ..errors import UserError
from ..run_record import shared_environment
from ..vocab import MLPROV, PPLAN, RDF, RUN_BASE, RUN_RECORD, bundle_iri

log = logging.getLogger(__name__)


class GraphNotFound(UserError):
    """No plan or run with this IRI in the store."""

    http_status = 404


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
            graph.parse(data=shared_environment(store, iri, bundle), format="nt")  # kept once for all runs
            graph.remove((URIRef(iri), URIRef(RUN_RECORD), None))  # a cache of the graph itself, not drawn
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
    raise GraphNotFound(
        f"{iri}: no plan or run with this IRI in the store {store.location}; "
        "list runs with 'mlprov runs'"
    )
