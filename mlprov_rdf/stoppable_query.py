"""Running a query where it can be stopped: in a forked child process with a deadline.

pyoxigraph evaluates a query in one Rust call that neither a time limit nor Ctrl-C can
interrupt, and the embedded store stays locked for writers while it runs. So a user's
query runs in a child process forked for it: the child opens the store, runs the query,
sends the answer back as bytes and exits. The parent waits with a deadline; at the
deadline, or on Ctrl-C, it kills the child, and the kernel releases the store's lock with
it, so a writer waiting for the store (``mlprov run``, which waits up to two minutes)
gets it at once. The deadline counts from the moment the child has the store open:
waiting for another process's lock is the store's own wait, not the query's time.

Forking costs about a millisecond, and the parent never opens the embedded store, so the
child holds the only handle. A server store (``--store URL``) takes the same path: killing
the child closes the HTTP connection, which bounds the request on the client side.
"""

from __future__ import annotations

import logging
import math
import os
import select
import signal
import sys
import time
import traceback
from typing import Callable

from . import errors
from .errors import QueryTimeout, UserError
from .store import RemoteStore, Store, StoreLocation, open_store

log = logging.getLogger(__name__)

#: Seconds a query may run when no limit is given: well below the two minutes a writer
#: waits for the embedded store, so a reader never makes a writer give up.
DEFAULT_TIMEOUT_S = 60.0

_OPENED = b"O"  # the child has the store open: the query's time starts
_ANSWER = b"A"  # then the answer's bytes
_FAILED = b"F"  # then "KIND\nmessage": UserError subclass name, SyntaxError or another error
_PR_SET_PDEATHSIG = 1


def check_timeout(timeout_s: float) -> float:
    """The limit in seconds, or a UserError for one that is not a positive finite number."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not math.isfinite(timeout_s) or timeout_s <= 0:
        raise UserError(
            f"--timeout {timeout_s}: give the seconds a query may run, a number above 0 "
            f"(default {DEFAULT_TIMEOUT_S:g})"
        )
    return float(timeout_s)


def run_in_child(
    location: StoreLocation,
    job: Callable[[Store | RemoteStore], bytes],
    *,
    timeout_s: float,
    label: str,
) -> bytes:
    """What ``job(store)`` returns, computed in a child process that is killed at the deadline.

    ``job`` runs in the child with the store open; a UserError or SyntaxError it raises
    comes back as the same error here. ``label`` names the query in messages.
    """
    timeout_s = check_timeout(timeout_s)
    if not hasattr(os, "fork"):  # no fork (Windows): run here, unstoppable
        with open_store(location, create=False, read_only=True) as store:
            return job(store)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(location, job, write_fd)
    os.close(write_fd)
    try:
        message = _read_message(pid, read_fd, timeout_s, label)
    finally:
        os.close(read_fd)
        status = os.waitpid(pid, 0)[1]  # reaped: its lock is released by now
    return _answer(message, status, label)


def _child(location: StoreLocation, job: Callable[[Store | RemoteStore], bytes], write_fd: int) -> None:
    """Open the store, run the job, write its answer or its error, exit without cleanup."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us
        _die_with_parent()
        with open_store(location, create=False, read_only=True) as store:
            _write_all(write_fd, _OPENED)
            answer = job(store)
        _write_all(write_fd, _ANSWER + answer)
    except UserError as error:
        _write_all(write_fd, _FAILED + f"{type(error).__name__}\n{error}".encode("utf-8", "replace"))
    except SyntaxError as error:
        _write_all(write_fd, _FAILED + f"SyntaxError\n{error}".encode("utf-8", "replace"))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises it
        log.debug("query process failed:\n%s", traceback.format_exc())
        _write_all(write_fd, _FAILED + f"{type(error).__name__}\n{error}".encode("utf-8", "replace"))
        code = 1
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this child if the parent dies (kill -9 included)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_message(pid: int, read_fd: int, timeout_s: float, label: str) -> bytes:
    """All the child writes; the child is killed when its query passes the deadline."""
    chunks: list[bytes] = []
    opened = False
    deadline = math.inf
    poller = select.poll()
    poller.register(read_fd, select.POLLIN | select.POLLHUP)
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                _kill(pid)
                raise QueryTimeout(
                    f"query {label}: stopped after {timeout_s:g} s; narrow it (e.g. -p run=...) "
                    "or allow more time (--timeout S; timeout= in Python); a small query that never ends "
                    "can mean a damaged store: 'mlprov store check' tells"
                )
            wait_ms = None if deadline == math.inf else max(1, int((deadline - now) * 1000))
            if not poller.poll(wait_ms):
                continue
            data = os.read(read_fd, 1 << 20)
            if not data:
                break
            if not opened:
                opened = True
                deadline = time.monotonic() + timeout_s
                data = data[len(_OPENED):] if data.startswith(_OPENED) else data
            chunks.append(data)
    except KeyboardInterrupt:
        _kill(pid)
        raise
    return b"".join(chunks)


def _answer(message: bytes, status: int, label: str) -> bytes:
    """The answer's bytes, or the child's error raised here."""
    if message.startswith(_ANSWER):
        return message[len(_ANSWER):]
    if message.startswith(_FAILED):
        kind, _, text = message[len(_FAILED):].decode("utf-8", "replace").partition("\n")
        if kind == "SyntaxError":
            raise SyntaxError(text)
        error_type = getattr(errors, kind, None)
        if isinstance(error_type, type) and issubclass(error_type, UserError):
            raise error_type(text)
        raise RuntimeError(f"{kind}: {text}")
    raise UserError(
        f"query {label}: the query process ended without an answer ({_describe(status)}); "
        "the store is unchanged; run it again with -v to see why"
    )


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
