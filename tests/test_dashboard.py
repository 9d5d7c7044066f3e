"""The dashboard (``twin serve``) in-process: input checks, what the tabs compute and the
routes. The real page in a real browser is in ``test_dashboard_browser.py``; the storm surge and
calibration tabs have files of their own.

Everything is checked against the demo's own files (``twin demo`` output: seven runs, three of
them with a storm surge, an ensemble, a height check, corridor sightlines, a land-use
calibration on real maps when ``$TWIN_DATA`` has them, tiles with terrain, points and
overlays), read here independently of the dashboard: indicator values and statuses from
``indicators.csv`` and ``indicators_areas.csv``, warnings from ``warnings.csv``, built-up land
from the land-use GeoTIFFs, probabilities from ``probability_built.tif``, violators from
``heights/buildings.json`` and blockers from ``sightlines/.../buildings.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.rundir import RunDirectory
from tim.errors import InputError, StoreError

REPO = Path(__file__).resolve().parents[1]
CESIUM_JS = REPO / "viz" / "node_modules" / "cesium" / "Build" / "Cesium" / "Cesium.js"
RUNS = ("baseline", "high-growth", "far-up", "strict-farmland", "storm-surge", "surge-100y",
        "surge-100y-seawall", "surge-100y-breach")
SURGE = RUNS.index("storm-surge")
INERTIAL = RUNS.index("surge-100y")
SEAWALL = RUNS.index("surge-100y-seawall")
GROWTH = RUNS.index("high-growth")
CORRIDOR = "Western hills to the lighthouse"
#: The demo's monitoring folders (twin assess, twin changes, twin evaluate; viz.demo).
MONITORING = ("assess", "changes", "evaluation")


def _calibration(demo: Path) -> Path | None:
    """The demo's land-use calibration (made only when $TWIN_DATA has the real maps)."""
    folder = demo / "calibration" / "plum-island"
    return folder if folder.is_dir() else None


def _folders(demo: Path) -> list[Path]:
    """Everything the demo serves, runs first (the baseline first), as viz.demo serves it."""
    calibration = _calibration(demo)
    return ([demo / "runs" / name for name in RUNS] + [demo / "ensembles" / "high-growth",
                                                       demo / "heights"]
            + sorted((demo / "sightlines").iterdir())
            + ([calibration] if calibration is not None else [])
            + [demo / "monitoring" / name for name in MONITORING])


def _indicator(run_dir: Path, year: int, key: str) -> pd.Series:
    table = pd.read_csv(run_dir / "indicators.csv")
    row = table[(table["year"] == year) & (table["indicator"] == key)]
    assert len(row) == 1, f"{run_dir.name} {year} {key}"
    return row.iloc[0]


def _built(run_dir: Path, year: int, code: int) -> np.ndarray:
    import rasterio

    with rasterio.open(run_dir / "land_use" / f"{year}.tif") as src:
        return src.read(1) == code


def _overlay(run) -> str:
    """The name of a run's new-buildings overlay: scenario name and the manifest's sha256."""
    digest = hashlib.sha256((run.path / "manifest.json").read_bytes()).hexdigest()
    return f"new-buildings-{run.name}-{digest[:10]}"


def _sightlines(demo: Path) -> Path:
    (folder,) = sorted((demo / "sightlines").iterdir())
    return folder


@pytest.fixture(scope="module")
def board(demo_output):
    from viz.app import load_dashboard

    return load_dashboard(_folders(demo_output), demo_output / "tiles")


# -- bad input, before any server ------------------------------------------------------------
def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    from viz.app import create_app

    with pytest.raises(StoreError, match="not a run directory"):
        create_app([tmp_path])


def test_no_runs_are_refused(demo_output):
    from viz.app import create_app

    with pytest.raises(InputError, match="at least one run"):
        create_app([])
    with pytest.raises(InputError, match="at least one run"):  # a height check alone
        create_app([demo_output / "heights"])


def test_runs_on_different_grids_are_refused(demo_output, tmp_path):
    from viz.app import create_app

    moved = shutil.copytree(demo_output / "runs" / "high-growth", tmp_path / "moved")
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["grid"]["transform"][2] += 1000.0  # the same shape, 1 km further east
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="another grid") as info:
        create_app([demo_output / "runs" / "baseline", moved])
    assert str(moved) in str(info.value) and "same TIM" in str(info.value)


