"""The order a plan's steps run in: each after every step it follows (``p-plan:isPrecededBy``).

One function for validation, which builds the notebook in this order, and for browse,
which draws the steps in it, so that the graph a user sees is the notebook they get.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

Node = TypeVar("Node", bound=Hashable)


def topological_order(
    nodes: Iterable[Node], before: Mapping[Node, Iterable[Node]], key: Callable[[Node], Any]
) -> list[Node]:
    """Kahn's algorithm: a node once all of ``before[node]`` are placed; of the nodes ready
    at once, the one with the smallest ``key`` first, so the order is the same whatever
    order the graph was read in. Nodes on a cycle (or after one) are left out."""
    nodes = list(nodes)
    waiting = {n: 0 for n in nodes}
    after: dict[Node, list[Node]] = {n: [] for n in nodes}
    for node in nodes:
        for previous in before.get(node, ()):
            if previous in after:
                after[previous].append(node)
                waiting[node] += 1
    place = {n: i for i, n in enumerate(nodes)}  # breaks ties between equal keys without comparing nodes
    ready = [(key(n), place[n], n) for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for follower in after[node]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, (key(follower), place[follower], follower))
    return order
