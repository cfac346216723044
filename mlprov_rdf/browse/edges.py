"""Which edges are drawn: merged per node pair, implied ones left out, folded ones hidden.

The columns already say that a step belongs to its plan and a cell to its run, so those
edges are drawn for the first member only; edges into folded groups go through the hub.
"""

from __future__ import annotations

from collections import defaultdict

from rdflib import Literal

from ..vocab import DCTERMS, MLPROV, MLS, PPLAN, PROV, RDF, RDFS
from .model import _Edge, _Index

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


class _Edges(_Index):
    """Makes the view's edges from the graph's triples."""

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
            return (hidden, t, self.nodes[s].level, s, group or "")

        for (s, t, hidden, group), predicates in sorted(merged.items(), key=edge_key):
            self.edges.append(
                _Edge(
                    source=s, target=t, predicates=sorted(predicates), hidden=hidden, group=group,
                    dashed=any(p in _PLAN_LINKS for p in predicates),
                )
            )

    def _order_key(self, node_id: str) -> tuple:
        return (self.nodes[node_id].level, node_id)
