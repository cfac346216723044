"""Finds the data folders that ship with mlprov: ontology/, templates/, queries/, and the
built-in task folders in templates/.

In a wheel they sit inside the package; in a source checkout (editable install)
they sit beside it at the repository root.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlprov data folder {name!r} is missing from the installation")


def ontology_dir() -> Path:
    return resource_dir("ontology")


def templates_dir() -> Path:
    return resource_dir("templates")


def queries_dir() -> Path:
    return resource_dir("queries")


# The built-in tasks' folders, registered in pyproject.toml's ``mlprov.tasks`` entry points
# like any installed task (their folders are not packages, so the entry points name these).


def multiclass_classification_task() -> Path:
    return templates_dir() / "multiclass_classification"


def image_classification_task() -> Path:
    return templates_dir() / "image_classification"


def clustering_task() -> Path:
    return templates_dir() / "clustering"
