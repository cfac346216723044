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

Opening the embedded store costs 10 ms or more, far more than a query about one run. A
:class:`QuerySession` (the Python API's, the web app's) keeps one child for many queries:
it opens the store once and keeps it open while queries come, closing it when none has
come for ``idle_s`` or as soon as a writer waits for the store (``store.writer_waiting``),
and opening it again for the next query. A one-off query (:func:`run_in_child` without a
session) is a session used once: one protocol, one child. The job that starts a child
travels with the fork (any callable); later ones are sent to it pickled.

A job that reads the run summaries (``reads_summaries``) is preceded, once per opening of
the store, by the child's check that a store with runs has them (``run_summaries.missing``,
one lookup). A store an earlier mlprov wrote lacks them: the child lets go of the store and
says so, the parent builds them under the write lock and runs the job again.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
import traceback
from contextlib import ExitStack
from functools import partial
from typing import Any, Callable

from . import errors
from . import run_summaries
from .errors import DEFAULT_TIMEOUT_S, QueryTimeout, UserError
from .store import RemoteStore, Store, StoreLocation, open_store, writer_waiting

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TIMEOUT_S", "QuerySession", "check_timeout", "read_in_child", "run_in_child"]

_OPENED = b"O"  # the child has the store open: the query's time starts
_ANSWER = b"A"  # then the answer's bytes
_FAILED = b"F"  # then "KIND\nmessage": UserError subclass name, SyntaxError or another error
_UNBUILT = b"U"  # the job reads the run summaries, which the store lacks: built, then asked again
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
    session: "QuerySession | None" = None,
    reads_summaries: bool = False,
) -> bytes:
    """What ``job(store)`` returns, computed in a child process that is killed at the deadline.

    ``job`` runs in the child with the store open; a UserError or SyntaxError it raises
    comes back as the same error here. ``label`` names the query in messages. With a
    ``session`` (of the same store) the job runs in the session's child: it must pickle;
    without one, in a session used once. ``reads_summaries``: the job reads the run
    summaries, built first if the store lacks them.
    """
    timeout_s = check_timeout(timeout_s)
    if session is not None:
        return session.run(job, timeout_s=timeout_s, label=label, reads_summaries=reads_summaries)
    with QuerySession(location) as once:
        return once.run(job, timeout_s=timeout_s, label=label, reads_summaries=reads_summaries)


def read_in_child(location: StoreLocation, read: Callable[..., Any], *args: Any, timeout_s: float, label: str,
                  session: "QuerySession | None" = None) -> Any:
    """``read(store, *args)`` computed as :func:`run_in_child` computes a job, its value pickled back."""
    return pickle.loads(run_in_child(location, partial(_pickled, read, args), timeout_s=timeout_s, label=label,
                                     session=session))


def _pickled(read: Callable[..., Any], args: tuple, store: Store | RemoteStore) -> bytes:
    return pickle.dumps(read(store, *args))


#: How long a session keeps the store open after its last job. Long: a writer never waits for
#: it (the child lets go within 50 ms of a writer's wait, ``store.writer_waiting``) and, while it
#: holds the store, nothing can change it, so nothing it answers is stale; and a session that
#: reopened the store after each pause of a user's would pay 10 ms or more a question.
IDLE_S = 30.0


class QuerySession:
    """One child process that answers many jobs with the store kept open between them.

    Thread-safe (one job at a time). The job that starts the child travels with the fork;
    later ones are pickled. A job that passes its deadline, or a Ctrl-C, kills the child;
    the next job starts a new one. ``close`` ends it.
    """

    def __init__(self, location: StoreLocation, *, idle_s: float = IDLE_S, wait_s: float = 120.0):
        self.location = location
        self.idle_s = idle_s
        self.wait_s = wait_s  # how long the child waits for a store a writer holds
        self._pid: int | None = None
        self._requests = self._answers = -1
        self._lock = threading.Lock()

    def __enter__(self) -> "QuerySession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, job: Callable[[Store | RemoteStore], bytes], *, timeout_s: float, label: str,
            reads_summaries: bool = False) -> bytes:
        if not hasattr(os, "fork"):  # no fork (Windows): run here, unstoppable
            return _run_here(self.location, job, reads_summaries, self.wait_s)
        message, status = self._answered((job, reads_summaries), timeout_s, label)
        if message == _UNBUILT:  # the child let go of the store: built here, then the job again
            run_summaries.build_missing(self.location)
            message, status = self._answered((job, False), timeout_s, label)
        return _answer(message, status, label)

    def _answered(self, request: tuple[Callable, bool], timeout_s: float, label: str) -> tuple[bytes, int]:
        """The child's answer to one job (b"" if it died first) and, if it died, its exit status."""
        with self._lock:
            try:
                if self._pid is None or not _alive(self._pid):
                    self._start(request)  # the job travels with the fork
                else:
                    pickled = pickle.dumps(request)
                    _write_all(self._requests, struct.pack(">Q", len(pickled)) + pickled)
                message = _read_message(self._pid, self._answers, timeout_s, label)
            except BaseException:
                self._stop()  # killed at the deadline or on Ctrl-C, or gone: the next job starts another
                raise
            if not message or message == _UNBUILT:  # died without an answer, or starts afresh after the build
                return message, self._stop()
        return message, 0

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self, first: tuple[Callable, bool]) -> None:
        self._stop()
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(requests_write)
            os.close(answers_read)
            _session_child(self.location, first, requests_read, answers_write, self.idle_s, self.wait_s)
        os.close(requests_read)
        os.close(answers_write)
        self._pid, self._requests, self._answers = pid, requests_write, answers_read

    def _stop(self) -> int:
        if self._pid is None:
            return 0
        _kill(self._pid)
        os.close(self._requests)
        os.close(self._answers)
        try:
            status = os.waitpid(self._pid, 0)[1]  # reaped: its lock is released by now
        except ChildProcessError:
            status = 0  # reaped already, by _alive
        self._pid = None
        return status


