"""The planners' tab shows a sunlight check and a life-circle check written beside the chosen
TIM or run (``<DIR>-sunlight``, ``<DIR>-lifecircle``): the failing buildings, their download
and the coverage table are the folders' files, read and never recomputed."""

from __future__ import annotations

from types import SimpleNamespace
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from scenarios.planning.lifecircle import (check_lifecircle, load_standards, network_from_lines,
                                           write_lifecircle)
from scenarios.planning.sunlight import check_sunlight, load_sunlight_rules, write_sunlight
from test_lifecircle import _grid_lines, _territory
from test_sunlight import CRS, X0, Y0, _flat


def _find(component, cid):
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            hit = _find(child, cid)
            if hit is not None:
                return hit
    return None


@pytest.fixture()
def folders(tmp_path):
    territory = _flat([("slab", -30, 0, 30, 10, 12.0)])
    tower = gpd.GeoDataFrame({"building_id": ["tower"], "height": [100.0]},
                             geometry=[shapely.box(X0 - 40, Y0 - 60, X0 + 40, Y0 - 20)], crs=CRS)
    rules, path = load_sunlight_rules(climate_zone="III")
    from tim.ingest.layers import normalise_buildings

    report = check_sunlight(territory, normalise_buildings(tower, "p"), rules, path,
                            shadow_map=False)
    run = tmp_path / "run-a"
    write_sunlight(report, territory, tmp_path / "run-a-sunlight")
    small = _territory([("near", 0, -20, 4), ("mid", 300, 320, 4)])
    facilities = pd.DataFrame({"type": ["market"], "facility_id": ["m"], "x": [0.0],
                               "y": [10.0]})
    standards, spath = load_standards()
    life = check_lifecircle(small, network_from_lines(_grid_lines()), facilities, standards,
                            spath)
    write_lifecircle(life, small, tmp_path / "run-a-lifecircle")
    return run, tmp_path


def test_the_tab_reads_both_folders_beside_the_chosen_run(folders, monkeypatch):
    import flask

    from viz.tabs import heights, planning_panels

    run, tmp = folders
    board = SimpleNamespace(runs=[SimpleNamespace(path=run)],
                            provenance=SimpleNamespace(tims=(str(tmp / "tim"),)))
    monkeypatch.setattr(heights, "_choice", lambda b, v: heights.Choice(1, "run:0", None, 0))
    assert planning_panels.planning_base(board, "run:0") == run
    failing = pd.read_csv(tmp / "run-a-sunlight" / "failing.csv")
    box = planning_panels.sunlight_box(board, "run:0")
    summary = _find(box[0], "sunlight-summary")
    assert summary is not None
    assert int(getattr(summary, "data-failing")) == len(failing)
    assert planning_panels.planning_file(board, "run:0", "sunlight", "failing.csv") == \
        tmp / "run-a-sunlight" / "failing.csv"
    assert "slab" in set(failing["building_id"])
    graph = box[2]
    assert len(graph.figure.data[0].x) == len(pd.read_csv(tmp / "run-a-sunlight" /
                                                          "points.csv"))
    life = planning_panels.lifecircle_box(board, "run:0")
    table = _find(life[1], "lifecircle-table")
    coverage = pd.read_csv(tmp / "run-a-lifecircle" / "coverage.csv")
    assert table is not None and int(getattr(table, "data-types")) == coverage["type"].nunique()
    gaps = pd.read_csv(tmp / "run-a-lifecircle" / "gaps.csv")
    assert int(getattr(_find(life[3], "lifecircle-gaps"), "data-gaps")) == len(gaps)
    assert len(life[2].figure.data[0].x) == len(pd.read_csv(tmp / "run-a-lifecircle" /
                                                            "buildings.csv"))
    # both maps name their axes as every map does: in km of the TIM's CRS
    for fig in (graph.figure, life[2].figure):
        assert fig.layout.xaxis.title.text.startswith("Easting (km, EPSG:")
        assert fig.layout.yaxis.title.text == "Northing (km)"
    # the existing buildings' choice looks beside the TIM, where there is nothing
    monkeypatch.setattr(heights, "_choice", lambda b, v: heights.Choice(0, "check:0", None,
                                                                        None))
    with flask.Flask(__name__).test_request_context("/?lang=zh_CN"):
        none = planning_panels.sunlight_box(board, "check:0")
    assert none[0].id == "sunlight-none" and "tim-sunlight" in none[0].children
    assert "此选项尚无日照分析" in none[0].children


def test_the_3d_view_gets_the_facade_points(folders, monkeypatch):
    from viz.tabs import heights, planning_panels

    run, tmp = folders
    board = SimpleNamespace(runs=[SimpleNamespace(path=run)],
                            provenance=SimpleNamespace(tims=()))
    monkeypatch.setattr(heights, "_choice", lambda b, v: heights.Choice(1, "run:0", None, 0))
    entities = planning_panels.sunlight_entities(board, "run:0", geoid=40.0)
    points = pd.read_csv(tmp / "run-a-sunlight" / "points.csv", dtype={"building_id": str})
    # one point per building: its least sunlit after the proposals, failing buildings first
    worst = points.loc[points.groupby("building_id")["hours_after"].idxmin()]
    assert len(entities["points"]) == len(worst) == points["building_id"].nunique()
    failing = int((~worst["pass_after"].astype(bool)).sum())
    colours = [p["colour"] for p in entities["points"]]
    assert colours[:failing] == [planning_panels.SUN_FAIL] * failing
    assert colours.count(planning_panels.SUN_PASS) == len(worst) - failing
    first = entities["points"][0]
    building, hours = first["name"].rsplit(" ", 2)[:2]
    least = worst.set_index("building_id").loc[building]
    assert float(hours) == pytest.approx(least["hours_after"], abs=0.01)
    assert first["depth_test"] and first["outline"] == 0  # hidden behind buildings, no halo
    lon, lat, z = first["position"]
    assert 113.9 < lon < 114.1 and 30 < lat < 31  # the flat test site by Wuhan, in WGS 84
    assert z == pytest.approx(least["z"] + 40)


