"""Provenance capture inside the user's kernel.

Imported by generated notebooks, so it stays light: the standard library and
``vocab`` only (no rdflib, no store, no numpy). It hooks IPython's
``pre_run_cell``/``post_run_cell`` events, records every executed cell and what the
templates log, and appends N-Triples to a journal file that is flushed after every
cell. ``mlprov ingest`` (or ``mlprov run``) moves a journal into the store; a
kernel killed mid-run loses nothing that a finished cell recorded.
"""

from __future__ import annotations

# What only a recording run needs (getpass, importlib.metadata, pickle, platform, secrets) is
# imported where it is used, so that importing this module in a fresh interpreter stays fast.
import hashlib
import json
import math
import numbers
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple
from urllib.parse import quote

from . import __version__, series
from .cell_resources import GPU_METHODS, CellMeter, CellUsage
from .vocab import (
    AGENT_BASE,
    DCTERMS,
    MLPROV,
    MLS,
    PARAMETERS_MARKER,
    PPLAN,
    PROV,
    RDF,
    RDFS,
    REPR,
    STEP_MARKER,
    XSD,
    env_iri,
    run_iri,
)

if TYPE_CHECKING:  # imported only when a run asks for energy estimates
    from .cell_energy import CellEnergy, EnergyMeter

#: The longest literal (characters of its N-Triples form) a journal line holds. A longer
#: value (a huge cell, error or logged string) goes to a file in the run's artifact folder
#: (``values/``; an older journal's, set aside by ingest, beside the journal), with its
#: sha256 and size, and the line gets a preview: Oxigraph parses no statement over 16 MiB,
#: and a value of up to 4 MiB of UTF-8 stays clear of that.
LARGE_VALUE_CHARS = 1 << 20
#: Characters of a large value kept in its preview literal.
PREVIEW_CHARS = 1000

#: The folder ``mlprov run`` tells the kernel to keep run files in (a run's own folder is RUN-ID inside).
ARTIFACT_ENV = "MLPROV_ARTIFACT_DIR"

_STEP_LINE = re.compile(re.escape(STEP_MARKER) + r"'([^'\\]+)' \(generated code sha256 ([0-9a-f]{12})\)$")
_TYPE = f"<{RDF}type>"
_current: "Run | None" = None


# -- N-Triples terms -----------------------------------------------------------------


def _iri(value: str) -> str:
    return f"<{value}>"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )


def _lit(value: Any) -> str:
    """A Python value as a typed N-Triples literal."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes, list, tuple)):
        value = value.item()  # numpy scalars, 0-d tensors
    if isinstance(value, bool):
        return f'"{str(value).lower()}"^^<{XSD}boolean>'
    if isinstance(value, numbers.Integral):
        return f'"{int(value)}"^^<{XSD}integer>'
    if isinstance(value, numbers.Real):
        v = float(value)
        text = "NaN" if math.isnan(v) else ("INF" if v == math.inf else "-INF" if v == -math.inf else repr(v))
        return f'"{text}"^^<{XSD}double>'
    if isinstance(value, datetime):
        return f'"{value.isoformat()}"^^<{XSD}dateTime>'
    if isinstance(value, (list, tuple, dict)):
        return f'"{_escape(json.dumps(value, default=_jsonable))}"^^<{RDF}JSON>'
    if value is None:
        return '"default"'
    return f'"{_escape(str(value))}"'


_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S)


def literal_text(literal: str) -> str:
    """The lexical form of an N-Triples literal, unescaped: what the value was."""
    lexical = literal[1 : literal.rindex('"')]
    if "\\" not in lexical:
        return lexical
    return _ESCAPE.sub(lambda m: chr(int(m[1] or m[2], 16)) if m[3] is None else _ECHAR.get(m[3], m[0]), lexical)


class LargeValue(NamedTuple):
    """A literal too long for one journal line: a preview line in its place, lines that
    describe the file holding the whole value, and that file's content."""

    preview: str  # the statement with a preview literal, an N-Triples line without its line break
    lines: tuple[str, ...]  # the file as an mlprov:Artifact of the run, linked by mlprov:valueFile
    path: Path
    data: bytes

    def write(self) -> None:
        """Write the file, unless it is there already: its name is its sha256."""
        if self.path.is_file() and self.path.stat().st_size == len(self.data):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        try:
            partial.write_bytes(self.data)
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)


def value_folder(journal: Path) -> Path:
    """Where ingest keeps the large values of an older journal's run: ``RUN-ID.files`` beside it."""
    return journal.with_name(journal.stem + ".files")


