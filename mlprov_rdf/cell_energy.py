"""What a cell consumed in energy and emitted in CO2eq, estimated by codecarbon, when asked for.

Runs in the user's kernel next to ``capture``. Off unless ``MLPROV_ENERGY=on``: only then is
codecarbon (the ``energy`` extra) imported, so a run without it costs and imports nothing more.

codecarbon's *offline* tracker never reaches the network: it reads the hardware (RAPL, or a
model of CPU load or constant TDP, the RAM's size, NVML for GPUs) and the carbon intensity of
the country's energy mix from its own data files. Every output it could send (file, API,
logger, Prometheus, Logfire, an HTTP endpoint, Electricity Maps) is switched off by argument,
which overrides any ``.codecarbon.config`` or ``CODECARBON_*`` variable.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

log = logging.getLogger(__name__)

#: "on" (or 1/true) estimates energy and emissions per cell and per run.
ENERGY_ENV = "MLPROV_ENERGY"
#: ISO 3166-1 alpha-3 code of the country whose energy mix converts kWh to CO2eq (e.g. FRA);
#: unset, codecarbon's world average is used.
COUNTRY_ENV = "MLPROV_ENERGY_COUNTRY"


class CellEnergy(NamedTuple):  # not a dataclass: importing dataclasses costs the kernel 10 ms
    kwh: float
    kg_co2eq: float


def requested() -> bool:
    return os.environ.get(ENERGY_ENV, "").strip().lower() in ("on", "1", "true", "yes")


class EnergyMeter:
    """``start()`` before a cell, ``stop()`` after it: codecarbon's estimate for the cell (a task)."""

    def __init__(self, tracker, method: str) -> None:
        self._tracker = tracker
        self.method = method
        self._task = 0

    @classmethod
    def open(cls) -> tuple["EnergyMeter | None", str]:
        """A meter and how it measures, or None and why energy is unavailable."""
        try:
            import codecarbon
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            return None, "codecarbon is not installed (pip install 'mlprov-rdf[energy]')"
        logging.getLogger("codecarbon").setLevel(logging.ERROR)  # its import sets INFO; the notebook stays quiet
        country = os.environ.get(COUNTRY_ENV, "").strip().upper() or None
        try:
            tracker = OfflineEmissionsTracker(
                country_iso_code=country,
                tracking_mode="process",
                log_level="error",
                save_to_file=False,
                save_to_api=False,
                save_to_logger=False,
                save_to_prometheus=False,
                save_to_logfire=False,
                emissions_endpoint=None,
                electricitymaps_api_token=None,
                allow_multiple_runs=True,  # no lock file; a sweep's kernels run side by side
            )
            # The first task probes the hardware (about a second): done here, not in the first cell.
            tracker.start_task("mlprov-probe")
            probe = tracker.stop_task("mlprov-probe")
        except Exception as error:  # noqa: BLE001 - an estimate that cannot be made never fails the run
            return None, f"codecarbon failed: {type(error).__name__}: {error}"
        if probe is None:
            return None, "codecarbon's tracker did not start (another instance, or no hardware it knows)"
        hardware = ", ".join(tracker._conf.get("hardware") or []) or "unknown hardware"  # its record of the probe
        intensity = f"energy mix of {country}" if country else "world average carbon intensity"
        method = f"codecarbon {codecarbon.__version__} offline tracker, process mode: {hardware}; {intensity}"
        return cls(tracker, method), ""

    def start(self) -> None:
        self._task += 1
        try:
            self._tracker.start_task(f"cell-{self._task}")
        except Exception as error:  # noqa: BLE001
            log.warning("mlprov: no energy estimate for this cell: %s: %s", type(error).__name__, error)

    def stop(self) -> CellEnergy | None:
        """The cell's estimate; None, logged once, when codecarbon could not make one."""
        try:
            data = self._tracker.stop_task(f"cell-{self._task}")
        except Exception as error:  # noqa: BLE001
            log.warning("mlprov: no energy estimate for this cell: %s: %s", type(error).__name__, error)
            return None
        if data is None:
            return None
        return CellEnergy(kwh=float(data.energy_consumed), kg_co2eq=float(data.emissions))
