"""Stopping the servers tests start: SIGTERM, then SIGKILL if it does not exit in time."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, timeout_s: float = 10) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
