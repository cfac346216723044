"""Short readable text for RDF terms, and the escaping helpers that tooltips share.

Labels never show a whole IRI. Everything here is plain text: the page's scripts put it
into the DOM as text nodes, never as markup.
"""

from __future__ import annotations

import re
from decimal import Decimal
from rdflib import Literal
from rdflib.term import Node as RdfNode

from ..vocab import AGENT_BASE, BUNDLE_BASE, ENV_BASE, PREFIXES, RUN_BASE

_MAX_LABEL = 60

_VOCAB_NAMESPACES = tuple(sorted(PREFIXES.values(), key=len, reverse=True))


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


def _clip_lines(text: str) -> str:
    return "\n".join(_clip(line) for line in text.split("\n"))
