"""How validation names nodes, literals and text in its one-line messages."""

from __future__ import annotations

import rdflib
from rdflib import RDFS, Literal, URIRef

from .. import vocab
from .model import DCTERMS

def short(value: Literal) -> str:
    """A literal as written in Turtle, cut to a length one line can show."""
    text = shown(value.n3())
    return text if len(text) <= 80 else text[:80] + "…"


def shown(text: str) -> str:
    """Text safe for one terminal line: control characters and lone surrogates escaped."""
    return "".join(ch if ch.isprintable() and not "\ud800" <= ch <= "\udfff" else ascii(ch)[1:-1] for ch in text)



def text_of(graph, node, prop) -> str:
    value = graph.value(node, prop)
    return str(value) if value is not None else ""


def label_of(graph, node) -> str:
    for prop in (RDFS.label, DCTERMS.title, rdflib.URIRef("http://xmlns.com/foaf/0.1/name")):
        value = graph.value(node, prop)
        if value is not None:
            return str(value)
    return compact(node)


def compact(node) -> str:
    text = str(node)
    for prefix, ns in vocab.PREFIXES.items():
        if text.startswith(ns) and len(text) > len(ns):
            return f"{prefix}:{text[len(ns):]}"
    return f"<{text}>"


def node_name(node) -> str:
    if isinstance(node, URIRef):
        return compact(node)
    return f"_:{str(node)[:12]}" if node is not None else "(none)"


def iri_name(iri: str) -> str:
    return node_name(URIRef(iri))