# -- the ground shadow map, in 2D and draped in 3D (the demo's far-up run and its sunlight check)
def _demo_board(demo_output):
    from viz.app import load_dashboard
    from viz.demo import PLANNING_RUN

    return load_dashboard([demo_output / "runs" / PLANNING_RUN],
                          tiles_dir=demo_output / "tiles")


def test_the_shadow_map_is_shown_only_to_users_cleared_for_the_run(demo_output):
    import flask
    import numpy as np
    import rasterio

    from viz.app import create_app
    from viz.server import visible
    from viz.sources import products_level
    from viz.tabs import heights, planning_panels

    board = _demo_board(demo_output)
    run = board.runs[0]
    path = run.path.with_name(run.path.name + "-sunlight") / "rasters" / \
        "sunlight__shadow_hours_after.tif"
    with rasterio.open(path) as src:
        most = float(np.nanmax(src.read(1)))
    level = products_level(run.manifest)
    app = create_app([run.path], board.tiles_dir)
    seen = {}
    with app.server.test_request_context():
        for clearance in ("public", "internal", "restricted"):
            flask.g.twin_clearance = clearance
            shown = planning_panels.shadow_map(board, "run:0")
            seen[clearance] = shown is not None
            fields = [o["value"] for o in heights.choice_controls(board, "run:0", None)[2]]
            assert (planning_panels.SHADOW in fields) == seen[clearance]
            scene, legend = heights.scene_spec(board, None, planning_panels.SHADOW, "run:0")
            drape = scene["sides"][0]["drape"]["url"]
            if shown is None:  # the limit map instead, and no shadow in the legend
                assert drape.startswith("/twin/limits/")
                continue
            assert shown.top == pytest.approx(most)
            assert drape == "/twin/shadow/0.png"
            key = next(x for x in legend if getattr(x, "id", None) == "heights-3d-shadow")
            assert float(getattr(key, "data-top")) == pytest.approx(most, abs=0.01)
    assert seen == {c: visible(level, c) for c in seen}
    assert seen["restricted"]


@pytest.mark.browser
def test_the_3d_view_drapes_the_shadow_map_on_the_ground(demo_output, artifacts):
    """Choose the sunlight check's shadow map: the 2D map shows it and the 3D view drapes the
    same image (served by the dashboard) on the ground, with its legend."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import numpy as np
    import rasterio

    from test_dashboard_browser import (CHROMIUM, TIMEOUT_MS, _Browser, _open_tab, _wait_3d,
                                        free_port, serving)
    from test_dashboard import CESIUM_JS
    from viz.demo import PLANNING_RUN

    if not CHROMIUM.is_file() or not CESIUM_JS.is_file():
        pytest.skip("needs Chromium and CesiumJS (RECIPES.md)")
    run = demo_output / "runs" / PLANNING_RUN
    with rasterio.open(run.with_name(run.name + "-sunlight") / "rasters" /
                       "sunlight__shadow_hours_after.tif") as src:
        most = float(np.nanmax(src.read(1)))
    port = free_port()
    with serving(port, "serve", run, "--tiles", demo_output / "tiles") as url:
        b = _Browser(sync_api)
        page = b.page
        try:
            page.goto(url, timeout=TIMEOUT_MS)
            _open_tab(page, "heights")
            _wait_3d(page, "s.mode === 'heights' && (s.drapeUrl || '').includes('/limits/')")
            page.click("#limit-map input[value='sunlight__shadow_hours_after']")
            status = _wait_3d(page, "s.mode === 'heights' && "
                                    "(s.drapeUrl || '').endsWith('/twin/shadow/0.png')")
            assert status["error"] is None and status["drapeHost"] == "terrain"
            page.wait_for_selector("#heights-3d-shadow", timeout=TIMEOUT_MS)
            top = float(page.get_attribute("#heights-3d-shadow", "data-top"))
            assert top == pytest.approx(most, abs=0.01)
            page.wait_for_function("() => { const e = document.querySelector("
                                   "'#limits-map .gtitle'); return e && e.textContent"
                                   ".includes('Hours in shadow'); }", timeout=TIMEOUT_MS)
            image = page.request.get(url.rstrip("/") + "/twin/shadow/0.png")
            assert image.ok and image.headers["content-type"] == "image/png"
            assert image.body()[:8] == b"\x89PNG\r\n\x1a\n"
            page.screenshot(path=str(artifacts / "dashboard-shadow-drape.png"), full_page=True)
            b.check()
        finally:
            b.close()
