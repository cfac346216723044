"""Throwaway SPARQL servers on 127.0.0.1: Oxigraph's server and Virtuoso, each a context
manager that starts one on free ports with a database folder of its own, yields its URL
once it answers, and stops it (SIGTERM) on exit. The backend tests and
``benchmarks/server_bench.py`` start their servers through here, so both run the same way.

A free port can be taken by another process before the server binds it: a server that does
not answer is killed and started again on new ports, three times at most.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import stop

VIRTUOSO = shutil.which("virtuoso-t")
ISQL = shutil.which("isql-vt")
HAVE_VIRTUOSO = bool(VIRTUOSO and ISQL)
NO_VIRTUOSO = "virtuoso-t or isql-vt is missing: apt-get install virtuoso-opensource"
ATTEMPTS = 3

VIRTUOSO_INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
TempStorage = TempDatabase
[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx
[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
CaseMode = 2
DirsAllowed = ., {db}
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
ServerThreads = 4
[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {db}
ServerThreads = 4
MaxKeepAlives = 4
KeepAliveTimeout = 10
Charset = UTF-8
EnabledDavVSP = 0
[SPARQL]
ResultSetMaxRows = {max_rows}
MaxQueryExecutionTime = 60
MaxQueryCostEstimationTime = 400
"""
VIRTUOSO_MAX_ROWS = 50000


class ServerDidNotStart(RuntimeError):
    """The server's binary is missing, or it did not answer after every attempt."""


@dataclass(frozen=True)
class VirtuosoServer:
    url: str  # the SPARQL endpoint, http://127.0.0.1:PORT/sparql
    sql_port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oxigraph_binary() -> str:
    """``oxigraph`` beside this Python (the ``oxigraph`` package of the test extra), else on PATH."""
    found = Path(sys.executable).parent / "oxigraph"
    if found.is_file():
        return str(found)
    on_path = shutil.which("oxigraph")
    if on_path:
        return on_path
    raise ServerDidNotStart("the 'oxigraph' server binary is missing: install the test extra (pip install -e '.[test]')")


def oxigraph_ready(url: str) -> bool:
    request = urllib.request.Request(
        url + "query", data=b"ASK {}", headers={"Content-Type": "application/sparql-query"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def virtuoso_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "?query=ASK%7B%7D", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def isql(port: int, statement: str) -> None:
    """One SQL statement on Virtuoso's SQL port, as the database administrator."""
    if not ISQL:
        raise ServerDidNotStart(NO_VIRTUOSO)
    done = subprocess.run([ISQL, str(port), "dba", "dba", f"exec={statement}"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0 or "Error" in done.stdout + done.stderr:
        raise RuntimeError(f"isql-vt {port}: {statement}: {(done.stdout + done.stderr).strip()}")


def _started(command: list[str], cwd: Path, log_path: Path, ready, wait_s: float) -> subprocess.Popen | None:
    """The server process once ``ready()`` answers; None (the process killed) if it does not in time."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            return process
        time.sleep(0.1)
    process.kill()
    process.wait()
    return None


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-500:] if path.is_file() else ""


@contextmanager
def oxigraph_server(folder: Path) -> Iterator[str]:
    """``oxigraph serve`` on the database ``folder/db`` (created, or reused as it is):
    the server root URL, ``http://127.0.0.1:PORT/``."""
    binary = oxigraph_binary()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    wait_s = 120 if (folder / "db").exists() else 15  # a database written to replays its log first
    for _ in range(ATTEMPTS):
        bind = f"127.0.0.1:{free_port()}"
        url = f"http://{bind}/"
        command = [binary, "serve", "--location", str(folder / "db"), "--bind", bind]
        process = _started(command, folder, log, lambda: oxigraph_ready(url), wait_s)
        if process is not None:
            break
    else:
        raise ServerDidNotStart(f"oxigraph serve did not start: {_log_tail(log)}")
    try:
        yield url
    finally:
        stop(process)


@contextmanager
def virtuoso_server(folder: Path, *, max_rows: int = VIRTUOSO_MAX_ROWS) -> Iterator[VirtuosoServer]:
    """``virtuoso-t`` with its database in ``folder`` (created, or reused as it is), its
    SPARQL user allowed to update (``grant SPARQL_UPDATE`` on a new database)."""
    if not HAVE_VIRTUOSO:
        raise ServerDidNotStart(NO_VIRTUOSO)
    folder.mkdir(parents=True, exist_ok=True)
    fresh = not (folder / "virtuoso.db").exists()
    log = folder / "server.log"
    for _ in range(ATTEMPTS):
        sql_port, http_port = free_port(), free_port()
        (folder / "virtuoso.ini").write_text(
            VIRTUOSO_INI.format(db=folder, sql_port=sql_port, http_port=http_port, max_rows=max_rows))
        url = f"http://127.0.0.1:{http_port}/sparql"
        command = [VIRTUOSO, "+foreground", "+configfile", str(folder / "virtuoso.ini")]
        process = _started(command, folder, log, lambda: virtuoso_ready(url), 60)  # a new database takes seconds
        if process is not None:
            break
        if fresh:  # a database half created by the killed attempt is not reused
            for name in ("virtuoso.db", "virtuoso.trx", "virtuoso.lck", "virtuoso.pxa", "virtuoso-temp.db", "virtuoso-temp.trx"):
                (folder / name).unlink(missing_ok=True)
    else:
        raise ServerDidNotStart(f"virtuoso-t did not start: {_log_tail(log)}")
    try:
        if fresh:  # a database keeps its grants; granting twice is an error
            isql(sql_port, 'grant SPARQL_UPDATE to "SPARQL";')
        yield VirtuosoServer(url, sql_port)
    finally:
        stop(process, 30)
