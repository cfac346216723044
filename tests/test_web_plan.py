"""The plans list and the plan page of a real `mlprov serve` over the web store's real runs:
over HTTP (statuses, links, hostile text escaped) and in a real Chromium (the step graph
drawn by vis-network, a step's details on click, hostile labels left as text)."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from markupsafe import escape

from mlprov_rdf.plan_record import read_plan
from mlprov_rdf.store import open_store
from tests.web_support import HOSTILE_LABEL, HOSTILE_TITLE, get


def _plan_path(iri: str) -> str:
    return "/plan?iri=" + quote(iri, safe="")


def _page(web_server: str, path: str) -> str:
    status, _, body = get(web_server + path)
    assert status == 200, (path, body[:300])
    return body.decode("utf-8")


@pytest.fixture(scope="module")
def hostile_record(web_store):
    with open_store(web_store.location, create=False, read_only=True) as store:
        return read_plan(store, web_store.plans[0])


# -- HTTP ------------------------------------------------------------------------------


def test_an_unknown_plan_is_a_404_page_with_one_line_naming_it(web_server):
    iri = "https://example.org/plans/not-stored"
    status, headers, body = get(web_server + _plan_path(iri))
    assert status == 404
    assert {k.lower(): v for k, v in headers.items()}["content-type"].startswith("text/html")
    message = re.search(r'id="error-message">([^<]*)<', body.decode("utf-8")).group(1)
    assert iri in html.unescape(message) and "\n" not in message


@pytest.mark.parametrize("query", ["", "?iri=", "?iri=not%20an%20iri"])
def test_a_missing_or_malformed_iri_is_a_400_saying_what_to_give(query, web_server):
    status, _, body = get(web_server + "/plan" + query)
    assert status == 400
    assert b"IRI" in body or b"iri" in body


def test_the_plan_page_escapes_the_hostile_title_and_label_everywhere(web_server, web_store):
    text = _page(web_server, _plan_path(web_store.plans[0]))
    assert HOSTILE_TITLE not in text and HOSTILE_LABEL not in text
    assert "<img" not in text
    assert escape(HOSTILE_TITLE) in text
    assert escape(HOSTILE_LABEL) in text
    # the graph's JSON cannot close its script element: only the three scripts the page has
    assert text.count("<script") == 3 and text.count("</script>") == 3
    assert "\\u003cimg" in text  # the label in the graph's JSON


def test_the_plans_page_lists_every_plan_with_derived_plans_under_their_original(web_server, web_store):
    text = _page(web_server, "/plans")
    links = [html.unescape(m) for m in re.findall(r'<a href="(/plan\?iri=[^"]+)"', text)]
    assert sorted(links) == sorted(_plan_path(p) for p in web_store.plans)
    order = [html.unescape(m) for m in re.findall(r'data-iri="([^"]+)"', text)]
    at = order.index(web_store.plans[0])
    assert set(order[at + 1:at + 3]) == {web_store.plans[1], web_store.plans[2]}
    assert "optimizer = SGD" in text and "epochs = 20" in text
    assert escape(HOSTILE_TITLE) in text and HOSTILE_TITLE not in text


def test_the_plan_page_links_its_derived_plans_runs_graph_chart_and_regenerate_command(web_server, web_store):
    text = html.unescape(_page(web_server, _plan_path(web_store.plans[0])))
    for derived in web_store.plans[1:3]:
        assert f'href="/plan?iri={quote(derived, safe="")}"' in text
    run_id = web_store.runs[0].rsplit(":", 1)[1]
    assert f'href="/run/{run_id}"' in text
    assert f'href="/graph?iri={quote(web_store.plans[0], safe="")}"' in text
    assert f'href="/compare/chart?plan={quote(web_store.plans[0], safe="")}"' in text
    assert f"mlprov regenerate {web_store.plans[0]} -o notebook.ipynb" in text


def test_a_derived_plan_page_links_its_original_with_what_it_changes(web_server, web_store):
    text = html.unescape(_page(web_server, _plan_path(web_store.plans[2])))
    derived_from = re.search(r'<dd id="derived-from">(.*?)</dd>', text, re.S).group(1)
    assert f'href="/plan?iri={quote(web_store.plans[0], safe="")}"' in derived_from
    assert "epochs = 20" in derived_from


# -- Chromium --------------------------------------------------------------------------


def _drawn(watched_page, iri: str):
    watched_page.goto(_plan_path(iri))
    page = watched_page.page
    page.wait_for_function("() => document.getElementById('plan-graph').dataset.drawn === 'true'")
    return page


def _click_step(page, step_iri: str) -> None:
    """A real mouse click on the step's node, where vis-network drew it."""
    point = page.evaluate(
        "(id) => { const n = window.mlprovPlanGraph; return n.canvasToDOM(n.getPositions([id])[id]); }", step_iri)
    box = page.locator("#plan-graph").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def test_the_plans_page_renders_in_chromium_and_leads_to_a_plan(watched_page, web_store):
    watched_page.goto("/plans")
    page = watched_page.page
    assert page.locator("#plans tbody tr").count() == 4
    page.locator(f'#plans a[href="{_plan_path(web_store.plans[1])}"]').click()
    page.wait_for_function("() => document.getElementById('plan-graph')?.dataset.drawn === 'true'")
    assert page.locator("#plan-title").inner_text().endswith("(optimizer = SGD)")


