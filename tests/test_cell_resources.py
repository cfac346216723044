"""The meter capture puts around each cell: CPU time, this cell's peak memory, GPU memory."""

from __future__ import annotations

import os
import time

from mlprov_rdf.cell_resources import CellMeter


def test_a_cell_that_allocates_shows_a_peak_above_what_came_before_and_after():
    meter = CellMeter()
    meter.start()
    before = meter.stop()
    meter.start()
    block = bytearray(200 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
    del block
    grown = meter.stop()
    meter.start()
    after = meter.stop()  # the next cell's peak starts from what is resident now, not the old peak
    assert grown.peak_rss_scope == "cell"
    assert grown.peak_rss_bytes - before.peak_rss_bytes > 150 * 1024 * 1024
    assert after.peak_rss_bytes < grown.peak_rss_bytes - 150 * 1024 * 1024


def test_cpu_time_counts_the_work_and_stays_within_wall_time_times_cores():
    meter = CellMeter()
    started = time.perf_counter()
    meter.start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    usage = meter.stop()
    wall = time.perf_counter() - started
    assert usage.cpu_user_s + usage.cpu_system_s >= 0.25
    assert usage.cpu_user_s + usage.cpu_system_s <= wall * (os.cpu_count() or 1) + 0.01


def test_no_gpu_reading_without_cuda():
    meter = CellMeter()
    meter.start()
    assert meter.stop().gpu_peak_bytes is None


def test_a_real_runs_cells_and_the_run_carry_what_they_used(executed_run):
    """Every cell of a real kernel's run: CPU time within wall time times cores, a peak above
    the kernel's baseline; the run: the sums and the highest peak."""
    from mlprov_rdf.store import open_store

    run = executed_run["outcome"].run
    with open_store(executed_run["location"], read_only=True) as store:
        cells = list(store.query(
            "PREFIX mlprov: <https://w3id.org/mlprov#> PREFIX dcterms: <http://purl.org/dc/terms/> "
            "SELECT ?run ?cell ?user ?system ?peak ?seconds WHERE { ?cell dcterms:isPartOf ?run ; mlprov:cpuUserTime ?user ; "
            "mlprov:cpuSystemTime ?system ; mlprov:peakMemory ?peak ; mlprov:duration ?seconds }",
            {"run": __import__("pyoxigraph").NamedNode(run)}))
        [total] = list(store.query(
            "PREFIX mlprov: <https://w3id.org/mlprov#> SELECT ?run ?user ?system ?peak WHERE { "
            "?run mlprov:cpuUserTime ?user ; mlprov:cpuSystemTime ?system ; mlprov:peakMemory ?peak }",
            {"run": __import__("pyoxigraph").NamedNode(run)}))
    assert len(cells) >= 8
    cores = os.cpu_count() or 1
    for cell in cells:
        cpu = float(cell["user"].value) + float(cell["system"].value)
        assert 0 <= cpu <= float(cell["seconds"].value) * cores + 0.05
        assert int(cell["peak"].value) > 30 * 2**20  # a kernel with numpy loaded is tens of MB at least
    assert abs(float(total["user"].value) - sum(float(c["user"].value) for c in cells)) < 1e-3
    assert int(total["peak"].value) == max(int(c["peak"].value) for c in cells)