def large_value(folder: Path, run: str, subject: str, predicate: str, literal: str) -> LargeValue:
    """How ``<subject> <predicate> literal`` is recorded when the literal is over LARGE_VALUE_CHARS,
    its file kept in ``folder``."""
    text = literal_text(literal)
    data = text.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(data).hexdigest()
    suffix = ".json" if literal.endswith(f"^^<{RDF}JSON>") else ".txt"
    path = (folder / (digest + suffix)).absolute()
    node = f"{run}/value/{digest[:16]}"
    name = predicate.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    statements = [
        (subject, MLPROV + "valueFile", _iri(node)),
        (node, RDF + "type", _iri(MLPROV + "Artifact")),
        (node, RDFS + "label", _lit(f"{name} in full ({len(data):,} bytes)")),
        (node, MLPROV + "artifactKind", _lit("large value")),
        (node, MLPROV + "ofProperty", _iri(predicate)),
        (node, PROV + "atLocation", _iri(path.as_uri())),
        (node, MLPROV + "sha256", _lit(digest)),
        (node, MLPROV + "byteSize", _lit(len(data))),
    ]
    preview = f"<{subject}> <{predicate}> {_lit(text[:PREVIEW_CHARS] + '…')} ."
    return LargeValue(preview, tuple(f"<{s}> <{p}> {o} ." for s, p, o in statements), path, data)


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _decimal(seconds: float) -> str:
    return f'"{seconds:.6f}"^^<{XSD}decimal>'


def _slug(text: str) -> str:
    return quote(re.sub(r"\s+", "-", str(text).strip().lower()), safe="-_.")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _bytes_of(data: Any) -> bytes:
    """Raw bytes of an array-like (numpy, pandas, torch) plus its shape and dtype."""
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    if hasattr(data, "tobytes"):
        head = f"{getattr(data, 'shape', '')}|{getattr(data, 'dtype', '')}|".encode()
        contiguous = data.copy(order="C") if hasattr(data, "copy") else data
        return head + contiguous.tobytes()
    return json.dumps(data, default=_jsonable, sort_keys=True).encode()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _scalar(value: Any) -> Any:
    """A number, string or boolean as a Python scalar; None for anything else.

    numpy scalars and 0-d arrays or tensors count as their value (``np.float64(0.5)`` is 0.5).
    """
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()
    if isinstance(value, (bool, str, numbers.Real)):
        return value
    return None


