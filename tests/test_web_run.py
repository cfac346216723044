"""The run page of a real `mlprov serve` over real runs: its sections, its figure route (which
serves only the run's own recorded figures), 404s, escaping, and in Chromium its plotly curves."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import pytest

from mlprov_rdf.run_record import read_run_record
from mlprov_rdf.store import open_store
from tests.test_queries_real_runs import make_two_runs
from tests.web_support import get, live_server

SECTIONS = ["summary", "environment", "settings", "results", "curves", "figures", "lineage", "cells"]


def _run_id(run: str) -> str:
    return run.rsplit(":", 1)[1]


def _page(web_server, run: str) -> str:
    status, headers, body = get(f"{web_server}/run/{_run_id(run)}")
    assert status == 200 and {k.lower(): v for k, v in headers.items()}["content-type"].startswith("text/html")
    return body.decode("utf-8")


def test_the_run_page_has_its_sections_in_order_and_links_to_plan_graph_and_compare(web_server, web_store):
    text = _page(web_server, web_store.runs[0])
    positions = [text.index(f'<section id="{name}">') for name in SECTIONS]
    assert positions == sorted(positions)
    assert f'href="/plan?iri={quote(web_store.plans[0], safe="")}"' in text
    assert f'href="/graph?iri={quote(web_store.runs[0], safe="")}"' in text
    assert 'action="/compare"' in text and f'name="run" value="{web_store.runs[0]}"' in text
    assert re.search(r"<td>optimizer</td><td[^>]*>Adam</td>", text)
    assert re.search(r"<td>accuracy</td><td>test</td><td></td><td[^>]*>[0-9.]+</td>", text)
    assert "edited by hand" not in text  # no cell departed from the plan


def test_a_derived_run_shows_the_plan_it_was_derived_from(web_server, web_store):
    text = _page(web_server, web_store.runs[1])
    derived = re.search(r'<dd class="derived-from"><a href="([^"]+)">', text)
    assert derived and derived.group(1) == f"/plan?iri={quote(web_store.plans[0], safe='')}"


def test_a_clustering_run_renders_without_curves(web_server, web_store):
    text = _page(web_server, web_store.runs[3])
    assert '<section id="curves">' not in text and "cluster_count" in text and "cluster scatter" in text


def test_hostile_plan_title_and_step_label_are_escaped(web_server, web_store):
    text = _page(web_server, web_store.runs[0])
    assert '<script>document.title="pwned"' not in text and "<img src=x" not in text
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=" in text


def test_an_unknown_run_is_a_404_page_with_one_line(web_server, web_store):
    for path in ("/run/20000101T000000-00000000", "/run?iri=" + quote("https://example.org/no-such-run")):
        status, _, body = get(web_server + path)
        assert status == 404, path
        message = re.search(r'<p class="error" id="error-message">([^<]*)</p>', body.decode()).group(1)
        assert "not in this store" in message and "\n" not in message
    status, _, _ = get(web_server + "/run?iri=")
    assert status == 400


def test_the_figure_route_serves_the_recorded_file_and_nothing_else(web_server, web_store):
    with open_store(web_store.location, create=False, read_only=True) as store:
        (figure,) = read_run_record(store, web_store.runs[0]).figures
        (other,) = read_run_record(store, web_store.runs[1]).figures
    text = _page(web_server, web_store.runs[0])
    src = re.search(r'<img src="([^"]+)" alt="loss curve">', text).group(1).replace("&amp;", "&")
    status, headers, body = get(web_server + src)
    assert status == 200 and {k.lower(): v for k, v in headers.items()}["content-type"] == "image/png"
    assert hashlib.sha256(body).hexdigest() == figure.sha256
    run = quote(web_store.runs[0], safe="")
    for iri in ("file:///etc/passwd", other.iri, figure.location):  # a path, another run's figure, a location
        status, _, _ = get(f"{web_server}/artifact?run={run}&iri={quote(iri, safe='')}")
        assert status == 404, iri


def test_the_run_page_draws_its_loss_curve_and_shows_its_figure_in_chromium(watched_page, web_store):
    response = watched_page.goto(f"/run/{_run_id(web_store.runs[0])}")
    assert response.status == 200
    page = watched_page.page
    page.wait_for_selector("#curve-0 svg.main-svg", timeout=15000)
    assert page.locator("#curve-0 .scatterlayer .trace").count() == 1
    assert page.locator("#curve-0 .scatterlayer .point").count() == 12  # one point per epoch
    assert page.evaluate("document.querySelector('#figures img').naturalWidth") > 100
    assert "pwned" not in page.title()
    page.click("#cells li:first-child summary")
    assert page.locator("#cells li:first-child pre.code").is_visible()


@pytest.fixture(scope="module")
def edited_runs(tmp_path_factory):
    """Run A as generated, run B with a hand-edited evaluation cell and a failing added cell,
    served by their own `mlprov serve`."""
    runs = make_two_runs(tmp_path_factory)
    with live_server(runs["location"]) as base:
        yield base, runs


def test_a_hand_edited_and_an_added_cell_are_marked_and_the_failure_shown(edited_runs):
    base, runs = edited_runs
    text = _page(base, runs["b"])
    assert '<span class="status-Failed" id="run-status">Failed</span>' in text
    cells = re.findall(r'<li class="cell( cell-drifted)?">\s*<details>\s*<summary>(.*?)</summary>', text, re.S)
    marked = [summary for drifted, summary in cells if drifted]
    assert len(marked) == 2 and len(cells) == 9
    assert "edited by hand" in marked[0] and "Evaluate" in marked[0]
    assert "added by hand" in marked[1] and "Failed" in marked[1]
    assert '<pre class="error">ZeroDivisionError' in text
    assert "edited by hand" not in _page(base, runs["a"])


def test_comparing_the_edited_run_shows_the_source_diff_of_its_step(edited_runs):
    base, runs = edited_runs
    status, _, body = get(f"{base}/compare?run={quote(runs['a'], safe='')}&run={quote(runs['b'], safe='')}")
    assert status == 200
    diff = re.search(r'<pre class="source-diff">(.*?)</pre>', body.decode(), re.S).group(1)
    assert "+print(&#39;edited by hand&#39;)" in diff


def test_the_run_page_shows_what_the_run_and_each_cell_used(web_server, web_store):
    text = _page(web_server, web_store.runs[0])
    assert re.search(r"<dt>CPU time</dt><dd>[0-9.]+ s", text)
    assert re.search(r"<dt>peak memory</dt><dd>[0-9.]+ (MB|GB)</dd>", text)
    assert "<dt>peak GPU memory</dt>" not in text  # no CUDA here
    assert len(re.findall(r'<span class="muted usage">CPU [0-9.]+ s · peak [0-9.]+ (?:MB|GB)</span>', text)) >= 8
