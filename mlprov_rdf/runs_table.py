"""The runs table: one row a run, a column for each setting and result any run records.

Built from the run's direct values (``param:NAME``, ``metric/SPLIT#NAME``, see
docs/data-model.md) and its record fields: one query reads the record fields
(``runs_table_queries/records.rq``), one the plans' titles, one finds the properties runs have
(``runs_table_queries/columns.rq``) and one reads those that make columns from the predicate index
(``runs_table_queries/values.rq``, one statement a row, pivoted here); runs added later are read by their
IRIs (``runs_table_queries/statements.rq``). The caller keeps the table until the
store changes and then reads only the runs added since; filters, sorts, pages and CSV work on
it in memory. Columns have the names the CLI uses, in URLs too: a setting by its name
(``epochs``), a result as ``SPLIT:NAME`` (``test:accuracy``, ``metric:NAME`` without a
split), the record fields by fixed names (``run``, ``title``, ``status`` ...).
"""

from __future__ import annotations

import logging
import math
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence
from urllib.parse import unquote

import pandas as pd
import pyoxigraph as ox

from . import queries, stoppable_query, vocab
from .errors import UserError
from .store import StoreLocation

if TYPE_CHECKING:
    from .store import RemoteStore, Store

log = logging.getLogger(__name__)

_QUERIES = Path(__file__).with_name("runs_table_queries")
_VALUES_QUERY = _QUERIES / "values.rq"
_METRIC = "https://w3id.org/mlprov/metric"
_RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
_NUMBER_TYPES = {vocab.XSD + t for t in ("integer", "decimal", "double", "float", "int", "long", "short",
                                          "nonNegativeInteger", "positiveInteger")}

#: The record fields, by column name: the property each comes from and its type.
RECORD_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("http://purl.org/dc/terms/title", "text"),
    "status": (vocab.MLPROV + "status", "text"),
    "started": ("http://www.w3.org/ns/prov#startedAtTime", "time"),
    "ended": ("http://www.w3.org/ns/prov#endedAtTime", "time"),
    "duration": (vocab.MLPROV + "duration", "number"),
    "plan": (vocab.MLPROV + "plan", "text"),
    "sweep": (vocab.MLPROV + "partOfSweep", "text"),  # the `mlprov sweep` that ran it, if one did
}
#: Record fields shown when the URL chooses no columns (``plan``, ``ended`` and ``sweep`` are one click away).
DEFAULT_RECORD_FIELDS = ("title", "status", "started", "duration")
#: A text column with at most this many distinct values is filtered by choosing among them.
FEW_CHOICES = 12
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Column:
    """One column: its URL name, what it holds (``record``, ``setting``, ``result``) and its type
    (``number``, ``text``, ``boolean``, ``time``; ``json`` for list and matrix values, shown as text)."""

    name: str
    group: str
    type: str
    choices: tuple[str, ...] = ()  # the distinct values of a text or boolean column, when few


@dataclass(frozen=True)
class Filter:
    """Rows whose ``column`` value is in a range, one of some values, or contains a text."""

    column: Column
    low: object = None
    high: object = None
    alternatives: tuple[object, ...] = ()  # values as the column holds them
    contains: str | None = None

    def mask(self, values: pd.Series) -> pd.Series:
        keep = pd.Series(True, index=values.index)
        if self.low is not None:
            keep &= (values >= self.low).fillna(False).astype(bool)
        if self.high is not None:
            keep &= (values <= self.high).fillna(False).astype(bool)
        if self.alternatives:
            keep &= values.isin(self.alternatives).fillna(False).astype(bool)
        if self.contains is not None:
            text = values.astype("string").str.contains(self.contains, case=False, regex=False)
            keep &= text.fillna(False).astype(bool)
        return keep


