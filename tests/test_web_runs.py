"""The runs page of a real `mlprov serve` over the web store's real runs: over HTTP (the table,
its links, the URL's view, CSV, bad parameters) and in a real Chromium (sorting by a header,
filtering with the form, the CSV download, hostile plan titles left as text)."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from tests.web_support import HOSTILE_TITLE, get


def _page(web_server: str, path: str) -> str:
    status, _, body = get(web_server + path)
    assert status == 200, (path, body[:300])
    return body.decode("utf-8")


def _row_runs(text: str) -> list[str]:
    return re.findall(r'<tr data-run="([^"]+)"', text)


# -- HTTP ------------------------------------------------------------------------------


def test_the_page_lists_every_run_newest_first_each_linking_to_its_run_page(web_server, web_store):
    text = _page(web_server, "/runs")
    assert _row_runs(text) == list(reversed(web_store.runs))
    for run in web_store.runs:
        assert f'href="/run/{quote(run.rsplit(":", 1)[1])}"' in text
    assert '<a href="/plan?iri=' in text


def test_the_url_sorts_filters_and_pages(web_server, web_store):
    by_epochs = _row_runs(_page(web_server, "/runs?sort=-epochs&f.optimizer=Adam"))
    assert by_epochs == [web_store.runs[2], web_store.runs[0]]
    page = _page(web_server, "/runs?sort=started&limit=1&offset=1")
    assert _row_runs(page) == [web_store.runs[1]]
    assert 'rel="next"' in page and 'rel="prev"' in page


def test_chosen_columns_are_the_only_ones_shown_and_kept_in_the_links(web_server):
    text = _page(web_server, "/runs?col=epochs&col=test:accuracy")
    headers = re.findall(r'<th scope="col"[^>]*data-column="([^"]+)"', text)
    assert headers == ["epochs", "test:accuracy"]
    assert "col=epochs&amp;col=test%3Aaccuracy" in text  # in the sort and CSV links


def test_the_csv_has_the_filtered_sorted_rows_and_the_chosen_columns(web_server, web_store):
    status, headers, body = get(web_server + "/runs.csv?col=optimizer&col=test:accuracy&sort=test:accuracy&q.title=iris")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert list(rows[0]) == ["run", "optimizer", "test:accuracy"]
    assert [r["run"] for r in rows][0] == web_store.runs[1]  # SGD: the lowest accuracy
    assert [float(r["test:accuracy"]) for r in rows] == sorted(float(r["test:accuracy"]) for r in rows)


def test_bad_parameters_are_a_400_with_one_line_naming_them(web_server):
    for path, named in (("/runs?sort=nope", "sort"), ("/runs?min.epochs=ten", "min.epochs")):
        status, _, body = get(web_server + path)
        assert status == 400
        assert re.search(rf'id="error-message">{re.escape(named)}: [^<\n]+</p>', body.decode("utf-8"))
    status, headers, body = get(web_server + "/runs.csv?max.epochs=x")
    assert status == 400 and headers["content-type"].startswith("text/plain") and body.count(b"\n") == 1


def test_hostile_plan_titles_are_escaped_text(web_server):
    text = _page(web_server, "/runs")
    assert HOSTILE_TITLE not in text
    assert "Iris &lt;script&gt;document.title=" in text
    assert len(re.findall(r"<script\b", text)) == 1  # only the page's own script file


# -- browser ---------------------------------------------------------------------------


def _shown_runs(page) -> list[str]:
    return page.locator("tbody tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)")


def test_clicking_a_header_sorts_the_rows_and_again_reverses_them(watched_page, web_store):
    watched_page.goto("/runs")
    page = watched_page.page
    assert page.title() == "Runs · mlprov"
    before = _shown_runs(page)
    page.click('th[data-column="test:accuracy"] a')
    page.wait_for_url(re.compile(r"sort=test%3Aaccuracy"))
    ascending = _shown_runs(page)
    assert ascending != before and ascending[0] == web_store.runs[1]  # SGD: the lowest accuracy
    page.click('th[data-column="test:accuracy"] a')
    page.wait_for_url(re.compile(r"sort=-test%3Aaccuracy"))
    assert _shown_runs(page)[:3] == list(reversed(ascending[:3]))


def test_applying_a_filter_changes_the_rows(watched_page, web_store):
    watched_page.goto("/runs")
    page = watched_page.page
    page.click("#runs-filters summary")
    page.select_option('select[name="f.optimizer"]', ["SGD"])
    page.fill('input[name="min.epochs"]', "10")
    page.click(".runs-filter-form button[type=submit]")
    page.wait_for_url(re.compile(r"f\.optimizer=SGD"))
    assert _shown_runs(page) == [web_store.runs[1]]
    assert page.locator('select[name="f.optimizer"] option[value="SGD"]').evaluate("o => o.selected")


def test_the_column_chooser_hides_a_column(watched_page):
    watched_page.goto("/runs")
    page = watched_page.page
    page.click("#runs-columns summary")
    page.click('[data-group="setting"] .runs-group-toggle:text("none")')
    page.click('[data-group="result"] .runs-group-toggle:text("none")')
    page.check('input[name="col"][value="epochs"]')
    page.click(".runs-column-form button[type=submit]")
    page.wait_for_url(re.compile(r"col=epochs"))
    columns = page.locator("th[data-column]").evaluate_all("ths => ths.map(t => t.dataset.column)")
    assert "epochs" in columns and "optimizer" not in columns and "test:accuracy" not in columns


def test_the_csv_link_downloads_the_table(watched_page, web_store):
    watched_page.goto("/runs?col=epochs")
    page = watched_page.page
    with page.expect_download() as download:
        page.click("a.runs-csv")
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0] == "run,epochs"
    assert {line.split(",")[0] for line in text.splitlines()[1:]} == set(web_store.runs)


def test_compare_submits_the_checked_runs(watched_page, web_store):
    watched_page.goto("/runs")
    page = watched_page.page
    assert page.locator(".runs-compare").is_disabled()
    ids = [run.rsplit(":", 1)[1] for run in web_store.runs[:2]]
    for run_id in ids:
        page.check(f'input[name="run"][value="{run_id}"]')
    with page.expect_request(re.compile(r"/compare\?")) as request:
        page.click(".runs-compare")
    assert all(f"run={quote(i)}" in request.value.url for i in ids)


def test_the_hostile_plan_title_shows_as_text_and_leaves_the_document_title(watched_page):
    watched_page.goto("/runs")
    page = watched_page.page
    assert page.title() == "Runs · mlprov"
    assert page.locator("tbody a", has_text=HOSTILE_TITLE).count() >= 1
    assert page.locator("tbody script").count() == 0


def test_the_app_reads_the_runs_table_as_it_starts_before_any_request(web_store, caplog):
    import asyncio
    import threading

    from mlprov_rdf.web.app import create_app

    app = create_app(web_store.location)

    async def start_and_wait() -> None:
        async with app.router.lifespan_context(app):
            for _ in range(2400):  # up to two minutes on a loaded machine
                if "runs table" in caplog.text:
                    return
                await asyncio.sleep(0.05)

    with caplog.at_level("INFO", logger="mlprov_rdf.web.app"):
        # in a thread of its own: the browser tests' Playwright keeps an event loop in this one
        starting = threading.Thread(target=asyncio.run, args=(start_and_wait(),))
        starting.start()
        starting.join()
    assert f"read the runs table at start-up: {len(web_store.runs)} runs" in caplog.text
