"""The storm surge tab (viz.tabs.flood, viz.surge) in-process, against the demo's surge runs: the
bathtub at 3.5 m (storm-surge), the 100-year surge routed by the local inertial engine
(surge-100y) and the same behind a 5 m sea wall (surge-100y-seawall).

Expected numbers are read here from the run directories and the TIM with rasterio, pandas and
shapely, independently of the dashboard's readers: a frame is a band of ``depth_series.tif``
(its time from the band's ``time_s`` tag), the sea is the sea group of the surge year's land
use, a building's depth is the area-weighted mean over exact footprint-cell intersections
(:func:`footprint_depths`), flooded from 1 cm - the rule of the run's own impacts, checked
against ``buildings.csv`` at the maximum.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import rasterio

from test_dashboard import INERTIAL, RUNS, SEAWALL, SURGE

FLOODED = 0.01


@pytest.fixture(scope="module")
def board(demo_output):
    from viz.app import load_dashboard

    return load_dashboard([demo_output / "runs" / name for name in RUNS], demo_output / "tiles")


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def sea_mask(run_dir: Path) -> np.ndarray:
    """Sea cells of the surge year's land use (codes of the manifest's sea group)."""
    m = _manifest(run_dir)
    year = m["outputs"]["surge"]["year"]
    sea = [c["code"] for c in m["classes"] if c["group"] == "sea"]
    with rasterio.open(run_dir / m["outputs"]["land_use"][str(year)]) as src:
        return np.isin(src.read(1), sea)


def frame(run_dir: Path, band: int) -> tuple[float, np.ndarray]:
    """(time in s from the band's tag, depth) of output ``band`` of the depth series."""
    with rasterio.open(run_dir / "surge" / "depth_series.tif") as src:
        return float(src.tags(band + 1)["time_s"]), src.read(band + 1).astype(float)


def ground(demo: Path) -> np.ndarray:
    with rasterio.open(demo / "tim" / "rasters" / "terrain__elevation.tif") as src:
        return src.read(1).astype(float)


@pytest.fixture(scope="module")
def footprints(demo_output):
    import geopandas as gpd

    return gpd.read_file(demo_output / "tim" / "vectors.gpkg", layer="buildings")


def footprint_depths(footprints, transform, depth: np.ndarray) -> pd.Series:
    """Depth at each flooded building (>= 1 cm): the mean of ``depth`` over the cells under
    its footprint, weighted by the exact area of footprint in each cell (shapely)."""
    import shapely

    a, _, c, _, e, f = transform
    rows, cols = depth.shape
    owner, cells, boxes = [], [], []
    for i, geometry in enumerate(footprints.geometry.values):
        x0, y0, x1, y1 = geometry.bounds
        for r in range(max(int((y1 - f) // e), 0), min(int((y0 - f) // e), rows - 1) + 1):
            for k in range(max(int((x0 - c) // a), 0), min(int((x1 - c) // a), cols - 1) + 1):
                owner.append(i)
                cells.append((r, k))
                boxes.append(shapely.box(c + k * a, f + (r + 1) * e, c + (k + 1) * a,
                                         f + r * e))
    owner = np.array(owner)
    areas = shapely.area(shapely.intersection(footprints.geometry.values[owner],
                                              np.array(boxes)))
    values = np.array([depth[r, k] for r, k in cells])
    mean = np.bincount(owner, areas * values, len(footprints)) / \
        np.bincount(owner, areas, len(footprints))
    wet = mean >= FLOODED
    return pd.Series(mean[wet], index=footprints["building_id"].astype(str)[wet])


# -- which runs, compared with which ----------------------------------------------------------
def test_the_tab_offers_the_surge_runs_and_compares_the_nearest_scenario(board):
    from viz.tabs import flood

    assert flood.surge_indices(board) == [SURGE, INERTIAL, SEAWALL,
                                          RUNS.index("surge-100y-breach")]
    assert flood.default_run(board) == INERTIAL  # the first with an animation
    # The sea wall and no defence differ only by the wall: each is the other's comparison.
    assert flood.default_versus(board, SEAWALL) == INERTIAL
    assert flood.default_versus(board, INERTIAL) == SEAWALL
    engine = _manifest(board.runs[INERTIAL].path)["outputs"]["surge"]["engine"]
    assert engine.startswith("local inertial")
    line = flood.engine_line(board, INERTIAL)
    assert line[1].children == engine and "Peak still-water level 3.50 m" in line[3]
    bathtub = flood.run_controls(board, SURGE)
    assert bathtub["play_disabled"] and bathtub["max"] == 0  # a constant level: no series
    assert {h["value"]: h["disabled"] for h in bathtub["hazards"]} == {
        "arrival": True, "duration": True, "max_speed": True}  # no time, no flow


def test_impact_cards_and_the_scenarios_table_come_from_the_indicators(board, demo_output):
    from scenarios.indicators import FLOOD_INDICATORS
    from viz.tabs import flood

    def values(name: str) -> pd.Series:
        table = pd.read_csv(demo_output / "runs" / name / "indicators.csv")
        return table[table["year"] == 2035].set_index("indicator")["value"]

    wall, open_ = values("surge-100y-seawall"), values("surge-100y")
    cards = flood.impact_cards(board, SEAWALL, INERTIAL)
    assert [c.key for c in cards] == list(FLOOD_INDICATORS)
    for card in cards:
        assert card.value == wall[card.key]
        assert card.delta == pytest.approx(wall[card.key] - open_[card.key])
        assert card.versus == board.labels[INERTIAL]  # the scenario's title, not its folder
    by_name = {c.key: c for c in cards}
    assert by_name["flooded_buildings"].delta < 0 and by_name["flood_damage"].delta < 0
    assert all(c.delta is None for c in flood.impact_cards(board, SEAWALL, flood.NONE))
    rows = flood.scenarios_table(board, SEAWALL).children[1].children
    breach = RUNS.index("surge-100y-breach")
    assert [r.to_plotly_json()["props"]["data-run"] for r in rows] == [SURGE, INERTIAL, SEAWALL,
                                                                        breach]
    for row, name in zip(rows, ("storm-surge", "surge-100y", "surge-100y-seawall",
                                "surge-100y-breach")):
        shown = json.loads(row.to_plotly_json()["props"]["data-values"])
        assert shown == {k: values(name)[k] for k in FLOOD_INDICATORS}


# -- the flood shown ---------------------------------------------------------------------------
@pytest.mark.parametrize("band", [2, 6, 9])
def test_a_frame_is_a_band_of_the_depth_series(board, demo_output, footprints, band):
    from viz.tabs import flood

    run_dir = demo_output / "runs" / "surge-100y"
    time_s, depth = frame(run_dir, band)
    land = np.where(sea_mask(run_dir), np.nan, depth)
    wet = np.nan_to_num(land) >= FLOODED
    shown = flood.shown_of(board, INERTIAL, "time", band, None)
    props = flood.readout(board, INERTIAL, shown).to_plotly_json()["props"]
    assert props["data-mode"] == "time" and props["data-band"] == band
    assert float(props["data-time-s"]) == time_s
    assert props["data-flooded-cells"] == int(wet.sum()) > 0
    assert float(props["data-max-depth"]) == pytest.approx(np.nanmax(land[wet]), abs=1e-4)
    with rasterio.open(run_dir / "surge" / "depth_series.tif") as src:
        transform = tuple(src.transform)[:6]
    expected = footprint_depths(footprints, transform, depth)
    assert props["data-flooded-buildings"] == len(expected) > 0
    got = board.surge_run(INERTIAL).building_depths(shown, board.ground)
    assert set(got.index) == set(expected.index)
    assert got.to_numpy() == pytest.approx(expected[got.index].round(2).to_numpy(), abs=0.006)
    # The sea's level at that time, from the hydrograph the engine was forced with.
    table = pd.read_csv(run_dir / "surge" / "hydrograph.csv")
    level = np.interp(time_s, table["time_s"], table["level_m"])
    fig = flood.timeline(board, INERTIAL, shown)
    marker = next(t for t in fig.data if t.name == "shown")
    assert marker.x[0] == time_s / 3600.0 and marker.y[0] == pytest.approx(level)


def test_at_the_maximum_the_buildings_are_those_of_the_run(board, demo_output, footprints):
    """The footprint rule on the maximum-depth raster gives buildings.csv exactly: the
    per-frame counts use the run's own definition of a flooded building."""
    run_dir = demo_output / "runs" / "surge-100y"
    buildings = pd.read_csv(run_dir / "buildings.csv")
    wet = buildings[buildings["surge_depth_m"] > 0].set_index("building_id")["surge_depth_m"]
    with rasterio.open(run_dir / "surge" / "water_depth.tif") as src:
        expected = footprint_depths(footprints, tuple(src.transform)[:6],
                                    src.read(1).astype(float))
    assert set(expected.index) == set(wet.index)
    assert expected[wet.index].round(2).to_numpy() == pytest.approx(wet.to_numpy(), abs=0.006)
    from viz.surge import Shown

    surge = board.surge_run(INERTIAL)
    assert surge.building_depths(Shown("max"), board.ground).to_dict() == wet.to_dict()
    # The same rule through the TIM's footprints, on the raster, as the frames use it.
    mean = board.ground.exposure.mean(surge.max_depth)
    assert int((np.nan_to_num(mean) >= FLOODED).sum()) == len(wet)


@pytest.mark.parametrize("index, level", [(SURGE, 3.5), (INERTIAL, 4.2), (SEAWALL, 4.9),
                                          (SEAWALL, 5.1)])
def test_a_still_water_level_floods_the_cells_whose_flooding_level_is_below_it(
        board, demo_output, index, level):
    from viz.tabs import flood

    run_dir = demo_output / "runs" / RUNS[index]
    with rasterio.open(run_dir / "surge" / "flood_level.tif") as src:
        levels = src.read(1).astype(float)
    z = ground(demo_output)
    depth = np.where(np.nan_to_num(levels, nan=np.inf) < level, level - z, 0.0)
    land = ~sea_mask(run_dir)
    wet = land & (depth >= FLOODED)
    shown = flood.shown_of(board, index, "level", None, level)
    props = flood.readout(board, index, shown).to_plotly_json()["props"]
    assert props["data-mode"] == "level" and float(props["data-level"]) == level
    assert props["data-flooded-cells"] == int(wet.sum()) > 0
    assert float(props["data-max-depth"]) == pytest.approx(depth[wet].max(), abs=1e-4)
    if index == SURGE:  # the bathtub at its own level: the run's maximum depth, cell by cell
        with rasterio.open(run_dir / "surge" / "water_depth.tif") as src:
            engine = src.read(1).astype(float)
        np.testing.assert_allclose(np.where(land, depth, 0.0), np.where(land, engine, 0.0),
                                   atol=1e-5)


def test_the_sea_wall_holds_until_the_water_tops_its_crest(board):
    """Behind the 5 m wall, 20 cm more water floods hundreds of cells once it overtops."""
    from viz.tabs import flood

    def cells(index: int, level: float) -> int:
        shown = flood.shown_of(board, index, "level", None, level)
        return flood.readout(board, index, shown).to_plotly_json()["props"][
            "data-flooded-cells"]

    below, above = cells(SEAWALL, 4.9), cells(SEAWALL, 5.1)
    assert below < cells(INERTIAL, 4.9) / 3 and above > 2 * below


def test_the_breach_is_drawn_in_red_over_the_wall_and_says_when_it_failed(board, demo_output):
    """Each face segment of the manifest's breach is a stretch of one red line (km), named
    with the breach and when and how low it failed, in the page's language."""
    from flask import Flask

    from viz.surge import Shown
    from viz.tabs import flood

    index = RUNS.index("surge-100y-breach")
    (breach,) = _manifest(demo_output / "runs" / "surge-100y-breach")[
        "outputs"]["surge"]["breaches"]
    assert breach["failed"] and breach["segments"]
    fig = flood.map_figure(board, index, Shown("max"))
    name = f"{breach['name']}: breached at {breach['failed_at_h']:g} h to {breach['crest_m']:g} m"
    assert name == "Haiwan west breach: breached at 12 h to 1 m"
    (line,) = [t for t in fig.data if t.name == name]
    assert line.line.color == flood.BREACH_COLOUR and line.showlegend
    x, y = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
    drawn = np.isfinite(x)
    assert (~drawn).sum() == len(breach["segments"]) - 1  # one gap between two segments
    ends = np.asarray(breach["segments"], dtype=float).reshape(-1, 2) / 1000.0
    assert np.column_stack([x[drawn], y[drawn]]) == pytest.approx(ends)
    # Drawn after (over) the defence, on no other run's map.
    names = [t.name for t in fig.data]
    assert names.index(name) > max(i for i, n in enumerate(names) if n and "sea wall" in n)
    assert not [t for t in flood.map_figure(board, SEAWALL, Shown("max")).data
                if t.type == "scatter" and t.line.color == flood.BREACH_COLOUR]
    with Flask(__name__).test_request_context("/?lang=zh_CN"):
        zh = [t.name for t in flood.map_figure(board, index, Shown("max")).data]
        held = flood.breach_lines(SimpleNamespace(breaches=[dict(
            breach, failed=False, note="the water never reached the trigger level at the breach")]))
    assert f"{breach['name']}: 于 12 小时溃决，降至 1 米" in zh
    assert held[0][0] == f"{breach['name']}: 水位始终未达到溃口的触发水位"


def test_the_controls_stay_on_the_run(board):
    from viz.surge import Shown

    surge = board.surge_run(INERTIAL)
    low, high = surge.level_range()
    assert surge.shown("time", 99, None) == Shown("time", len(surge.times) - 1, 0.0)
    assert surge.shown("level", 0, 99.0) == Shown("level", 0, high)
    assert surge.shown("nonsense", "x", "y") == Shown("time", 0, 0.0)
    assert board.surge_run(SURGE).shown("time", 3, None).mode == "max"  # no series
    assert low <= 0.0 and high == pytest.approx(3.5 + 2.0)


# -- 3D and the drape --------------------------------------------------------------------------
def test_the_scene_colours_the_buildings_at_the_frame_and_drapes_it(board, demo_output,
                                                                    footprints):
    from viz.tabs import flood

    shown = flood.shown_of(board, INERTIAL, "time", 5, None)
    spec, legend = flood.scene_spec(board, INERTIAL, shown)
    (side,) = spec["sides"]
    assert side["drape"]["url"] == f"/twin/flood/{INERTIAL}/time/5.png"
    style = side["buildings"]
    depths = board.surge_run(INERTIAL).building_depths(shown, board.ground)
    assert style["mode"] == "flood" and style["depth"] == pytest.approx(depths.to_dict())
    assert style["flooded"] == len(depths) and style["total"] == len(footprints)
    buildings = pd.read_csv(demo_output / "runs" / "surge-100y" / "buildings.csv")
    assert style["max"] == pytest.approx(buildings["surge_depth_m"].max())  # one scale
    assert spec["entities"] is None  # no defence in this scenario
    wall, _ = flood.scene_spec(board, SEAWALL, flood.shown_of(board, SEAWALL, "max", 0, 0))
    (line,) = wall["entities"]["lines"]
    crest = _manifest(board.runs[SEAWALL].path)["scenario"]["surge"]["defences"][0]
    geoid = board.tiles.geoid_height
    assert len(line["positions"]) == 3 * len(crest["line"])
    assert set(line["positions"][2::3]) == {crest["crest_level"] + geoid}
    assert wall["sides"][0]["drape"]["url"] == f"/twin/flood/{SEAWALL}/max/0.png"


def test_playback_frames_are_the_frames_shown_one_by_one_and_withheld_runs_have_no_images(
        board, monkeypatch):
    import base64

    from PIL import Image
    from plotly.utils import PlotlyJSONEncoder

    from viz.figures import Memo, decimate
    from viz.tabs import flood

    surge = board.surge_run(INERTIAL)
    frames = flood.play_frames(board, INERTIAL)
    assert frames["run"] == INERTIAL and len(frames["frames"]) == len(surge.times)
    assert frames["entities"] is None  # no defence in this scenario
    land, _ = decimate(surge.run.land_use(surge.year), 480)
    pixels = []
    for band in (0, 5):
        frame = frames["frames"][band]
        shown = flood.shown_of(board, INERTIAL, "time", band, None)
        spec, legend = flood.scene_spec(board, INERTIAL, shown)
        spec.pop("entities")
        assert frame["scene"] == spec
        assert json.dumps(frame["legend"], cls=PlotlyJSONEncoder) == json.dumps(
            legend, cls=PlotlyJSONEncoder)
        assert frame["readout"].to_plotly_json()["props"]["data-band"] == band
        assert frame["title"] == flood.map_figure(board, INERTIAL, shown).layout.title.text
        png = base64.b64decode(frame["image"].split(",", 1)[1])
        image = np.asarray(Image.open(io.BytesIO(png)))
        assert image.shape[:2] == land.shape
        pixels.append(image)
    assert (pixels[0] != pixels[1]).any()  # the flood moved between the two
    assert flood.play_frames(board, SURGE)["frames"] == []  # no time series: nothing to play
    monkeypatch.setattr(flood, "_FRAMES", Memo(8))
    monkeypatch.setattr(flood, "products_cleared", lambda *runs: False)
    withheld = flood.play_frames(board, INERTIAL)["frames"]
    assert withheld and all(f["image"] is None for f in withheld)


def test_the_flood_drapes_are_served_and_only_those(demo_output):
    from PIL import Image

    from viz.app import create_app

    app = create_app([demo_output / "runs" / name for name in RUNS], demo_output / "tiles")
    client = app.server.test_client()
    for url in (f"/twin/flood/{INERTIAL}/time/0.png", f"/twin/flood/{INERTIAL}/time/12.png",
                f"/twin/flood/{SEAWALL}/max/0.png", f"/twin/flood/{SURGE}/max/0.png",
                f"/twin/flood/{INERTIAL}/level/420.png", f"/twin/flood/{SURGE}/level/0.png"):
        image = client.get(url)
        assert image.status_code == 200 and image.mimetype == "image/png", url
        assert Image.open(io.BytesIO(image.data)).mode == "RGBA"
    for url in (f"/twin/flood/{INERTIAL}/time/13.png", f"/twin/flood/{SURGE}/time/0.png",
                "/twin/flood/0/max/0.png", f"/twin/flood/{INERTIAL}/level/900.png",
                f"/twin/flood/{INERTIAL}/max/1.png", f"/twin/flood/{INERTIAL}/x/0.png",
                "/twin/flood/99/max/0.png"):
        assert app.server.test_client().get(url).status_code == 404, url


# -- the charts and tables beside the map ------------------------------------------------------
def test_the_hydrograph_counts_the_flooded_land_at_every_output_time(board, demo_output):
    from viz.tabs import flood

    run_dir = demo_output / "runs" / "surge-100y"
    sea = sea_mask(run_dir)
    with rasterio.open(run_dir / "surge" / "depth_series.tif") as src:
        hectares = abs(src.transform.a * src.transform.e) / 10_000.0
        bands = [(float(src.tags(k)["time_s"]), src.read(k)) for k in range(1, src.count + 1)]
    fig = flood.timeline(board, INERTIAL, flood.shown_of(board, INERTIAL, "max", 0, None))
    land = next(t for t in fig.data if t.name == "flooded land")
    assert list(land.x) == pytest.approx([t / 3600.0 for t, _ in bands])
    assert list(land.y) == pytest.approx([(~sea & (d >= FLOODED)).sum() * hectares
                                          for _, d in bands])
    table = pd.read_csv(run_dir / "surge" / "hydrograph.csv")
    sea_level = next(t for t in fig.data if t.name == "sea level")
    assert list(sea_level.y) == pytest.approx(list(table["level_m"]))
    assert max(sea_level.y) == pytest.approx(_manifest(run_dir)["outputs"]["surge"]
                                             ["peak_level_m"], abs=0.01)
    assert not [t for t in fig.data if t.name == "shown"]  # the maximum has no time


@pytest.mark.parametrize("which, file, scale", [("arrival", "arrival_time", 1 / 3600.0),
                                                ("duration", "hazard_duration", 1 / 3600.0),
                                                ("max_speed", "max_speed", 1.0)])
def test_the_hazard_maps_are_the_run_rasters_on_the_land(board, demo_output, which, file,
                                                         scale):
    from viz.tabs import flood

    run_dir = demo_output / "runs" / "surge-100y"
    with rasterio.open(run_dir / "surge" / f"{file}.tif") as src:
        values = src.read(1).astype(float) * scale
    expected = np.where(sea_mask(run_dir), np.nan, values)
    fig = flood.hazard_figure(board, INERTIAL, which)
    (heatmap,) = [t for t in fig.data if t.type == "heatmap"]
    z = np.asarray(heatmap.z, dtype=float)[::-1]  # drawn south first
    np.testing.assert_allclose(z, expected.astype(np.float32), rtol=1e-6, equal_nan=True)
    assert np.isfinite(z).sum() > 0
    assert heatmap.zmax == pytest.approx(np.nanpercentile(expected, 99), rel=1e-5)


def test_the_units_hit_hardest_are_the_run_roll_up(board, demo_output):
    from viz.tabs import flood

    units = pd.read_csv(demo_output / "runs" / "surge-100y" / "surge" / "units.csv")
    hit = units[units["flooded_area_ha"] > 0].sort_values(["damage_eur", "flooded_area_ha"],
                                                          ascending=False).head(8)
    rows = flood.units_table(board, INERTIAL).children[1].children
    assert len(rows) == len(hit) > 0
    for row, unit in zip(rows, hit.itertuples()):
        cells = [c.children for c in row.children]
        assert cells[0] == (unit.name if isinstance(unit.name, str) else "outside every unit")
        assert cells[1] == f"{unit.flooded_area_ha:,.1f} ha"
        assert cells[3] == f"{unit.buildings_flooded:,}"
        assert cells[5] == f"{unit.damage_eur / 1e6:,.1f} M"
