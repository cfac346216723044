"""The points of a sweep: every combination of the axes' values, or N of them drawn with a seed.

A point is a set of ``-p`` overrides as command-line text, which ``derive`` types and checks
against the task's manifest; the same point always derives the same plan.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Iterable

from ..derive import parse_override
from ..errors import UserError


@dataclass(frozen=True)
class Axis:
    """One swept parameter and its values, in the order given."""

    name: str
    values: tuple[str, ...]


#: One point of a sweep: (name, value text) for every axis, in the axes' order.
Point = tuple[tuple[str, str], ...]


def split_values(text: str) -> list[str]:
    """``0.1,1,10`` → three values; a comma inside brackets (``[64, 32]``) stays in its value."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def parse_axes(items: Iterable[str]) -> list[Axis]:
    """Every ``-p NAME=V1,V2,...`` of the command line; a name given twice or an empty value is refused."""
    axes: dict[str, Axis] = {}
    for item in items:
        name, text = parse_override(item)
        values = split_values(text)
        if any(not v for v in values):
            raise UserError(f"-p {item}: an empty value; give the values comma-separated, such as -p {name}=0.1,1")
        if len(set(values)) != len(values):
            raise UserError(f"-p {item}: a value is given twice; give each once")
        if name in axes:
            raise UserError(f"-p {item}: {name} is given twice; give all its values in one -p {name}=V1,V2")
        axes[name] = Axis(name, tuple(values))
    if not axes:
        raise UserError("sweep: give the values to sweep, such as -p logreg_C=0.1,1,10 (repeatable)")
    return list(axes.values())


def grid_points(axes: list[Axis]) -> list[Point]:
    """Every combination, the first axis varying slowest."""
    return [tuple(zip((a.name for a in axes), combo)) for combo in itertools.product(*(a.values for a in axes))]


def random_points(axes: list[Axis], count: int, seed: int) -> list[Point]:
    """``count`` distinct points of the grid, drawn with ``seed``: the same seed draws the same points."""
    grid = grid_points(axes)
    if count < 1 or count > len(grid):
        raise UserError(f"--random {count}: the grid has {len(grid)} points; draw between 1 and {len(grid)}")
    return random.Random(seed).sample(grid, count)
