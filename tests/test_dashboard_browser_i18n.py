"""The dashboard in both languages in a real browser: the Chinese page by default
(``twin serve --lang zh_CN``), the switch to English, an unknown language, the cards'
thresholds and "?", the one-map layers on the 2D map and in 3D, choosing a unit, and a click
that asks what applies at a point.

Expected words come from the catalogue and the demo's files, not from the dashboard. The
server and browser helpers are those of ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser_actions import choose

from scenarios.i18n import catalogue
from viz.cesium import USE_NAMES
from test_dashboard import CESIUM_JS
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, free_port, serving

RUNS = ("baseline", "storm-surge")


@pytest.fixture(scope="module")
def zh_server(demo_output):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not CESIUM_JS.is_file():
        pytest.skip(f"CesiumJS not installed at {CESIUM_JS.parent} (npm install in viz/)")
    port = free_port()
    with serving(port, "serve", *(demo_output / "runs" / r for r in RUNS),
                 "--tiles", demo_output / "tiles", "--lang", "zh_CN") as url:
        yield url


def _traces(page) -> list[str]:
    """The ``meta`` of every trace of the land-use map."""
    return page.evaluate("() => (document.querySelector('#land-use-map .js-plotly-plot')"
                         ".data || []).map(t => String(t.meta || ''))")


def _wait_traces(page, condition: str) -> list[str]:
    page.wait_for_function(
        "() => { const g = document.querySelector('#land-use-map .js-plotly-plot');"
        " const m = g && g.data ? g.data.map(t => String(t.meta || '')) : [];"
        f" return {condition}; }}", timeout=TIMEOUT_MS)
    return _traces(page)


def _assert_query_on_building(page, demo_output, building: str, zh) -> None:
    """The point query answers the click that picked ``building``: its point lies on the
    building's footprint (or wall). The probing clicks before it (on the ground) asked too, so
    earlier answers may show first: wait for the last one."""
    import time

    import geopandas as gpd
    from shapely.geometry import Point

    footprints = [gpd.read_file(demo_output / "tim" / "vectors.gpkg", layer="buildings")]
    footprints += [gpd.read_file(path, layer="buildings_new")
                   for path in (demo_output / "runs").glob("*/buildings_new.gpkg")]
    found = [f[f["building_id"].astype(str) == building] for f in footprints
             if "building_id" in f]
    shape = next((f.geometry.iloc[0] for f in found if len(f)), None)
    assert shape is not None, f"building {building} not in the TIM or a run"
    deadline, where = time.monotonic() + TIMEOUT_MS / 1000, None
    while time.monotonic() < deadline:
        where = page.evaluate("() => { const t = document.getElementById('map-query-table');"
                              " return t ? [Number(t.dataset.x), Number(t.dataset.y)] : null; }")
        if where is not None and shape.distance(Point(*where)) < 3.0:
            break
        time.sleep(0.2)
    assert where is not None and shape.distance(Point(*where)) < 3.0, (building, where)
    query = page.inner_text("#map-query-table")
    assert zh["Planning unit"] in query and zh["Residents in the cell"] in query


def _pick_building(page) -> str | None:
    """Click the 3D view where a building is, if one is found on a coarse grid of points."""
    page.locator("#cesium-container").scroll_into_view_if_needed()
    box = page.locator("#cesium-container canvas").first.bounding_box()
    for fy in (0.55, 0.6, 0.5, 0.65, 0.45):
        for fx in (0.3, 0.35, 0.4, 0.25, 0.45):
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(150)
            picked = page.evaluate("() => window.twin3d.picked")
            if picked:
                return picked
    return None


def test_one_map_in_chinese_then_english(zh_server, demo_output, artifacts):
    playwright = pytest.importorskip("playwright.sync_api")
    zh = catalogue("zh_CN")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(zh_server, timeout=TIMEOUT_MS)
        # Chinese by default: tabs, header, the cards with their thresholds
        page.wait_for_selector('#indicator-cards [data-indicator="farmland_lost"]',
                               timeout=TIMEOUT_MS)
        assert page.text_content("#tab-compare").strip() == zh["Compare scenarios"]
        card = page.inner_text('#indicator-cards [data-indicator="farmland_lost"]')
        assert zh["Farmland lost"] in card and "阈值 ≤ 10公顷" in card
        # the "?" opens definition, formula and source
        page.click('#indicator-cards [data-indicator="farmland_lost"] summary')
        help_text = page.inner_text('[data-help="farmland_lost"] .card-help-body')
        assert zh["Area that was farmland at the start year and is no longer."] in help_text
        assert zh["Formula"] in help_text and zh["Data source"] in help_text
        # one map: units and control lines drawn, the red line, farmland, boundary
        metas = _wait_traces(page, "m.includes('layer:ecological_red_line')")
        assert {"layer:units", "layer:permanent_basic_farmland",
                "layer:urban_development_boundary"} <= set(metas)
        legend = page.text_content("#land-use-map .legend")
        assert "生态保护红线" in legend and "永久基本农田" in legend and "城镇开发边界" in legend
        # toggles: control lines off, amenities on
        page.click("#map-layers label:has-text('管控线')")
        page.click("#map-layers label:has-text('公共服务设施')")
        metas = _wait_traces(page, "!m.includes('layer:ecological_red_line') "
                                   "&& m.includes('layer:amenities')")
        assert "layer:units" in metas
        # 3D: the planning lines lie on the city, and the amenities just toggled on are there
        # (so the scene of these toggles is the one shown before the idle check below)
        page.wait_for_function("() => window.twin3d && window.twin3d.entities "
                               "&& window.twin3d.entities.lines > 0 "
                               "&& window.twin3d.entities.points > 0", timeout=TIMEOUT_MS)
        # a building clicked in 3D: highlighted, its A/B panel; a new tab or year clears it
        page.wait_for_function("() => window.twin3d && window.twin3d.tilesLoaded",
                               timeout=TIMEOUT_MS)
        # drawn on demand: once the view has settled, an idle view runs no render loop (a
        # late tile or drape may ask for a frame; a loop would draw one every ~100-200 ms)
        page.wait_for_function("() => !window.twin3d.settling", timeout=TIMEOUT_MS)
        idle = page.evaluate("() => window.twin3d.frames")
        page.wait_for_timeout(1500)
        assert page.evaluate("() => window.twin3d.frames") - idle <= 2
        picked = _pick_building(page)
        assert picked is not None, "no building under the probed points of the 3D view"
        if picked:
            page.wait_for_selector(f"#building-table[data-building='{picked}']",
                                   timeout=TIMEOUT_MS)
            panel = page.inner_text("#building-table")
            assert zh["Height limit"] in panel and zh["Storeys"] in panel
            assert "A:" in panel and "B:" in panel
            # the line under the view says what was clicked in Chinese: its use named as
            # the legend names it, its storeys as the panel counts them
            uses = {zh[name] for name in USE_NAMES.values()}
            panel_use, storeys = (page.inner_text(
                f"#building-table tr[data-fact='{fact}'] td") for fact in ("use", "storeys"))
            line = page.inner_text("#cesium-pick")
            parts = line.split(" \u00b7 ")
            assert parts[0] in (zh["Building {id}"].format(id=picked),
                                zh["New {id}"].format(id=picked)), line
            assert parts[1] in uses and panel_use in uses, (line, panel_use)
            assert zh["{n} storeys"].format(n=storeys) in parts, line
            assert "storeys" not in line and "Building" not in line and " m" not in line
            # the same click asks what applies there, as a click on the map does: the point
            # queried is on the picked building (its footprint, or its wall)
            _assert_query_on_building(page, demo_output, picked, zh)
            # another tab clears the pick: the line under the view, the A/B panel, the store
            page.click("#tab-flood")
            page.wait_for_function(
                "() => !document.getElementById('building-table') && !window.twin3d.picked"
                " && !document.getElementById('cesium-pick').textContent", timeout=TIMEOUT_MS)
            page.click("#tab-scenario")
            page.wait_for_function("() => window.twin3d.tilesLoaded && !window.twin3d.settling",
                                   timeout=TIMEOUT_MS)
            picked = _pick_building(page)
            assert picked is not None, "no building under the probed points after the switch"
            page.wait_for_selector(f"#building-table[data-building='{picked}']",
                                   timeout=TIMEOUT_MS)
            assert page.inner_text("#cesium-pick")
            # ... and so does another year
            page.focus("#year [role=slider]")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("() => !document.getElementById('building-table')",
                                   timeout=TIMEOUT_MS)
            assert page.evaluate("() => window.twin3d.picked") is None
            assert page.inner_text("#cesium-pick") == ""
        # choosing a unit outlines it and frames the map on it
        choose(page, "#area", "Xicheng-11", search="Xicheng-11")
        metas = _wait_traces(page, "m.includes('selected-unit')")
        xrange = page.evaluate("() => document.querySelector('#land-use-map .js-plotly-plot')"
                               ".layout.xaxis.range")
        assert xrange[1] - xrange[0] < 4.0  # a unit is 1.5 km wide, the territory 6 km
        # ... and the 3D view flies to it
        page.wait_for_function("() => window.twin3d && String(window.twin3d.camera || '')"
                               ".startsWith('area:unit:')", timeout=TIMEOUT_MS)
        # a click on the map says what applies there
        page.locator("#land-use-map").scroll_into_view_if_needed()
        box = page.locator("#land-use-map .nsewdrag").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#map-query-table", timeout=TIMEOUT_MS)
        query = page.inner_text("#map-query-table")
        assert zh["Planning unit"] in query and zh["Control lines"] in query
        assert zh["Residents in the cell"] in query
        page.screenshot(path=str(artifacts / "dashboard-zh-scenario.png"), full_page=False)
        # a download: the run's own file, under the run's name, no server path on the page
        page.wait_for_selector("#downloads-box a[data-key='indicators.csv']",
                               timeout=TIMEOUT_MS)
        with page.expect_download() as info:
            page.click("#downloads-box a[data-key='indicators.csv']")
        download = info.value
        assert download.suggested_filename == "baseline-indicators.csv"
        assert Path(download.path()).read_bytes() == (
            demo_output / "runs" / "baseline" / "indicators.csv").read_bytes()
        assert str(demo_output) not in page.content()

        # the switch: English words, same server
        page.click("#language-switch a[data-lang='en']")
        page.wait_for_function("() => { const e = document.getElementById('tab-compare');"
                               " return e && e.textContent.includes('Compare scenarios'); }",
                               timeout=TIMEOUT_MS)
        page.wait_for_selector('#indicator-cards [data-indicator="farmland_lost"]',
                               timeout=TIMEOUT_MS)
        card = page.inner_text('#indicator-cards [data-indicator="farmland_lost"]')
        assert "Farmland lost" in card and "threshold ≤ 10 ha" in card
        _wait_traces(page, "m.includes('layer:ecological_red_line')")
        assert "Ecological protection red line" in page.text_content("#land-use-map .legend")
        page.wait_for_function("() => window.twin3d && window.twin3d.tilesLoaded "
                               "&& window.twin3d.entities.lines > 0", timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifacts / "dashboard-en-scenario.png"), full_page=False)

        # an unknown language: said in the page, in the language it is shown in
        page.goto(zh_server + "?lang=fr", timeout=TIMEOUT_MS)
        page.wait_for_selector("#language-notice:not([hidden])", timeout=TIMEOUT_MS)
        notice = page.inner_text("#language-notice")
        assert "fr" in notice and "English" in notice
        assert not errors, errors
        browser.close()
