"""`mlprov serve`: a real server on 127.0.0.1, its defaults, its assets and its safety headers."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.web_support import free_port, get, live_server


def test_server_answers_on_loopback_with_a_policy_that_forbids_other_hosts(web_server):
    status, headers, body = get(web_server + "/static/app.css")
    assert status == 200
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert headers["x-content-type-options"] == "nosniff"


def test_root_leads_to_the_runs_page(web_server):
    status, _, _ = get(web_server + "/")
    assert status == 200  # urllib follows the redirect to /runs


def test_vendor_scripts_are_served_from_the_installed_packages(web_server):
    for name, marker in [("vis-network.min.js", b"vis"), ("plotly.min.js", b"plotly")]:
        status, headers, body = get(web_server + "/vendor/" + name)
        assert status == 200 and marker in body[:5000].lower(), name
    assert get(web_server + "/vendor/../../etc/passwd")[0] == 404


def test_unknown_page_is_a_404_page_that_escapes_the_path(web_server):
    status, _, body = get(web_server + "/no-such-page-%3Cscript%3E")
    assert status == 404
    assert b"<script>" not in body.split(b"</header>")[-1]


def test_pages_refuse_writes(web_server):
    status, _, _ = get(web_server + "/runs", data=b"x=1")
    assert status == 405


def test_listening_beyond_loopback_warns_that_there_is_no_login(web_store):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlprov_rdf", "serve", "--store", str(web_store.location.home), "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _up(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _up(port)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "no login" in stderr and "0.0.0.0" in stderr


def _up(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/static/app.css")[0] == 200
    except OSError:
        return False


def test_a_store_that_does_not_exist_is_one_line_on_the_page(tmp_path):
    from mlprov_rdf.store import StoreLocation

    with live_server(StoreLocation(tmp_path / "nothing-here")) as base:
        status, _, body = get(base + "/runs")
    assert status in (400, 404)
    assert b"nothing-here" in body
