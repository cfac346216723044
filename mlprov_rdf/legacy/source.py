"""Reading a provenance file in any of MLProvCodeGen's formats into one normalised view.

Its versions named the same things differently: entities ``ex:Data Ingestion Data``,
``ex:data_ingestion`` or ``data_ingestion`` (the oldest, with ``dataingestion:``-prefixed
keys), sometimes both in one file (one holding only ``ex:type``), sometimes as a JSON list of
copies; and the earliest image-classification files are plain JSON without ``entity``. Every
section and key is found by its normalised name (prefixes dropped, case and separators
ignored), and messages name the key as the file wrote it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from .values import Unreadable, decode, norm, short, show_key

log = logging.getLogger(__name__)

# A section's name, normalised, without "data": ``ex:Data Ingestion Data`` and ``data_ingestion``.
SECTIONS = ("experimentinfo", "hardwareinfo", "packages", "notebook", "dataingestion", "datapreparation",
            "datasegregation", "modelparameters", "training", "evaluation")
_SECTION_ALIASES = {"modeltraining": "training", "modelevaluation": "evaluation", "modelparameter": "modelparameters"}


def section_name(key: str) -> str:
    name = norm(key)
    if name.endswith("data") and name != "data":
        name = name[: -len("data")]
    return _SECTION_ALIASES.get(name, name)


@dataclass
class Section:
    """One section's fields, merged from every entity of that name: normalised key → (key as written, raw)."""

    written: str
    fields: dict[str, tuple[str, Any]] = field(default_factory=dict)


@dataclass
class Source:
    """The provenance file, read by meaning: sections and keys by their normalised names."""

    path: Path
    data: dict
    sha256: str
    sections: dict[str, Section] = field(default_factory=dict)
    root: str = "entity"  # where the sections are: "entity", or "" in the plain JSON of the oldest files

    def section(self, name: str) -> dict[str, Any] | None:
        """``section("ex:Training Data")``: its fields as written in the file, or None."""
        found = self.sections.get(section_name(name))
        return None if found is None else {key: raw for key, raw in found.fields.values()}

    def raw(self, entity: str, *keys: str) -> tuple[str, Any] | None:
        """The first of ``keys`` that ``entity`` has: (key as written in the file, raw value)."""
        found = self.sections.get(section_name(entity))
        if found is None:
            return None
        return next((found.fields[norm(k)] for k in keys if norm(k) in found.fields), None)

    def where(self, entity: str, key: str | None = None) -> str:
        """The key as the file wrote it (or as asked for, when absent): ``entity['ex:Training Data']['ex:epochs']``."""
        found = self.sections.get(section_name(entity))
        written = found.written if found else entity
        if key is not None and found and norm(key) in found.fields:
            key = found.fields[norm(key)][0]
        return self.root + show_key(written, *([key] if key is not None else []))

    def value(self, entity: str, *keys: str, as_: Callable[[Any], Any] = lambda v: v, required: bool = False) -> Any:
        """A decoded value, converted by ``as_``; a missing required key or a bad value is a UserError."""
        found = self.raw(entity, *keys)
        if found is None:
            if required:
                missing = self.where(entity) if section_name(entity) not in self.sections else self.where(entity, keys[0])
                raise UserError(
                    f"{self.path}: missing key {missing}; "
                    "is this a provenance file written by MLProvCodeGen (its Provenance_*.json)?"
                )
            return None
        key, raw = found
        try:
            return as_(decode(raw))
        except Unreadable as error:
            raise UserError(f"{self.path}: {self.where(entity, key)} = {short(raw)}: {error}") from None


def _copies(value: Any) -> list[dict]:
    """An entity's attribute dicts: itself, or each dict of the JSON list some versions wrote."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def _sections(block: dict, *, known_only: bool) -> dict[str, Section]:
    """Every entity merged into its section; the first value of a key wins, ``prov:*`` and ``ex:type`` are skipped."""
    sections: dict[str, Section] = {}
    for written, value in block.items():
        if not isinstance(written, str):
            continue
        name = section_name(written)
        if known_only and name not in SECTIONS:
            continue
        for attrs in _copies(value):
            fields = {norm(k): (k, v) for k, v in attrs.items()
                      if isinstance(k, str) and not k.startswith("prov:") and norm(k) != "type"}
            if not fields:
                continue
            section = sections.setdefault(name, Section(written))
            if not section.fields:
                section.written = written
            for key, entry in fields.items():
                section.fields.setdefault(key, entry)
    return sections


def read_source(path: Path) -> Source:
    """The file parsed and its sections found; an empty or foreign file is one line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the Provenance_*.json file that MLProvCodeGen wrote")
    data_bytes = path.read_bytes()
    if not data_bytes.strip():
        raise UserError(f"{path}: the file is empty (MLProvCodeGen wrote no provenance into it); "
                        "there is no run to import, so leave it out or delete it")
    try:
        data = json.loads(data_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; give the Provenance_*.json file that MLProvCodeGen wrote") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not JSON ({error.msg}); give the Provenance_*.json file that MLProvCodeGen wrote") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a PROV-JSON document (the top level is not an object)")
    sha256 = hashlib.sha256(data_bytes).hexdigest()
    if isinstance(data.get("entity"), dict):
        return Source(path, data, sha256, _sections(data["entity"], known_only=False))
    plain = _sections(data, known_only=True)  # the oldest image-classification files: sections at the top level
    if not plain:
        raise UserError(f"{path}: missing key ['entity']; is this a provenance file written by MLProvCodeGen?")
    log.debug("%s: plain JSON without 'entity' (sections %s)", path, ", ".join(plain))
    return Source(path, data, sha256, plain, root="")
