"""The dashboard (``twin serve``) as a user sees it: the real page in a real browser.

The test starts ``twin serve`` on the demo's output as a subprocess, drives Debian's Chromium
with Playwright in software WebGL through every tab, waits for observable page state (never a
fixed sleep), checks that every request stayed on localhost, and saves a screenshot of each
tab in the artifacts folder. Expected values are read from the demo's files, independently of
the dashboard (see ``test_dashboard.py``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pandas as pd
import pytest

from browser_actions import CHROMIUM, CHROMIUM_ARGS, choose

from test_dashboard import (CESIUM_JS, CORRIDOR, GROWTH, INERTIAL, RUNS, SEAWALL, SURGE, _built,
                            _calibration, _indicator, _sightlines)

#: Software WebGL takes about 8 s for a first 3D frame here; leave room for a busy shared
#: machine (60 s timed out once while other test suites ran; test_browser_tiles waits 120 s).
TIMEOUT_MS = 120_000


def twin_command() -> list[str]:
    script = Path(sys.executable).parent / "twin"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "viz.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(port: int, *args: str) -> Iterator[str]:
    """``twin ARGS --port PORT`` in a process of its own, for as long as the block runs."""
    process = subprocess.Popen([*twin_command(), *map(str, args), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"twin serve exited with {process.returncode}: "
                                 f"{process.stderr.read() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"twin serve did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def server(demo_output):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not CESIUM_JS.is_file():
        pytest.skip(f"CesiumJS not installed at {CESIUM_JS.parent} (npm install in viz/)")
    port = free_port()
    # Runs and sightlines as positional folders, the ensemble, the height check and the
    # calibration by option: both ways of naming them are exercised.
    folders = [demo_output / "runs" / name for name in RUNS] + sorted(
        (demo_output / "sightlines").iterdir())
    calibration = _calibration(demo_output)
    with serving(port, "serve", *folders, "--tiles", demo_output / "tiles",
                 "--ensemble", demo_output / "ensembles" / "high-growth",
                 "--heights", demo_output / "heights",
                 *(["--calibration", calibration] if calibration is not None else [])) as url:
        yield url


def _card(page, key: str) -> dict:
    return page.eval_on_selector(
        f'#indicator-cards [data-indicator="{key}"]',
        "e => ({value: Number(e.dataset.value), status: e.dataset.status, text: e.innerText})")


def _wait_title(page, *parts: str) -> str:
    condition = " && ".join(f"t.includes({json.dumps(p)})" for p in parts)
    page.wait_for_function(
        "() => { const e = document.querySelector('#land-use-map .gtitle');"
        f" const t = e ? e.textContent : ''; return {condition}; }}", timeout=TIMEOUT_MS)
    return page.text_content("#land-use-map .gtitle")


def _wait_card(page, key: str, value: float) -> None:
    page.wait_for_function(
        f"""() => {{ const e = document.querySelector(
                        '#indicator-cards [data-indicator="{key}"]');
                    return e && Number(e.dataset.value) === {float(value)!r}; }}""",
        timeout=TIMEOUT_MS)


def _wait_3d(page, condition: str) -> dict:
    """Wait until the 3D view's status satisfies ``condition`` (JS, ``s`` = window.twin3d)
    with every shown tileset loaded, and return that status."""
    try:
        page.wait_for_function(f"() => {{ const s = window.twin3d; return s && s.tilesLoaded "
                               f"&& ({condition}); }}", timeout=TIMEOUT_MS)
    except Exception:
        # Say what the view was doing: the timeout alone does not.
        state = page.evaluate("() => { const s = window.twin3d; if (!s) return null; "
                              "return {tilesLoaded: s.tilesLoaded, mode: s.mode, settling: "
                              "s.settling, frames: s.frames, drapeUrl: s.drapeUrl, error: "
                              "s.error, hidden: document.hidden, sceneWaiting: s.sceneWaiting}; }")
        pytest.fail(f"3D view never reached {condition!r}; its status: {state}")
    return page.evaluate("() => { const s = window.twin3d; return {layers: s.layers, "
                         "featuresStyled: s.featuresStyled, floodedStyled: s.floodedStyled, "
                         "violatorsStyled: s.violatorsStyled, blockersStyled: s.blockersStyled,"
                         " hiddenStyled: s.hiddenStyled, newShown: s.newShown, "
                         "drapeHost: s.drapeHost, drapeUrls: s.drapeUrls, split: s.split, "
                         "entities: s.entities, mode: s.mode, error: s.error}; }")


def _open_tab(page, key: str) -> None:
    page.click(f"#tab-{key}")
    page.wait_for_function(f"() => !document.getElementById('panel-{key}').hidden",
                           timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_dashboard_in_chromium(server, demo_output, artifacts):
    sync_api = pytest.importorskip("playwright.sync_api")
    runs = {name: demo_output / "runs" / name for name in RUNS}
    surge_manifest = json.loads((runs["storm-surge"] / "manifest.json").read_text())
    surge_year = surge_manifest["outputs"]["water_depth"]["year"]
    years = surge_manifest["years"]
    buildings = pd.read_csv(runs["storm-surge"] / "buildings.csv")
    n_flooded = int((buildings["surge_depth_m"] > 0).sum())
    tim = json.loads((demo_output / "tim" / "manifest.json").read_text())
    n_ingested = sum(h["action"] == "ingest" for h in tim["history"])
    timings: dict[str, float] = {}

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        requests: list[str] = []
        failures: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: failures.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)
        page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            t0 = time.perf_counter()
            page.goto(server, timeout=TIMEOUT_MS)
            # First view: the baseline in its last year, on the terrain.
            _wait_title(page, f"Land use {years[-1]}", "Baseline")
            _wait_card(page, "population",
                       _indicator(runs["baseline"], years[-1], "population")["value"])
            timings["page_ready_s"] = time.perf_counter() - t0
            status = _wait_3d(page, "s.featuresStyled > 0 && s.drapeHost === 'terrain'")
            timings["first_3d_tiles_loaded_s"] = time.perf_counter() - t0
            assert status["error"] is None and status["mode"] == "height"
            assert 0 < status["featuresStyled"] <= len(buildings)
            assert status["layers"]["terrain"] == {"show": True, "loaded": True}
            assert status["layers"]["points"]["show"] is False
            assert status["newShown"] > 0  # the baseline's developers built too

            # The high-growth run has an ensemble: its 5-95 % band is on every timeline panel.
            page.wait_for_function("""() => { const g = document.querySelector(
                '#timeline .js-plotly-plot'); return g && g._fullData && g._fullData.filter(
                t => t.fill === 'tonexty' && t.name.includes('4 seeds')).length === 4; }""",
                                   timeout=TIMEOUT_MS)

            # The data tab's panel: the sample territory is synthetic, and the page says so.
            assert "Synthetic data" in page.text_content("#data-banner")
            assert page.text_content("#data-summary") == (
                f"{n_ingested} source layers: 0 real, {n_ingested} synthetic.")

            # Change the year: keyboard on the slider (Home = first year, then 5 steps on).
            t = time.perf_counter()
            page.focus("#year [role=slider]")
            page.keyboard.press("Home")
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            year = years[0] + 5
            _wait_title(page, f"Land use {year}", "Baseline")
            _wait_card(page, "population",
                       _indicator(runs["baseline"], year, "population")["value"])
            timings["year_change_s"] = time.perf_counter() - t
            card = _card(page, "built_up_area")
            expected = _indicator(runs["baseline"], year, "built_up_area")
            # the territory is judged by the roll-up's city row (its plan target) when it has one
            areas = pd.read_csv(runs["baseline"] / "indicators_areas.csv")
            city = areas[(areas["level"] == "city") & (areas["year"] == year)
                         & (areas["indicator"] == "built_up_area")]
            status = city["status"].iloc[0] if len(city) else expected["status"]
            assert card["value"] == expected["value"] and card["status"] == status
            assert "baseline scenario" in card["text"]
            # The timeline's year lines moved with it, in the graph's layout and where they are
            # drawn (twinmaps.js shifts them in place), and the 3D view took the year's drape
            # (its scene picked in the browser from the run's scenes).
            page.wait_for_function("""year => {
                const gd = document.querySelector('#timeline .js-plotly-plot');
                const box = gd.getBoundingClientRect();
                const lines = gd._fullLayout.shapes.map((s, i) => [s, i])
                    .filter(p => p[0].name === 'year');
                return lines.length === 4 && lines.every(([s, i]) => {
                    const axis = gd._fullLayout['xaxis' + String(s.xref).slice(1)];
                    const path = gd.querySelector(`.shapelayer path[data-index="${i}"]`);
                    const r = path.getBoundingClientRect();
                    const want = axis._offset + axis.l2p(axis.d2l(year));
                    return s.x0 === year && gd.layout.shapes[i].x0 === year
                        && Math.abs(r.left + r.width / 2 - box.left - want) <= 1.5;
                }); }""", arg=year, timeout=TIMEOUT_MS)
            _wait_3d(page, f"(s.drapeUrl || '').endsWith('/{year}.png')")

            # The layer toggles: terrain off puts the drape on the globe, points load.
            t = time.perf_counter()
            page.click("#layers label:has-text('Terrain')")
            status = _wait_3d(page, "!s.layers.terrain.show && s.drapeHost === 'globe'")
            assert status["layers"]["buildings"]["show"]
            page.click("#layers label:has-text('Points')")
            status = _wait_3d(page, "s.layers.points.show && s.layers.points.loaded")
            assert status["error"] is None
            page.locator("#city-panel").screenshot(path=str(artifacts / "dashboard-points.png"))
            page.click("#layers label:has-text('Points')")
            page.click("#layers label:has-text('Terrain')")
            _wait_3d(page, "s.layers.terrain.show && !s.layers.points.show "
                           "&& s.drapeHost === 'terrain'")
            timings["layer_toggles_s"] = time.perf_counter() - t

            # Change the run: the storm surge keeps the year; its flood cards wait for the surge.
            t = time.perf_counter()
            choose(page, "#run", "Storm surge")
            title = _wait_title(page, f"Land use {year}", "Storm surge")
            assert f"flood in {surge_year}" in title
            page.wait_for_selector('[data-indicator="flooded_buildings"]', timeout=TIMEOUT_MS)
            _wait_card(page, "population",
                       _indicator(runs["storm-surge"], year, "population")["value"])
            assert f"surge in {surge_year}" in _card(page, "flooded_buildings")["text"]
            timings["run_change_s"] = time.perf_counter() - t

            # The surge year: flood depth on the map, flooded buildings in the cards and in 3D.
            t = time.perf_counter()
            page.focus("#year [role=slider]")
            page.keyboard.press("End")
            _wait_title(page, f"Land use {surge_year}", "Storm surge", "flood depth")
            flooded = _indicator(runs["storm-surge"], surge_year, "flooded_buildings")
            assert flooded["value"] == n_flooded > 0  # indicators.csv agrees with buildings.csv
            _wait_card(page, "flooded_buildings", flooded["value"])
            card = _card(page, "flooded_buildings")
            assert card["status"] == flooded["status"]
            assert f"+{n_flooded:,} buildings vs baseline" in card["text"]
            assert page.text_content("#flooded-count").startswith(
                f"{n_flooded:,} of {len(buildings):,} buildings flooded")
            status = _wait_3d(page, f"""s.mode === 'flood' && s.floodedStyled > 0 &&
                (s.drapeUrl || '').endsWith('/{SURGE}/{surge_year}.png?flood=1')""")
            assert 0 < status["floodedStyled"] <= n_flooded
            if status["featuresStyled"] == len(buildings):  # every tile in view: all of them
                assert status["floodedStyled"] == n_flooded
            timings["surge_year_3d_s"] = time.perf_counter() - t
            page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

            # Cards and warnings for one planning unit, with its plan targets.
            t = time.perf_counter()
            areas = pd.read_csv(runs["storm-surge"] / "indicators_areas.csv")
            unit = areas[(areas["level"] == "unit") & (areas["year"] == surge_year)
                         & (areas["indicator"] == "population")].sort_values("value").iloc[-1]
            choose(page, "#area", f"Unit \u00b7 {unit['area']}", search=unit["area"])
            _wait_card(page, "population", unit["value"])
            card = _card(page, "population")
            assert card["status"] == unit["status"]
            assert f"plan target {unit['target']:,.0f}" in card["text"]
            warnings = pd.read_csv(runs["storm-surge"] / "warnings.csv")
            expected = int(((warnings["year"] == surge_year)
                            & (warnings["area"] == unit["area"])).sum())
            page.wait_for_function(
                f"() => {{ const w = document.getElementById('warnings-list'); return w && "
                f"w.closest('.warnings').textContent.includes('in {surge_year}') && "
                f"Number(w.dataset.count) === {expected}; }}", timeout=TIMEOUT_MS)
            timings["area_cards_s"] = time.perf_counter() - t

            # Compare: the surge run (A) with high growth (B) side by side in the same year.
            t = time.perf_counter()
            _open_tab(page, "compare")
            choose(page, "#compare-with", "High growth")
            code = next(c["code"] for c in surge_manifest["classes"] if c["group"] == "built")
            a = _built(runs["storm-surge"], surge_year, code)
            b = _built(runs["high-growth"], surge_year, code)
            page.wait_for_function(
                "() => { const e = document.getElementById('diff-summary'); return e && "
                f"Number(e.dataset.onlyBCells) === {int((b & ~a).sum())} && "
                f"Number(e.dataset.onlyACells) === {int((a & ~b).sum())} && "
                f"Number(e.dataset.year) === {surge_year}; }}", timeout=TIMEOUT_MS)
            row = page.eval_on_selector('#compare-table [data-indicator="built_up_area"]',
                                        "e => [Number(e.dataset.a), Number(e.dataset.b)]")
            assert row == [_indicator(runs["storm-surge"], surge_year, "built_up_area")["value"],
                           _indicator(runs["high-growth"], surge_year, "built_up_area")["value"]]
            status = _wait_3d(page, f"""s.split && s.drapeUrls.length === 2 &&
                s.drapeUrls[0].endsWith('/{SURGE}/{surge_year}.png') &&
                s.drapeUrls[1].endsWith('/{GROWTH}/{surge_year}.png')""")
            assert status["drapeHost"] == "terrain" and status["mode"] == "height"
            # Zoom the first map: the second and the difference follow.
            page.evaluate("""() => Plotly.relayout(
                document.querySelector('#compare-map-a .js-plotly-plot'),
                {'xaxis.range': [511.5, 514.5], 'yaxis.range': [2705.0, 2707.5]})""")
            page.wait_for_function("""() => ['compare-map-b', 'diff-map'].every(id => {
                const l = document.querySelector('#' + id + ' .js-plotly-plot').layout;
                return Math.abs(l.xaxis.range[0] - 511.5) < 1e-6
                    && Math.abs(l.yaxis.range[1] - 2707.5) < 1e-6; })""", timeout=TIMEOUT_MS)
            timings["compare_s"] = time.perf_counter() - t
            page.screenshot(path=str(artifacts / "dashboard-compare.png"), full_page=True)

            # Ensemble: the probability map and the bands of the members.
            t = time.perf_counter()
            _open_tab(page, "ensemble")
            import rasterio

            ensemble_dir = demo_output / "ensembles" / "high-growth"
            with rasterio.open(ensemble_dir / "probability_built.tif") as src:
                band = list(src.descriptions).index(str(surge_year)) + 1
                probability = src.read(band)
            page.wait_for_function(
                "() => { const e = document.getElementById('probability-summary'); return e "
                f"&& Number(e.dataset.likelyCells) === {int((probability >= 0.5).sum())} && "
                f"Number(e.dataset.someCells) === {int((probability > 0).sum())}; }}",
                timeout=TIMEOUT_MS)
            intervals = pd.read_csv(ensemble_dir / "indicator_intervals.csv")
            population = intervals[intervals["indicator"] == "population"].sort_values("year")
            # _fullData: the traces as plotly drew them (typed arrays decoded).
            bands = page.evaluate("""() => document.querySelector(
                '#ensemble-timeline .js-plotly-plot')._fullData
                .filter(t => t.meta === 'band').map(t => Array.from(t.y))""")
            from scenarios.ensemble import band_columns

            upper = band_columns(intervals)[1]  # p90 (p95 for ensembles made before P10/P90)
            assert len(bands) == 4 and bands[0] == pytest.approx(list(population[upper]))
            _wait_3d(page, f"""s.mode === 'plain' &&
                (s.drapeUrl || '').endsWith('/probability/0/{surge_year}.png')""")
            timings["ensemble_s"] = time.perf_counter() - t
            page.screenshot(path=str(artifacts / "dashboard-ensemble.png"), full_page=True)

            # Heights and views: violators and the corridor's blockers, in numbers and in 3D.
            t = time.perf_counter()
            _open_tab(page, "heights")
            checked = json.loads((demo_output / "heights" / "buildings.json").read_text())
            violators = {k for k, v in checked.items() if v["violation"]}
            lines_dir = _sightlines(demo_output)
            blockers = set(json.loads((lines_dir / "buildings.json").read_text()))
            n_lines = len(pd.read_csv(lines_dir / "sightlines.csv"))
            assert page.get_attribute("#heights-summary", "data-violations") == str(
                len(violators))
            assert page.get_attribute("#violators-table", "data-count") == str(len(violators))
            # First the whole territory: every violator coloured, nothing blocking.
            status = _wait_3d(page, "s.mode === 'heights' && s.entities.lines === 0 "
                                    "&& s.camera === 'home' && s.featuresStyled > 0")
            # The home view shows every tile: each violator painted exactly once.
            assert status["featuresStyled"] == len(buildings)
            assert status["blockersStyled"] == 0
            assert status["violatorsStyled"] == len(violators)
            choose(page, "#corridor", CORRIDOR)
            page.wait_for_function(
                "() => { const e = document.getElementById('sightline-summary'); return e && "
                f"Number(e.dataset.blockers) === {len(blockers)} && "
                f"Number(e.dataset.lines) === {n_lines}; }}", timeout=TIMEOUT_MS)
            status = _wait_3d(page, f"""s.mode === 'heights' && s.entities.lines === {1 + n_lines}
                && s.entities.cells > 0 && s.camera && s.camera.endsWith({json.dumps(CORRIDOR)})
                """)
            assert status["entities"]["polygons"] == 2
            if status["featuresStyled"] == len(buildings):  # every tile in view
                assert status["blockersStyled"] == len(blockers)
                assert status["violatorsStyled"] == len(violators - blockers)
            # Zoom to the corridor: the 3D view flies there again (a new camera key); every
            # violator is in the table and its CSV comes through the download route.
            page.click("#zoom-corridor")
            _wait_3d(page, "s.camera && s.camera.startsWith('corridor:0:1:') && "
                           f"s.camera.endsWith({json.dumps(CORRIDOR)})")
            href = page.get_attribute("#violators-download", "href")
            assert href == "/twin/download/heights/0/violations.csv"
            csv = page.request.get(server.rstrip("/") + href)
            assert csv.ok and csv.body() == (demo_output / "heights" /
                                             "violations.csv").read_bytes()
            timings["heights_s"] = time.perf_counter() - t
            page.screenshot(path=str(artifacts / "dashboard-heights.png"), full_page=True)
            timings["total_s"] = time.perf_counter() - t0
        finally:
            browser.close()

    (artifacts / "dashboard-timings.json").write_text(json.dumps(
        {k: round(v, 2) for k, v in timings.items()}, indent=1))
    print("dashboard timings:", {k: round(v, 2) for k, v in timings.items()})
    outside = [u for u in requests
               if urlparse(u).scheme not in ("data", "blob")
               and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert requests and not outside, f"requests left localhost: {outside[:10]}"
    assert not failures, f"failed requests: {failures[:10]}"
    assert not errors, f"errors in the page: {errors[:5]}"


class _Browser:
    """A Chromium page that records every request, failed response and page error."""

    def __init__(self, sync_api) -> None:
        self._api = sync_api.sync_playwright()
        p = self._api.__enter__()
        self.browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1500, "height": 1100})
        self.requests: list[str] = []
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: self.failures.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)
        self.page.on("requestfailed", lambda r: self.failures.append(f"failed {r.url}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)

    def close(self) -> None:
        self.browser.close()
        self._api.__exit__(None, None, None)

    def check(self) -> None:
        """Nothing left localhost, no request failed (a callback error is a 500), no error in
        the page."""
        outside = [u for u in self.requests
                   if urlparse(u).scheme not in ("data", "blob")
                   and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
        assert self.requests and not outside, f"requests left localhost: {outside[:10]}"
        assert not self.failures, f"failed requests: {self.failures[:10]}"
        assert not self.errors, f"errors in the page: {self.errors[:5]}"


def _readout(page) -> dict:
    return page.eval_on_selector("#flood-readout", "e => Object.assign({}, e.dataset)")


def _wait_readout(page, condition: str) -> dict:
    """Wait until the flood readout's data (JS ``r`` = its dataset) satisfies ``condition``."""
    page.wait_for_function("() => { const e = document.getElementById('flood-readout');"
                           f" const r = e && e.dataset; return r && ({condition}); }}",
                           timeout=TIMEOUT_MS)
    return _readout(page)


