"""The dashboard (``twin serve``): input checks, callbacks and routes in-process, then the real
page in a real browser.

The browser test starts ``twin serve`` as a subprocess on the demo output (three runs and the
3D Tiles), drives Debian's Chromium with Playwright in software WebGL, changes the run and the
year, and checks what the page shows against the run directories' own files: indicator values
and statuses from ``indicators.csv``, flooded buildings from ``buildings.csv``, data provenance
from the TIM manifest. It also checks that every request stayed on localhost and saves
``dashboard.png`` in the artifacts folder.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from tim.errors import InputError, StoreError

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CESIUM_JS = REPO / "viz" / "node_modules" / "cesium" / "Build" / "Cesium" / "Cesium.js"
RUNS = ("baseline", "high-growth", "storm-surge")
SURGE = RUNS.index("storm-surge")
#: Flags from RECIPES.md: headless, no background traffic, software WebGL for Cesium.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
                 "--use-angle=swiftshader"]
#: Software WebGL takes about 8 s for a first 3D frame here; leave room for a busy machine.
TIMEOUT_MS = 60_000


def _run_dirs(demo_output: Path) -> list[Path]:
    return [demo_output / "runs" / name for name in RUNS]


def _indicator(run_dir: Path, year: int, key: str) -> pd.Series:
    table = pd.read_csv(run_dir / "indicators.csv")
    row = table[(table["year"] == year) & (table["indicator"] == key)]
    assert len(row) == 1, f"{run_dir.name} {year} {key}"
    return row.iloc[0]


@pytest.fixture(scope="module")
def board(demo_output):
    from viz.app import load_dashboard

    return load_dashboard(_run_dirs(demo_output), demo_output / "tiles")


# -- bad input, before any server ------------------------------------------------------------
def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    from viz.app import create_app

    with pytest.raises(StoreError, match="not a run directory"):
        create_app([tmp_path])


def test_no_runs_are_refused():
    from viz.app import create_app

    with pytest.raises(InputError, match="at least one run"):
        create_app([])


def test_runs_on_different_grids_are_refused(demo_output, tmp_path):
    from viz.app import create_app

    moved = shutil.copytree(demo_output / "runs" / "high-growth", tmp_path / "moved")
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["grid"]["transform"][2] += 1000.0  # the same shape, 1 km further east
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="another grid") as info:
        create_app([demo_output / "runs" / "baseline", moved])
    assert str(moved) in str(info.value) and "same TIM" in str(info.value)


def test_a_tiles_folder_without_a_tileset_is_refused(demo_output, tmp_path):
    from viz.app import create_app

    with pytest.raises(StoreError, match="no tileset.json"):
        create_app(_run_dirs(demo_output), tmp_path)


def test_twin_serve_exits_with_the_error_before_serving(tmp_path):
    started = time.perf_counter()
    out = subprocess.run([*_twin(), "serve", str(tmp_path), "--port", str(_free_port())],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not a run directory" in out.stderr and "Dashboard" not in out.stdout
    assert time.perf_counter() - started < 60


# -- what the callbacks compute ---------------------------------------------------------------
def test_provenance_comes_from_the_tim_manifest(board, demo_output):
    history = json.loads((demo_output / "tim" / "manifest.json").read_text())["history"]
    ingests = [h for h in history if h["action"] == "ingest"]
    p = board.provenance
    assert [layer.role for layer in p.layers] == [h["role"] for h in ingests]
    assert p.synthetic == len(ingests) > 0 and p.real == 0 and p.all_synthetic
    assert p.problems == ()


def test_cards_show_the_run_values_and_the_difference_from_the_baseline(board, demo_output):
    from viz.callbacks import FLOOD_INDICATORS, card_data

    surge_dir, base_dir = demo_output / "runs" / "storm-surge", demo_output / "runs" / "baseline"
    year = board.runs[SURGE].surge_year
    cards = {c.key: c for c in card_data(board, SURGE, year)}
    for key, card in cards.items():
        row = _indicator(surge_dir, year, key)
        assert card.value == row["value"] and card.status == row["status"]
        assert card.unit == row["unit"]
        assert card.delta == pytest.approx(row["value"] - _indicator(base_dir, year, key)["value"])
    assert set(FLOOD_INDICATORS) <= set(cards)
    baseline_cards = card_data(board, 0, year)
    assert all(c.is_baseline and c.delta is None for c in baseline_cards)
    assert not set(FLOOD_INDICATORS) & {c.key for c in baseline_cards}  # no surge simulated
    earlier = {c.key: c for c in card_data(board, SURGE, year - 1)}
    assert earlier["flooded_buildings"].note == f"surge in {year}"


def test_controls_follow_the_run(board):
    from viz.callbacks import run_controls

    surge = run_controls(board, SURGE, 2030, "height")
    assert surge["year"] == 2030 and surge["colour"] == "flood"
    assert surge["flood_value"] == ["flood"]
    assert (surge["min"], surge["max"]) == (board.runs[SURGE].years[0],
                                            board.runs[SURGE].years[-1])
    base = run_controls(board, 0, 1999, "flood")
    assert base["year"] == board.runs[0].years[-1]  # a year the run lacks: its last year
    assert base["colour"] == "height" and base["flood_value"] == []
    assert base["flood_options"][0]["disabled"]


def test_the_map_shows_the_year_and_the_flood_of_the_surge_year(board):
    from viz.callbacks import map_figure

    run = board.runs[SURGE]
    fig = map_figure(board, SURGE, run.surge_year, ["flood"])
    assert str(run.surge_year) in fig.layout.title.text and "flood depth" in fig.layout.title.text
    flood = [t for t in fig.data if t.name == "flood depth"]
    assert len(flood) == 1
    before = map_figure(board, SURGE, run.surge_year - 1, ["flood"])
    assert not [t for t in before.data if t.name == "flood depth"]
    assert f"flood in {run.surge_year}" in before.layout.title.text


def test_building_style_lists_the_flooded_buildings(board, demo_output):
    from viz.callbacks import building_style

    buildings = pd.read_csv(demo_output / "runs" / "storm-surge" / "buildings.csv")
    wet = buildings[buildings["surge_depth_m"] > 0]
    spec = building_style(board, SURGE, "flood")
    assert spec["flooded"] == len(wet) > 0 and spec["total"] == len(buildings)
    assert spec["depth"] == pytest.approx(dict(zip(wet["building_id"], wet["surge_depth_m"])))
    assert spec["max"] == pytest.approx(wet["surge_depth_m"].max())
    assert building_style(board, 0, "flood")["mode"] == "height"  # no surge: no flood colours
    uses = building_style(board, 0, "use")["colours"]
    assert {"residential", "commercial", "industrial"} <= set(uses)


def test_routes_serve_cesium_tiles_and_drapes(demo_output):
    from PIL import Image

    from viz.app import create_app

    app = create_app(_run_dirs(demo_output), demo_output / "tiles")
    client = app.server.test_client()
    tileset = client.get("/tiles/tileset.json")
    assert tileset.status_code == 200 and tileset.get_json()["asset"]["version"] == "1.0"
    assert client.get("/tiles/buildings/tileset.json").status_code == 200
    assert client.get("/tiles/../runs/baseline/manifest.json").status_code == 404
    if CESIUM_JS.is_file():
        assert client.get("/cesium/Cesium.js").status_code == 200
    drape = client.get(f"/twin/drape/{SURGE}/2035.png?flood=1")
    assert drape.status_code == 200 and drape.mimetype == "image/png"
    image = Image.open(__import__("io").BytesIO(drape.data))
    assert image.mode == "RGBA" and min(image.size) > 100
    assert client.get("/twin/drape/9/2035.png").status_code == 404
    assert client.get("/twin/drape/0/1999.png").status_code == 404


def test_without_tiles_the_3d_panel_says_so(demo_output):
    from viz.app import create_app

    app = create_app(_run_dirs(demo_output))
    ids = {getattr(c, "id", None): c for c in app.layout._traverse()}
    assert "cesium-container" not in ids
    assert "--tiles" in ids["cesium-message"].children


# -- the real page in a real browser ----------------------------------------------------------
def _twin() -> list[str]:
    script = Path(sys.executable).parent / "twin"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "viz.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    process = subprocess.Popen(
        [*_twin(), "serve", *map(str, _run_dirs(demo_output)), "--tiles",
         str(demo_output / "tiles"), "--port", str(port)],
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


def _card(page, key: str) -> dict:
    return page.eval_on_selector(
        f'[data-indicator="{key}"]',
        "e => ({value: Number(e.dataset.value), status: e.dataset.status, text: e.innerText})")


def _wait_title(page, *parts: str) -> str:
    condition = " && ".join(f"t.includes({json.dumps(p)})" for p in parts)
    page.wait_for_function(
        "() => { const e = document.querySelector('#land-use-map .gtitle');"
        f" const t = e ? e.textContent : ''; return {condition}; }}", timeout=TIMEOUT_MS)
    return page.text_content("#land-use-map .gtitle")


def _wait_card(page, key: str, value: float) -> None:
    page.wait_for_function(
        f"""() => {{ const e = document.querySelector('[data-indicator="{key}"]');
                    return e && Number(e.dataset.value) === {float(value)!r}; }}""",
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
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
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
            # First view: the baseline in its last year.
            _wait_title(page, f"Land use {years[-1]}", "Baseline")
            _wait_card(page, "population",
                       _indicator(runs["baseline"], years[-1], "population")["value"])
            timings["page_ready_s"] = time.perf_counter() - t0
            page.wait_for_function("() => window.twin3d && window.twin3d.tilesLoaded "
                                   "&& window.twin3d.featuresStyled > 0", timeout=TIMEOUT_MS)
            timings["first_3d_tiles_loaded_s"] = time.perf_counter() - t0
            status = page.evaluate("() => ({...window.twin3d, viewer: null, tileset: null,"
                                   " contents: null, style: null, drapeLayer: null})")
            assert status["error"] is None
            assert 0 < status["featuresStyled"] <= len(buildings)
            assert status["mode"] == "height" and status["floodedStyled"] == 0

            # The data panel: the sample territory is synthetic, and the page says so.
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
            assert page.get_attribute("#year [role=slider]", "aria-valuenow") == str(year)
            card = _card(page, "built_up_area")
            expected = _indicator(runs["baseline"], year, "built_up_area")
            assert card["value"] == expected["value"] and card["status"] == expected["status"]
            assert "baseline scenario" in card["text"]

            # Change the run: the storm surge keeps the year; its flood cards wait for the surge.
            t = time.perf_counter()
            page.click("#run")
            page.click(".dash-dropdown-option:has-text('Storm surge')")
            title = _wait_title(page, f"Land use {year}", "Storm surge")
            assert f"flood in {surge_year}" in title
            # Population is the same in both runs before the surge, so wait for a card only
            # the surge run has: that proves the cards were redrawn for the new run.
            page.wait_for_selector('[data-indicator="flooded_buildings"]', timeout=TIMEOUT_MS)
            _wait_card(page, "population",
                       _indicator(runs["storm-surge"], year, "population")["value"])
            assert f"surge in {surge_year}" in _card(page, "flooded_buildings")["text"]
            timings["run_change_s"] = time.perf_counter() - t

            # The surge year: flood depth on the map, flooded buildings in the cards and in 3D.
            t = time.perf_counter()
            page.focus("#year [role=slider]")
            page.keyboard.press("End")
            title = _wait_title(page, f"Land use {surge_year}", "Storm surge", "flood depth")
            flooded = _indicator(runs["storm-surge"], surge_year, "flooded_buildings")
            assert flooded["value"] == n_flooded > 0  # indicators.csv agrees with buildings.csv
            _wait_card(page, "flooded_buildings", flooded["value"])
            card = _card(page, "flooded_buildings")
            assert card["status"] == flooded["status"]
            assert f"+{n_flooded:,} buildings vs baseline" in card["text"]
            traces = page.evaluate("() => document.querySelector('#land-use-map .js-plotly-plot')"
                                   ".data.map(t => t.name)")
            assert "flood depth" in traces
            assert page.text_content("#flooded-count").startswith(
                f"{n_flooded:,} of {len(buildings):,} buildings flooded")
            page.wait_for_function(
                f"""() => window.twin3d.mode === 'flood' && window.twin3d.floodedStyled > 0
                          && (window.twin3d.drapeUrl || '').endsWith(
                                 '/{SURGE}/{surge_year}.png?flood=1')""", timeout=TIMEOUT_MS)
            page.wait_for_timeout(1000)  # let the last frame with the new drape be drawn
            timings["surge_year_3d_s"] = time.perf_counter() - t
            status = page.evaluate("() => ({tilesLoaded: window.twin3d.tilesLoaded,"
                                   " featuresStyled: window.twin3d.featuresStyled,"
                                   " floodedStyled: window.twin3d.floodedStyled,"
                                   " error: window.twin3d.error})")
            assert status["tilesLoaded"] and status["error"] is None
            assert 0 < status["floodedStyled"] <= n_flooded
            if status["featuresStyled"] == len(buildings):  # every tile in view: all of them
                assert status["floodedStyled"] == n_flooded
            timings["total_s"] = time.perf_counter() - t0
            page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
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
