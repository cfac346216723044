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
  initialised CUDA.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import NamedTuple

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK = "5"  # clear_refs: reset the peak resident set size to the current one (Linux 4.0+)


class CellUsage(NamedTuple):  # not a dataclass: importing dataclasses costs the kernel 10 ms
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_bytes: int | None
    peak_rss_scope: str  # "cell": this cell's peak; "process": the kernel's peak so far
    gpu_peak_bytes: int | None  # None: torch had not initialised CUDA


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


class CellMeter:
    """``start()`` before a cell, ``stop()`` after it: what the cell used."""

    def __init__(self) -> None:
        self._cpu = (0.0, 0.0)
        self._scope = "process"

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
        self._cpu = _cpu()

    def stop(self) -> CellUsage:
        user, system = _cpu()
        peak = _peak_rss() if self._scope == "cell" else None
        cuda = _cuda()
        gpu = max((cuda.max_memory_allocated(d) for d in range(cuda.device_count())), default=None) if cuda else None
        return CellUsage(
            cpu_user_s=max(0.0, user - self._cpu[0]),
            cpu_system_s=max(0.0, system - self._cpu[1]),
            peak_rss_bytes=peak if peak is not None else _lifetime_peak_rss(),
            peak_rss_scope=self._scope if peak is not None else "process",
            gpu_peak_bytes=gpu,
        )
