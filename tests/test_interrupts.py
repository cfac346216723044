"""Signals taken as requests while a store is written: the write finishes, then the signal acts."""

from __future__ import annotations

import os
import signal

import pyoxigraph as ox
import pytest

from mlprov_rdf import interrupts
from mlprov_rdf.store import StoreLocation, open_store

GRAPH = "urn:mlprov:test:graph"


def _triple(i: int) -> ox.Triple:
    return ox.Triple(ox.NamedNode(f"urn:x:{i}"), ox.NamedNode("urn:x:p"), ox.Literal(str(i)))


def test_ctrl_c_during_a_store_write_acts_once_the_store_is_closed_and_it_opens_again(tmp_path):
    location = StoreLocation(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred(), open_store(location) as store:
            os.kill(os.getpid(), signal.SIGINT)
            store.replace_graph(GRAPH, [_triple(i) for i in range(100)])
    with open_store(location, read_only=True) as store:  # the lock was released; the write is all there
        assert len(list(store.query(f"SELECT ?s WHERE {{ GRAPH <{GRAPH}> {{ ?s ?p ?o }} }}"))) == 100


def test_sigterm_during_a_deferred_span_calls_the_handler_in_place_after_it(tmp_path):
    calls: list[str] = []
    saved = signal.signal(signal.SIGTERM, lambda signum, _frame: calls.append(f"handler {signum}"))
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            calls.append("block ran to its end")
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert calls == ["block ran to its end", f"handler {int(signal.SIGTERM)}"]


def test_handlers_are_restored_after_a_span_without_signals():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts.deferred():
        pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