@dataclass(frozen=True)
class View:
    """What one request asks of the table: filters, sort, shown columns and page."""

    filters: tuple[Filter, ...] = ()
    sort: str | None = None  # a column name; None keeps the newest runs first
    descending: bool = False
    columns: tuple[Column, ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass
class Selection:
    """The rows a view selects: one page of them, and how many match in all."""

    view: View
    page: pd.DataFrame
    total: int

    @property
    def has_next(self) -> bool:
        return self.view.offset + len(self.page) < self.total


@dataclass
class RunsTable:
    """Every run, newest first: ``frame`` has the run IRI in ``run`` and one column a name."""

    frame: pd.DataFrame
    columns: dict[str, Column] = field(default_factory=dict)
    pivot: "_Pivot" = field(default=None, repr=False)  # what the frame was made of, for adding runs

    def column(self, name: str, where: str) -> Column:
        found = self.columns.get(name)
        if found is None:
            raise UserError(f"{where}: no column {name!r}; the columns are {', '.join(self.columns)}")
        return found

    @property
    def default_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns.values()
                     if c.name in DEFAULT_RECORD_FIELDS or (c.group != "record" and c.type != "json"))

    def view(self, params: Mapping[str, Sequence[str]]) -> View:
        """The view the URL parameters ask for (the scheme in docs/architecture.md): ``sort=[-]COL``,
        ``min.COL``/``max.COL`` (numbers, times), ``f.COL`` repeated (alternatives),
        ``q.COL`` (contains), ``col`` repeated (shown columns), ``limit``, ``offset``.
        Blank values are left out, as an empty form field sends them; anything else that
        does not fit is a UserError naming the parameter."""
        filters: dict[str, dict] = {}
        sort, descending, shown = None, False, []
        limit, offset = DEFAULT_LIMIT, 0
        for key, raws in params.items():
            values = [v.strip() for v in raws if v.strip()]
            if not values:
                continue
            prefix, dot, name = key.partition(".")
            if dot and prefix in ("min", "max", "f", "q"):
                column = self.column(name, key)
                spec = filters.setdefault(name, {"column": column})
                if prefix in ("min", "max"):
                    if column.type not in ("number", "time"):
                        raise UserError(f"{key}: {name} is a {column.type} column; ranges are for numbers and times, use f.{name} or q.{name}")
                    spec["low" if prefix == "min" else "high"] = _parse(column, values[-1], key)
                elif prefix == "f":
                    spec["alternatives"] = tuple(_parse(column, raw, key) for raw in values)
                else:
                    if column.type not in ("text", "json"):
                        raise UserError(f"{key}: {name} is a {column.type} column; 'contains' is for text, use min.{name}/max.{name} or f.{name}")
                    spec["contains"] = values[-1]
            elif key == "sort":
                descending = values[-1].startswith("-")
                sort = self.column(values[-1].lstrip("-"), "sort").name
            elif key == "col":
                shown = [self.column(v, "col") for v in values]
            elif key in ("limit", "offset"):
                number = _whole(values[-1], key)
                if key == "limit":
                    if not 1 <= number <= MAX_LIMIT:
                        raise UserError(f"limit: give 1 to {MAX_LIMIT} rows a page, not {number}")
                    limit = number
                else:
                    offset = number
            else:
                raise UserError(f"{key}: unknown parameter; use sort, col, limit, offset, min.COL, max.COL, f.COL or q.COL")
        return View(
            filters=tuple(Filter(**spec) for spec in filters.values()),
            sort=sort, descending=descending,
            columns=tuple(dict.fromkeys(shown)) if shown else self.default_columns,
            limit=limit, offset=offset,
        )

    def matching(self, view: View) -> pd.DataFrame:
        """Every row the view's filters keep, in its order (missing values last either way)."""
        frame = self.frame
        if view.filters:
            keep = pd.Series(True, index=frame.index)
            for f in view.filters:
                keep &= f.mask(frame[f.column.name])
            frame = frame[keep]
        if view.sort is not None:
            column = self.columns[view.sort]
            key = (lambda s: s.astype("string").str.lower()) if column.type in ("text", "json") else None
            frame = frame.sort_values(view.sort, ascending=not view.descending, na_position="last", kind="stable", key=key)
        return frame

    def select(self, view: View) -> Selection:
        frame = self.matching(view)
        return Selection(view=view, page=frame.iloc[view.offset:view.offset + view.limit], total=len(frame))

    def csv(self, view: View) -> str:
        """The filtered, sorted table (every matching row, not a page) with the view's columns."""
        frame = self.matching(view)
        names = ["run", *(c.name for c in view.columns)]
        return frame[names].to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")


