"""The query pages of `mlprov serve`: the canned library, a canned query's form and answer, the
SPARQL console; over HTTP and in a real Chromium, against a real server over real runs."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from urllib.parse import quote, urlencode

import rdflib

from mlprov_rdf.queries import load_library
from tests.web_support import HOSTILE_TITLE, get

TITLES = "SELECT ?plan ?title WHERE { ?plan a <http://purl.org/net/p-plan#Plan> ; <http://purl.org/dc/terms/title> ?title } ORDER BY ?plan"


def _page(base: str, path: str, data: dict | None = None) -> tuple[int, str]:
    body = urlencode(data).encode() if data is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else None
    status, _, text = get(base + path, data=body, headers=headers)
    return status, text.decode("utf-8")


def test_library_lists_every_canned_query_with_a_link_to_its_form(web_server):
    status, text = _page(web_server, "/query")
    assert status == 200
    for name, query in load_library().items():
        assert f'href="/query/{name}"' in text, name
        for param in query.params:
            assert param.signature().replace(">", "&gt;") in text or param.name in text


def test_a_canned_query_form_has_typed_fields_defaults_and_run_choices(web_server, web_store):
    status, text = _page(web_server, "/query/best-runs")
    assert status == 200
    assert re.search(r'name="limit" type="number" value="20"[^>]* min="0"', text)
    assert re.search(r'name="threshold" type="text" value="0"[^>]* inputmode="decimal"', text)
    status, text = _page(web_server, "/query/run-params")
    assert re.search(r'name="run" type="text" value="" required', text)
    assert 'list="choices-runs"' in text and f'<option value="{web_store.runs[0]}">' in text
    assert 'id="results"' not in text  # a required parameter missing: the form only


def test_a_canned_query_answers_with_links_to_runs_and_plans(web_server, web_store):
    status, text = _page(web_server, "/query/plans")
    assert status == 200 and 'id="results-table"' in text
    for plan in web_store.plans:
        assert f'href="/plan?iri={quote(plan, safe="")}"' in text
    status, text = _page(web_server, "/query/run-params?" + urlencode({"run": web_store.runs[1]}))
    assert status == 200
    assert re.search(r'<td[^>]*>SGD</td>', text)
    status, text = _page(web_server, "/query/runs")
    run_id = web_store.runs[0].rsplit(":", 1)[1]
    assert f'href="/run/{run_id}"' in text


def test_a_canned_query_downloads_csv_and_sparql_json(web_server, web_store):
    params = {"run": web_store.runs[1]}
    status, headers, body = get(web_server + "/query/run-params?" + urlencode({**params, "format": "csv"}))
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert {row["parameter"]: row["value"] for row in rows}["optimizer"] == "SGD"
    status, headers, body = get(web_server + "/query/run-params?" + urlencode({**params, "format": "json"}))
    assert status == 200 and headers["content-type"].startswith("application/sparql-results+json")
    document = json.loads(body)
    values = {b["parameter"]["value"]: b["value"]["value"] for b in document["results"]["bindings"]}
    assert values["optimizer"] == "SGD"
    assert "attachment" in headers["content-disposition"]


def test_a_canned_query_with_a_bad_value_is_one_line_with_status_400(web_server):
    status, text = _page(web_server, "/query/run-params?run=urn:mlprov:run:no-such-run")
    assert status == 400
    assert re.search(r'id="query-error">query run-params: no run &lt;urn:mlprov:run:no-such-run&gt; in the store', text)
    status, text = _page(web_server, "/query/run-params?run=not%20an%20iri")
    assert status == 400 and "is not an absolute IRI" in text
    assert 'name="run" type="text" value="not an iri"' in text  # the form keeps what was typed
    assert _page(web_server, "/query/no-such-query")[0] == 404


def test_an_optional_parameter_the_store_lacks_is_a_note(web_server):
    status, text = _page(web_server, "/query/drifted-cells?run=urn:mlprov:run:no-such-run")
    assert status == 200
    assert '<p class="note">no run &lt;urn:mlprov:run:no-such-run&gt; in the store</p>' in text


def test_console_answers_select_ask_and_construct_by_get_and_post(web_server, web_store):
    status, text = _page(web_server, "/query/console?" + urlencode({"q": TITLES}))
    assert status == 200 and f"{len(web_store.plans)} rows" in text
    assert "&lt;script&gt;" in text and '<script>document.title' not in text
    status, text = _page(web_server, "/query/console", {"q": "ASK { ?run a <http://www.w3.org/ns/mls#Run> }"})
    assert status == 200 and 'id="boolean">true' in text
    status, text = _page(web_server, "/query/console", {"q": f"DESCRIBE <{web_store.runs[0]}>"})
    assert status == 200
    turtle = re.search(r'<pre id="turtle">(.*?)</pre>', text, re.DOTALL).group(1)
    graph = rdflib.Graph().parse(data=html.unescape(turtle), format="turtle")
    assert (rdflib.URIRef(web_store.runs[0]), None, None) in graph


def test_console_downloads_csv_and_json_for_select_and_turtle_for_a_graph(web_server, web_store):
    status, headers, body = get(web_server + "/query/console?" + urlencode({"q": TITLES, "format": "csv"}))
    assert status == 200 and [r[0] for r in csv.reader(io.StringIO(body.decode()))][1:] == sorted(web_store.plans)
    status, headers, body = get(web_server + "/query/console?" + urlencode({"q": TITLES, "format": "json"}))
    assert status == 200 and len(json.loads(body)["results"]["bindings"]) == len(web_store.plans)
    status, headers, body = get(web_server + "/query/console?" + urlencode({"q": f"DESCRIBE <{web_store.runs[0]}>", "format": "ttl"}))
    assert status == 200 and headers["content-type"].startswith("text/turtle")
    assert len(rdflib.Graph().parse(data=body, format="turtle")) > 0


def test_console_refuses_updates_and_service_in_one_line(web_server):
    before = _page(web_server, "/query/console", {"q": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})[1]
    for update in ["DROP ALL", "INSERT DATA { <urn:a> <urn:b> <urn:c> }", "CLEAR DEFAULT", "LOAD <http://example.org/x>",
                   "DELETE WHERE { ?s ?p ?o }"]:
        status, text = _page(web_server, "/query/console", {"q": update})
        assert status == 403, update
        assert re.search(r'id="query-error">query in the console: the app is read-only', text)
    status, text = _page(web_server, "/query/console", {"q": "SELECT * WHERE { SERVICE <http://example.org/s> { ?s ?p ?o } }"})
    assert status == 400 and "SERVICE clause" in text
    after = _page(web_server, "/query/console", {"q": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})[1]
    count = re.compile(r'<td class="num"[^>]*>(\d+)</td>')
    assert count.search(before).group(1) == count.search(after).group(1)


# -- in the browser --------------------------------------------------------------------------


def test_library_page_leads_to_a_form_that_answers_in_the_browser(watched_page, web_store):
    page = watched_page.page
    watched_page.goto("/query")
    page.click("a[href='/query/run-params']")
    page.wait_for_selector("#query-form")
    page.fill("#param-run", web_store.runs[1])
    page.click("#run-query")
    page.wait_for_selector("#results-table tbody tr")
    assert page.locator("#results-table tbody tr").count() > 3
    assert page.locator("#results-table td", has_text="SGD").count() >= 1
    assert "run=" in page.url


def test_console_answers_a_select_and_refuses_an_update_in_the_browser(watched_page, web_store):
    page = watched_page.page
    watched_page.goto("/query/console")
    page.fill("#console-text", TITLES)
    page.click("#run-console")
    page.wait_for_selector("#results-table tbody tr")
    assert page.locator("#results-table tbody tr").count() == len(web_store.plans)
    assert HOSTILE_TITLE in page.locator("#results-table td").all_inner_texts()  # shown as text
    assert "pwned" not in page.title() and page.locator("img[src='x']").count() == 0

    page.fill("#console-text", "DROP ALL")
    page.press("#console-text", "Control+Enter")
    page.wait_for_selector("#query-error")
    assert "read-only" in page.inner_text("#query-error")
    watched_page.console_errors[:] = [e for e in watched_page.console_errors if "status of 403" not in e]  # the refusal's own status line


def test_console_example_fills_the_text_area_without_running(watched_page):
    page = watched_page.page
    watched_page.goto("/query/console")
    link = page.locator("#examples a").first
    link.click()
    assert page.input_value("#console-text") == link.get_attribute("data-query")
    assert page.locator("#results").count() == 0
    page.click("#run-console")
    page.wait_for_selector("#results-table tbody tr")
