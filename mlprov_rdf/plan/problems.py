"""The problems validation finds, reported together: one line each, after a line saying how many.

A check that can go on after a problem (another node, another parameter) collects it here
instead of stopping, so that a user fixes a plan in one pass rather than one error a run.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..errors import UserError

#: Problems a check lists before it sums up the rest.
PROBLEMS_SHOWN = 20


def every_problem(source: str, problems: list[str]) -> str:
    """One problem as its line; several as a line saying how many, then the first
    ``PROBLEMS_SHOWN`` a line each, then how many more."""
    if len(problems) == 1:
        return problems[0]
    lines = [f"{source}: {len(problems)} problems, one a line below", *problems[:PROBLEMS_SHOWN]]
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(f"... and {len(problems) - PROBLEMS_SHOWN} more problems like these")
    return "\n".join(lines)


class Problems:
    """The problems of one level of validation, in the order its checks found them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def __len__(self) -> int:
        return len(self.lines)

    @contextmanager
    def catching(self) -> Iterator[None]:
        """One independent unit of checking (a node, a parameter): its first problem is
        recorded and ends the unit, not the level."""
        try:
            yield
        except UserError as error:
            self.lines.extend(str(error).splitlines())

    def raise_any(self) -> None:
        """End the level with every problem found, if there is one."""
        if self.lines:
            raise UserError(every_problem(self.source, self.lines))
