"""Energy and emissions estimates (codecarbon's offline tracker): asked for, recorded with their
method, shown by Table 1, `diff` and `serve`; never the network; off by default.

One real Iris run, `mlprov run --energy`, for the file, its kernel started with a guard that
refuses (and notes) every connection or name lookup beyond the loopback.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest
from click.testing import CliRunner

from mlprov_rdf import capture
from mlprov_rdf.cli import main
from mlprov_rdf.diff import diff_runs
from mlprov_rdf.run_record import read_run_record
from mlprov_rdf.store import open_store
from mlprov_rdf.store import StoreLocation
from tests.conftest import make_plan
from tests.web_support import get, live_server

#: Loaded by the kernel's interpreter (sitecustomize on PYTHONPATH): no socket leaves the machine.
_NETWORK_GUARD = textwrap.dedent(
    """
    import os, socket

    _LOCAL = {"127.0.0.1", "::1", "localhost"}
    _real_connect, _real_connect_ex, _real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _refuse(what):
        with open(os.environ["MLPROV_TEST_NETWORK_LOG"], "a") as log:
            log.write(repr(what) + "\\n")
        raise OSError("network refused by the test's guard: " + repr(what))

    def _checked(address):
        if isinstance(address, tuple) and str(address[0]) not in _LOCAL:
            _refuse(address)

    def connect(self, address):
        _checked(address)
        return _real_connect(self, address)

    def connect_ex(self, address):
        _checked(address)
        return _real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and str(host) not in _LOCAL:
            _refuse(host)
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    with open(os.environ["MLPROV_TEST_NETWORK_LOG"] + ".guarded", "a") as guarded:  # the guard is in place here
        guarded.write(str(os.getpid()) + "\\n")
    """
)


@pytest.fixture(scope="module")
def energy_run(tmp_path_factory):
    pytest.importorskip("codecarbon", reason="energy estimates need the energy extra: pip install 'mlprov-rdf[energy]'")
    root = tmp_path_factory.mktemp("energy-run")
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_NETWORK_GUARD)
    network_log = root / "network.log"
    plan_file = make_plan(root / "iris.ttl", epochs="5")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLPROV_ENERGY", "off")  # --energy turns it on in this process; the context restores it
        patch.setenv("MLPROV_ENERGY_COUNTRY", "FRA")
        patch.setenv("PYTHONPATH", str(guard))
        patch.setenv("MLPROV_TEST_NETWORK_LOG", str(network_log))
        result = CliRunner().invoke(main, ["run", "--energy", str(plan_file), "--store", str(root / "store")])
    assert result.exit_code == 0, result.output
    recorded = {"run": re.search(r"run (urn:mlprov:run:\S+): completed", result.output).group(1),
                "location": StoreLocation(root / "store"), "network_log": network_log}
    with open_store(recorded["location"], read_only=True) as store:
        recorded["record"] = read_run_record(store, recorded["run"])
    return recorded


def _table1(run: str, location: StoreLocation) -> dict:
    result = CliRunner().invoke(main, ["query", "table1", "-p", f"run={run}", "--format", "json",
                                       "--store", str(location.home)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["results"]["bindings"]
    return {name: value["value"] for name, value in row.items()}


def test_a_run_with_energy_on_records_plausible_estimates_per_cell_and_their_sum(energy_run):
    usage = energy_run["record"].usage
    assert 0 < usage.energy_kwh < 0.1  # a few seconds of Iris on a CPU: far below a tenth of a kWh
    assert 0 < usage.emissions_kg_co2eq < usage.energy_kwh  # France's mix: well under 1 kg CO2eq per kWh
    cells = [cell.usage.energy_kwh for cell in energy_run["record"].cells]
    assert all(kwh is not None and kwh >= 0 for kwh in cells)
    assert sum(cells) == pytest.approx(usage.energy_kwh, rel=1e-6)


def test_the_method_names_codecarbon_its_mode_and_the_country_and_nothing_reached_the_network(energy_run):
    import codecarbon

    method = energy_run["record"].usage.energy_method
    assert f"codecarbon {codecarbon.__version__} offline tracker, process mode" in method
    assert "CPU(" in method and "energy mix of FRA" in method
    assert energy_run["record"].usage.energy_unavailable is None
    log = energy_run["network_log"]
    assert log.with_name(log.name + ".guarded").exists()  # the kernel ran with the guard
    assert not log.exists(), log.read_text()


def test_table1_and_diff_show_the_energy_beside_the_other_resources(energy_run):
    row = _table1(energy_run["run"], energy_run["location"])
    assert float(row["resources_energy_kwh"]) == pytest.approx(energy_run["record"].usage.energy_kwh)
    assert float(row["resources_emissions_kg_co2eq"]) > 0
    assert row["resources_energy_method"].startswith("codecarbon ")
    run = energy_run["run"]
    with open_store(energy_run["location"], read_only=True) as store:
        used = diff_runs(store, run, run).group("usage")
    assert {i.name for i in used.items} >= {"energy, kWh", "emissions, kg CO2eq", "energy estimated by"}
    assert all(i.same for i in used.items)


def test_the_run_page_shows_energy_and_emissions(energy_run):
    run_id = energy_run["run"].rsplit(":", 1)[1]
    with live_server(energy_run["location"]) as base:
        status, _, body = get(f"{base}/run/{run_id}")
    page = body.decode("utf-8")
    assert status == 200 and "<dt>energy</dt>" in page and "kg CO2eq" in page and "energy mix of FRA" in page


def test_energy_is_off_by_default(executed_run):
    row = _table1(executed_run["outcome"].run, executed_run["location"])
    assert (row["resources_energy_kwh"], row["resources_emissions_kg_co2eq"], row["resources_energy_method"]) == (
        "none", "none", "none")


def test_without_codecarbon_the_run_records_why_in_one_line_and_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLPROV_ENERGY", "on")
    monkeypatch.setenv("MLPROV_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # as if not installed: importing it fails
    run = capture.Run("https://example.org/plans/p", "p", "0", {}, {})
    run._begin_cell("x = 1")
    run._end_cell(None)
    run.close()
    (line,) = capsys.readouterr().out.splitlines()
    assert line == "mlprov: no energy estimates for this run: codecarbon is not installed (pip install 'mlprov-rdf[energy]')"
    journal = run.journal_path.read_text()
    assert "energyUnavailable> \"codecarbon is not installed" in journal
    assert "energyConsumed" not in journal and "cpuUserTime" in journal  # the cell was recorded all the same
