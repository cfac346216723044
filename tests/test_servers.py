"""The throwaway servers of tests/servers.py: started on a folder, stopped, started again on
it with what was written still there (benchmarks/server_bench.py restarts them so)."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from mlprov_rdf.store import StoreLocation, open_store
from tests import servers

GRAPH = "urn:test:kept"
TRIPLE = ox.Triple(ox.NamedNode("urn:test:s"), ox.NamedNode("urn:test:p"), ox.Literal("kept"))


def _write(url: str, tmp_path) -> None:
    with open_store(StoreLocation.server(url, journal_dir=tmp_path / "journal")) as store:
        store.replace_graph(GRAPH, [TRIPLE])


def _kept(url: str, tmp_path) -> bool:
    with open_store(StoreLocation.server(url, journal_dir=tmp_path / "journal")) as store:
        return store.has_graph(GRAPH)


def test_an_oxigraph_server_started_again_on_its_folder_keeps_what_was_written(tmp_path):
    with servers.oxigraph_server(tmp_path / "oxigraph") as url:
        _write(url, tmp_path)
    assert not servers.oxigraph_ready(url)  # stopped on leaving the block
    with servers.oxigraph_server(tmp_path / "oxigraph") as again:
        assert _kept(again, tmp_path)


@pytest.mark.skipif(not servers.HAVE_VIRTUOSO, reason=servers.NO_VIRTUOSO)
def test_a_virtuoso_started_again_on_its_folder_keeps_its_data_and_its_update_grant(tmp_path):
    with servers.virtuoso_server(tmp_path / "virtuoso") as first:
        _write(first.url, tmp_path)
    assert not servers.virtuoso_ready(first.url)
    with servers.virtuoso_server(tmp_path / "virtuoso") as again:
        assert _kept(again.url, tmp_path)
        _write(again.url, tmp_path)  # the grant is the database's: still allowed to update
