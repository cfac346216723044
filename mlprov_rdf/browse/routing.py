"""Edge routing: bend an edge when its straight line would run through another node.

The candidate curves are vis-network's own curvedCW/curvedCCW, reproduced here so that the
chosen bend is the one drawn.
"""

from __future__ import annotations

import math

from .model import _Index, _Node


class _Routing(_Index):
    """Chooses each visible edge's curve."""

    def _route_edges(self) -> None:
        """Bend an edge when its straight line would cross another node's box."""
        boxes = [
            (n.id, n.x - n.w / 2 - 10, n.y - n.h / 2 - 8, n.x + n.w / 2 + 10, n.y + n.h / 2 + 8)
            for n in sorted(self.nodes.values(), key=lambda n: n.id)
            if not n.hidden
        ]
        for edge in self.edges:
            if edge.hidden:
                continue
            a, b = self.nodes[edge.source], self.nodes[edge.target]
            best: tuple[int, dict | None] | None = None
            for candidate in _CANDIDATES:
                hits = _hits(a, b, candidate, boxes)
                if best is None or hits < best[0]:
                    best = (hits, candidate)
                if hits == 0:
                    break
            edge.smooth = best[1] if best else None


def _bezier_points(a: _Node, b: _Node, smooth: dict | None) -> list[tuple[float, float]]:
    """Sample the curve vis-network draws (its curvedCW/curvedCCW control point, reproduced)."""
    if smooth is None:
        vx, vy = (a.x + b.x) / 2, (a.y + b.y) / 2
    else:
        r = smooth["roundness"]
        dx, dy = b.x - a.x, a.y - b.y
        length = math.hypot(dx, dy)
        turn = (0.5 * r + 0.5) if smooth["type"] == "curvedCW" else (-0.5 * r + 0.5)
        angle = math.atan2(dy, dx) + turn * math.pi
        vx = a.x + (0.5 * r + 0.5) * length * math.sin(angle)
        vy = a.y + (0.5 * r + 0.5) * length * math.cos(angle)
    points = []
    for i in range(1, 32):
        t = i / 32
        points.append(
            (
                (1 - t) ** 2 * a.x + 2 * (1 - t) * t * vx + t * t * b.x,
                (1 - t) ** 2 * a.y + 2 * (1 - t) * t * vy + t * t * b.y,
            )
        )
    return points


def _hits(a: _Node, b: _Node, smooth: dict | None, boxes) -> int:
    """How much of the curve runs through other nodes (sample points inside their boxes)."""
    points = _bezier_points(a, b, smooth)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    count = 0
    for node_id, x0, y0, x1, y1 in boxes:
        if node_id in (a.id, b.id) or x1 < lo_x or x0 > hi_x or y1 < lo_y or y0 > hi_y:
            continue
        count += sum(1 for x, y in points if x0 <= x <= x1 and y0 <= y <= y1)
    return count


_CANDIDATES: tuple[dict | None, ...] = (None,) + tuple(
    {"enabled": True, "type": kind, "roundness": r}
    for r in (0.2, 0.35, 0.5, 0.7, 0.9)
    for kind in ("curvedCW", "curvedCCW")
)
