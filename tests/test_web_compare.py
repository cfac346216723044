"""The compare pages of a real `mlprov serve` over real runs: runs side by side with their
differences marked and aligned by step, curves overlaid, and a result against a setting
across a plan's runs, over HTTP and in Chromium."""

from __future__ import annotations

import re
from urllib.parse import quote

from tests.web_support import get


def _compare(web_server, *runs: str) -> tuple[int, str]:
    status, _, body = get(web_server + "/compare?" + "&".join(f"run={quote(r, safe='')}" for r in runs))
    return status, body.decode("utf-8")


def _row(text: str, name: str) -> str:
    return re.search(rf'<tr class="(\w+)" data-name="{re.escape(name)}">', text).group(1)


def test_two_runs_side_by_side_mark_the_optimizer_difference_only_among_settings(web_server, web_store):
    status, text = _compare(web_server, web_store.runs[0], web_store.runs[1].rsplit(":", 1)[1])  # an IRI and an id
    assert status == 200
    assert _row(text, "optimizer") == "differs" and _row(text, "epochs") == "same"
    settings = re.findall(r'<tr class="(\w+)" data-name="[^"]+">\s*<td>setting</td>', text)
    assert settings.count("differs") == 1 and len(settings) > 10
    assert _row(text, "accuracy (test)") == "differs"
    for run in web_store.runs[:2]:
        assert f'href="/run/{run.rsplit(":", 1)[1]}"' in text


def test_the_step_aligned_part_is_what_mlprov_diff_finds(web_server, web_store):
    from mlprov_rdf.diff import diff_runs
    from mlprov_rdf.store import open_store

    with open_store(web_store.location, create=False, read_only=True) as store:
        diff = diff_runs(store, web_store.runs[0], web_store.runs[1])
    _, text = _compare(web_server, web_store.runs[0], web_store.runs[1])
    assert f"{len(diff.differences)} differences" in text
    training = next(g for g in diff.groups if any(i.name == "optimizer" for i in g.differences))
    section = text[text.index('<section id="by-step">'):]
    assert training.title.replace('"', "&#34;") in section


def test_more_than_two_runs_are_each_compared_with_the_first(web_server, web_store):
    status, text = _compare(web_server, *web_store.runs)
    assert status == 200
    assert text.count('<div class="run-diff">') == 3
    header = re.search(r'<table class="data" id="values-table">\s*<tr>(.*?)</tr>', text, re.S).group(1)
    assert header.count("<th>") == 2 + 4
    assert _row(text, "n_clusters") == "differs"  # only the clustering run has it


def test_compare_needs_two_known_runs(web_server, web_store):
    assert _compare(web_server, web_store.runs[0])[0] == 400
    assert _compare(web_server, web_store.runs[0], web_store.runs[0])[0] == 400
    assert _compare(web_server, web_store.runs[0], "20000101T000000-00000000")[0] == 404
    assert _compare(web_server, web_store.runs[0], "not a run")[0] == 400


def test_the_compare_page_escapes_hostile_plan_text(web_server, web_store):
    _, text = _compare(web_server, web_store.runs[0], web_store.runs[1])
    assert '<script>document.title="pwned"' not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text


def _chart(web_server, plan: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {"plan": plan, **params}.items())
    status, _, body = get(f"{web_server}/compare/chart?{query}")
    assert status == 200
    return body.decode("utf-8")


def test_the_chart_page_plots_a_plans_runs_and_its_derived_plans_runs(web_server, web_store):
    text = _chart(web_server, web_store.plans[0])
    assert re.search(r'<option value="epochs" selected>', text)  # the numeric setting that varies
    assert re.search(r'<option value="test:accuracy" selected>', text)
    table = text[text.index('id="chart-points"'):text.index("</table>", text.index('id="chart-points"'))]
    assert table.count("<tr><td>") == 3 and web_store.runs[3].rsplit(":", 1)[1] not in table
    chosen = _chart(web_server, web_store.plans[0], x="optimizer", y="test:macro_f1")
    assert '<option value="optimizer" selected>' in chosen and "<th>macro_f1 (test)</th>" in chosen
    assert _chart(web_server, web_store.plans[3]).count("<tr><td>") == 1  # the clustering plan: one run
    status, _, _ = get(f"{web_server}/compare/chart")
    assert status == 400


def test_the_compare_page_overlays_the_curves_of_both_runs_in_chromium(watched_page, web_store):
    runs = web_store.runs
    watched_page.goto(f"/compare?run={quote(runs[0], safe='')}&run={quote(runs[1], safe='')}")
    page = watched_page.page
    page.wait_for_selector("#curve-0 svg.main-svg", timeout=15000)
    assert page.locator("#curve-0 .scatterlayer .trace").count() == 2  # one line per run
    assert page.locator("#curve-0 .legendtext").count() == 2
    assert page.locator("#values-table tr.differs[data-name='optimizer']").count() == 1
    colour = page.eval_on_selector("#values-table tr.differs[data-name='optimizer'] td", "e => getComputedStyle(e).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    assert page.locator("#compared-runs tr").count() == 3


def test_the_chart_page_draws_a_point_per_run_and_its_selects_change_the_axes_in_chromium(watched_page, web_store):
    watched_page.goto(f"/compare/chart?plan={quote(web_store.plans[0], safe='')}")
    page = watched_page.page
    page.wait_for_selector("#result-chart svg.main-svg", timeout=15000)
    assert page.locator("#result-chart .scatterlayer .point").count() == 3
    with page.expect_navigation():
        page.select_option("#chart-x", "optimizer")
    page.wait_for_selector("#result-chart svg.main-svg", timeout=15000)
    assert "x=optimizer" in page.url
    assert page.locator("#result-chart .scatterlayer .point").count() == 3
    assert "pwned" not in page.title()
