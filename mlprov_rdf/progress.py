"""Progress of long commands (run, sweep, ingest, a folder's import) on stderr, as people
expect it from pip or papermill: a tqdm bar on a terminal; plain lines, at most one each
``every_s``, when stderr is a file or a pipe (a CI log): ``running: 3/8 cells``,
``running: epoch 5/40``; nothing with ``--quiet``. The command line's alone: the library
reports through callbacks."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


#: Seconds between plain lines of inner progress without a total (epochs of a long training).
INNER_LINE_S = 5.0


class Progress:
    """Counts of one kind of work (cells, runs, files) and, below them, of an inner one (epochs)."""

    def __init__(self, desc: str, unit: str, *, stream: TextIO, quiet: bool, every_s: float):
        self.desc, self.unit, self.stream, self.every_s = desc, unit, stream, every_s
        self.terminal = not quiet and stream.isatty()
        self.quiet = quiet
        self._bar = self._inner = None
        self._last_line, self._last_text = 0.0, ""
        self._inner_shown = 0
        self._inner_latest: tuple[int, int | None, str] | None = None
        if self.terminal:
            from tqdm import tqdm

            self._tqdm = tqdm
            self._bar = tqdm(total=None, unit=unit, desc=desc, file=stream, leave=True)

    def set(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` finished."""
        self.close_inner()
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)
        elif not self.quiet and (done == total or time.monotonic() - self._last_line >= self.every_s):
            self._line(f"{self.desc}: {done}/{total if total is not None else '?'} {self.unit}s")

    def set_inner(self, done: int, total: int | None, unit: str) -> None:
        """Progress inside the current piece of work (epochs inside a training cell)."""
        if self.terminal:
            if self._inner is None:
                self._inner = self._tqdm(total=total, unit=unit, desc=f"  {unit}s", file=self.stream, leave=False, position=1)
            self._inner.total = total
            self._inner.update(done - self._inner.n)
        elif not self.quiet and total:
            if done * 10 // total > self._inner_shown:  # a line each tenth
                self._inner_shown = done * 10 // total
                self._line(f"{self.desc}: {unit} {done}/{total}")
        elif not self.quiet and time.monotonic() - self._last_line >= INNER_LINE_S:
            self._line(f"{self.desc}: {unit} {done}")
        self._inner_latest = (done, total, unit)

    def close_inner(self) -> None:
        """The inner work is over: its bar closes; in a log, its last count is said if no line said it."""
        if self._inner is not None:
            self._inner.close()
            self._inner = None
        latest, self._inner_latest = self._inner_latest, None
        if latest is not None and not self.terminal and not self.quiet:
            done, total, unit = latest
            line = f"{self.desc}: {unit} {done}" + (f"/{total}" if total else "")
            if line != self._last_text:
                self._line(line)
        self._inner_shown = 0

    def write(self, line: str) -> None:
        """A message: above the bar on a terminal; always shown, even with --quiet."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        self.close_inner()
        if self._bar is not None:
            self._bar.close()

    def _line(self, text: str) -> None:
        self._last_line, self._last_text = time.monotonic(), text
        print(text, file=self.stream, flush=True)


@contextmanager
def progress(desc: str, unit: str, *, quiet: bool = False, every_s: float = 0.0,
             stream: TextIO | None = None) -> Iterator[Progress]:
    """A :class:`Progress` for a command's work. ``every_s``: the least time between plain
    lines where stderr is no terminal (0: a line for each step; the last step always gets one)."""
    shown = Progress(desc, unit, stream=stream or sys.stderr, quiet=quiet, every_s=every_s)
    try:
        yield shown
    finally:
        shown.close()
