"""Fixed positions: the pipeline left to right in plan order, rows by role, grids for groups.

Steps run in the order the notebook runs them (``step_order.topological_order``), cells
under their steps, variables fanned out above and outputs below; positions are rounded so
that the same graph always lands in the same place.
"""

from __future__ import annotations

from collections import defaultdict

from ..step_order import topological_order
from ..vocab import MLPROV, PPLAN, PROV
from .kinds import _KIND_ORDER
from .model import _Index

# vis-network pixels
_DX = 200  # column spacing
_Y_STEP = 0
_GAP = 22  # between nodes in a row
_ROW_GAP = 34  # between rows
_GRID_COLS = 3
_GRID_DX = 165
_GRID_DY = 54


class _Layout(_Index):
    """Gives every node its x and y."""

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
