"""Pages of runs in start order, read one window of starts at a time.

Oxigraph sorts every match of a query before it applies a LIMIT, so a page of the newest
runs would cost in proportion to all the runs in the store. Instead each run carries the
UTC second it started in (``mlprov:startSecond``, written by ingest), and each plan's
summary counts its runs by day, minute and second (see :mod:`run_summaries`). A query
whose header says ``# order: newest first`` (or ``oldest first``) and that holds a
``VALUES ?start_window { UNDEF }`` slot gets the seconds of the newest (oldest) runs that
fill its page: the day counts, then the minutes of the one day the page ends in, then the
seconds of the one minute it ends in. Every run outside those seconds started before
(after) every run inside them, so the page is the one a query over every run gives.

A query that filters (``runs-by-setting``) may find fewer rows in the windows than its
page holds; :mod:`queries` then asks again for windows four times as large, up to every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import pyoxigraph as ox

from . import vocab

#: The query variable a ``VALUES ?start_window { UNDEF }`` slot fills with seconds.
SLOT = "start_window"
#: What ``# order:`` may say, and whether it means newest first.
ORDERS = {"newest first": True, "oldest first": False}

# The key lengths of the three levels: 2026-12-03, 2026-12-03T08:25, 2026-12-03T08:25:13.
DAY, MINUTE, SECOND = 10, 16, 19
#: The property a summary's count node names its window by, for each level.
LEVEL_PROPERTY = {DAY: "summaryDay", MINUTE: "summaryMinute", SECOND: "summarySecond"}

_PREFIX = f"PREFIX mlprov: <{vocab.MLPROV}>\n"
_DAYS = _PREFIX + "SELECT ?window (SUM(?runs) AS ?count) WHERE {{ GRAPH {graph} {{ ?node mlprov:summaryDay ?window ; mlprov:runCount ?runs }} }} GROUP BY ?window"
_WITHIN = _PREFIX + """SELECT ?window (SUM(?runs) AS ?count)
WHERE {{ GRAPH {graph} {{ ?node mlprov:windowOf {parent} ; mlprov:{level} ?window ; mlprov:runCount ?runs }} }} GROUP BY ?window"""
_SECONDS_OF_MINUTES = _PREFIX + """SELECT DISTINCT ?second
WHERE {{ VALUES ?minute {{ {minutes} }} GRAPH {graph} {{ ?node mlprov:windowOf ?minute ; mlprov:summarySecond ?second }} }}"""
_SECONDS_OF_DAYS = _PREFIX + """SELECT DISTINCT ?second
WHERE {{ VALUES ?day {{ {days} }} GRAPH {graph} {{ ?minute_node mlprov:windowOf ?day ; mlprov:summaryMinute ?minute .
                                            ?node mlprov:windowOf ?minute ; mlprov:summarySecond ?second }} }}"""


def start_second(lexical: str) -> str:
    """A start (an ``xsd:dateTime``'s lexical form) as its UTC second, ``2026-12-03T08:25:13``.

    A time without an offset is taken as UTC; text Python cannot read as a time keeps its
    first 19 characters, which sort as the time would.
    """
    try:
        moment = datetime.fromisoformat(lexical)
    except ValueError:
        return lexical[:SECOND]
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Windows:
    """The seconds a page's runs started in, newest (oldest) first, and how many runs started in them."""

    seconds: list[str]
    runs: int


def seconds_for(store, needed: int, *, newest_first: bool, graph: str | None = None) -> Windows | None:
    """The seconds that hold the ``needed`` newest (oldest) runs, and the few others that
    share their windows; None when those are half the runs or more. ``graph`` is one plan's summary
    graph, or None for every plan's."""
    where = str(ox.NamedNode(graph)) if graph else "?summary"
    days = _counts(store, _DAYS.format(graph=where), newest_first)
    if needed * 2 > sum(count for _, count in days):
        return None  # half the runs or more: as cheap to read them all, starting from a query's criteria
    whole_days, have, day = _fill(days, needed, 0)
    minutes = _counts(store, _within(where, day, MINUTE), newest_first) if day else []
    whole_minutes, have, minute = _fill(minutes, needed, have)
    seconds = _counts(store, _within(where, minute, SECOND), newest_first) if minute else []
    whole_seconds, have, second = _fill(seconds, needed, have)
    found = set(whole_seconds)
    if second:
        found.add(second)
        have += dict(seconds)[second]
    if whole_minutes:
        found |= _seconds(store, _SECONDS_OF_MINUTES.format(minutes=_literals(whole_minutes), graph=where))
    if whole_days:
        found |= _seconds(store, _SECONDS_OF_DAYS.format(days=_literals(whole_days), graph=where))
    return Windows(sorted(found, reverse=newest_first), have)


def _fill(windows: list[tuple[str, int]], needed: int, have: int) -> tuple[list[str], int, str | None]:
    """The windows taken whole, in order, while their runs fit in ``needed``; the runs that
    makes; and the window the page ends inside (None when the whole ones fill it)."""
    whole: list[str] = []
    for key, count in windows:
        if have >= needed:
            return whole, have, None
        if have + count > needed:
            return whole, have, key
        whole.append(key)
        have += count
    return whole, have, None


def _within(graph: str, parent: str, level: int) -> str:
    return _WITHIN.format(graph=graph, parent=str(ox.Literal(parent)), level=LEVEL_PROPERTY[level])


def _counts(store, sparql: str, newest_first: bool) -> list[tuple[str, int]]:
    rows = [(row["window"].value, int(row["count"].value)) for row in store.query(sparql)]
    return sorted(rows, reverse=newest_first)


def _seconds(store, sparql: str) -> set[str]:
    return {row["second"].value for row in store.query(sparql)}


def _literals(keys: Iterable[str]) -> str:
    return " ".join(str(ox.Literal(key)) for key in keys)
