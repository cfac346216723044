"""Which terms become nodes, and each node's kind, label, status and tooltip.

Literals and vocabulary terms are shown as values in tooltips, not drawn; blank nodes get
ids from their content so that the same graph always gives the same ids. A run's setting and
the plan variable it sets are one node (the setting, with the plan's value in its tooltip), so
a parameter appears once.
"""

from __future__ import annotations

import hashlib

from rdflib import BNode, Literal, URIRef
from rdflib.term import Node as RdfNode

from ..vocab import DCTERMS, ENV_BASE, MLPROV, MLS, PPLAN, PROV, RDF, RDFS, REPR
from .kinds import _AGENT_CLASSES, _ENV_CLASSES, _KIND, _KIND_HINTS, _SKIPPED_CLASSES, _STEP_CLASSES
from .model import _Index, _Node, Tip
from .text import _MAX_LABEL, _VOCAB_NAMESPACES, _clip, _value_text, compact

_MAX_VALUE = 300
_MAX_VALUES = 8  # values per property in a tooltip
_MAX_LINES = 10  # lines of a multi-line value (source code) in a tooltip


class _Nodes(_Index):
    """Chooses the drawn terms and describes each one."""

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
            if isinstance(term, URIRef) and str(term).startswith("file:") and term not in self.props:
                continue  # a file's prov:atLocation: shown in the file's tooltip
            chosen.append(term)
        # blank-node ids depend on their rows only: assign in a stable order
        for term in sorted(chosen, key=lambda t: (isinstance(t, BNode), str(t) if not isinstance(t, BNode) else "")):
            node_id = self._node_id(term)
            self.ids[term] = node_id
            self._terms[node_id] = term
        for term, node_id in self.ids.items():
            self.nodes[node_id] = _Node(id=node_id, kind=self._kind(term), label="")
        self._merge_settings()
        for node_id, node in self.nodes.items():
            term = self._terms[node_id]
            node.label = self._label(term)
            node.status = self._status(term)
        for node_id, node in self.nodes.items():  # after the labels: tooltips name their targets
            node.tip = self._tooltip(self._terms[node_id], node)

    def _merge_settings(self) -> None:
        """A run's setting stands for the plan variable it sets: edges to the variable reach the
        setting, and the variable's node is not drawn (its value goes into the tooltip)."""
        self._merged: dict[RdfNode, RdfNode] = {}
        for node_id in sorted(self.nodes):
            if self.nodes[node_id].kind != "setting":
                continue
            setting = self._terms[node_id]
            for variable in sorted(self.props[setting].get(PPLAN + "correspondsToVariable", []), key=str):
                variable_id = self.ids.get(variable)
                if variable_id in self.nodes and self.nodes[variable_id].kind == "parameter" and variable not in self._merged:
                    self._merged[variable] = setting
                    self.ids[variable] = node_id
                    del self.nodes[variable_id]
                    del self._terms[variable_id]

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
        if MLPROV + "Artifact" in types:
            return "file"
        if types & _AGENT_CLASSES:
            return "agent"
        if not types:
            for _, predicate in sorted(self.incoming.get(term, []), key=lambda sp: sp[1]):
                if predicate in _KIND_HINTS:
                    return _KIND_HINTS[predicate]
        return "other"

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

    def _status(self, term: RdfNode) -> str | None:
        value = self._first(term, MLPROV + "status")
        return compact(str(value)).split(":")[-1] if value is not None else None

    def _tooltip(self, term: RdfNode, node: _Node) -> Tip:
        """The node's values as rows of plain text; the plan variable's too for a setting."""
        rows = self._rows(term)
        for variable, setting in sorted(self._merged.items(), key=lambda kv: str(kv[0])):
            if setting == term:
                rows += [[f"plan: {key}", values] for key, values in self._rows(variable)]
        return {
            "head": node.label,
            "kind": _KIND[node.kind].legend,
            "iri": None if isinstance(term, BNode) else str(term),
            "rows": rows,
        }

    def _rows(self, term: RdfNode) -> list:
        rows: list = []
        types = sorted(self.types.get(term, ()), key=compact)
        if types:
            rows.append(["type", [[", ".join(compact(t) for t in types), ""]]])
        for predicate in sorted(self.props.get(term, {}), key=lambda p: (compact(p), p)):
            if predicate == RDF + "type":
                continue
            values = sorted(self.props[term][predicate], key=lambda v: (_value_text(v), v.n3()))
            cells = [self._cell(v) for v in values[:_MAX_VALUES]]
            if len(values) > _MAX_VALUES:
                cells.append([f"… {len(values) - _MAX_VALUES} more", ""])
            rows.append([compact(predicate), cells])
        return rows

    def _cell(self, value: RdfNode) -> list[str]:
        """One value as [text, note]: a literal with its datatype or language, a node by its label."""
        if isinstance(value, Literal):
            text = str(value)
            datatype = compact(str(value.datatype)) if value.datatype else ""
            note = ""
            if datatype and datatype != "xsd:string":
                note = datatype
            elif value.language:
                note = "@" + value.language
            if "\n" in text.strip():
                lines = text.strip("\n").splitlines()
                shown = "\n".join(line[:_MAX_VALUE] for line in lines[:_MAX_LINES])
                more = f"\n… {len(lines) - _MAX_LINES} more lines" if len(lines) > _MAX_LINES else ""
                return [shown + more, note]
            if len(text) > _MAX_VALUE:
                text = text[:_MAX_VALUE] + f"… ({len(str(value))} characters)"
            return [text, note]
        node_id = self.ids.get(value)
        if value in self._merged:
            return [compact(str(value)), "plan variable"]
        if node_id is not None and self.nodes.get(node_id) and self.nodes[node_id].label:
            return [self.nodes[node_id].label, ""]
        if isinstance(value, BNode):
            return [self._inline(value), ""]
        return [compact(str(value)), ""]

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
