"""GPU memory readings where torch's counters are not in use: NVML sampled during a cell.

NVML is NVIDIA's library: a stand-in module plays it here (the readings a driver would give,
changing while the cell runs); the real one is used where a GPU and nvidia-ml-py are present.
"""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

from mlprov_rdf import cell_resources
from mlprov_rdf.cell_resources import GPU_METHODS, NVML_SAMPLE_S, CellMeter

MB = 1 << 20


@pytest.fixture(autouse=True)
def nvidia_driver(tmp_path, monkeypatch):
    """As on a machine whose NVIDIA driver is loaded: the stand-in NVML decides the rest."""
    if not cell_resources._NVIDIA_DRIVER.exists():
        monkeypatch.setattr(cell_resources, "_NVIDIA_DRIVER", tmp_path)


def _stand_in_nvml(readings: dict, *, devices: int = 1, fails: bool = False) -> types.ModuleType:
    """A pynvml whose one device shows the kernel's process holding ``readings["used"]`` bytes."""
    nvml = types.ModuleType("pynvml")

    def init() -> None:
        if fails:
            raise RuntimeError("NVML Shared Library Not Found")

    nvml.nvmlInit = init
    nvml.nvmlDeviceGetCount = lambda: devices
    nvml.nvmlDeviceGetHandleByIndex = lambda index: index
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda handle: [
        types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=readings["used"]),
        types.SimpleNamespace(pid=os.getpid() + 1, usedGpuMemory=10_000 * MB),  # another process: not ours
    ]
    return nvml


def test_nvml_samples_the_peak_the_process_held_during_the_cell(monkeypatch):
    readings = {"used": 100 * MB}
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml(readings))
    meter = CellMeter()
    meter.start()
    time.sleep(3 * NVML_SAMPLE_S)
    readings["used"] = 300 * MB  # a peak in the middle of the cell, gone before its end
    time.sleep(3 * NVML_SAMPLE_S)
    readings["used"] = 50 * MB
    time.sleep(2 * NVML_SAMPLE_S)
    usage = meter.stop()
    assert usage.gpu_peak_bytes == 300 * MB
    assert usage.gpu_method == "nvml"
    assert GPU_METHODS[usage.gpu_method].startswith("NVML")


def test_each_cell_has_its_own_nvml_peak(monkeypatch):
    readings = {"used": 400 * MB}
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml(readings))
    meter = CellMeter()
    meter.start()
    assert meter.stop().gpu_peak_bytes == 400 * MB
    readings["used"] = 20 * MB
    meter.start()
    assert meter.stop().gpu_peak_bytes == 20 * MB


@pytest.mark.parametrize("nvml", [None, "no driver", "no device"])
def test_without_nvml_or_a_gpu_a_cell_has_no_gpu_reading(monkeypatch, nvml):
    module = {
        None: None,  # the package is not installed: importing it fails
        "no driver": _stand_in_nvml({"used": MB}, fails=True),
        "no device": _stand_in_nvml({"used": MB}, devices=0),
    }[nvml]
    monkeypatch.setitem(sys.modules, "pynvml", module)
    meter = CellMeter()
    meter.start()
    usage = meter.stop()
    assert (usage.gpu_peak_bytes, usage.gpu_method) == (None, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux shows a loaded NVIDIA driver in /proc")
def test_without_a_loaded_nvidia_driver_nvml_is_not_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(cell_resources, "_NVIDIA_DRIVER", tmp_path / "absent")
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml({"used": 400 * MB}))  # would answer if asked
    meter = CellMeter()
    meter.start()
    assert meter.stop().gpu_peak_bytes is None


def test_a_process_holding_no_gpu_memory_has_no_gpu_reading(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml({"used": 0}))
    meter = CellMeter()
    meter.start()
    assert meter.stop().gpu_peak_bytes is None


def _real_nvml_devices() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount()
    except Exception:  # noqa: BLE001
        return 0


@pytest.mark.skipif(not _real_nvml_devices(), reason="needs an NVIDIA GPU with its driver and nvidia-ml-py (pip install nvidia-ml-py)")
def test_real_nvml_sees_memory_a_cell_allocates_on_the_gpu():
    torch = pytest.importorskip("torch")
    meter = CellMeter()
    meter.start()
    block = torch.empty(256 * MB, dtype=torch.uint8, device="cuda")  # torch starts CUDA inside the cell
    time.sleep(3 * NVML_SAMPLE_S)
    usage = meter.stop()
    del block
    assert usage.gpu_peak_bytes is not None and usage.gpu_peak_bytes >= 256 * MB
    assert usage.gpu_method in ("torch", "nvml")
