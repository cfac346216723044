"""The job: one provenance file, or a folder of them, into plans and legacy runs in the store."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import rdflib

from .. import ingest, run_summaries, vocab
from ..arguments import check_output, write_output
from ..errors import UserError
from ..plan import Plan, from_graph, load
from ..store import StoreLocation, open_store
from .mapping import map_source
from .planfile import build_plan_text
from .run import legacy_run
from .source import read_source
from .values import as_text, slug

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    plan_file: Path
    plan: Plan
    run: str
    status: str
    task_type: str
    settings: int
    metrics: int
    notes: list[str] = field(default_factory=list)  # every choice the file did not state


def import_file(path: Path, location: StoreLocation, *, output: Path | None = None, force: bool = False) -> ImportResult:
    """Read, map and validate everything first; then write the plan file and the store."""
    src = read_source(path)
    mapped = map_source(src)
    output = Path(output) if output else src.path.with_suffix(".ttl")
    check_output(output, kind="file", inputs=[src.path], force=force)
    if output.suffix.lower() not in (".ttl", ".turtle"):
        raise UserError(f"-o {output}: the plan is written in Turtle; give a .ttl file name")
    name = slug(output.stem) or "plan"
    text = build_plan_text(src, mapped, name)
    graph = rdflib.Graph().parse(data=text, format="turtle", publicID=output.absolute().as_uri())
    plan = from_graph(graph, source=f"the plan imported from {src.path}")  # validated before anything is written
    run, triples, status = legacy_run(src, mapped, plan)

    write_output(output, text.encode("utf-8"))
    loaded = load(output)
    with open_store(location) as store:
        ingest.store_plan(store, loaded.graph, loaded.plan)
        store.replace_graph(vocab.bundle_iri(vocab.run_id_of(run)), ingest.with_direct_values(run, triples))
        run_summaries.refresh_runs(store, [run])
    task_type = src.value("ex:Experiment Info Data", "ex:task_type", as_=as_text)
    metrics = sum(1 for t in triples if t.predicate.value == vocab.MLS + "specifiedBy")
    return ImportResult(output, loaded.plan, run, status, task_type, len(mapped.values), metrics, list(mapped.notes))


@dataclass
class FileOutcome:
    """One file of a folder: imported (``result``) or refused (``reason``, the one line)."""

    source: Path
    result: ImportResult | None = None
    reason: str | None = None


@dataclass
class FolderImport:
    outcomes: list[FileOutcome]

    @property
    def refused(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.result is None]


def provenance_files(folder: Path) -> list[Path]:
    """The ``Provenance_*.json`` files MLProvCodeGen wrote into ``folder``, by name."""
    files = sorted(p for p in Path(folder).glob("Provenance_*.json") if p.is_file())
    if not files:
        raise UserError(f"{folder}: no Provenance_*.json files in this folder; give the folder MLProvCodeGen wrote them into")
    return files


def import_folder(folder: Path, location: StoreLocation, *, output: Path | None = None, force: bool = False,
                  on_file: Callable[[int, int], None] | None = None) -> FolderImport:
    """Every provenance file of ``folder``, each in its own transaction; one refused file stops no other.

    Plans go beside their files, or into the folder ``output``. ``on_file(done, total)`` is
    called as each file is imported or refused, as ingest's ``on_run``.
    """
    files = provenance_files(folder)
    if output is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
    outcomes = []
    for path in files:
        plan_file = Path(output) / path.with_suffix(".ttl").name if output is not None else None
        try:
            outcomes.append(FileOutcome(path, result=import_file(path, location, output=plan_file, force=force)))
        except UserError as error:
            log.info("refused %s: %s", path, error)
            outcomes.append(FileOutcome(path, reason=str(error)))
        if on_file is not None:
            on_file(len(outcomes), len(files))
    return FolderImport(outcomes)