def _stable_bytes(value: Any) -> bytes:
    """Bytes of a value that are the same in every process for the same content.

    Arrays (numpy, torch) by shape, dtype and raw bytes; pandas objects as CSV; sets with their
    members sorted (their order changes with the hash seed); anything else pickled (protocol
    4), or its repr, without memory addresses, when it cannot be pickled.
    """
    import pickle

    if hasattr(value, "to_csv"):
        return value.to_csv().encode("utf-8")
    if hasattr(value, "detach") or (hasattr(value, "tobytes") and not getattr(getattr(value, "dtype", None), "hasobject", False)):
        return _bytes_of(value)
    try:
        if isinstance(value, (set, frozenset)):
            return b"\0".join(sorted(pickle.dumps(item, protocol=4) for item in value))
        return pickle.dumps(value, protocol=4)
    except Exception:  # noqa: BLE001 - a lambda, a generator, an open file: anything may refuse
        return _ADDRESS.sub("", repr(value)).encode("utf-8", "surrogatepass")


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _sha256_of(features: Any, labels: Any, files: Iterable[str | Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(f) for f in files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for data in (features, labels):
        if data is not None:
            digest.update(_bytes_of(data))
    return digest.hexdigest()


def _store_home() -> Path:
    """The store's home folder as the kernel sees it: ``MLPROV_STORE``, else ``.mlprov`` here."""
    store = os.environ.get("MLPROV_STORE", "")
    if store and not store.startswith(("http://", "https://")):
        return Path(store).expanduser()
    return Path.cwd() / ".mlprov"


def _journal_dir() -> Path:
    if os.environ.get("MLPROV_JOURNAL_DIR"):
        return Path(os.environ["MLPROV_JOURNAL_DIR"])
    return _store_home() / "journal"


def _artifact_root() -> Path:
    """Where runs keep the files they write, one folder a run: ``MLPROV_ARTIFACT_DIR`` (what
    ``mlprov run`` tells the kernel), else ``artifacts/`` beside the journal folder (the store
    home's, unless ``MLPROV_JOURNAL_DIR`` names another), as ``StoreLocation.artifact_dir``."""
    if os.environ.get(ARTIFACT_ENV):
        return Path(os.environ[ARTIFACT_ENV]).expanduser()
    return _journal_dir().parent / "artifacts"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_in(folder: Path, name: str | Path) -> Path:
    """``name`` inside a run's artifact folder, its folders made; refused if it would leave the folder."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"artifact name {str(name)!r}: give a relative name inside the run's folder, "
                         "such as 'loss-curve.png'")
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def append_locked(path: Path, data: bytes) -> None:
    """Append to a journal under its ``flock``, reopening it when ingest compressed it meanwhile.

    Ingest takes the same lock while it compresses an ingested journal and removes the plain
    file (``ingest._compress``): lines appended after that go to a new ``RUN.nt``, never to the
    removed file. Opened for each append, so no handle outlives the file it names.
    """
    import fcntl

    while True:
        with open(path, "ab") as stream:
            fcntl.flock(stream, fcntl.LOCK_EX)
            try:
                same = os.path.exists(path) and os.path.samestat(os.fstat(stream.fileno()), os.stat(path))
            except OSError:
                same = False
            if same:
                stream.write(data)
                return


#: Seconds between flushes of a training loop's per-epoch values (a cell's end always flushes).
EPOCH_FLUSH_S = 0.5


def new_run_id() -> str:
    import secrets

    return _now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


# -- the run -------------------------------------------------------------------------


class Run:
    """One execution of a notebook: the handle that templates log through."""

    def __init__(
        self,
        plan: str,
        title: str,
        plan_digest: str,
        steps: dict[str, str],
        parameters: dict[str, str],
        fixed: dict[str, Any] | None = None,
        outputs: dict[str, dict[str, str]] | None = None,
    ):
        self.id = os.environ.pop("MLPROV_RUN_ID", "") or new_run_id()
        self.iri = run_iri(self.id)
        self.plan = plan
        self.steps = dict(steps)
        self.parameters = dict(parameters)
        self.fixed = dict(fixed or {})
        self.outputs = {step: dict(names) for step, names in (outputs or {}).items()}
        self.journal_path = _journal_dir() / f"{self.id}.nt"
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self.artifact_dir = (_artifact_root() / self.id).absolute()  # made when the run keeps its first file
        self._buffer: list[str] = []
        self._series_points: dict[str, list[tuple[int, Any]]] = {}  # series node → its points not yet flushed
        self._series_described: set[tuple[str, str | None]] = set()  # (series node, cell) whose links are written
        self._flushed_at = time.monotonic()
        self._meter = CellMeter()
        self._energy: EnergyMeter | None = None  # set when MLPROV_ENERGY asks for estimates
        self._usage: dict[str, float] = {"cpuUserTime": 0.0, "cpuSystemTime": 0.0}
        self._energy_total = [0.0, 0.0]  # kWh, kg CO2eq over the cells so far
        self._cell: str | None = None
        self._cell_count = 0
        self._cell_started = 0.0
        self._previous_cell: str | None = None
        self._completed_steps: set[str] = set()
        self._finished = False
        self._settings_recorded = False
        self._seen_modules: set[str] = set()
        self._seen_distributions: set[str] = set()
        self._gpu_checked = False
        self._kernel = ""  # the kernel's environment node, which every cell names (set with the environment)
        self._data_hashes: dict[str, str] = {}
        self._metric_steps: dict[str, str | None] = {}  # evaluation IRI → the step whose cell logged it first
        self._cell_step: str | None = None
        self.started = _now()
        self._describe_run(title, plan_digest)
        self._open_energy()
        self.flush()

    # -- journal ---------------------------------------------------------------------

    def _add(self, subject: str, predicate: str, obj: str) -> None:
        if len(obj) > LARGE_VALUE_CHARS:
            value = large_value(self.artifact_dir / "values", self.iri, subject, predicate, obj)
            value.write()
            self._buffer += [line + "\n" for line in (value.preview, *value.lines)]
            return
        self._buffer.append(f"<{subject}> <{predicate}> {obj} .\n")

    def _type(self, subject: str, *classes: str) -> None:
        for cls in classes:
            self._buffer.append(f"<{subject}> {_TYPE} <{cls}> .\n")

    def flush(self) -> None:
        for node, points in self._series_points.items():
            # The epochs logged since the last flush, as one chunk that ingest merges into the series.
            self._buffer.append(f"<{node}> <{MLPROV}seriesChunk> {series.literal(points)} .\n")
        self._series_points.clear()
        if self._buffer:
            append_locked(self.journal_path, "".join(self._buffer).encode("utf-8"))
            self._buffer.clear()
        self._flushed_at = time.monotonic()

    # -- run description -------------------------------------------------------------

    def _describe_run(self, title: str, plan_digest: str) -> None:
        import getpass

        run = self.iri
        person = AGENT_BASE + "person:" + _slug(os.environ.get("MLPROV_AGENT") or getpass.getuser())
        software = AGENT_BASE + f"software:mlprov-rdf-{__version__}"
        association = f"{run}/association"
        self._type(run, PROV + "Activity", REPR + "Trial", MLS + "Run")
        self._add(run, RDFS + "label", _lit(f"{title}, run {self.started:%Y-%m-%d %H:%M:%S}"))
        self._add(run, MLPROV + "plan", _iri(self.plan))
        self._add(run, MLPROV + "planDigest", _lit(plan_digest))
        self._add(run, PROV + "startedAtTime", _lit(self.started))
        self._add(run, PROV + "qualifiedAssociation", _iri(association))
        self._type(association, PROV + "Association")
        self._add(association, PROV + "agent", _iri(person))
        self._add(association, PROV + "hadPlan", _iri(self.plan))
        for agent, cls, label in (
            (person, PROV + "Person", person.rsplit(":", 1)[1]),
            (software, PROV + "SoftwareAgent", f"mlprov-rdf {__version__}"),
        ):
            self._add(run, PROV + "wasAssociatedWith", _iri(agent))
            self._type(agent, PROV + "Agent", cls)
            self._add(agent, RDFS + "label", _lit(label))
        self._add(software, MLPROV + "version", _lit(__version__))
        self._describe_notebook()
        self._describe_environment()

    def _describe_notebook(self) -> None:
        path = os.environ.get("MLPROV_NOTEBOOK") or os.environ.get("JPY_SESSION_NAME")
        if not path:
            return
        notebook = f"{self.iri}/notebook"
        self._type(notebook, PROV + "Entity", REPR + "Notebook")
        self._add(notebook, RDFS + "label", _lit(Path(path).name))
        if Path(path).is_file():
            self._add(notebook, MLPROV + "sha256", _lit(hashlib.sha256(Path(path).read_bytes()).hexdigest()))
        self._add(self.iri, PROV + "used", _iri(notebook))

    def _environment_node(self, kind: str, classes: Iterable[str], label: str, **values: Any) -> str:
        """A part of the environment: a node named by its description (``vocab.env_iri``),
        which ingest keeps once for every run that had it; the run links it. No
        ``prov:Entity``: every class here implies it (the ontology)."""
        description = [f"<{RDF}type> <{cls}>" for cls in classes]
        description.append(f"<{RDFS}label> {_lit(label)}")
        description += [f"<{MLPROV}{name}> {_lit(value)}" for name, value in values.items() if value not in (None, "")]
        node = env_iri(kind, description)
        self._buffer += [f"<{node}> {line} .\n" for line in description]
        self._add(self.iri, REPR + "hasSetting", _iri(node))
        return node

    def _describe_environment(self) -> None:
        import importlib.metadata
        import platform

        import psutil  # a dependency of mlprov-rdf; imported here to keep module import fast

        python = platform.python_version()
        self._environment_node("python", [REPR + "ProgrammingLanguage"], f"Python {python}", version=python)
        try:
            kernel_version = importlib.metadata.version("ipykernel")
        except importlib.metadata.PackageNotFoundError:
            kernel_version = ""
        self._kernel = self._environment_node(
            "kernel", [PROV + "SoftwareAgent", REPR + "Kernel"], f"python3 (ipykernel {kernel_version})", version=kernel_version
        )
        self._add(self.iri, PROV + "wasAssociatedWith", _iri(self._kernel))
        self._environment_node(
            "os",
            [REPR + "OperatingSystem"],
            f"{platform.system()} {platform.release()} ({platform.machine()})",
            version=platform.version(),
        )
        memory = psutil.virtual_memory().total
        cores = psutil.cpu_count(logical=True) or 0
        self._environment_node(
            "hardware",
            [MLPROV + "Hardware"],
            f"{platform.machine()}, {cores} cores, {memory / 2**30:.1f} GiB",
            cpuModel=_cpu_model(),
            cpuCores=cores,
            memoryBytes=memory,
        )

    def _describe_gpu(self) -> None:
        """The GPU, once torch is imported: hardware of its own, since the CPU's is written at the start."""
        torch = sys.modules.get("torch")
        if torch is None or self._gpu_checked:
            return
        self._gpu_checked = True
        if torch.cuda.is_available():
            model, cuda = torch.cuda.get_device_name(0), torch.version.cuda or ""
            self._environment_node("gpu", [MLPROV + "Hardware"], f"{model} (CUDA {cuda})", gpuModel=model, cudaVersion=cuda)

    def _describe_packages(self) -> None:
        modules = set(sys.modules)
        new = {name.partition(".")[0] for name in modules - self._seen_modules}
        self._seen_modules = modules
        new -= set(sys.stdlib_module_names)
        if not new:
            return
        owners, versions = _distributions()
        for module in sorted(new):
            for dist in owners.get(module, ()):
                if dist in self._seen_distributions or dist not in versions:
                    continue
                self._seen_distributions.add(dist)
                version = versions[dist]
                self._environment_node("package", [REPR + "Package"], f"{dist} {version}", packageName=dist, version=version)

    # -- cells -----------------------------------------------------------------------

    def _begin_cell(self, code: str) -> None:
        self._cell_count += 1
        cell = f"{self.iri}/cell/{self._cell_count}"
        self._cell, self._cell_started = cell, time.perf_counter()
        first, _, body = code.partition("\n")
        match = _STEP_LINE.match(first.strip())
        step = match.group(1) if match and match.group(1) in self.steps else None
        if step:
            kind = "StepCell"
        elif first.startswith((PARAMETERS_MARKER, "# Parameters")):  # ours, or papermill's injected cell
            kind = "ParametersCell"
        else:
            kind = "AddedCell"
        if step and step != next(iter(self.steps)) and not self._settings_recorded:
            self._record_settings()
        self._type(cell, PROV + "Activity", REPR + "CellExecution")
        label = f"{self._cell_count}. {self.steps[step]}" if step else f"{self._cell_count}. {kind[:-4].lower()} cell"
        self._add(cell, RDFS + "label", _lit(label))
        self._add(cell, DCTERMS + "isPartOf", _iri(self.iri))
        self._add(cell, MLPROV + "executionOrder", _lit(self._cell_count))
        self._add(cell, MLPROV + "cellKind", _iri(MLPROV + kind))
        self._add(cell, PROV + "startedAtTime", _lit(_now()))
        self._add(cell, PROV + "wasAssociatedWith", _iri(self._kernel))
        self._add(cell, MLPROV + "sourceCode", _lit(code))
        self._add(cell, MLPROV + "codeHash", _lit(hashlib.sha256(code.encode("utf-8")).hexdigest()))
        if step:
            self._add(cell, PPLAN + "correspondsToStep", _iri(step))
            drifted = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12] != match.group(2)
            self._add(cell, MLPROV + "codeDrifted", _lit(drifted))
        if self._previous_cell:
            self._add(cell, PROV + "wasInformedBy", _iri(self._previous_cell))
        self._cell_step = step
        self.flush()
        if self._energy is not None:
            self._energy.start()
        self._meter.start()  # last: the cell's own use, not the recording's

    def _end_cell(self, error: BaseException | None) -> None:
        cell = self._cell
        if cell is None:
            return
        usage = self._meter.stop()
        energy = self._energy.stop() if self._energy is not None else None
        self._add(cell, PROV + "endedAtTime", _lit(_now()))
        self._add(cell, MLPROV + "duration", _decimal(time.perf_counter() - self._cell_started))
        self._record_usage(cell, usage)
        if energy is not None:
            self._record_energy(cell, energy)
        if error is None:
            self._add(cell, MLPROV + "status", _iri(MLPROV + "Completed"))
            if self._cell_step:
                self._completed_steps.add(self._cell_step)
            if self._cell_step in self.outputs:
                self._record_outputs(cell, self.outputs[self._cell_step])
        else:
            # An interrupt (the frontend's stop button, mlprov run's Ctrl-C, SIGTERM or timeout)
            # stops the cell, as a kernel cut off does; it is not the code's failure.
            status = "Interrupted" if isinstance(error, KeyboardInterrupt) else "Failed"
            self._add(cell, MLPROV + "status", _iri(MLPROV + status))
            self._add(cell, MLPROV + "error", _lit(f"{type(error).__name__}: {error}"[:2000]))
        self._describe_packages()
        self._describe_gpu()
        if not self._finished and self._completed_steps >= set(self.steps):
            self._finished = True
            end = _now()
            self._add(self.iri, PROV + "endedAtTime", _lit(end))
            self._add(self.iri, MLPROV + "duration", _decimal((end - self.started).total_seconds()))
            self._add(self.iri, MLPROV + "status", _iri(MLPROV + "Completed"))
        self._previous_cell, self._cell = cell, None
        self.flush()

    def _record_usage(self, cell: str, usage: CellUsage) -> None:
        """The cell's CPU time and peaks; the run's totals and peaks so far (single-valued: the last wins)."""
        self._add(cell, MLPROV + "cpuUserTime", _decimal(usage.cpu_user_s))
        self._add(cell, MLPROV + "cpuSystemTime", _decimal(usage.cpu_system_s))
        memory = "peakMemory" if usage.peak_rss_scope == "cell" else "processPeakMemory"
        if usage.peak_rss_bytes is not None:
            self._add(cell, MLPROV + memory, _lit(usage.peak_rss_bytes))
        if usage.gpu_peak_bytes is not None:
            self._add(cell, MLPROV + "peakGpuMemory", _lit(usage.gpu_peak_bytes))
            self._add(cell, MLPROV + "gpuMemoryMethod", _lit(GPU_METHODS[usage.gpu_method]))
        total = self._usage
        total["cpuUserTime"] += usage.cpu_user_s
        total["cpuSystemTime"] += usage.cpu_system_s
        total[memory] = max(total.get(memory) or 0, usage.peak_rss_bytes or 0)
        if usage.gpu_peak_bytes is not None:
            total["peakGpuMemory"] = max(total.get("peakGpuMemory") or 0, usage.gpu_peak_bytes)
        for name, value in total.items():
            self._add(self.iri, MLPROV + name, _decimal(value) if name.startswith("cpu") else _lit(value))

    def _open_energy(self) -> None:
        """codecarbon's estimates when MLPROV_ENERGY asks for them: how they are made, or why there are none."""
        from .cell_energy import EnergyMeter, requested

        if not requested():
            return
        self._energy, why = EnergyMeter.open()
        if self._energy is None:
            print(f"mlprov: no energy estimates for this run: {why}")
            self._add(self.iri, MLPROV + "energyUnavailable", _lit(why))
        else:
            self._add(self.iri, MLPROV + "energyMethod", _lit(self._energy.method))

    def _record_energy(self, cell: str, energy: CellEnergy) -> None:
        """The cell's kWh and kg CO2eq; the run's sums so far (single-valued: the last wins)."""
        self._add(cell, MLPROV + "energyConsumed", _lit(energy.kwh))
        self._add(cell, MLPROV + "carbonEmissions", _lit(energy.kg_co2eq))
        total = self._energy_total
        total[0] += energy.kwh
        total[1] += energy.kg_co2eq
        self._add(self.iri, MLPROV + "energyConsumed", _lit(total[0]))
        self._add(self.iri, MLPROV + "carbonEmissions", _lit(total[1]))

    def _record_settings(self) -> None:
        """The parameter values in force when the first step after the parameters runs.

        The code reads a parameter as a variable (papermill may have overridden it), except a
        fixed one: the plan's value chose which code the notebook holds, so it is a constant
        there and its plan value is what the run used.
        """
        self._settings_recorded = True
        namespace = _user_namespace()
        for name, variable in self.parameters.items():
            if name in namespace and name not in self.fixed:
                self._record_setting(name, namespace[name], variable)
        for name, value in self.fixed.items():
            self._record_setting(name, value, self.parameters.get(name, ""))

    def _record_setting(self, name: str, value: Any, variable: str) -> None:
        """``variable`` is "" when the plan did not set the parameter (the task default applies)."""
        node = f"{self.iri}/setting/{_slug(name)}"
        self._type(node, MLS + "HyperParameterSetting")
        self._add(node, RDFS + "label", _lit(f"{name} = {value!r}"))
        if variable:
            self._add(node, PPLAN + "correspondsToVariable", _iri(variable))
        self._add(node, MLPROV + "parameterName", _lit(name))
        self._add(node, MLS + "hasValue", _lit(value))
        self._add(self.iri, MLS + "hasInput", _iri(node))
        if name == "seed":
            self._add(self.iri, MLPROV + "seed", _lit(value))

    def _record_outputs(self, cell: str, names: dict[str, str]) -> None:
        """The values a code step's cell left in its output variables, one entity each.

        A name the code did not define is noted on the cell; it does not fail the run.
        """
        namespace = _user_namespace()
        for name, variable in names.items():
            if name not in namespace:
                self._add(cell, MLPROV + "missingOutput", _lit(name))
                continue
            value = namespace[name]
            node = f"{cell}/output/{_slug(name)}"
            self._type(node, PROV + "Entity", PPLAN + "Entity")
            if variable:
                self._add(node, PPLAN + "correspondsToVariable", _iri(variable))
            self._add(node, MLPROV + "parameterName", _lit(name))
            scalar = _scalar(value)
            if scalar is not None:
                shown = repr(scalar) if len(repr(scalar)) <= 80 else repr(scalar)[:79] + "…"
                self._add(node, RDFS + "label", _lit(f"{name} = {shown}"))
                self._add(node, PROV + "value", _lit(scalar))
            else:
                kind = _type_name(value)
                self._add(node, RDFS + "label", _lit(f"{name} ({kind})"))
                self._add(node, MLPROV + "valueType", _lit(kind))
                self._add(node, MLPROV + "sha256", _lit(hashlib.sha256(_stable_bytes(value)).hexdigest()))
            self._add(node, PROV + "wasGeneratedBy", _iri(cell))

    # -- what templates log ----------------------------------------------------------

    def _generated(self, node: str, *, output: bool = False) -> None:
        """``output``: a result of the run in ML-Schema's sense (model, evaluation)."""
        if output:
            self._add(self.iri, MLS + "hasOutput", _iri(node))
        if self._cell:
            self._add(node, PROV + "wasGeneratedBy", _iri(self._cell))

    def use(self, *nodes: str) -> None:
        """Record that the running cell used these entities."""
        if self._cell:
            for node in nodes:
                if node:
                    self._add(self._cell, PROV + "used", _iri(node))

    def log_dataset(
        self,
        name: str,
        *,
        source: str,
        classes: list,
        features: Any = None,
        labels: Any = None,
        files: Iterable[str | Path] = (),
        sample_count: int | None = None,
        feature_count: int | None = None,
    ) -> str:
        """A data set, hashed from its arrays (tabular data) or its files (image data sets)."""
        node = f"{self.iri}/data/{_slug(name)}"
        self._type(node, MLS + "Dataset")
        self._add(node, RDFS + "label", _lit(name))
        self._add(node, DCTERMS + "identifier", _lit(name))
        self._add(node, DCTERMS + "source", _lit(source))
        digest = _sha256_of(features, labels, files)
        self._data_hashes[node] = digest
        self._add(node, MLPROV + "sha256", _lit(digest))
        if sample_count is None and labels is not None:
            sample_count = len(labels)
        if sample_count is not None:
            self._add(node, MLPROV + "sampleCount", _lit(sample_count))
        shape = getattr(features, "shape", None)
        if feature_count is None and shape is not None and len(shape) > 1:
            feature_count = math.prod(shape[1:])
        if feature_count is not None:
            self._add(node, MLPROV + "featureCount", _lit(feature_count))
        self._add(node, MLPROV + "classCount", _lit(len(classes)))
        self._generated(node)
        return node

    def log_preparation(self, **operations: Any) -> str:
        """What was done to the data before training, as name = value operations."""
        node = f"{self.iri}/preparation"
        self._type(node, PROV + "Entity", PPLAN + "Entity")
        self._add(node, RDFS + "label", _lit(", ".join(f"{k} = {v}" for k, v in operations.items())))
        for key, value in operations.items():
            self._add(node, MLPROV + "operation", _lit(f"{key}={value}"))
        self._generated(node)
        return node

    def log_split(
        self,
        name: str,
        *,
        derived_from: str,
        features: Any = None,
        labels: Any = None,
        indices: Any = None,
        sample_count: int | None = None,
    ) -> str:
        """A split of a data set, hashed from its arrays or from the indices it takes."""
        node = f"{derived_from}/{_slug(name)}"
        self._type(node, MLS + "Dataset", MLPROV + "DataSplit")
        self._add(node, RDFS + "label", _lit(f"{name} split"))
        self._add(node, MLPROV + "splitName", _lit(name))
        if sample_count is None:
            sample_count = len(labels) if labels is not None else len(indices)
        self._add(node, MLPROV + "sampleCount", _lit(sample_count))
        if indices is not None:
            # The parent's content hash, not its IRI: the same split of the same data
            # gives the same hash in every run.
            parent = self._data_hashes.get(derived_from, derived_from)
            digest = hashlib.sha256(parent.encode() + _bytes_of(list(indices))).hexdigest()
        else:
            digest = _sha256_of(features, labels, ())
        self._add(node, MLPROV + "sha256", _lit(digest))
        self._add(node, PROV + "wasDerivedFrom", _iri(derived_from))
        self.use(derived_from)
        self._generated(node)
        return node

    def artifact_path(self, name: str | Path) -> Path:
        """Where the run writes a file it keeps (a figure, a checkpoint): ``name`` in the run's own
        folder of the store's artifacts (as mlflow's artifact_uri), never the working directory."""
        return _file_in(self.artifact_dir, name)

    def log_artifact(self, path: str | Path, *, label: str, kind: str = "file", derived_from: str | None = None) -> str:
        """A file the notebook wrote (a figure, a checkpoint), with its sha256.

        A file outside the run's artifact folder is copied into it (the user's file stays where
        it is) and the record names the stored copy, as ``mlflow.log_artifact`` does.
        """
        path = Path(path).absolute()
        if not path.is_relative_to(self.artifact_dir):
            import shutil

            path = Path(shutil.copyfile(path, self.artifact_path(path.name)))
        node = f"{self.iri}/artifact/{_slug(path.relative_to(self.artifact_dir).as_posix())}"
        self._type(node, MLPROV + "Artifact")
        self._add(node, RDFS + "label", _lit(label))
        self._add(node, MLPROV + "artifactKind", _lit(kind))
        self._add(node, PROV + "atLocation", _iri(path.as_uri()))  # a prov:Location, not text
        self._add(node, MLPROV + "sha256", _lit(_file_sha256(path)))
        if derived_from:
            self._add(node, PROV + "wasDerivedFrom", _iri(derived_from))
            self.use(derived_from)
        self._generated(node, output=True)
        return node

    def log_input_file(self, path: str | Path, *, label: str, kind: str = "file") -> str:
        """A file the notebook read that is not a data set (pretrained weights), with its sha256."""
        path = Path(path)
        digest = _file_sha256(path)
        node = f"{self.iri}/input/{_slug(path.name)}"
        self._type(node, MLPROV + "Artifact")
        self._add(node, RDFS + "label", _lit(label))
        self._add(node, MLPROV + "artifactKind", _lit(kind))
        self._add(node, PROV + "atLocation", _iri(path.absolute().as_uri()))  # a prov:Location, not text
        self._add(node, MLPROV + "sha256", _lit(digest))
        self.use(node)
        return node

    def log_model(self, model: Any, *, name: str, derived_from: str | None = None, revision_of: str | None = None) -> str:
        node = f"{self.iri}/model/{_slug(name)}"
        self._type(node, MLS + "Model")
        self._add(node, RDFS + "label", _lit(name))
        self._add(node, MLPROV + "architecture", _lit(repr(model)))
        if hasattr(model, "parameters"):
            self._add(node, MLPROV + "parameterCount", _lit(sum(p.numel() for p in model.parameters())))
        for source, prop in ((derived_from, "wasDerivedFrom"), (revision_of, "wasRevisionOf")):
            if source:
                self._add(node, PROV + prop, _iri(source))
                self.use(source)
        self._generated(node, output=True)
        return node

    def log_metric(
        self,
        name: str,
        value: Any,
        *,
        split: str | None = None,
        epoch: int | None = None,
        for_class: str | None = None,
        model: str | None = None,
    ) -> str:
        """One evaluation value; ``epoch`` makes it a point of the measure's per-epoch series: one
        node per measure and split, its points journaled as chunks at each flush (see ``series``)."""
        node = f"{self.iri}/metric/{_slug(name)}"
        node += f"/{_slug(split)}" if split else ""
        node += f"/class/{_slug(for_class)}" if for_class is not None else ""
        node += series.SERIES_SEGMENT if epoch is not None else ""
        step = self._cell_step
        if self._metric_steps.setdefault(node, step) != step and step in self.steps:
            # A second step of the same class (two evaluations): its own evaluation, never the first's value replaced.
            node += f"/step/{list(self.steps).index(step) + 1}"
        if epoch is not None:
            # One series node per measure and split: its points wait for the next flush (see series).
            points = self._series_points.setdefault(node, [])
            points.append((int(epoch), _scalar(value)))
            if len(points) > 1 or (node, self._cell) in self._series_described:
                if time.monotonic() - self._flushed_at > EPOCH_FLUSH_S:
                    self.flush()  # a long training loop: its epochs reach the journal (mlprov run's progress) as they come
                return node
            self._series_described.add((node, self._cell))
        # mls:ModelEvaluation only: its prov:Entity follows from the ontology, no query asks for it, and
        # exports write it out (export.with_implied_types).
        self._buffer.append(
            f"<{node}> {_TYPE} <{MLS}ModelEvaluation> .\n<{node}> <{MLS}specifiedBy> <{MLPROV}{_slug(name)}> .\n"
        )
        if epoch is None:
            self._add(node, MLS + "hasValue", _lit(value))
            shown = f"{value:.4g}" if isinstance(value, numbers.Real) else "…"
            self._add(node, RDFS + "label", _lit(f"{name}{f' ({for_class})' if for_class is not None else ''} = {shown}"))
        if split:
            self._add(node, MLPROV + "splitName", _lit(split))
        if for_class is not None:
            self._add(node, MLPROV + "forClass", _lit(str(for_class)))
        if model:
            self._add(node, PROV + "wasDerivedFrom", _iri(model))
        if model:
            self.use(model)
        self._generated(node, output=True)
        return node

    def close(self) -> None:
        self.flush()


class NullRun:
    """Stands in for a Run when capture is off: same calls, nothing recorded."""

    iri = ""
    id = ""
    _folder: Path | None = None

    def artifact_path(self, name: str | Path) -> Path:
        """A fresh temporary folder, removed when the kernel exits: nothing is recorded, so
        nothing is kept, and the working directory is not littered."""
        if self._folder is None:
            import atexit
            import shutil
            import tempfile

            self._folder = Path(tempfile.mkdtemp(prefix="mlprov-unrecorded-"))
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return _file_in(self._folder, name)

    def __getattr__(self, name: str):
        if name.startswith("log_") or name in ("use", "close", "flush"):
            return lambda *args, **kwargs: ""
        raise AttributeError(name)


# -- IPython glue --------------------------------------------------------------------


def _user_namespace() -> dict:
    ip = _ipython()
    return ip.user_ns if ip is not None else {}


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _pre_run_cell(info) -> None:
    if _current is not None:
        _current._begin_cell(info.raw_cell)


def _post_run_cell(result) -> None:
    if _current is not None:
        error = result.error_before_exec or result.error_in_exec
        _current._end_cell(error)


def start(
    *,
    plan: str,
    title: str,
    plan_digest: str,
    steps: dict[str, str],
    parameters: dict[str, str],
    fixed: dict[str, Any] | None = None,
    outputs: dict[str, dict[str, str]] | None = None,
) -> Run:
    """Begin recording a run; called from the first cell of a generated notebook.

    ``parameters``: name → plan variable IRI ("" when the plan left the task default) of each
    parameter the code reads. ``fixed``: name → plan value of each parameter that chose the
    notebook's code. ``outputs``: code step IRI → {Python name: plan variable IRI} recorded
    after that step's cell.
    """
    global _current
    if _current is not None:
        _current.close()
    if os.environ.get("MLPROV_CAPTURE", "").lower() in ("off", "0", "false"):
        print("mlprov: capture is off (MLPROV_CAPTURE); nothing is recorded")
        _current = None
        return NullRun()  # type: ignore[return-value]
    run = Run(plan, title, plan_digest, steps, parameters, fixed, outputs)
    _current = run
    ip = _ipython()
    if ip is not None:
        for event, hook in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
            if hook not in ip.events.callbacks[event]:
                ip.events.register(event, hook)
        # The cell that called start() is running: record it from its beginning.
        run._begin_cell(ip.user_ns["In"][-1] if ip.user_ns.get("In") else "")
    print(f"mlprov: recording run {run.iri} (journal: {run.journal_path})")
    return run


_DISTRIBUTIONS: tuple[dict[str, list[str]], dict[str, str]] | None = None


def _distributions() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Top-level module → distributions, and each distribution's version; cached on disk
    while sys.path's folders are unchanged.

    Scanning every installed distribution takes ~0.2 s with torch installed, and asking for
    one version ~2 ms: more than the rest of capture costs in a whole run, so both are read
    once per environment.
    """
    global _DISTRIBUTIONS
    if _DISTRIBUTIONS is None:
        # Installed distributions live in site-packages folders, whose mtime changes when one
        # is installed, upgraded or removed; other sys.path entries (the notebook's folder)
        # change all the time and hold none.
        folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
        key = hashlib.sha256(repr([(p, os.stat(p).st_mtime_ns) for p in folders]).encode()).hexdigest()[:16]
        cache = _journal_dir() / f".distributions-{key}.json"
        try:
            owners, versions = json.loads(cache.read_text(encoding="utf-8"))
            _DISTRIBUTIONS = owners, versions
        except (OSError, ValueError):
            import importlib.metadata

            versions = {}
            for dist in importlib.metadata.distributions():  # the first on sys.path wins, as import finds it
                name = dist.metadata["Name"]
                if name:
                    versions.setdefault(name, dist.version)
            _DISTRIBUTIONS = importlib.metadata.packages_distributions(), versions
            try:
                cache.write_text(json.dumps(_DISTRIBUTIONS), encoding="utf-8")
            except OSError:
                pass
    return _DISTRIBUTIONS


def _cpu_model() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