def test_an_ensemble_on_another_grid_is_refused(demo_output, tmp_path):
    from viz.app import create_app

    ensemble = shutil.copytree(demo_output / "ensembles" / "high-growth", tmp_path / "ens")
    member = ensemble / "members" / "seed-42" / "manifest.json"
    manifest = json.loads(member.read_text())
    manifest["grid"]["shape"] = [10, 10]
    member.write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="another grid"):
        create_app([demo_output / "runs" / "baseline"], ensembles=[ensemble])


def test_a_folder_of_the_wrong_kind_is_refused(demo_output):
    from viz.app import create_app

    with pytest.raises(StoreError, match="is a run folder, not a heights folder"):
        create_app([demo_output / "runs" / "baseline"],
                   heights=[demo_output / "runs" / "high-growth"])


def test_a_tiles_folder_without_a_tileset_is_refused(demo_output, tmp_path):
    from viz.app import create_app

    with pytest.raises(StoreError, match="no tileset.json"):
        create_app([demo_output / "runs" / "baseline"], tmp_path)


def test_twin_serve_exits_with_the_error_before_serving(tmp_path):
    from test_dashboard_browser import free_port, twin_command

    out = subprocess.run([*twin_command(), "serve", str(tmp_path), "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not a run directory" in out.stderr and "Dashboard" not in out.stdout


# -- the shell ---------------------------------------------------------------------------------
def test_folders_are_told_apart_by_their_manifests(board, demo_output):
    from viz.sources import folder_kind

    kinds = [folder_kind(f) for f in _folders(demo_output)]
    calibrated = _calibration(demo_output) is not None
    assert kinds == ["run"] * len(RUNS) + ["ensemble", "heights", "sightlines"] + (
        ["calibration"] if calibrated else []) + ["monitoring"] * len(MONITORING)
    assert len(board.calibrations) == int(calibrated)
    # The monitoring set: the baseline's first, middle and last years stand in for observations.
    years = board.runs[0].years
    watched = board.monitoring
    assert watched.assessment.years == sorted({years[0], years[len(years) // 2], years[-1]})
    assert watched.changes is not None and watched.evaluation is not None
    assert [r.name for r in board.runs] == list(RUNS)
    assert len(board.ensembles) == 1 and len(board.heights) == 1 and len(board.sightlines) == 1
    # The ensemble belongs to the high-growth run: same scenario file contents.
    assert board.ensemble_of(board.runs[GROWTH]) is board.ensembles[0]
    assert board.ensemble_of(board.runs[0]) is None


def test_every_tab_is_offered_and_the_shell_follows_the_tab(board):
    from viz.callbacks import HIDDEN, shell_state
    from viz.tabs import available_tabs

    tabs = available_tabs(board)
    keys = [t.key for t in tabs]
    calibrated = ["calibration"] if board.calibrations else []
    assert keys == ["scenario", "compare", "flood", "ensemble", "heights", *calibrated,
                    "monitoring", "data"]
    heights = shell_state(tabs, "heights")
    assert heights["hidden"] == [k != "heights" for k in keys]
    assert heights["controls"] == HIDDEN and heights["colour_by"] == HIDDEN
    flood = shell_state(tabs, "flood")
    assert flood["controls"] == HIDDEN and flood["workspace"] == "workspace"  # its own controls
    if calibrated:  # its own grid: no 3D view
        assert shell_state(tabs, "calibration")["workspace"] == "workspace no-3d"
    ensemble = shell_state(tabs, "ensemble")
    assert ensemble["run"] == HIDDEN and ensemble["year"] is None
    assert shell_state(tabs, "data")["workspace"] == "workspace no-3d"
    assert shell_state(tabs, "scenario")["colour_by"] is None


def test_a_dashboard_of_one_run_has_no_comparison_tab(demo_output):
    from viz.app import load_dashboard
    from viz.tabs import available_tabs

    one = load_dashboard([demo_output / "runs" / "baseline"])
    keys = [t.key for t in available_tabs(one)]
    assert "compare" not in keys and keys[0] == "scenario" and keys[-1] == "data"
    # the run checked its new buildings' heights, so the planners' tab is offered for it
    assert keys[1:-1] == (["heights"] if (demo_output / "runs/baseline/heights").is_dir()
                          else [])


def test_provenance_comes_from_the_tim_manifest(board, demo_output):
    history = json.loads((demo_output / "tim" / "manifest.json").read_text())["history"]
    ingests = [h for h in history if h["action"] == "ingest"]
    p = board.provenance
    assert [layer.role for layer in p.layers] == [h["role"] for h in ingests]
    assert "points" in [layer.role for layer in p.layers]  # the demo's synthetic survey
    assert p.synthetic == len(ingests) > 0 and p.real == 0 and p.all_synthetic
    assert p.problems == ()


# -- scenario tab ------------------------------------------------------------------------------
def test_cards_show_the_run_values_and_the_difference_from_the_baseline(board, demo_output):
    from scenarios.indicators import FLOOD_INDICATORS
    from viz.tabs.scenario import card_data

    surge_dir, base_dir = demo_output / "runs" / "storm-surge", demo_output / "runs" / "baseline"
    year = board.runs[SURGE].surge_year
    cards = {c.key: c for c in card_data(board, SURGE, year)}
    areas = pd.read_csv(surge_dir / "indicators_areas.csv")
    city = areas[(areas["level"] == "city") & (areas["year"] == year)].set_index("indicator")
    for key, card in cards.items():
        row = _indicator(surge_dir, year, key)
        # the territory is judged by the rule of the districts: the roll-up's city row
        # (plan targets included) where it has the indicator
        status = city.loc[key, "status"] if key in city.index else row["status"]
        assert _same(card.value, row["value"]) and card.status == status
        assert card.unit == row["unit"]
        assert card.delta == pytest.approx(row["value"] - _indicator(base_dir, year, key)["value"],
                                           nan_ok=True)
    assert set(FLOOD_INDICATORS) <= set(cards)
    baseline_cards = card_data(board, 0, year)
    assert all(c.is_baseline and c.delta is None for c in baseline_cards)
    assert not set(FLOOD_INDICATORS) & {c.key for c in baseline_cards}  # no surge simulated
    # A return-period surge (no water_level in its scenario) has every flood card too.
    assert set(FLOOD_INDICATORS) <= {c.key for c in card_data(board, INERTIAL, year)}
    earlier = {c.key: c for c in card_data(board, SURGE, year - 1)}
    assert earlier["flooded_buildings"].note == f"surge in {year}"


def test_area_cards_come_from_the_roll_up_with_plan_targets(board, demo_output):
    from scenarios.indicators import FLOOD_INDICATORS
    from viz.tabs.scenario import area_options, card_data

    table = pd.read_csv(demo_output / "runs" / "high-growth" / "indicators_areas.csv")
    base = pd.read_csv(demo_output / "runs" / "baseline" / "indicators_areas.csv")
    options = [o["value"] for o in area_options(board)]
    units = table[table["level"] == "unit"].drop_duplicates("area_id")
    districts = table[table["level"] == "district"].drop_duplicates("area_id")
    assert options[0] == "city" and len(options) == 1 + len(units) + len(districts)
    year = 2035
    for level, area_id in (("unit", units["area_id"].iloc[9]),
                           ("district", districts["area_id"].iloc[0])):
        rows = table[(table["year"] == year) & (table["level"] == level)
                     & (table["area_id"].astype(str) == str(area_id))].set_index("indicator")
        before = base[(base["year"] == year) & (base["level"] == level)
                      & (base["area_id"].astype(str) == str(area_id))].set_index("indicator")
        cards = card_data(board, GROWTH, year, f"{level}:{area_id}")
        assert {c.key for c in cards} == set(rows.index) - set(FLOOD_INDICATORS)
        for card in cards:
            row = rows.loc[card.key]
            assert _same(card.value, row["value"]) and card.status == row["status"]
            assert card.delta == pytest.approx(row["value"] - before.loc[card.key, "value"],
                                               nan_ok=True)
            if pd.isna(row["target"]):
                assert card.target is None
            else:
                assert card.target == row["target"]
    assert any(c.target is not None for c in cards)  # the plan passes targets down


def test_warnings_of_the_year_and_the_area(board, demo_output):
    from viz.tabs.scenario import warning_rows

    table = pd.read_csv(demo_output / "runs" / "high-growth" / "warnings.csv")
    for year in (2029, 2035):
        rows = warning_rows(board, GROWTH, year)
        expected = table[(table["year"] == year) | table["year"].isna()]
        assert len(rows) == len(expected) > 0
        assert list(rows["status"]) == sorted(rows["status"], key={"red": 0, "yellow": 1}.get)
    district = table[table["level"] == "district"]["area"].iloc[0]
    rows = warning_rows(board, GROWTH, 2035, f"district:{district}")
    assert len(rows) == int(((table["year"] == 2035) & (table["area"] == district)).sum())
    assert set(rows["area"]) <= {district}


def test_controls_follow_the_run(board):
    from viz.tabs.scenario import run_controls

    surge = run_controls(board, SURGE, 2030, "height")
    assert surge["year"] == 2030 and surge["colour"] == "flood"
    assert surge["flood_value"] == ["flood"]
    assert (surge["min"], surge["max"]) == (board.runs[SURGE].years[0],
                                            board.runs[SURGE].years[-1])
    # The surge's level is the run's recorded peak, also for a return period (no water_level
    # in its scenario) and a hydrograph.
    for index in (SURGE, INERTIAL):
        peak = json.loads((board.runs[index].path / "manifest.json").read_text())[
            "outputs"]["surge"]["peak_level_m"]
        label = run_controls(board, index, 2035, "height")["flood_options"][0]["label"]
        assert f"peak {peak:.2f} m" in label
    base = run_controls(board, 0, 1999, "flood")
    assert base["year"] == board.runs[0].years[-1]  # a year the run lacks: its last year
    assert base["colour"] == "height" and base["flood_value"] == []
    assert base["flood_options"][0]["disabled"]


def test_the_map_shows_the_year_and_the_flood_of_the_surge_year(board):
    from viz.tabs.scenario import map_figure

    run = board.runs[SURGE]
    fig = map_figure(board, SURGE, run.surge_year, ["flood"])
    assert str(run.surge_year) in fig.layout.title.text and "flood depth" in fig.layout.title.text
    assert len([t for t in fig.data if t.name == "flood depth"]) == 1
    before = map_figure(board, SURGE, run.surge_year - 1, ["flood"])
    assert not [t for t in before.data if t.name == "flood depth"]
    assert f"flood in {run.surge_year}" in before.layout.title.text


def test_the_map_frames_hold_every_year_of_the_run_for_the_browser(board):
    """The page swaps the year of the map itself (twinmaps.frame): each year's image and title
    are those of the map of that year, the flood trace only in the surge year."""
    from viz.tabs.scenario import map_figure, map_frames, timeline_of_run

    run = board.runs[SURGE]
    frames = map_frames(board, SURGE, ["flood"])
    assert sorted(frames["years"]) == [str(y) for y in run.years]
    assert frames["last"] == str(run.years[-1])
    for year in (run.years[0], run.surge_year, run.years[-1]):
        fig = map_figure(board, SURGE, year, ["flood"])
        shown = frames["years"][str(year)]
        assert shown["source"] == fig.data[0].source and fig.data[0].meta == "land use"
        assert shown["title"] == fig.layout.title.text
        assert [t["name"] for t in shown["traces"]] == (
            ["flood depth"] if year == run.surge_year else [])
    assert map_frames(board, SURGE, ["flood"]) is frames  # kept for the next page
    # The timeline's year marker is named: the page moves it to the year shown.
    shapes = timeline_of_run(board, SURGE)["layout"]["shapes"]
    assert [s["x0"] for s in shapes if s.get("name") == "year"] == [run.years[0]] * 4


def test_the_scene_frames_are_each_years_scene_for_the_browser(board):
    """The page picks the year's 3D scene itself (twinmaps.scene): each year's entry with the
    shared parts put back is that year's scene_spec, legend included."""
    import plotly

    from viz.tabs.scenario import scene_frames, scene_spec

    def plain(value):
        return json.loads(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder))

    run = board.runs[GROWTH]
    frames = scene_frames(board, GROWTH, "use", None, ["units"])
    assert sorted(frames["years"]) == [str(y) for y in run.years]
    assert frames["last"] == str(run.years[-1]) and frames["run"] == GROWTH
    for year in (run.years[0], run.years[-1]):
        spec, legend = scene_spec(board, GROWTH, year, "use", None, ["units"])
        shown = frames["years"][str(year)]
        buildings = dict(frames["buildings"])
        if shown["hide"] is not None:
            buildings["hide"] = shown["hide"]
        side = {"label": "", "drape": shown["drape"], "buildings": buildings,
                "overlays": shown["overlays"]}
        assert plain({"key": shown["key"], "sides": [side], "entities": frames["entities"],
                      "camera": frames["camera"]}) == plain(spec)
        assert plain(shown["legend"]) == plain(legend)
    # the years differ where they should: the drape, and the new buildings standing
    first, last = (frames["years"][str(y)] for y in (run.years[0], run.years[-1]))
    assert first["drape"]["url"] != last["drape"]["url"]
    assert len(first["overlays"][0]["style"]["visible"]) < len(
        last["overlays"][0]["style"]["visible"])
    assert scene_frames(board, GROWTH, "use", None, ["units"]) is frames  # kept


def test_the_timeline_bands_the_run_that_has_an_ensemble(board, demo_output):
    from viz.tabs.scenario import timeline_figure

    intervals = pd.read_csv(demo_output / "ensembles" / "high-growth" /
                            "indicator_intervals.csv")
    fig = timeline_figure(board, GROWTH, 2035)
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(bands) == 4  # one per panel, only for high growth
    population = intervals[intervals["indicator"] == "population"].sort_values("year")
    first = bands[0]
    lo, hi = ("p10", "p90") if "p90" in intervals else ("p05", "p95")  # an older ensemble
    assert list(first.y) == pytest.approx(list(population[hi]))
    assert list(first.customdata) == pytest.approx(list(population[lo]))
    assert f"P{int(lo[1:])}\u2013P{int(hi[1:])} of 4 seeds" in first.name
    assert board.labels[GROWTH] in first.name


@pytest.mark.parametrize("columns, lo, hi, words", [
    (["p05", "p10", "p50", "p90", "p95"], "p10", "p90", "P10\u2013P90"),
    (["p05", "p50", "p95"], "p05", "p95", "P5\u2013P95")])
def test_the_timeline_band_is_p10_p90_or_p5_p95_for_an_old_ensemble(columns, lo, hi, words):
    from types import SimpleNamespace

    from flask import Flask

    from viz.tabs.scenario import ensemble_band

    intervals = pd.DataFrame({"year": [2025, 2030], "indicator": "population",
                              **{c: [float(i), float(i) + 0.5] for i, c in enumerate(columns)}})
    ensemble = SimpleNamespace(intervals=intervals, seeds=[1, 2, 3])
    band = ensemble_band(ensemble, "growth")
    assert list(band["lo"]) == list(intervals[lo]) and list(band["hi"]) == list(intervals[hi])
    assert set(band["name"]) == {f"growth: {words} of 3 seeds"}
    with Flask(__name__).test_request_context("/?lang=zh_CN"):
        zh = ensemble_band(ensemble, "growth")
    assert set(zh["name"]) == {f"growth\uff1a3 \u4e2a\u968f\u673a\u79cd\u5b50\u7684 "
                               f"{words} \u533a\u95f4"}


def test_the_scenario_tab_describes_the_run_in_the_page_language(board, demo_output):
    from flask import Flask

    from scenarios.i18n import translator
    from viz.tabs.scenario import run_controls

    text = json.loads((demo_output / "runs" / "storm-surge" / "manifest.json").read_text())[
        "scenario"]["description"].strip()
    assert run_controls(board, SURGE, None, None)["description"] == text
    with Flask(__name__).test_request_context("/?lang=zh_CN"):
        shown = run_controls(board, SURGE, None, None)["description"]
    assert shown == translator("zh_CN").gettext(text) != text and "\u98ce\u66b4" in shown


def test_building_style_lists_the_flooded_buildings(board, demo_output):
    from viz.scene import building_style

    buildings = pd.read_csv(demo_output / "runs" / "storm-surge" / "buildings.csv")
    wet = buildings[buildings["surge_depth_m"] > 0]
    spec = building_style(board, board.runs[SURGE], "flood")
    assert spec["flooded"] == len(wet) > 0 and spec["total"] == len(buildings)
    assert spec["depth"] == pytest.approx(dict(zip(wet["building_id"], wet["surge_depth_m"])))
    assert spec["max"] == pytest.approx(wet["surge_depth_m"].max())
    assert building_style(board, board.runs[0], "flood")["mode"] == "height"  # no surge
    uses = building_style(board, board.runs[0], "use")["colours"]
    assert {"residential", "commercial", "industrial"} <= set(uses)


def test_the_scenario_scene_shows_new_buildings_and_hides_what_they_replaced(board,
                                                                             demo_output):
    import geopandas as gpd

    from viz.tabs.scenario import scene_spec

    new = gpd.read_file(demo_output / "runs" / "high-growth" / "buildings_new.gpkg",
                        layer="buildings_new")
    spec, _ = scene_spec(board, GROWTH, 2031, "height", [])
    (side,) = spec["sides"]
    assert side["drape"]["url"] == f"/twin/drape/{GROWTH}/2031.png"
    (overlay,) = side["overlays"]
    assert overlay["url"] == f"/tiles/overlays/{_overlay(board.runs[GROWTH])}/tileset.json"
    built = new[new["year"] <= 2031]
    replaced = {b for text in built["replaces"].fillna("") for b in text.split()}
    assert set(side["buildings"]["hide"]) == replaced and replaced
    # On each site (a grid cell, projects.csv) the latest project up to 2031 stands.
    projects = pd.read_csv(demo_output / "runs" / "high-growth" / "projects.csv")
    latest = projects[projects["year"] <= 2031].groupby("cell")["year"].max()
    assert set(overlay["style"]["visible"]) == {f"P{y}-{c}" for c, y in latest.items()}
    assert set(overlay["style"]["visible"].values()) == {"new building", "redevelopment"}


# -- compare tab -------------------------------------------------------------------------------
def test_the_difference_map_counts_built_cells_of_one_run_but_not_the_other(board,
                                                                             demo_output):
    from viz.tabs.compare import difference

    code = board.classes.built.code
    a = _built(demo_output / "runs" / "baseline", 2035, code)
    b = _built(demo_output / "runs" / "high-growth", 2035, code)
    _, summary = difference(board, 0, GROWTH, 2035)
    props = summary.to_plotly_json()["props"]
    assert props["data-only-a-cells"] == int((a & ~b).sum())
    assert props["data-only-b-cells"] == int((b & ~a).sum()) > 0


def _same(shown, written) -> bool:
    """The value a card or table shows is the file's: equal, or both n/a (NaN)."""
    return shown == written or (pd.isna(shown) and pd.isna(written))


def test_the_comparison_table_holds_both_runs(board, demo_output):
    from viz.tabs.compare import comparison_rows

    rows = {r["key"]: r for r in comparison_rows(board, SURGE, GROWTH, 2035)}
    for key, row in rows.items():
        a = _indicator(demo_output / "runs" / "storm-surge", 2035, key)
        b = _indicator(demo_output / "runs" / "high-growth", 2035, key)
        assert _same(row["a"], a["value"]) and _same(row["b"], b["value"])
        assert (row["status_a"], row["status_b"]) == (a["status"], b["status"])
        assert row["delta"] == pytest.approx(b["value"] - a["value"], nan_ok=True)


def test_the_compare_scene_swipes_between_the_two_runs(board):
    from viz.tabs.compare import scene_spec

    spec, _ = scene_spec(board, 0, GROWTH, 2030)
    left, right = spec["sides"]
    assert left["drape"]["url"] == "/twin/drape/0/2030.png"
    assert right["drape"]["url"] == f"/twin/drape/{GROWTH}/2030.png"
    assert left["overlays"][0]["url"].endswith(f"/{_overlay(board.runs[0])}/tileset.json")
    assert right["overlays"][0]["url"].endswith(f"/{_overlay(board.runs[GROWTH])}/tileset.json")


# -- ensemble tab ------------------------------------------------------------------------------
def test_the_probability_map_counts_cells_by_share_of_members(board, demo_output):
    import rasterio

    from viz.tabs.ensemble import probability_map

    with rasterio.open(demo_output / "ensembles" / "high-growth" / "probability_built.tif") as src:
        band = [d for d in src.descriptions].index("2033") + 1
        p = src.read(band)
    fig, summary = probability_map(board, 0, 2033)
    props = summary.to_plotly_json()["props"]
    assert props["data-some-cells"] == int((p > 0).sum()) > 0
    assert props["data-likely-cells"] == int((p >= 0.5).sum())
    assert props["data-all-cells"] == int((p >= 1).sum())
    heat = [t for t in fig.data if t.type == "heatmap"][0]
    assert np.nanmax(np.asarray(heat.z, dtype=float)) == pytest.approx(p.max())


# -- heights tab -------------------------------------------------------------------------------
def test_the_heights_scene_colours_violators_and_blockers(board, demo_output):
    from viz.tabs.heights import scene_spec

    checked = json.loads((demo_output / "heights" / "buildings.json").read_text())
    violators = {k for k, v in checked.items() if v["violation"]}
    lines_dir = _sightlines(demo_output)
    blockers = json.loads((lines_dir / "buildings.json").read_text())
    lines = pd.read_csv(lines_dir / "sightlines.csv")
    spec, _ = scene_spec(board, CORRIDOR, "planning__view_envelope")
    style = spec["sides"][0]["buildings"]
    assert set(style["violators"]) == violators and style["count"] == len(violators)
    assert style["blockers"] == pytest.approx({k: v["lower_by_m"] for k, v in blockers.items()})
    for bid, (excess, rule) in style["violators"].items():
        assert excess == pytest.approx(checked[bid]["excess_m"])
        assert style["rules"][rule] == checked[bid]["rule"]
    entities = spec["entities"]
    # The corridor axis, then one line per sightline; a cone and its background.
    assert len(entities["lines"]) == 1 + len(lines) and len(entities["polygons"]) == 2
    assert entities["cells"]["rects"] and spec["camera"]["key"].endswith(CORRIDOR)
    none, _ = scene_spec(board, "none", "planning__max_building_height")
    assert none["entities"] is None and none["sides"][0]["buildings"]["blockers"] == {}


# -- routes ------------------------------------------------------------------------------------
def test_routes_serve_cesium_tiles_and_every_drape(demo_output):
    from PIL import Image

    from viz.app import create_app

    app = create_app(_folders(demo_output), demo_output / "tiles")
    client = app.server.test_client()
    tileset = client.get("/tiles/tileset.json")
    assert tileset.status_code == 200 and tileset.get_json()["asset"]["version"] == "1.0"
    for part in ("buildings", "terrain", "points"):
        assert client.get(f"/tiles/{part}/tileset.json").status_code == 200
    far_up = _overlay(RunDirectory.open(demo_output / "runs" / "far-up"))
    assert client.get(f"/tiles/overlays/{far_up}/tileset.json").status_code == 200
    assert client.get("/tiles/../runs/baseline/manifest.json").status_code == 404
    if CESIUM_JS.is_file():
        assert client.get("/cesium/Cesium.js").status_code == 200
    for url in (f"/twin/drape/{SURGE}/2035.png?flood=1", f"/twin/diff/0/{GROWTH}/2035.png",
                "/twin/probability/0/2030.png",
                "/twin/limits/0/planning__max_building_height.png",
                "/twin/limits/0/planning__view_envelope.png"):
        image = client.get(url)
        assert image.status_code == 200 and image.mimetype == "image/png", url
        picture = Image.open(io.BytesIO(image.data))
        assert picture.mode == "RGBA" and min(picture.size) > 100
    for url in ("/twin/drape/9/2035.png", "/twin/drape/0/1999.png", "/twin/diff/0/9/2035.png",
                "/twin/probability/0/2025.png", "/twin/probability/3/2030.png",
                "/twin/limits/0/planning__height_limit_rule.png", "/twin/limits/0/x.png"):
        assert client.get(url).status_code == 404, url


def test_without_tiles_the_3d_panel_says_so(demo_output):
    from viz.app import create_app

    app = create_app([demo_output / "runs" / "baseline"])
    ids = {getattr(c, "id", None): c for c in app.layout()._traverse()}
    assert "cesium-container" not in ids
    assert "--tiles" in ids["cesium-message"].children


@pytest.mark.parametrize("name", ["viz.accuracy", "viz.surge", "viz.figures",
                                  "viz.tabs.calibration"])
def test_the_dashboard_docstring_examples_run(name):
    """The examples of the dashboard's readers and figures give what they show."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_the_synthetic_banner_sets_apart_a_calibration_s_own_data():
    from viz.app import Provenance, SourceLayer
    from viz.layout import data_banner

    layers = tuple(SourceLayer(role, f"{role}.tif", "raster", "none", True)
                   for role in ("elevation", "land_use"))
    alone = str(data_banner(Provenance(("tim",), layers), "Haiwan Bay"))
    assert "Synthetic data" in alone and "All 2 source layers" in alone
    assert "calibration" not in alone
    mixed = str(data_banner(Provenance(("tim",), layers), "Haiwan Bay", ["plum-island"]))
    assert "calibration tab's maps (plum-island) are its own data" in mixed
    real = tuple(SourceLayer(layer.role, layer.source, "raster", "none", False)
                 for layer in layers)
    assert data_banner(Provenance(("tim",), real), "Delft", ["plum-island"]) is None


def test_a_value_not_assessed_says_so_on_its_card_and_in_the_comparison():
    """Flood damage without the JRC curves is NaN in indicators.csv: the card says 'n/a',
    with no number and no difference, and the comparison table does not fail."""
    from viz.layout import CardData, indicator_card
    from viz.tabs.compare import comparison_table

    nan = float("nan")
    card = str(indicator_card(CardData("flood_damage", "Flood damage", "JRC curves", nan,
                                       "M EUR (2010)", "info", nan, False,
                                       versus="surge-100y")))
    assert "n/a" in card and "nan" not in card.replace("'nan'", "")
    assert "no surge-100y value this year" in card
    row = {"key": "flood_damage", "name": "Flood damage", "unit": "M EUR (2010)", "a": 47.0,
           "b": nan, "status_a": "green", "status_b": "info", "delta": nan}
    table = str(comparison_table([row], ("A", "B"), ("#000", "#fff")))
    assert table.count("n/a") == 2 and "47.0" in table
    from viz.tabs.flood import _million_eur
    assert _million_eur(47.0e6) == "47.0 M" and _million_eur(nan) == "n/a"


def test_a_point_is_asked_from_the_map_or_from_3d(board):
    """The point query takes a map click (km axes) or a 3D click (longitude, latitude) to the
    same point of the TIM's CRS; anything else asks nothing."""
    from pyproj import Transformer

    from viz.tabs.scenario import clicked_point, point_query

    a, _, c, _, e, f = board.grid.transform[:6]
    x, y = c + a * board.grid.shape[1] / 2, f + e * board.grid.shape[0] / 2
    lon, lat = Transformer.from_crs(board.grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    from_3d = clicked_point(board, {"lonlat": [lon, lat]})
    from_map = clicked_point(board, {"click": {"points": [{"x": x / 1000, "y": y / 1000}]}})
    assert from_3d == pytest.approx((x, y), abs=1e-3)
    assert from_map == pytest.approx((x, y), abs=1e-6)
    for bad in (None, [], {}, {"lonlat": ["a", 1]}, {"lonlat": [1, 2, 3]}, {"lonlat": {"x": 1}},
                {"lonlat": [float("nan"), 30]}, {"click": {"points": []}}, {"click": "x"}):
        assert clicked_point(board, bad) is None, bad
    from flask import Flask

    with Flask(__name__).test_request_context("/?lang=en"):
        table = point_query(board, 0, None, {"lonlat": [lon, lat]})[0].to_plotly_json()
    assert table["props"]["id"] == "map-query-table"
    assert table["props"]["data-x"] == pytest.approx(round(x, 1), abs=0.11)
    assert table["props"]["data-y"] == pytest.approx(round(y, 1), abs=0.11)


def test_a_chosen_unit_is_framed_in_3d(board):
    """Choosing a unit or district flies the 3D view over it (its centre, a radius that holds
    it); the whole territory is the home view."""
    from pyproj import Transformer

    from viz.onemap import area_camera
    from viz.tabs.scenario import scene_frames

    unit = board.onemap.units[0]
    area = f"unit:{unit.attrs['unit_id']}"
    camera = area_camera(board.onemap, area)
    x0, y0, x1, y1 = unit.shape.bounds
    x, y = Transformer.from_crs("EPSG:4326", board.onemap.crs, always_xy=True).transform(
        *camera["center"][:2])
    assert x == pytest.approx((x0 + x1) / 2, abs=0.01) and y == pytest.approx((y0 + y1) / 2,
                                                                              abs=0.01)
    assert camera["radius"] == pytest.approx(0.5 * math.hypot(x1 - x0, y1 - y0))
    assert camera["key"] == f"area:{area}" and -90 < camera["pitch"] < 0
    district = area_camera(board.onemap, f"district:{unit.attrs['district_id']}")
    assert district["radius"] >= camera["radius"]
    assert area_camera(board.onemap, "city") == {"key": "home", "home": True}
    assert scene_frames(board, 0, "use", None, [], area)["camera"]["key"] == camera["key"]