def test_the_step_graph_is_drawn_with_one_node_per_step_and_one_edge_per_link(watched_page, web_store, hostile_record):
    page = _drawn(watched_page, web_store.plans[0])
    graph = page.evaluate("""() => { const n = window.mlprovPlanGraph;
        return { nodes: n.body.data.nodes.getIds(), edges: n.body.data.edges.length,
                 positions: Object.keys(n.getPositions()).length }; }""")
    assert graph["nodes"] == [s.iri for s in hostile_record.steps]
    assert graph["positions"] == len(hostile_record.steps) == 7
    assert graph["edges"] == len(hostile_record.edges) == 6
    painted = page.evaluate("""() => { const c = document.querySelector('#plan-graph canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 1000  # the nodes and edges are on the canvas
    # the hierarchical layout runs left to right in the notebook's order
    xs = page.evaluate("() => { const p = window.mlprovPlanGraph.getPositions(); return Object.values(p).map(v => v.x); }")
    assert xs == sorted(xs) and len(set(xs)) == len(xs)


def test_clicking_a_step_shows_what_it_reads_and_writes(watched_page, web_store, hostile_record):
    page = _drawn(watched_page, web_store.plans[0])
    training = next(s for s in hostile_record.steps if s.kind == "TrainingStep")
    _click_step(page, training.iri)
    panel = page.locator("#step-details")
    page.wait_for_function("() => document.querySelector('#step-details .step-title') !== null")
    assert panel.locator(".step-title").inner_text() == f"{training.index}. {training.label}"
    reads = panel.locator("table.step-reads tr").all_inner_texts()
    assert [r.split() for r in reads] == [["epochs", "12"]]
    assert set(panel.locator("ul.step-writes li").all_inner_texts()) == {v.shown_name for v in training.outputs}
    link = panel.locator("a.step-graph-link").get_attribute("href")
    assert link.startswith("/graph?iri=") and quote(training.iri, safe="") in link


def test_the_hostile_label_stays_text_in_the_graph_its_tooltip_and_its_details(watched_page, web_store, hostile_record):
    page = _drawn(watched_page, web_store.plans[0])
    title = page.title()
    assert title == f"{HOSTILE_TITLE} · mlprov"
    first = hostile_record.steps[0]
    assert first.label == HOSTILE_LABEL
    _click_step(page, first.iri)
    page.wait_for_function("() => document.querySelector('#step-details .step-title') !== null")
    assert page.locator("#step-details .step-title").inner_text() == f"1. {HOSTILE_LABEL}"
    point = page.evaluate("(id) => { const n = window.mlprovPlanGraph; return n.canvasToDOM(n.getPositions([id])[id]); }", first.iri)
    box = page.locator("#plan-graph").bounding_box()
    page.mouse.move(box["x"] + point["x"] + 3, box["y"] + point["y"] + 2)
    page.wait_for_function("() => { const t = document.querySelector('div.vis-tooltip'); return t !== null && t.style.visibility !== 'hidden' && t.textContent.length > 0; }")
    assert HOSTILE_LABEL in page.locator("div.vis-tooltip").inner_text()
    assert page.title() == title
    assert page.evaluate("document.querySelectorAll('img').length") == 0
