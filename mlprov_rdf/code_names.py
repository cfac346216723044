"""The Python names a cell reads from earlier cells and the names it leaves for later ones.

Validation uses them to check that every step finds what it needs in the plan's order;
the generator uses them to list in the parameters cell only the parameters the code reads.
Read from the syntax tree, without running anything.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

#: Names the IPython kernel defines in every notebook.
KERNEL_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit"})
BUILTIN_NAMES = frozenset(dir(builtins)) | KERNEL_NAMES


@dataclass(frozen=True)
class CodeNames:
    reads: frozenset[str]  # loaded and bound nowhere in the cell, builtins excluded: they come from earlier cells
    binds: frozenset[str]  # bound at the cell's top level: later cells can read them


def parse_cell(source: str) -> ast.Module:
    """The cell's syntax tree; IPython syntax (``%magic``, ``!shell``) is translated first.

    Raises ``SyntaxError`` with the line of the cell at fault.
    """
    try:
        return ast.parse(source)
    except SyntaxError as error:
        if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
            raise
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            return ast.parse(TransformerManager().transform_cell(source))
        except SyntaxError:
            raise error from None


def code_names(source: str) -> CodeNames:
    tree = parse_cell(source)
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
    return CodeNames(frozenset(loaded - bound - BUILTIN_NAMES), frozenset(_top_level_bindings(tree.body)))


def _top_level_bindings(body: list[ast.stmt]) -> set[str]:
    """Names bound outside any function or class body (inside ``if``, ``for``, ``with``, ``try`` too)."""
    names: set[str] = set()
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
            continue
        for node in _walk_outside_scopes(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def _walk_outside_scopes(node: ast.AST):
    """``ast.walk`` that does not enter functions, classes, lambdas or comprehensions."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        if current is not node and isinstance(
            current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
                      ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            continue
        pending.extend(ast.iter_child_nodes(current))
