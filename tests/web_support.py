"""Fixtures for the web app: a store of real runs, a real `mlprov serve` on 127.0.0.1 and a
real Chromium driven by Playwright (Debian's package; skipped with a reason where missing).

The store holds four real runs: an Iris plan whose title and step labels carry HTML and
script payloads (plan text is untrusted), two plans derived from it with `-p`, and one
clustering run, so every page is exercised with hostile text and with derived plans.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.store import StoreLocation
from mlprov_rdf.tasks import all_tasks
from mlprov_rdf.workflow import run
from tests.processes import stop

#: Text a hostile plan author writes into titles and labels; no page may run or render it as markup.
HOSTILE_TITLE = 'Iris <script>document.title="pwned"</script> plan'
HOSTILE_LABEL = '"><img src=x onerror="document.title=\'pwned\'">'

CHROMIUM_MISSING = (
    "no Chromium found: the browser tests drive Debian's chromium package "
    "(apt-get install chromium), or set MLPROV_CHROMIUM to a Chromium binary"
)


def pytest_addoption(parser) -> None:
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="write a PNG of each page of mlprov serve into DIR (as docs/screenshots/ holds)")


@dataclass
class WebStore:
    """The store the web tests read, and the runs and plans it holds."""

    location: StoreLocation
    runs: list[str]  # run IRIs: hostile Iris, derived SGD, derived epochs, clustering
    plans: list[str]  # plan IRIs in the same order
    root: Path


def _hostile_iris_plan(path: Path) -> Path:
    write_plan(all_tasks()["multiclass-classification"], path, title=HOSTILE_TITLE, author="Test Author")
    text = path.read_text()
    text, n = re.subn(r'(mlprov:parameterName "epochs" ;\n    prov:value )\d+ \.', r"\g<1>12 .", text)
    assert n == 1
    # the first step's label becomes the payload: labels are shown on every graph and table
    text, n = re.subn(r'(\n    rdfs:label )"[^"\n]*"', lambda m: m.group(1) + '"' + HOSTILE_LABEL.replace('"', '\\"') + '"', text, count=1)
    assert n == 1
    path.write_text(text)
    return path


def _record(location: StoreLocation, plan_file: Path, output: Path, **overrides: str):
    outcome = run(plan_file, location, output=output, overrides=overrides or None)
    assert outcome.ok, outcome.error
    return outcome


@pytest.fixture(scope="session")
def web_store(tmp_path_factory) -> WebStore:
    """Four real runs in one on-disk store (about half a minute, once per session)."""
    root = tmp_path_factory.mktemp("web-store")
    location = StoreLocation(root / "store")
    iris = _hostile_iris_plan(root / "iris.ttl")
    outcomes = [
        _record(location, iris, root / "iris.ipynb"),
        _record(location, iris, root / "iris-sgd.ipynb", optimizer="SGD"),
        _record(location, iris, root / "iris-e20.ipynb", epochs="20"),
    ]
    clustering = root / "clusters.ttl"
    write_plan(all_tasks()["clustering"], clustering, title="Blobs clustering", author="Test Author")
    outcomes.append(_record(location, clustering, root / "clusters.ipynb"))
    return WebStore(
        location=location,
        runs=[o.run for o in outcomes],
        plans=[o.generated.plan.iri for o in outcomes],
        root=root,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(location: StoreLocation, *extra: str, timeout_s: float = 30.0) -> Iterator[str]:
    """`mlprov serve` in its own process on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "mlprov_rdf", "serve", "--store", str(location.home), "--port", str(port), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"mlprov serve exited {process.returncode}: {process.stderr.read()}")
            try:
                with urllib.request.urlopen(base + "/static/app.css", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("mlprov serve did not answer within 30 s") from None
                time.sleep(0.1)
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="session")
def web_server(web_store) -> Iterator[str]:
    """A real `mlprov serve` over the web store, for the whole session: its base URL."""
    with live_server(web_store.location) as base:
        yield base


def get(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request: status, headers and body, errors included (no exception for 4xx/5xx)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def chromium_path() -> str | None:
    found = os.environ.get("MLPROV_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium through Playwright, with no background requests of its own."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class WatchedPage:
    """A browser page that records console errors, page errors and every request it makes."""

    page: object
    base: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def goto(self, path: str):
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but this server (data: and blob: URLs stay in the page)."""
        return [url for url in self.requests if not url.startswith((self.base + "/", "data:", "blob:", "about:"))]


@pytest.fixture
def watched_page(browser, web_server) -> Iterator[WatchedPage]:
    """A fresh page on the live server; after the test, no console error and no foreign request."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watched = WatchedPage(page=page, base=web_server)
    page.on("console", lambda message: message.type == "error" and watched.console_errors.append(message.text))
    page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
    page.on("request", lambda request: watched.requests.append(request.url))
    try:
        yield watched
        assert watched.console_errors == [], watched.console_errors
        assert watched.foreign_requests() == [], watched.foreign_requests()
    finally:
        context.close()