def _alive(pid: int) -> bool:
    return os.waitpid(pid, os.WNOHANG) == (0, 0)


def _run_here(location: StoreLocation, job: Callable[[Store | RemoteStore], bytes], reads_summaries: bool,
              wait_s: float) -> bytes:
    """The job in this process, where there is no fork: the same summaries check, nothing to stop it."""
    with open_store(location, create=False, read_only=True, wait_s=wait_s) as store:
        if not (reads_summaries and run_summaries.missing(store)):
            return job(store)
    run_summaries.build_missing(location)
    with open_store(location, create=False, read_only=True, wait_s=wait_s) as store:
        return job(store)


def _session_child(location: StoreLocation, first: tuple[Callable, bool], requests_fd: int, answers_fd: int,
                   idle_s: float, wait_s: float) -> None:
    """Answer ``first``, then framed, pickled jobs until the parent closes the pipe; the store
    stays open between jobs until ``idle_s`` pass without one or a writer waits for it."""
    code = 0
    opened = ExitStack()
    store = None
    checked = False  # whether the summaries were found built since the store was opened
    request: tuple[Callable, bool] | None = first
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us
        _die_with_parent()
        poller = select.poll()
        poller.register(requests_fd, select.POLLIN | select.POLLHUP)
        last = time.monotonic()
        while True:
            if request is None:
                if store is not None and (time.monotonic() - last > idle_s or writer_waiting(location)):
                    opened.close()
                    store = None
                if not poller.poll(50 if store is not None else None):
                    continue
                header = _read_exactly(requests_fd, 8)
                if header is None:
                    break  # the parent closed the session
                request = pickle.loads(_read_exactly(requests_fd, struct.unpack(">Q", header)[0]) or b"")
            job, reads_summaries = request
            request = None
            if store is not None and writer_waiting(location):
                opened.close()
                store = None
            try:
                if store is None:
                    store = opened.enter_context(open_store(location, create=False, read_only=True, wait_s=wait_s))
                    checked = False
                _write_all(answers_fd, _OPENED)
                if reads_summaries and not checked:
                    if run_summaries.missing(store):
                        opened.close()  # the parent builds them: it needs the store to itself
                        store = None
                        _write_frame(answers_fd, _UNBUILT)
                        continue
                    checked = True
                _write_frame(answers_fd, _ANSWER + job(store))
            except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises it
                failure = error
                try:  # through open_store, which names damage a job met (StoreDamaged), as a `with` would
                    opened.__exit__(type(error), error, error.__traceback__)
                except BaseException as named:  # noqa: BLE001
                    failure = named
                opened, store = ExitStack(), None  # a failing store is opened afresh for the next job
                _write_frame(answers_fd, _failure(failure))
            last = time.monotonic()
    except BaseException:  # noqa: BLE001
        log.debug("query session process failed:\n%s", traceback.format_exc())
        code = 1
    finally:
        os._exit(code)


def _failure(error: BaseException) -> bytes:
    """How a job's error travels to the parent: the kind, a newline, the message."""
    if isinstance(error, UserError):
        try:  # the error itself, subclass and attributes (a RunNotFound's 404) included
            return _FAILED + b"pickle\n" + pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an error that does not pickle travels as its text
            kind = type(error).__name__
    elif isinstance(error, SyntaxError):
        kind = "SyntaxError"
    else:
        log.debug("query process failed:\n%s", traceback.format_exc())
        kind = type(error).__name__
    return _FAILED + f"{kind}\n{error}".encode("utf-8", "replace")


def _write_frame(fd: int, data: bytes) -> None:
    _write_all(fd, struct.pack(">Q", len(data)) + data)


def _read_exactly(fd: int, n: int) -> bytes | None:
    """``n`` bytes, or None at the end of the pipe."""
    chunks, got = [], 0
    while got < n:
        data = os.read(fd, min(n - got, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


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
    """The child's one length-prefixed answer, or b"" if it died first; the child is killed
    when its query passes the deadline, counted from the moment it has the store open."""
    chunks: list[bytes] = []
    size, expected = 0, None
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
                return b""
            if not opened:
                opened = True
                deadline = time.monotonic() + timeout_s
                data = data[len(_OPENED):] if data.startswith(_OPENED) else data
            chunks.append(data)
            size += len(data)
            if expected is None and size >= 8:
                expected = 8 + struct.unpack(">Q", b"".join(chunks)[:8])[0]
            if expected is not None and size >= expected:
                return b"".join(chunks)[8:]
    except KeyboardInterrupt:
        _kill(pid)
        raise


def _answer(message: bytes, status: int, label: str) -> bytes:
    """The answer's bytes, or the child's error raised here."""
    if message.startswith(_ANSWER):
        return message[len(_ANSWER):]
    if message.startswith(_FAILED):
        kind_bytes, _, rest = message[len(_FAILED):].partition(b"\n")
        kind, text = kind_bytes.decode("utf-8", "replace"), rest.decode("utf-8", "replace")
        if kind == "pickle":
            raise pickle.loads(rest)
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
