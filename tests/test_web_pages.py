"""Every page of `mlprov serve` in a real Chromium: it renders without a console error, asks
nothing of any host but the server, and shows hostile plan text as text.

The web store's first plan has a `<script>` title and an `"><img onerror=...>` step label;
either one, rendered as markup, would set ``document.title`` to "pwned" or add an `img`.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.web_support import HOSTILE_TITLE, get


def _pages(web_store) -> dict[str, str]:
    runs, plans = web_store.runs, web_store.plans
    run_id = runs[0].rsplit(":", 1)[1]
    return {
        "runs": "/runs",
        "run": f"/run/{run_id}",
        "compare": f"/compare?run={quote(runs[0])}&run={quote(runs[1])}",
        "chart": f"/compare/chart?plan={quote(plans[0])}",
        "plans": "/plans",
        "plan": f"/plan?iri={quote(plans[0])}",
        "graph-run": f"/graph?iri={quote(runs[0])}",
        "graph-plan": f"/graph?iri={quote(plans[0])}",
        "queries": "/query",
        "query": "/query/plans",
        "console": "/query/console?q=" + quote("SELECT ?title WHERE { ?plan <http://purl.org/dc/terms/title> ?title }"),
    }


PAGES = ["runs", "run", "compare", "chart", "plans", "plan", "graph-run", "graph-plan", "queries", "query", "console"]


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_in_chromium_and_hostile_plan_text_stays_text(name, watched_page, web_store, tmp_path, request):
    path = _pages(web_store)[name]
    response = watched_page.goto(path)
    assert response.status == 200, path
    page = watched_page.page
    assert page.title() != "pwned"  # what either payload sets when it runs; as text it may be in the title
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src]):not([type=\"application/json\"])').length") == 0
    folder = request.config.getoption("--screenshots") or tmp_path
    shot = page.screenshot(path=f"{folder}/{name}.png")
    assert len(shot) > 5000  # a drawn page, not a blank one


@pytest.mark.parametrize("name", ["runs", "plans", "plan", "query", "console"])
def test_a_page_listing_the_hostile_plan_shows_its_title_escaped(name, web_server, web_store):
    status, _, body = get(web_server + _pages(web_store)[name])
    assert status == 200
    text = body.decode("utf-8")
    assert '<script>document.title="pwned"' not in text
    assert "&lt;script&gt;" in text or "\\u003cscript\\u003e" in text, f"the hostile title {HOSTILE_TITLE!r} is not on the page"
