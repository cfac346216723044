"""The Python API: query a store from a notebook or a script and get pandas DataFrames.

::

    from mlprov_rdf.api import open_store

    with open_store() as prov:                      # .mlprov/, MLPROV_STORE, or a path/URL
        runs = prov.runs()                          # one row per run, newest first
        run = runs["run"][0]
        metrics = prov.query("run-metrics", run=run)
        adam = prov.query("runs-by-setting", optimizer=["Adam", "SGD"], min_learning_rate=1e-3)
        best = prov.query("best-runs", metric="macro_f1", threshold=0.9)
        counts = prov.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        changes = prov.diff(runs["run"][1], run)    # a RunDiff: .to_dataframe(), .to_table()

``query`` takes a library query's name, a path to a ``.rq`` file or SPARQL text, and its
parameters as keyword arguments: Python values (strings, numbers, booleans; a list or a
tuple for a list parameter), checked and bound exactly as ``mlprov query --param`` binds
them, never pasted into the query. Results come back as a DataFrame of Python values:
numbers as numbers, booleans as booleans, date-times as pandas Timestamps (UTC), IRIs and
other literals as strings, unbound values as None (NaN in a numeric column).

Queries run in a child process of the block (a ``QuerySession``), which keeps the store
open while queries come, so that one about a run answers in a millisecond or two: a query
is stopped after ``timeout`` seconds (60 by default; a ``QueryTimeout``) or on Ctrl-C, and
the child lets go of the store 30 seconds after the last query, or at once (within 50 ms)
when a writer waits for it, so ``mlprov run`` can write while the block is open. Updates are
refused, and so are ``SERVICE`` clauses unless ``allow_service=True``.

This module imports pandas; ``mlprov_rdf`` itself stays import-free, because the
kernel-side capture module lives in the package.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import queries
from .diff import RunDiff, diff_runs
from .run_record import RunRecord, read_run_record
from .stoppable_query import DEFAULT_TIMEOUT_S, QuerySession, read_in_child
from .arguments import checked_run_iri
from .store import StoreLocation
from .store import open_store as _open_store

if TYPE_CHECKING:
    import pandas

__all__ = ["Provenance", "open", "open_store"]


class Provenance:
    """An open store, queried from Python. Get one from :func:`open_store`."""

    def __init__(self, location: StoreLocation):
        self.location = location
        self._session = QuerySession(location)

    def close(self) -> None:
        """End the block's query process (``open_store`` does it when the block ends)."""
        self._session.close()

    def query(self, name_or_sparql: str, *, timeout: float = DEFAULT_TIMEOUT_S, allow_service: bool = False,
              **params: Any) -> "pandas.DataFrame":
        """A library query by name, a ``.rq`` file or SPARQL text, as a DataFrame.

        A parameter given ``None`` counts as not given. A CONSTRUCT query gives the
        columns subject, predicate and object; an ASK query one column, ``boolean``.
        ``timeout``: seconds before the query is stopped with a ``QueryTimeout``.
        """
        return queries.to_dataframe(self.result(name_or_sparql, timeout=timeout, allow_service=allow_service, **params))

    def result(self, name_or_sparql: str, *, timeout: float = DEFAULT_TIMEOUT_S, allow_service: bool = False,
               **params: Any) -> queries.QueryResult:
        """The same, as RDF terms (pyoxigraph), for code that wants the terms themselves."""
        canned = queries.resolve(name_or_sparql)
        return queries.run_stoppable(self.location, canned, {k: v for k, v in params.items() if v is not None},
                                     timeout_s=timeout, allow_service=allow_service, session=self._session)

    def runs(self) -> "pandas.DataFrame":
        """Every recorded run, newest first: plan, status, start, duration, test accuracy."""
        return self.query("runs")

    def run(self, run: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> RunRecord:
        """One run whole (an IRI or a bare run id): settings, results, series, data, cells, environment."""
        return self._read("run " + run, timeout, read_run_record, checked_run_iri(run, argument="run"))

    def diff(self, run_a: str, run_b: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> RunDiff:
        """What differs between two runs (IRIs or bare run ids), aligned by plan step."""
        return self._read("diff", timeout, diff_runs, run_a, run_b)

    def _read(self, label: str, timeout: float, read: Callable[..., Any], *args: Any) -> Any:
        """``read(store, *args)`` in the block's query process."""
        return read_in_child(self.location, read, *args, timeout_s=timeout, label=label, session=self._session)

    @staticmethod
    def library() -> "pandas.DataFrame":
        """The canned queries: name, title, description and parameters."""
        import pandas as pd

        rows = [
            {
                "name": name,
                "title": q.title,
                "description": q.description,
                "params": ", ".join(p.signature() for p in q.params),
            }
            for name, q in queries.load_library().items()
        ]
        return pd.DataFrame(rows, columns=["name", "title", "description", "params"])


@contextmanager
def open_store(store: str | os.PathLike | StoreLocation | None = None, *, wait_s: float = 120.0) -> Iterator[Provenance]:
    """Open a store for reading: a folder, a SPARQL server URL, or a StoreLocation.

    Left out, the store is ``MLPROV_STORE`` or ``.mlprov/`` in the working directory, as
    for the ``mlprov`` command. A folder without a store is an error, not a new store:
    the store is opened once here to say so, then closed; each query opens it again.
    """
    location = store if isinstance(store, StoreLocation) else StoreLocation.resolve(store)
    with _open_store(location, create=False, read_only=True, wait_s=wait_s):
        pass
    prov = Provenance(location)
    try:
        yield prov
    finally:
        prov.close()


#: ``mlprov_rdf.api.open(...)`` reads like the built-in ``open``: the same function.
open = open_store  # noqa: A001
