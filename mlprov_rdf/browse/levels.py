"""Which column of the left-to-right layout each node sits in, and which nodes the summary shows.

vis-network's hierarchical layout places the nodes; this module only gives each node its
``level``, from the order the notebook runs in (``step_order.topological_order``): plan, run
and environment first, then per step the values it reads, the step with its cell, and what
the cell made. So the pipeline reads left to right as it ran, whatever order the graph was read in.
"""

from __future__ import annotations

from ..step_order import topological_order
from ..vocab import MLPROV, PPLAN, PROV
from .model import _Index

#: Kinds the explorer opens on: the pipeline and what it used and made, not its machinery.
_SUMMARY_KINDS = frozenset({"plan", "step", "code", "run", "data", "model", "metric", "setting", "output"})


class _Levels(_Index):
    """Gives every node its level and its place on the summary."""

    def _assign_levels(self) -> None:
        level: dict[str, int] = {n: 0 for n in self._of_kind("plan") + self._of_kind("run")}
        steps = self._plan_order(self._of_kind("step") + self._of_kind("code"))
        for index, step in enumerate(steps, start=1):
            level[step] = 2 * index
            for cell in self._ids_into(step, PPLAN + "correspondsToStep"):
                level.setdefault(cell, 2 * index)
            for variable in self._ids_of(step, PPLAN + "hasInputVar"):
                level.setdefault(variable, 2 * index - 1)
            for variable in self._ids_of(step, PPLAN + "hasOutputVar"):
                level.setdefault(variable, 2 * index + 1)
        cells = sorted((c for c in self._of_kind("cell") if c not in level),
                       key=lambda c: (self._int(c, MLPROV + "executionOrder"), c))
        last = max(level.values(), default=0)
        for cell in cells:  # cells of no plan step (added by hand) follow the pipeline
            last += 2
            level[cell] = last
        for node_id in sorted(self.nodes):
            made_by = [level[c] for c in self._ids_of(node_id, PROV + "wasGeneratedBy") if c in level]
            if made_by and node_id not in level:
                level[node_id] = min(made_by) + 1
        for group in self.groups.values():
            if group.owner in level and group.hub not in level:
                level[group.hub] = level[group.owner] + (0 if group.kind == "environment" else 1)
        for node_id in sorted(self.nodes):  # the rest beside a neighbour that has a level
            if node_id not in level:
                level[node_id] = self._neighbour_level(node_id, level)
        plan_only = not self._of_kind("run")
        for node_id, node in self.nodes.items():
            node.level = level.get(node_id, 0)
            node.summary = not node.hidden and (
                node.kind in _SUMMARY_KINDS or node.hub or (plan_only and node.kind == "parameter")
            )

    def _neighbour_level(self, node_id: str, level: dict[str, int]) -> int:
        group = self.nodes[node_id].group
        if group is not None and group in level:
            return level[group] + 1
        term = self._terms.get(node_id)
        if term is None:
            return 0
        near = sorted(
            {self.ids[o] for values in self.props.get(term, {}).values() for o in values if o in self.ids}
            | {self.ids[s] for s, _ in self.incoming.get(term, []) if s in self.ids}
        )
        return min((level[n] for n in near if n in level), default=0)

    def _plan_order(self, steps: list[str]) -> list[str]:
        """The steps as the notebook runs them: each after every step it follows
        (p-plan:isPrecededBy), steps the graph leaves unordered by mlprov:position, then IRI."""
        chosen = set(steps)
        before = {s: [p for p in self._ids_of(s, PPLAN + "isPrecededBy") if p in chosen and p != s] for s in steps}
        key = {s: (self._int(s, MLPROV + "position"), s) for s in steps}
        order = topological_order(steps, before, key=key.__getitem__)
        # A cycle (a graph that no plan validation has seen): its steps follow, in key order.
        return order + sorted(set(steps) - set(order), key=key.__getitem__)
