"""`mlprov store check`, `backup` and `compact`: is the store whole, a copy to restore, fewer files.

``check`` and ``backup`` open the embedded store read-only, so neither writes to it;
``compact`` takes the write lock, as an import does. pyoxigraph offers no
repair of a damaged RocksDB database: the remedy is a backup, which ``backup`` makes.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyoxigraph as ox

from . import vocab
from .errors import UserError
from .store import Compaction, Store, StoreLocation, open_store

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PLAN = ox.NamedNode(vocab.PPLAN + "Plan")
STATUS = ox.NamedNode(vocab.MLPROV + "status")
#: The named graph of each reproduction (see reproduce.py).
REPRODUCTION_BASE = "urn:mlprov:reproduction:"
KINDS = ("plans", "runs", "reproductions", "inferred", "summaries", "ontology", "environment", "other")


@dataclass
class StoreHealth:
    """What ``check`` read: quads and graphs by kind, and runs recorded without a status."""

    location: StoreLocation
    quads: int = 0
    graphs: Counter = field(default_factory=Counter)
    runs_without_status: list[str] = field(default_factory=list)
    artifact_runs: int = 0  # runs with a folder of files in the store's artifact folder

    @property
    def ok(self) -> bool:
        return not self.runs_without_status

    def report(self) -> str:
        kinds = ", ".join(f"{self.graphs[k]} {k}" for k in KINDS)
        lines = [
            f"store {self.location.home}: {'healthy' if self.ok else 'readable, but not consistent'}",
            f"{self.quads} quads in {sum(self.graphs.values())} graphs: {kinds}",
            f"files of {self.artifact_runs} runs in {self.location.artifact_dir}",
        ]
        if self.runs_without_status:
            shown = ", ".join(self.runs_without_status[:5]) + (", ..." if len(self.runs_without_status) > 5 else "")
            lines.append(f"{len(self.runs_without_status)} runs have no status: {shown}")
        return "\n".join(lines)


def _kind(graph: str, plans: set[str]) -> str:
    if graph in plans:
        return "plans"
    if graph.startswith(vocab.BUNDLE_BASE):
        return "runs"
    if graph.startswith(REPRODUCTION_BASE):
        return "reproductions"
    if graph.startswith(vocab.INFERRED_BASE):
        return "inferred"
    if graph == vocab.ONTOLOGY_GRAPH:
        return "ontology"
    if graph.startswith("urn:mlprov:summary:"):
        return "summaries"
    if graph == vocab.ENV_GRAPH:
        return "environment"
    return "other"


def _embedded(store: Store | object, location: StoreLocation, verb: str) -> Store:
    if not isinstance(store, Store):
        raise UserError(f"--store {location.display}: 'mlprov store {verb}' works on a store folder; a SPARQL server keeps its own")
    return store


def check(location: StoreLocation) -> StoreHealth:
    """Read every quad once (damage raises ``StoreDamaged``) and count the graphs by kind."""
    health = StoreHealth(location)
    with open_store(location, create=False, read_only=True) as opened:
        store = _embedded(opened, location, "check")
        sizes: Counter = Counter()
        plans: set[str] = set()
        statuses: set[str] = set()
        for quad in store.inner:
            graph = quad.graph_name
            name = graph.value if isinstance(graph, ox.NamedNode) else ""
            sizes[name] += 1
            if quad.predicate == RDF_TYPE and quad.object == PLAN and quad.subject == graph:
                plans.add(name)
            elif quad.predicate == STATUS and name.startswith(vocab.BUNDLE_BASE):
                if quad.subject == ox.NamedNode(vocab.run_iri(name[len(vocab.BUNDLE_BASE):])):
                    statuses.add(name)
    health.quads = sum(sizes.values())
    if location.artifact_dir.is_dir():
        health.artifact_runs = sum(1 for path in location.artifact_dir.iterdir() if path.is_dir())
    health.graphs = Counter(_kind(name, plans) for name in sizes)
    health.runs_without_status = sorted(
        vocab.run_iri(name[len(vocab.BUNDLE_BASE):]) for name in sizes if _kind(name, plans) == "runs" and name not in statuses
    )
    return health


def backup(location: StoreLocation, target: Path) -> Path:
    """Copy the database into ``target/oxigraph``: a store folder of its own (``--store target``).

    RocksDB's checkpoint hard-links the data files where it can; each link is replaced by
    a copy, so damage to a file of the store cannot reach the backup. The files runs wrote
    (the artifact folder) are copied into ``target/artifacts``; journals are not copied.
    """
    target = Path(target).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"{target}: exists and is not an empty folder; give a new folder for the backup")
    database = StoreLocation(target).database
    with open_store(location, create=False, read_only=True) as opened:
        store = _embedded(opened, location, "backup")
        target.mkdir(parents=True, exist_ok=True)
        try:
            store.inner.backup(str(database))
            for path in database.iterdir():
                if path.is_file() and path.stat().st_nlink > 1:
                    copy = path.with_name(path.name + ".copy")
                    shutil.copy2(path, copy)
                    os.replace(copy, path)
            if location.artifact_dir.is_dir():
                shutil.copytree(location.artifact_dir, StoreLocation(target).artifact_dir)
        except (OSError, RuntimeError) as error:
            shutil.rmtree(target, ignore_errors=True)
            raise UserError(f"{target}: the backup failed ({error}); nothing was kept; check the space and permissions there") from None
    return database


def compact(location: StoreLocation, *, on_start: Callable[[], None] = lambda: None) -> Compaction:
    """Merge the database's files (:meth:`Store.compact`), which an import does by itself
    only when it grew the store by a quarter or more: for a store built by many small ones.
    ``on_start`` is called once the store is open and the compaction begins."""
    with open_store(location, create=False) as opened:
        store = _embedded(opened, location, "compact")
        on_start()
        try:
            return store.compact()
        except (OSError, RuntimeError) as error:
            raise UserError(f"{location.database}: the compaction failed ({error}); the store is as it was; "
                            "check the space there (a compaction needs room for a copy of the largest files)") from None
