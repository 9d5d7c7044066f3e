"""The Monitoring tab in a real browser, in Chinese: ``twin serve`` on the sample's monitoring
folders alone (one by ``--monitoring``, two recognised among the folders), pick an observed
year, show a 双评价 layer, and see the page say it. Expected words come from the catalogue and
the folders' files; the server and browser helpers are those of ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scenarios.i18n import translator
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, free_port, serving
from test_dashboard_monitoring import YEARS, shared_folders


@pytest.fixture(scope="module")
def zh_monitoring(sample_territory, tmp_path_factory):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    folders = shared_folders(sample_territory, tmp_path_factory)
    port = free_port()
    with serving(port, "serve", folders["assess"], folders["changes"],
                 "--monitoring", folders["evaluation"], "--lang", "zh_CN") as url:
        yield url, folders


def _map_meta(page) -> dict:
    return page.evaluate("() => { const g = document.querySelector('#mon-map .js-plotly-plot');"
                         " return g && g.layout ? {meta: g.layout.meta, title: "
                         "g.layout.title.text} : null; }")


def test_monitoring_tab_in_chinese(zh_monitoring, artifacts):
    playwright = pytest.importorskip("playwright.sync_api")
    url, folders = zh_monitoring
    t = translator("zh_CN")
    grades = pd.read_csv(folders["evaluation"] / "grade_areas.csv")
    city = grades[(grades["level"] == "city")
                  & (grades["evaluation"] == "ecological_importance")].iloc[0]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(url, timeout=TIMEOUT_MS)
            # the only tab with content opens first, in Chinese
            page.wait_for_selector("#mon-map .js-plotly-plot", timeout=TIMEOUT_MS)
            assert page.text_content("#tab-monitoring").strip() == t.gettext("Monitoring")
            page.wait_for_function(
                "() => { const g = document.querySelector('#mon-map .js-plotly-plot');"
                f" return g && g.layout && g.layout.meta && g.layout.meta.year === {YEARS[-1]}; }}",
                timeout=TIMEOUT_MS)
            # pick the middle observed year
            page.locator("#mon-year label", has_text=str(YEARS[1])).click()
            page.wait_for_function(
                "() => { const g = document.querySelector('#mon-map .js-plotly-plot');"
                f" return g && g.layout.meta && g.layout.meta.year === {YEARS[1]}; }}",
                timeout=TIMEOUT_MS)
            shown = _map_meta(page)
            assert shown["title"].startswith(t.gettext("Observed land use {year}",
                                                       year=YEARS[1]))
            page.wait_for_selector("#monitoring-warnings", timeout=TIMEOUT_MS)
            # toggle the 双评价 layer of ecological protection importance
            name = t.gettext("Ecological protection importance")
            page.locator("#mon-evaluation label", has_text=name).click()
            page.wait_for_function(
                "() => { const g = document.querySelector('#mon-map .js-plotly-plot');"
                " return g && g.layout.meta && g.layout.meta.evaluation === "
                "'ecological_importance'; }", timeout=TIMEOUT_MS)
            assert name in _map_meta(page)["title"]
            # its legend (the guideline's classes) and its areas by grade follow
            page.wait_for_selector('#grades-table[data-evaluation="ecological_importance"]',
                                   timeout=TIMEOUT_MS)
            legend = page.inner_text("#grade-legend")
            assert t.gettext("Grade {n}", n=5) + " \u00b7 " + t.gettext("very important") \
                in legend
            first_row = page.inner_text("#grades-table tbody tr")
            assert t.gettext("Whole territory") in first_row
            assert t.area(city["grade_5_ha"]) in first_row
            legend_names = page.evaluate(
                "() => document.querySelector('#mon-map .js-plotly-plot').data"
                ".map(d => d.name)")
            assert t.gettext("Grade {n}", n=1) + " \u00b7 " + t.gettext("generally important") \
                in legend_names
            page.locator("#mon-map").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "dashboard-monitoring.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    (artifacts / "dashboard-monitoring.json").write_text(json.dumps(
        {"url": url, "years": list(YEARS)}, indent=1))
