"""How big a node is drawn: an estimate from its label and shape.

Node selection sizes nodes as it makes them, the layout keeps boxes apart with these sizes
and edge routing bends edges around them.
"""

from __future__ import annotations

_MAX_WIDTH = 150  # vis-network's widthConstraint for every node


def _wrap(label: str, width: int = 19) -> list[str]:
    lines: list[str] = []
    for part in label.split("\n"):
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def _size(label: str, shape: str) -> tuple[float, float]:
    """An estimate of the drawn box, good enough to keep stacks apart and route edges."""
    lines = _wrap(label)
    text_w = min(_MAX_WIDTH - 10, max((len(line) for line in lines), default=1) * 7.4)
    text_h = len(lines) * 17
    if shape == "ellipse":
        return min(_MAX_WIDTH, text_w + 10 + text_h + 10), (text_h + 10) * 1.6
    if shape == "database":
        return text_w + 16, text_h + 16 + 22
    return text_w + 16, text_h + 16
