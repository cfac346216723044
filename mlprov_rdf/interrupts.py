"""Ctrl-C and SIGTERM turned from exceptions into requests, for the spans that must not be cut.

A ``KeyboardInterrupt`` may land on any bytecode, also inside a context manager's exit
before it has released what it holds (a store's lock). Code that must finish first (a
kernel's run, which stops itself; a store write that must be followed by another) takes
the signals as requests instead. Handlers can be set in the main thread only; elsewhere
the signals keep their usual behaviour.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_to(request: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM call ``request("SIGINT")`` (or ``"SIGTERM"``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in saved:
        signal.signal(signum, lambda signum, _frame: request(signal.Signals(signum).name))
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """The block finishes; a signal that came meanwhile is then acted on as it would have been."""
    came: list[str] = []
    with signals_to(came.append):
        yield
    if came:
        signal.raise_signal(signal.Signals[came[0]])