def _whole(raw: str, key: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise UserError(f"{key}: {raw!r} is not a whole number") from None
    if number < 0:
        raise UserError(f"{key}: {raw!r} is negative")
    return number


def _parse(column: Column, raw: str, key: str) -> object:
    """A URL value as the column's type holds it, for comparing."""
    if column.type == "number":
        try:
            number = float(raw)
        except ValueError:
            raise UserError(f"{key}: {raw!r} is not a number ({column.name} is a number column)") from None
        if math.isnan(number):
            raise UserError(f"{key}: {raw!r} is not a number ({column.name} is a number column)")
        return number
    if column.type == "time":
        try:
            stamp = pd.Timestamp(raw)
        except ValueError:
            raise UserError(f"{key}: {raw!r} is not a date or time (write 2026-11-23 or 2026-11-23T19:42)") from None
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if column.type == "boolean":
        if raw.lower() not in ("true", "false"):
            raise UserError(f"{key}: {raw!r} is not true or false ({column.name} is a boolean column)")
        return raw.lower() == "true"
    return raw


# -- building -------------------------------------------------------------------------------

_COLUMNS_QUERY = _QUERIES / "columns.rq"
_RUNS_QUERY = _QUERIES / "runs.rq"
_RECORDS_QUERY = _QUERIES / "records.rq"
_TITLES_QUERY = _QUERIES / "titles.rq"
_STATEMENTS_QUERY = _QUERIES / "statements.rq"
_TITLE = ox.NamedNode(RECORD_FIELDS["title"][0])


@dataclass
class _Pivot:
    """The table before it is a frame: each run's values by column name, the types and
    groups seen. Kept with the table, so that runs added later are pivoted on their own."""

    records: dict[str, dict[str, object]] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    def add(self, rows: Iterable[Sequence[ox.NamedNode | ox.Literal]]) -> None:
        fields = {prop: name for name, (prop, _) in RECORD_FIELDS.items()}
        for run, prop, term in rows:
            if prop.value in fields:
                name, group = fields[prop.value], "record"
            else:
                named = _column_name(prop.value)
                if named is None:
                    continue
                name, group = named
                if name in RECORD_FIELDS or name == "run":
                    name = "param:" + name
            value, kind = _value(term)
            if name == "status" and isinstance(value, str):
                value = value.rpartition("#")[2]
            self.records.setdefault(run.value, {"run": run.value}).setdefault(name, value)
            self.types.setdefault(name, set()).add(kind)
            self.groups.setdefault(name, group)

    def without(self, runs: set[str]) -> "_Pivot":
        return _Pivot({r: v for r, v in self.records.items() if r not in runs},
                      {n: set(k) for n, k in self.types.items()}, dict(self.groups))

    def merged(self, other: "_Pivot") -> "_Pivot":
        types = {n: set(k) for n, k in self.types.items()}
        for name, kinds in other.types.items():
            types.setdefault(name, set()).update(kinds)
        return _Pivot({**self.records, **other.records}, types, {**other.groups, **self.groups})


def load_runs_table(location: StoreLocation, *, timeout_s: float, previous: "RunsTable | None" = None) -> RunsTable:
    """The table, read within the time limit (in a child process, as every query is).

    Given the table built before, only the runs added since are read and the runs gone are
    dropped: the child sends back only those, so bringing a table of 10,000 runs up to date
    after a few new runs costs a fraction of building it (docs/performance.md).
    """
    known = set(previous.pivot.records) if previous is not None else None

    def job(store) -> bytes:
        return pickle.dumps(_changes(store, known), protocol=pickle.HIGHEST_PROTOCOL)

    added, gone = pickle.loads(stoppable_query.run_in_child(location, job, timeout_s=timeout_s, label="runs table"))
    return _updated(previous, added, gone)


def read_runs_table(store: "Store | RemoteStore", previous: "RunsTable | None" = None) -> RunsTable:
    """The table from the store, or ``previous`` with the runs added since and without those gone."""
    known = set(previous.pivot.records) if previous is not None else None
    return _updated(previous, *_changes(store, known))


def _changes(store: "Store | RemoteStore", known: set[str] | None) -> tuple[_Pivot, set[str]]:
    """The runs not in ``known`` (every run for None), pivoted, and the known runs gone.

    A run's row depends only on its bundle and its plan's title, which ingest writes once, so
    the rows of runs already in the table stay as they are.
    """
    added = _Pivot()
    if known is None:
        added.add(_long_form(store, None))
        return added, set()
    now = {row[0].value for row in _query(store, _RUNS_QUERY)}
    new, gone = now - known, known - now
    if new:
        added.add(_long_form(store, sorted(new)))
    log.debug("runs table: %d runs added, %d gone", len(new), len(gone))
    return added, gone


def _updated(previous: "RunsTable | None", added: _Pivot, gone: set[str]) -> RunsTable:
    if previous is None:
        return build_table(added)
    if not added.records and not gone:
        return previous
    return build_table(previous.pivot.without(gone).merged(added))


def _query(store: "Store | RemoteStore", path: Path, **slots: tuple[ox.NamedNode, ...]):
    return store.query(queries.fill_slots(_query_text(path), slots))


@lru_cache(maxsize=None)
def _query_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _long_form(store: "Store | RemoteStore", runs: list[str] | None) -> list[tuple]:
    """(run, property, value) rows of the given runs (every run for None): the record fields
    (one query, a row a run), the plan titles, then the properties that make columns, each
    read from its index. Reading record fields as direct values would read every cell's too."""
    bound = {"run": tuple(ox.NamedNode(r) for r in runs)} if runs is not None else {}
    titles = {row[0].value: row[1] for row in _query(store, _TITLES_QUERY)}
    rows: list[tuple] = []
    fields = [(name, ox.NamedNode(prop)) for name, (prop, _) in RECORD_FIELDS.items() if name != "title"]
    for record in _query(store, _RECORDS_QUERY, **bound):
        run = record["run"]
        rows += [(run, prop, record[name]) for name, prop in fields if record[name] is not None]
        plan = record["plan"]
        if plan is not None and plan.value in titles:
            rows.append((run, _TITLE, titles[plan.value]))
    if runs is not None:  # a few runs: their statements, the direct values kept here
        rows += [tuple(row) for row in _query(store, _STATEMENTS_QUERY, **bound) if _column_name(row[1].value) is not None]
        return rows
    properties = sorted(p for p in (row[0].value for row in _query(store, _COLUMNS_QUERY)) if _column_name(p) is not None)
    if properties:
        rows += [tuple(row) for row in _query(store, _VALUES_QUERY, property=tuple(ox.NamedNode(p) for p in properties))]
    return rows


def _column_name(prop: str) -> tuple[str, str] | None:
    """A direct value's column name and group, or None for a property that is not one."""
    if prop.startswith(vocab.PARAM):
        return unquote(prop[len(vocab.PARAM):]), "setting"
    if prop.startswith(_METRIC):
        split, _, name = prop[len(_METRIC):].partition("#")
        return f"{unquote(split.lstrip('/')) or 'metric'}:{unquote(name)}", "result"
    return None


def _value(term: ox.NamedNode | ox.Literal) -> tuple[object, str]:
    """A term as a Python value and the column type it asks for."""
    if isinstance(term, ox.NamedNode):
        return term.value, "text"
    datatype = term.datatype.value
    if datatype in _NUMBER_TYPES:
        try:
            number = float(term.value)
            return (int(number) if datatype.endswith("nteger") and number.is_integer() else number), "number"
        except ValueError:
            return term.value, "text"
    if datatype == vocab.XSD + "boolean":
        return term.value in ("true", "1"), "boolean"
    if datatype == vocab.XSD + "dateTime":
        return term.value, "time"
    if datatype == _RDF_JSON:
        return term.value, "json"
    return term.value, "text"


def build_table(pivot: _Pivot) -> RunsTable:
    """The table of the pivoted rows: typed columns, newest run first."""
    records, types, groups = pivot.records, pivot.types, pivot.groups
    frame = pd.DataFrame.from_records(list(records.values())) if records else pd.DataFrame({"run": []})
    columns: dict[str, Column] = {"run": Column("run", "record", "text")}
    for name in (*RECORD_FIELDS, *sorted(n for n in groups if groups[n] == "setting"),
                 *sorted(n for n in groups if groups[n] == "result")):
        kind = RECORD_FIELDS[name][1] if name in RECORD_FIELDS else _one_type(types.get(name, set()))
        if name not in frame:
            frame[name] = None
        frame[name] = _typed(frame[name], kind)
        choices = ()
        if kind in ("text", "boolean"):
            distinct = frame[name].dropna().map(_text).unique()
            if len(distinct) <= FEW_CHOICES:
                choices = tuple(sorted(distinct, key=str.lower))
        columns[name] = Column(name, groups.get(name, "record"), kind, choices)
    frame = frame.sort_values(["started", "run"], ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    log.debug("runs table: %d runs, %d columns", len(frame), len(columns))
    return RunsTable(frame=frame, columns=columns, pivot=pivot)


def _one_type(kinds: set[str]) -> str:
    """A column's type: the one its values share; numbers and anything else make text."""
    return next(iter(kinds)) if len(kinds) == 1 else "text"


def _typed(values: pd.Series, kind: str) -> pd.Series:
    if kind == "number":
        numbers = pd.to_numeric(values, errors="coerce")
        whole = numbers.dropna()
        return numbers.astype("Int64") if len(whole) and (whole == whole.round()).all() else numbers.astype("float64")
    if kind == "time":
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if kind == "boolean":
        return values.astype("boolean")
    return values.map(lambda v: v if isinstance(v, str) or pd.isna(v) else _text(v)).astype("string")


def _text(value: object) -> str:
    """A value shown in a text column that mixes types (``true``, ``12``, not ``True``, ``12.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shown(value: object, column: Column) -> str:
    """A cell as the page shows it: numbers short, times to the second, missing as empty."""
    if pd.isna(value):
        return ""
    if column.type == "number":
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.6g}"
    if column.type == "time":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if column.type == "boolean":
        return "true" if value else "false"
    return str(value)
