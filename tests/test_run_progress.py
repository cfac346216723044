"""What `mlprov run` shows while it runs: a bar on a terminal, plain lines in a log, nothing with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from tests.bad_input import MLPROV
from tests.conftest import make_plan
from tests.test_run_signals import sleepy_notebook


def _env(tmp_path: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MLPROV_STORE"}, "MLPROV_STORE": str(tmp_path / "store")}


def test_a_run_into_a_log_shows_a_plain_line_a_cell_and_the_epochs(tmp_path):
    plan = make_plan(tmp_path / "iris.ttl", epochs="40")
    done = subprocess.run([*MLPROV, "run", str(plan)], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    cells = [line for line in lines if line.startswith("running: ") and line.endswith(" cells")]
    assert cells == [f"running: {i}/8 cells" for i in range(1, 9)]
    assert any(line.startswith("running: epoch ") for line in lines)
    assert "run urn:mlprov:run:" in done.stdout


def test_quiet_shows_no_progress(tmp_path):
    epochs = 'for epoch in range(1, 4):\n    run.log_metric("training_loss", 1 / epoch, split="train", epoch=epoch)'
    notebook = sleepy_notebook(tmp_path / "small.ipynb", ["", epochs, ""], completes=True)  # no torch: a quick real run
    done = subprocess.run([*MLPROV, "run", str(notebook), "--quiet"], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "completed" in done.stdout


def test_on_a_terminal_the_progress_is_a_bar(tmp_path):
    notebook = sleepy_notebook(tmp_path / "small.ipynb", ["", "time.sleep(0.5)", "", ""], completes=True)  # no torch: a quick real run
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen([*MLPROV, "run", str(notebook)], cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=600) == 0
    text = shown.decode("utf-8", "replace")
    assert "running:" in text and "4/4" in text and ("cell/s" in text or "s/cell" in text), text[-2000:]
    assert "running: 1/4 cells\n" not in text.replace("\r\n", "\n")  # a bar, not lines
