"""What a cell used: CPU time, peak memory and peak GPU memory, measured around it in the kernel.

Runs in the user's kernel next to ``capture``: the standard library only, and torch's own
counters when the notebook has imported torch (never imported here). Each reading costs a
few microseconds, so every cell is measured.

- CPU: ``getrusage`` of the kernel and of the child processes it has waited for (a
  DataLoader's workers), user and system apart.
- Peak memory: the kernel's peak resident set during the cell. Linux resets the peak
  (``/proc/self/clear_refs``) at the start of a cell and reports it (``VmHWM``) at its end;
  elsewhere only the process's lifetime peak is known, and the reading says so
  (``scope="process"``).
- GPU: the peak of memory torch allocated on any CUDA device during the cell
  (``torch.cuda.max_memory_allocated``, its counters reset at the start), when torch has
  initialised CUDA. Otherwise, where NVML is present (the ``nvidia-ml-py`` package and an
  NVIDIA driver), the most GPU memory NVML saw the kernel's process hold, sampled by a
  thread every ``NVML_SAMPLE_S`` while the cell runs (a framework other than torch, or torch
  before CUDA starts). The reading names which of the two it is.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path
from typing import NamedTuple

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK = "5"  # clear_refs: reset the peak resident set size to the current one (Linux 4.0+)

#: Where Linux shows a loaded NVIDIA driver, without which NVML has nothing to read.
_NVIDIA_DRIVER = Path("/proc/driver/nvidia")
#: Seconds between NVML's readings of the process's GPU memory during a cell.
NVML_SAMPLE_S = 0.1
#: How each kind of GPU reading was made, as the run records it.
GPU_METHODS = {
    "torch": "torch.cuda.max_memory_allocated",
    "nvml": f"NVML process memory, sampled every {NVML_SAMPLE_S:g} s",
}


class CellUsage(NamedTuple):  # not a dataclass: importing dataclasses costs the kernel 10 ms
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_bytes: int | None
    peak_rss_scope: str  # "cell": this cell's peak; "process": the kernel's peak so far
    gpu_peak_bytes: int | None  # None: no GPU reading (torch had not initialised CUDA, and no NVML)
    gpu_method: str | None = None  # a key of GPU_METHODS when gpu_peak_bytes is a reading


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def _peak_rss() -> int | None:
    """VmHWM in bytes, or None where /proc is not there."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _lifetime_peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux kilobytes


def _cuda():
    """torch.cuda when the notebook has imported torch and CUDA is initialised, else None."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_initialized() else None
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not fail the user's cell
        return None


class _NvmlSampler:
    """The most GPU memory NVML reports the kernel's process holding, over one cell."""

    def __init__(self, nvml, handles: list) -> None:
        self._nvml, self._handles = nvml, handles
        self._peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def find(cls) -> "_NvmlSampler | None":
        """A sampler where NVML and a GPU are present, else None (asked once per run)."""
        if sys.platform.startswith("linux") and not _NVIDIA_DRIVER.exists():
            return None  # no NVIDIA driver loaded: spare the 20 ms of importing pynvml to learn it
        try:
            import pynvml  # nvidia-ml-py; absent on most machines, which is no error

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no package, no driver, no device: no NVML readings
            return None
        return cls(pynvml, handles) if handles else None

    def _read(self) -> None:
        pid, used = os.getpid(), 0
        for handle in self._handles:
            try:
                processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:  # noqa: BLE001 - a device that stops answering is one reading less
                continue
            used += sum(p.usedGpuMemory or 0 for p in processes if p.pid == pid)
        if used:
            self._peak = max(self._peak or 0, used)

    def _sample(self) -> None:
        while not self._stop.wait(NVML_SAMPLE_S):
            self._read()

    def start(self) -> None:
        self._peak = None
        self._stop.clear()
        self._read()
        self._thread = threading.Thread(target=self._sample, name="mlprov-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """The peak over the cell, None when the process held no GPU memory."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._read()
        return self._peak


class CellMeter:
    """``start()`` before a cell, ``stop()`` after it: what the cell used."""

    def __init__(self) -> None:
        self._cpu = (0.0, 0.0)
        self._scope = "process"
        self._nvml: _NvmlSampler | None | bool = False  # False: not looked for yet
        self._sampling = False

    def start(self) -> None:
        try:
            _CLEAR_REFS.write_text(_RESET_PEAK)
            self._scope = "cell" if _peak_rss() is not None else "process"
        except OSError:
            self._scope = "process"
        cuda = _cuda()
        if cuda is not None:
            for device in range(cuda.device_count()):
                cuda.reset_peak_memory_stats(device)
        else:
            if self._nvml is False:
                self._nvml = _NvmlSampler.find()
            if self._nvml is not None:
                self._nvml.start()
        self._sampling = cuda is None and self._nvml is not None
        self._cpu = _cpu()

    def stop(self) -> CellUsage:
        user, system = _cpu()
        peak = _peak_rss() if self._scope == "cell" else None
        cuda = _cuda()
        gpu = max((cuda.max_memory_allocated(d) for d in range(cuda.device_count())), default=None) if cuda else None
        method = "torch" if gpu is not None else None
        if self._sampling:
            sampled = self._nvml.stop()
            if gpu is None and sampled is not None:  # torch's own counter, where it started meanwhile, is exact
                gpu, method = sampled, "nvml"
        return CellUsage(
            cpu_user_s=max(0.0, user - self._cpu[0]),
            cpu_system_s=max(0.0, system - self._cpu[1]),
            peak_rss_bytes=peak if peak is not None else _lifetime_peak_rss(),
            peak_rss_scope=self._scope if peak is not None else "process",
            gpu_peak_bytes=gpu,
            gpu_method=method,
        )