def _traces(page, graph: str) -> list[dict]:
    """The traces plotly drew in ``graph`` (name, type; empty while it has none)."""
    return page.evaluate(f"""() => {{ const g = document.querySelector('#{graph} .js-plotly-plot');
        return g && g._fullData ? g._fullData.map(t => ({{name: t.name, type: t.type,
        x: t.x ? Array.from(t.x) : null}})) : []; }}""")


def _wait_trace(page, graph: str, condition: str) -> None:
    """Wait until a trace ``t`` drawn in ``graph`` satisfies ``condition`` (JS)."""
    page.wait_for_function(f"""() => {{ const g = document.querySelector('#{graph} .js-plotly-plot');
        return g && g._fullData && g._fullData.some(t => {condition}); }}""",
                           timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_flood_and_calibration_tabs_in_chromium(server, demo_output, artifacts):
    """The storm surge tab plays the 100-year event frame by frame (the slider moves, each
    frame's numbers are its band of depth_series.tif, the 3D drape follows), moves a
    still-water level, shows the sea wall; the calibration tab shows the report's numbers."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_dashboard_surge import frame, sea_mask

    run_dir = demo_output / "runs" / "surge-100y"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    surge = manifest["outputs"]["surge"]
    times = surge["depth_series"]["times_s"]
    wall = json.loads((demo_output / "runs" / "surge-100y-seawall" / "manifest.json"
                       ).read_text())
    sea = sea_mask(run_dir)

    def flooded_cells(band: int) -> int:
        _, depth = frame(run_dir, band)
        return int((~sea & (depth >= 0.01)).sum())

    timings: dict[str, float] = {}
    b = _Browser(sync_api)
    page = b.page
    try:
        page.goto(server, timeout=TIMEOUT_MS)
        _wait_title(page, "Land use")
        t = time.perf_counter()
        _open_tab(page, "flood")
        # The first surge with a time series, at the frame with the most land flooded.
        r = _wait_readout(page, f"r.mode === 'time' && Number(r.run) === {INERTIAL}")
        _wait_trace(page, "flood-map", "t.name === 'flood depth' && t.type === 'heatmap'")
        _wait_trace(page, "flood-hydrograph", "t.name === 'shown'")
        _wait_trace(page, "flood-hazard-map", "t.type === 'heatmap'")
        assert int(r["floodedCells"]) == max(flooded_cells(k) for k in range(len(times)))
        flooded = _indicator(run_dir, surge["year"], "flooded_buildings")
        page.wait_for_function(f"""() => {{ const e = document.querySelector(
            '#flood-cards [data-indicator="flooded_buildings"]');
            return e && Number(e.dataset.value) === {float(flooded['value'])!r}; }}""",
                               timeout=TIMEOUT_MS)
        assert page.text_content("#flood-engine").startswith("local inertial")
        timings["flood_tab_s"] = time.perf_counter() - t

        # Back to the start, then play: the slider moves frame after frame on its own.
        page.focus("#flood-time [role=slider]")
        page.keyboard.press("Home")
        r = _wait_readout(page, "r.mode === 'time' && Number(r.band) === 0")
        assert float(r["timeS"]) == times[0] and int(r["floodedCells"]) == flooded_cells(0)
        t = time.perf_counter()
        page.click("#flood-play")
        assert "Pause" in page.text_content("#flood-play")
        _wait_readout(page, "Number(r.band) >= 2")
        page.click("#flood-play")  # pause
        page.wait_for_function("() => document.getElementById('flood-play').textContent"
                               ".includes('Play')", timeout=TIMEOUT_MS)
        # The frame under way when paused is drawn: the readout catches up with the slider.
        r = _wait_readout(page, "r.band === document.querySelector("
                                "'#flood-time [role=slider]').getAttribute('aria-valuenow')")
        band = int(r["band"])
        timings["frame_s"] = (time.perf_counter() - t) / band  # played from band 0
        assert band >= 2
        assert float(r["timeS"]) == times[band]
        assert int(r["floodedCells"]) == flooded_cells(band)
        # The hydrograph marks the frame shown; the 3D view drapes it.
        _wait_trace(page, "flood-hydrograph",
                    f"t.name === 'shown' && Math.abs(t.x[0] - {times[band] / 3600.0}) < 1e-9")
        status = _wait_3d(page, f"s.mode === 'flood' && (s.drapeUrl || '')"
                                f".endsWith('/flood/{INERTIAL}/time/{band}.png')")
        assert status["error"] is None
        page.screenshot(path=str(artifacts / "dashboard-flood.png"), full_page=True)

        # A still-water level: one step up the level slider floods the flooding-level map.
        page.focus("#flood-level [role=slider]")
        page.keyboard.press("ArrowRight")
        level = round(round(surge["peak_level_m"], 1) + 0.1, 2)
        r = _wait_readout(page, f"r.mode === 'level' && Number(r.level) === {level}")
        assert int(r["floodedCells"]) > 0
        _wait_3d(page, f"(s.drapeUrl || '').endsWith('/flood/{INERTIAL}/level/"
                       f"{round(level * 100)}.png')")

        # The sea wall: its impacts against the open coast, its crest drawn in 3D.
        choose(page, "#flood-run", wall["scenario"]["title"])
        _wait_readout(page, f"Number(r.run) === {SEAWALL}")
        status = _wait_3d(page, f"s.mode === 'flood' && s.entities.lines === "
                                f"{len(wall['scenario']['surge']['defences'])}")
        _wait_trace(page, "flood-map", "t.name && t.name.startsWith('Haiwan sea wall')")
        # compared with the open coast, named by its title (not its folder)
        assert f"vs {manifest['scenario']['title']}" in page.text_content(
            '#flood-cards [data-indicator="flooded_buildings"]')

        calibration = _calibration(demo_output)
        if calibration is not None:
            metrics = json.loads((calibration / "metrics.json").read_text())
            t = time.perf_counter()
            _open_tab(page, "calibration")
            for period in ("validation", "calibration"):
                if period == "calibration":
                    page.click("#calibration-period label:has-text('Calibration')")
                overall = metrics["periods"][period]["model"]["overall"]
                page.wait_for_function(f"""() => {{
                    const e = document.getElementById('calibration-summary');
                    const a = document.getElementById('agreement-summary');
                    return e && a && e.dataset.period === '{period}'
                        && Number(e.dataset.fom) === {overall['figure_of_merit']!r}
                        && Number(a.dataset.hits) === {overall['hits']}
                        && Number(a.dataset.falseAlarms) === {overall['false_alarms']}; }}""",
                                       timeout=TIMEOUT_MS)
                _wait_trace(page, "calibration-map", "t.type === 'image'")
                _wait_trace(page, "calibration-comparison", "t.type === 'bar'")
                _wait_trace(page, "calibration-convergence", "t.name === 'best so far'")
                _wait_trace(page, "calibration-drivers", "t.type === 'bar'")
                timings[f"calibration_{period}_s"] = time.perf_counter() - t
                t = time.perf_counter()
            page.screenshot(path=str(artifacts / "dashboard-calibration.png"), full_page=True)
    finally:
        b.close()
    (artifacts / "dashboard-flood-timings.json").write_text(json.dumps(
        {k: round(v, 2) for k, v in timings.items()}, indent=1))
    print("flood and calibration tab timings:", {k: round(v, 2) for k, v in timings.items()})
    b.check()
