"""Reading a plan file: the named file only, in any RDF syntax rdflib reads, into one graph."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import stat
import xml.sax
import xml.sax.handler
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import rdflib
from rdflib import XSD, Literal
from rdflib.compare import to_canonical_graph
from rdflib.plugins.parsers.notation3 import BadSyntax

from ..errors import UserError
from .model import MLPROV
from .naming import node_name, shown

FORMATS = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".nt": "nt",
    ".ntriples": "nt",
    ".n3": "n3",
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".trig": "trig",
    ".nq": "nquads",
}


# -- parsing -------------------------------------------------------------------------

#: A plan is a few kilobytes; a file this large is not one (rdflib reads about 1 MiB a second).
MAX_PLAN_BYTES = 4 * 1024 * 1024
#: Formats whose files hold named graphs: the plan is read from the one graph with triples.
DATASET_FORMATS = ("trig", "nquads")
KINDS = "Turtle (.ttl), TriG (.trig), JSON-LD (.jsonld), N-Triples (.nt), N-Quads (.nq) or RDF/XML (.rdf)"


def parse_file(path: Path) -> rdflib.Graph:
    """Parse any RDF file rdflib reads, choosing the syntax by extension.

    Only the named file is read: JSON-LD contexts must be inline and RDF/XML may not
    declare a DTD, so that reading a plan never fetches a URL, reads another file or
    expands entities without bound.
    """
    path = Path(path)
    raw = _read_plan_bytes(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: not an RDF file (extension {path.suffix or 'none'}); write the plan in {KINDS}")
    try:
        data = raw.decode("utf-8").removeprefix("\ufeff")  # editors on Windows start UTF-8 files with a BOM
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; a plan is RDF text such as Turtle") from None
    if fmt == "json-ld":
        _refuse_remote_contexts(path, data)
    if fmt == "xml":
        _refuse_dtd(path, raw)
    try:
        with rdflib_warnings_silenced():
            return _parse_text(path, data, fmt)
    except UserError:
        raise
    except RecursionError:
        raise UserError(
            f"{path}: the {fmt} nests brackets or lists too deeply to read; a plan needs no deep nesting: flatten it"
        ) from None
    except Exception as error:  # rdflib raises many unrelated types for bad syntax
        raise UserError(_syntax_message(path, fmt, error)) from None


def _read_plan_bytes(path: Path) -> bytes:
    """The plan file's bytes; a folder, FIFO, device or symlink loop is named as what it is.

    The file is opened without blocking and checked before it is read, so a FIFO never hangs us.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        dangling = " (a symbolic link to nothing)" if path.is_symlink() else ""
        raise UserError(f"{path}: no such file{dangling}; give the path of a plan ({KINDS})") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(f"{path}: a symbolic link loop; point the link at a plan file") from None
        if error.errno == errno.EACCES:
            raise UserError(f"{path}: permission denied; make the plan readable") from None
        raise UserError(f"{path}: cannot be opened ({error.strerror}); give the path of a plan file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UserError(f"{path}: is a folder; give the path of a plan file inside it")
        raise UserError(f"{path}: is not a regular file (a FIFO, socket or device); give the path of a plan file")
    with os.fdopen(fd, "rb") as file:
        raw = file.read(MAX_PLAN_BYTES + 1)
    if len(raw) > MAX_PLAN_BYTES:
        raise UserError(f"{path}: larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB, which no plan is; give the plan file")
    return raw


def _refuse_remote_contexts(path: Path, data: str) -> None:
    """A JSON-LD ``@context`` or ``@import`` that names a document (URL, file) would be fetched: refuse it."""
    try:
        pending = [json.loads(data)]
    except ValueError as error:
        raise UserError(_syntax_message(path, "json-ld", error)) from None
    except RecursionError:
        raise UserError(f"{path}: the json-ld nests objects or arrays too deeply to read; flatten it") from None
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                refs = value if isinstance(value, list) else [value]
                if key in ("@context", "@import") and any(isinstance(r, str) for r in refs):
                    ref = next(r for r in refs if isinstance(r, str))
                    raise UserError(
                        f"{path}: remote {key} {shown(ref)!r} is not fetched (a plan reads no other file or URL); "
                        "inline the context: write its prefixes into the file"
                    )
                pending.append(value)


def _refuse_dtd(path: Path, raw: bytes) -> None:
    """RDF/XML with a DTD could expand entities without bound or read external ones: refuse any DTD."""
    import defusedxml
    import defusedxml.sax

    try:
        defusedxml.sax.parseString(raw, xml.sax.handler.ContentHandler(), forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise UserError(
            f"{path}: the RDF/XML declares a DTD (<!DOCTYPE …>), which mlprov does not read (its entities can "
            "expand without bound or fetch files); remove the DOCTYPE and write the IRIs out in full"
        ) from None
    except xml.sax.SAXParseException as error:
        raise UserError(_syntax_message(path, "xml", error)) from None


@contextlib.contextmanager
def rdflib_warnings_silenced() -> Iterator[None]:
    """rdflib logs a traceback for every ill-typed literal; validation reports them itself, in one line."""
    term_log = logging.getLogger("rdflib.term")
    term_log.addFilter(_drop)
    try:
        yield
    finally:
        term_log.removeFilter(_drop)


def _drop(record: logging.LogRecord) -> bool:
    return False


def _parse_text(path: Path, data: str, fmt: str) -> rdflib.Graph:
    """The file's triples; for TriG and N-Quads those of its one graph (default or named)."""
    base = path.absolute().as_uri()
    if fmt not in DATASET_FORMATS:
        return rdflib.Graph().parse(data=data, format=fmt, publicID=base)
    dataset = rdflib.Dataset()
    dataset.parse(data=data, format=fmt, publicID=base)
    graphs = sorted((g for g in dataset.graphs() if len(g)), key=lambda g: str(g.identifier))
    if len(graphs) > 1:
        names = ", ".join(_graph_name(g.identifier) for g in graphs)
        raise UserError(f"{path}: triples in {len(graphs)} graphs ({names}); a plan file holds one graph: keep the plan's")
    graph = rdflib.Graph()
    for triple in graphs[0] if graphs else ():
        graph.add(triple)
    return graph


def _graph_name(name) -> str:
    return "the default graph" if name == rdflib.graph.DATASET_DEFAULT_GRAPH_ID else f"<{name}>"


def _syntax_message(path: Path, fmt: str, error: Exception) -> str:
    line, detail = _syntax_detail(error)
    if isinstance(error, ValueError) and "integer string conversion" in detail:
        line, detail = None, "a number with more than 4300 digits, which no parameter takes"
    detail = shown(" ".join(detail.split()))
    if len(detail) > 200:
        detail = detail[:200] + "…"
    where = f"{path}:{line}" if line else f"{path}"
    return f"{where}: {fmt} syntax error: {detail}; fix the syntax and run 'mlprov validate {path}'"


def _syntax_detail(error: Exception) -> tuple[int | None, str]:
    """The 1-based line and the parser's complaint, without rdflib's byte dumps."""
    if isinstance(error, BadSyntax):
        text = error._str.decode("utf-8", "replace")
        line = text.count("\n", 0, error._i) + 1  # rdflib's own counter is 0-based and counts some lines twice
        near = text[error._i:].split("\n", 1)[0].strip()[:40]
        return line, f"{error._why} at {near!r}" if near else f"{error._why} at the end of the file"
    if isinstance(error, json.JSONDecodeError):
        return error.lineno, error.msg
    if isinstance(error, xml.sax.SAXParseException):
        return error.getLineNumber(), error.getMessage()
    text = str(error)
    match = re.search(r"line (\d+)", text)
    return (int(match.group(1)) if match else None), text


def normalise(graph: rdflib.Graph) -> rdflib.Graph:
    """Literals in one canonical form, whatever wrote them.

    Stores type plain strings ``xsd:string`` and rewrite numbers (Oxigraph stores
    ``1.0`` as ``1``), so a plan read back from a store must digest like its file.
    """
    out = rdflib.Graph()
    for s, p, o in graph:
        if isinstance(o, Literal):
            o = _canonical(o)
        out.add((s, p, o))
    return out


def _canonical(literal: Literal) -> Literal:
    if literal.datatype == XSD.string:
        return Literal(str(literal))
    if literal.datatype in (XSD.decimal, XSD.double, XSD.float) and not getattr(literal, "ill_typed", False):
        try:
            number = Decimal(str(literal).strip())
        except ArithmeticError:
            return literal
        if number.is_finite():
            text = format(number.normalize(), "f")
            return Literal(text, datatype=literal.datatype)
    return literal


def digest(graph: rdflib.Graph) -> str:
    canonical = to_canonical_graph(normalise(graph))
    lines = sorted(canonical.serialize(format="nt").splitlines())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


#: A code file is a notebook cell's source: larger than this, it is not one.
MAX_CODE_FILE_BYTES = 1024 * 1024


def with_code_files(graph: rdflib.Graph, base_dir: Path, source: str) -> rdflib.Graph:
    """Copy each code file's text into the graph (``mlprov:code`` and ``mlprov:codeSha256``).

    The stored plan is then whole: regenerating it by IRI needs no file, and its digest
    covers the code, so a changed file is a changed plan.
    """
    for step in sorted(set(graph.subjects(MLPROV.codeFile, None)), key=str):
        name = str(graph.value(step, MLPROV.codeFile))
        where = f"{source}: code step {node_name(step)}, mlprov:codeFile {shown(name)!r}"
        if graph.value(step, MLPROV.code) is not None:
            if graph.value(step, MLPROV.codeSha256) is None:
                raise UserError(f"{where}: the step has mlprov:code too; give its code one way: inline or in a file")
            continue  # a stored plan: its code is in the graph already
        relative = Path(name)
        if relative.is_absolute() or not name.strip():
            raise UserError(f"{where}: give the path relative to the plan file, so that plan and code move together")
        path = base_dir / relative
        if not path.is_file():
            raise UserError(f"{where}: no such file (looked in {base_dir}); fix the path or add the file")
        raw = path.read_bytes()
        if len(raw) > MAX_CODE_FILE_BYTES:
            raise UserError(f"{where}: larger than {MAX_CODE_FILE_BYTES // 1024} KiB, which no cell is; keep data out of code files")
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise UserError(f"{where}: not UTF-8 text; save the file as UTF-8") from None
        graph.add((step, MLPROV.code, Literal(text)))
        graph.add((step, MLPROV.codeSha256, Literal(hashlib.sha256(text.encode("utf-8")).hexdigest())))
    return graph
