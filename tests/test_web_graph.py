"""The graph explorer of a real `mlprov serve` over the web store's real runs: the summary and
neighbours JSON over HTTP, the size guard, and in a real Chromium the explorer itself
(expansion on click, filter by kind, ?node= with back, PNG export, hostile labels as text)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from mlprov_rdf.browse.explore import neighbours, read_view_triples, summary, view_of
from mlprov_rdf.store import open_store
from tests.web_support import HOSTILE_LABEL, HOSTILE_TITLE, get


def _json(web_server: str, path: str) -> dict:
    status, headers, body = get(web_server + path)
    assert status == 200, (path, body[:300])
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def _summary_path(iri: str) -> str:
    return "/graph/summary.json?iri=" + quote(iri, safe="")


def _neighbours_path(iri: str, node: str) -> str:
    return f"/graph/neighbours.json?iri={quote(iri, safe='')}&node={quote(node, safe='')}"


def _graph_path(iri: str, node: str | None = None) -> str:
    return "/graph?iri=" + quote(iri, safe="") + (f"&node={quote(node, safe='')}" if node else "")


def _first_step(data: dict) -> dict:
    return min((n for n in data["nodes"] if n["mlprovKind"] == "step"), key=lambda n: n["level"])


# -- HTTP ------------------------------------------------------------------------------


def test_a_runs_summary_holds_pipeline_data_model_results_and_folds_environment_and_series(web_server, web_store):
    data = _json(web_server, _summary_path(web_store.runs[0]))
    kinds = {n["mlprovKind"] for n in data["nodes"]}
    assert {"plan", "step", "run", "setting", "data", "model", "metric", "environment"} <= kinds
    assert not kinds & {"cell", "agent"}  # the machinery waits for a click
    hubs = [n for n in data["nodes"] if n.get("mlprovHub")]
    assert {h["mlprovKind"] for h in hubs} == {"environment", "metric"}
    assert any("per epoch" in h["label"] for h in hubs)
    assert data["total"] > len(data["nodes"]) and data["notice"] == ""
    ids = {n["id"] for n in data["nodes"]}
    assert all(e["from"] in ids and e["to"] in ids for e in data["edges"])
    assert data["options"]["layout"]["hierarchical"]["direction"] == "LR"
    assert all(isinstance(n["level"], int) for n in data["nodes"])
    assert [n["label"] for n in data["nodes"]].count("optimizer = 'Adam'") == 1  # one node per parameter
    assert HOSTILE_LABEL in {n["label"] for n in data["nodes"]}  # as text, for the script to put in text nodes


def test_a_plans_summary_holds_its_steps_and_variables(web_server, web_store):
    data = _json(web_server, _summary_path(web_store.plans[0]))
    kinds = {n["mlprovKind"] for n in data["nodes"]}
    assert {"plan", "step", "parameter"} <= kinds and "run" not in kinds
    assert data["root"] == web_store.plans[0] and data["title"] == HOSTILE_TITLE
    steps = sorted((n for n in data["nodes"] if n["mlprovKind"] == "step"), key=lambda n: n["level"])
    assert steps[0]["label"] == HOSTILE_LABEL and len({s["level"] for s in steps}) == len(steps)


def test_a_nodes_neighbours_are_the_resources_one_triple_away_with_their_literals(web_server, web_store):
    run = web_store.runs[0]
    step = _first_step(_json(web_server, _summary_path(run)))
    data = _json(web_server, _neighbours_path(run, step["id"]))
    assert data["node"] == step["id"] and data["nodes"][0]["id"] == step["id"]
    kinds = {n["mlprovKind"] for n in data["nodes"][1:]}
    assert {"cell", "plan"} <= kinds  # the cell that ran it and its plan
    assert all(step["id"] in (e["from"], e["to"]) for e in data["edges"])
    assert not [n for n in data["nodes"] if n.get("hidden")]
    rows = dict((key, values) for key, values in data["nodes"][0]["mlprovTip"]["rows"])
    assert rows["rdfs:label"] == [[HOSTILE_LABEL, ""]]  # a literal in the node's own data
    hub = next(n for n in _json(web_server, _summary_path(run))["nodes"] if n.get("mlprovHub") and n["mlprovKind"] == "environment")
    members = _json(web_server, _neighbours_path(run, hub["id"]))["nodes"][1:]
    assert len(members) > 10 and {m["mlprovKind"] for m in members} == {"environment"}


@pytest.mark.parametrize("path", [
    _summary_path("urn:mlprov:run:19990101T000000-ffffffff"),
    _summary_path("https://example.org/plans/not-stored"),
    _graph_path("https://example.org/plans/not-stored"),
])
def test_an_unknown_plan_or_run_is_a_404_naming_it(web_server, path):
    status, _, body = get(web_server + path)
    assert status == 404 and b"no plan or run with this IRI" in body


def test_an_unknown_node_is_a_404_and_a_missing_iri_a_400(web_server, web_store):
    status, _, body = get(web_server + _neighbours_path(web_store.runs[0], "https://example.org/nothing"))
    assert status == 404 and b"no such node" in body
    status, _, body = get(web_server + "/graph/summary.json")
    assert status == 400 and b"/graph?iri=IRI" in body


def test_the_size_guard_cuts_a_summary_and_an_expansion_to_the_limit_with_a_notice(web_store):
    with open_store(web_store.location, create=False, read_only=True) as store:
        view = view_of(*read_view_triples(store, web_store.runs[0]))
    cut = summary(view, limit=10)
    assert len(cut["nodes"]) == 10 and "showing 10 of the" in cut["notice"]
    kept = {n["id"] for n in cut["nodes"]}
    assert all(e["from"] in kept and e["to"] in kept for e in cut["edges"])
    assert {"plan", "run"} <= {n["mlprovKind"] for n in cut["nodes"]}  # the pipeline's heads stay
    few = neighbours(view, web_store.runs[0], limit=3)
    assert len(few["nodes"]) == 4 and few["more"] == few["total"] - 3 > 0


# -- in the browser ----------------------------------------------------------------------


def _open(watched_page, path: str):
    watched_page.goto(path)
    watched_page.page.wait_for_function("() => document.body.dataset.graphReady === 'true'")
    return watched_page.page


def _count(page) -> int:
    return page.evaluate("window.mlprovGraph.body.data.nodes.length")


def _click_node(page, node_id: str) -> None:
    """A real mouse click on the node, where vis-network draws it."""
    page.evaluate("id => window.mlprovGraph.focus(id, {scale: 1, animation: false})", node_id)
    x, y = page.evaluate(
        """id => { const n = window.mlprovGraph; const p = n.canvasToDOM(n.getPosition(id));
                   const r = document.querySelector('#graph canvas').getBoundingClientRect();
                   return [r.left + p.x, r.top + p.y]; }""",
        node_id,
    )
    page.mouse.click(x, y)


def test_clicking_a_node_fetches_and_shows_its_neighbours(watched_page, web_store, web_server):
    run = web_store.runs[0]
    step = _first_step(_json(web_server, _summary_path(run)))
    page = _open(watched_page, _graph_path(run))
    before = _count(page)
    assert before == len(_json(web_server, _summary_path(run))["nodes"])
    _click_node(page, step["id"])
    page.wait_for_function("n => window.mlprovGraph.body.data.nodes.length > n", arg=before)
    kinds = page.evaluate("window.mlprovGraph.body.data.nodes.get().map(n => n.mlprovKind)")
    assert "cell" in kinds  # the cell that ran the step came from the store
    assert any(r.endswith(_neighbours_path(run, step["id"]).split("?", 1)[1]) for r in watched_page.requests)
    assert HOSTILE_LABEL in page.text_content("#graph-details")  # its literals in the side panel, as text
    assert "node=" in page.url


def test_filter_by_kind_hides_that_kind(watched_page, web_store):
    page = _open(watched_page, _graph_path(web_store.runs[0]))
    hidden = "window.mlprovGraph.body.data.nodes.get().filter(n => n.mlprovKind === 'step' && n.hidden).length"
    steps = page.evaluate("window.mlprovGraph.body.data.nodes.get().filter(n => n.mlprovKind === 'step').length")
    assert steps > 3 and page.evaluate(hidden) == 0
    page.uncheck("input[data-kind=step]")
    assert page.evaluate(hidden) == steps
    assert page.evaluate("window.mlprovGraph.body.data.nodes.get().filter(n => n.mlprovKind === 'run' && !n.hidden).length") == 1
    page.check("input[data-kind=step]")
    assert page.evaluate(hidden) == 0


def test_a_node_url_selects_it_and_back_returns_to_the_first_of_two_selections(watched_page, web_store, web_server):
    run = web_store.runs[0]
    step = _first_step(_json(web_server, _summary_path(run)))
    page = _open(watched_page, _graph_path(run, run))
    assert page.evaluate("window.mlprovGraph.getSelectedNodes()") == [run]
    _click_node(page, step["id"])
    page.wait_for_function("id => document.body.dataset.selected === id", arg=step["id"])
    page.go_back()
    page.wait_for_function("id => document.body.dataset.selected === id", arg=run)
    assert page.evaluate("window.mlprovGraph.getSelectedNodes()") == [run]
    page.go_forward()
    page.wait_for_function("id => document.body.dataset.selected === id", arg=step["id"])


def test_focus_on_one_hop_shows_only_the_selected_node_and_its_neighbours(watched_page, web_store):
    run = web_store.runs[0]
    page = _open(watched_page, _graph_path(run, run))
    page.select_option("#graph-hops", "1")
    shown = set(page.evaluate("window.mlprovGraph.body.data.nodes.get().filter(n => !n.hidden).map(n => n.id)"))
    near = set(page.evaluate("id => window.mlprovGraph.getConnectedNodes(id)", run)) | {run}
    assert shown == near and len(shown) < _count(page)
    page.select_option("#graph-hops", "0")
    assert page.evaluate("window.mlprovGraph.body.data.nodes.get().filter(n => n.hidden).length") == 0


def test_png_export_downloads_the_drawn_canvas(watched_page, web_store):
    page = _open(watched_page, _graph_path(web_store.plans[0]))
    with page.expect_download() as download:
        page.click("#graph-png")
    assert download.value.suggested_filename == "graph.png"
    with open(download.value.path(), "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_hostile_labels_leave_the_title_and_the_dom_untouched(watched_page, web_store, web_server):
    run = web_store.runs[0]
    step = _first_step(_json(web_server, _summary_path(run)))
    page = _open(watched_page, _graph_path(run))
    _click_node(page, step["id"])
    page.wait_for_function("id => document.body.dataset.selected === id", arg=step["id"])
    page.mouse.move(10, 10)
    assert page.title() == f"Graph: run {run.rsplit(':', 1)[1]} · mlprov"  # no plan text in the tab
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('main script:not([src]):not([type=\"application/json\"])').length") == 0
    assert HOSTILE_TITLE[:20] in page.text_content("#graph-title")
