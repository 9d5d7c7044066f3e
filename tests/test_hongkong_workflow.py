"""Hong Kong's workflow beyond the TIM: calibration on the dated series (drivers as of each
start epoch), scenarios that honour the protected areas, change patches against the areas in
force, towers against the ridgeline.

The real-data tests are marked slow and skip without $TWIN_DATA/hongkong; they run on a crop
of the territory (Yuen Long and Tin Shui Wai) to stay within seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenarios.calibration.series import calibration_inputs
from tim.errors import InputError
from tim.model import Grid, Territory
from tim.classes import DEFAULT_CLASSES

LABELS = ("1998-2002", "2003-2007", "2008-2012")


def fake_series(folder: Path, labels=LABELS) -> Path:
    """A series.json naming files (calibration_inputs only names them)."""
    folder.mkdir(parents=True, exist_ok=True)
    epochs = []
    for label in labels:
        first, last = (int(v) for v in label.split("-"))
        files = {"land_use": f"land_use_{label}.tif", "builtup": f"builtup_{label}.tif",
                 "distance_main_road": f"distance_main_road_{label}.tif",
                 "distance_secondary_road": f"distance_secondary_road_{label}.tif"}
        epochs.append({"label": label, "year": (first + last) // 2, "files": files})
    (folder / "series.json").write_text(json.dumps(
        {"format": "territory-twin/land-use-series", "epochs": epochs}))
    return folder


# -- fast: the series' calibration inputs and bad input ----------------------------------------
def test_calibration_inputs_date_the_drivers_to_each_start_epoch(tmp_path):
    folder = fake_series(tmp_path / "s")
    maps, drivers, drivers_at = calibration_inputs(folder, list(LABELS))
    assert maps == {2000: str(folder / "land_use_1998-2002.tif"),
                    2005: str(folder / "land_use_2003-2007.tif"),
                    2010: str(folder / "land_use_2008-2012.tif")}
    by_name = {d.name: d for d in drivers}
    assert by_name["main_road"].path == str(folder / "distance_main_road_1998-2002.tif")
    assert by_name["builtup"].categorical and not by_name["main_road"].categorical
    # the validation period (2005 -> 2010) starts from the roads and built-up areas of 2005
    assert drivers_at == {2005: {
        "main_road": str(folder / "distance_main_road_2003-2007.tif"),
        "secondary_road": str(folder / "distance_secondary_road_2003-2007.tif"),
        "builtup": str(folder / "builtup_2003-2007.tif")}}
    assert calibration_inputs(folder, list(LABELS[:2]))[2] == {}


def test_calibration_inputs_refuse_missing_and_unordered_epochs(tmp_path):
    folder = fake_series(tmp_path / "s")
    with pytest.raises(InputError, match="no such epoch") as err:
        calibration_inputs(folder, ["1998-2002", "2018-2022"])
    assert err.value.field == "epochs" and "2018-2022" in str(err.value)
    with pytest.raises(InputError, match="time order") as err:
        calibration_inputs(folder, ["2003-2007", "1998-2002"])
    assert err.value.field == "--epochs"
    with pytest.raises(InputError, match="two or three"):
        calibration_inputs(folder, ["1998-2002"])
    with pytest.raises(InputError, match="no series.json"):
        calibration_inputs(tmp_path, list(LABELS))


def _tif(path: Path, values: np.ndarray, grid: Grid, nodata=None) -> str:
    from tim.store import write_raster

    write_raster(path, values, grid, nodata)
    return str(path)


def test_dated_drivers_are_read_for_the_validation_period(tmp_path):
    """A dated driver of the second epoch is read (here: refused for its grid, naming it)."""
    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.data import DriverSpec

    grid = Grid("EPSG:2326", (70.0, 0, 830000.0, 0, -70.0, 830000.0), (12, 12))
    maps = {y: _tif(tmp_path / f"lu{y}.tif", np.full((12, 12), 3, np.uint8), grid)
            for y in (2000, 2005, 2010)}
    road = _tif(tmp_path / "road.tif", np.ones((12, 12), np.float32), grid)
    small = Grid("EPSG:2326", grid.transform, (6, 6))
    other = _tif(tmp_path / "road_2005.tif", np.ones((6, 6), np.float32), small)
    with pytest.raises(InputError, match="not a raster driver"):
        CalibrationSetup(maps=maps, drivers=[DriverSpec("road", road)],
                         drivers_at={2005: {"rail": road}})
    setup = CalibrationSetup(maps=maps, drivers=[DriverSpec("road", road)],
                             drivers_at={2005: {"road": other}}, maxiter=0)
    with pytest.raises(InputError) as err:
        run_calibration(setup)
    assert "road_2005.tif" in str(err.value)


def test_towers_against_a_ridge_wall():
    """Flat ground, a 100 m ridge from 1,000 m to 1,200 m east of the eye: a roof seen
    higher than the ridge breaks it, one lower does not, one behind a hill is hidden."""
    import geopandas as gpd
    from shapely.geometry import Point

    from scenarios.planning.ridgeline import Vantage, towers_against_ridgeline

    grid = Grid("EPSG:2326", (10.0, 0, 0.0, 0, -10.0, 100.0), (10, 200))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES)
    z = np.zeros(grid.shape, np.float32)
    z[:, 100:120] = 100.0
    t.set_field("terrain__elevation", z)
    eye = Vantage(5.0, 55.0, 1.6)
    towers = gpd.GeoDataFrame({"top_mpd": [61.6, 41.6]},
                              geometry=[Point(505, 55), Point(505, 55)], crs="EPSG:2326")
    table = towers_against_ridgeline(t, eye, towers, within=5000, reach=2000).sort_index()
    assert table["breaks_ridgeline"].tolist() == [True, False]
    assert table["hidden"].tolist() == [False, False]
    # roof 60 m above the eye at 500 m; the ridge 98.4 m above it at ~1,000 m: 60 - 49.2
    assert table["lower_by_m"].iloc[0] == pytest.approx(60.0 - 98.4 * 500 / 995, abs=1.0)
    far = gpd.GeoDataFrame({"top_mpd": [150.0]}, geometry=[Point(1805, 55)], crs="EPSG:2326")
    table = towers_against_ridgeline(t, eye, far, within=5000, reach=2000)
    assert table["hidden"].tolist() == [True]   # behind the 100 m ridge, roof angle lower


# -- slow: the real territory, cropped -----------------------------------------------------------
#: Yuen Long / Tin Shui Wai / Hung Shui Kiu: 150 x 150 cells of 70 m with the densest change.
CROP = (slice(160, 310), slice(170, 320))


@pytest.fixture(scope="module")
def hk(twin_data):
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog

    if not (twin_data / "hongkong" / "PROVENANCE.md").is_file():
        pytest.skip(f"Hong Kong data not found in {twin_data / 'hongkong'}")
    catalog = load_catalog("hongkong")
    return catalog, build_from_catalog(catalog)


def crop_grid(grid: Grid) -> Grid:
    a, b, c, d, e, f = grid.transform
    return Grid(grid.crs, (a, b, c + a * CROP[1].start, d, e, f + e * CROP[0].start),
                (CROP[0].stop - CROP[0].start, CROP[1].stop - CROP[1].start))


@pytest.mark.slow
def test_calibration_on_a_dated_period_beats_both_nulls(hk, tmp_path):
    import warnings

    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.data import DriverSpec, derived_specs
    from scenarios.calibration.series import (builtup_mask, epoch_land_use, epochs,
                                              road_distances)

    catalog, t = hk
    grid = crop_grid(t.grid)
    chosen = [e for e in epochs(dict(catalog.observed)) if e.label in LABELS]
    maps, drivers_at = {}, {}
    for e in chosen:
        maps[e.year] = _tif(tmp_path / f"lu{e.year}.tif", epoch_land_use(t, catalog, e)[CROP],
                            grid, 255)
        dated = {k: v[CROP] for k, v in road_distances(t, e.year).items()}
        dated["builtup"] = builtup_mask(t, e.year)[CROP]
        drivers_at[e.year] = {k: _tif(tmp_path / f"{k}{e.year}.tif", v, grid,
                                      float("nan") if v.dtype.kind == "f" else None)
                              for k, v in dated.items()}
    dem = _tif(tmp_path / "dem.tif", t.get("terrain__elevation")[CROP].astype(np.float32), grid)
    first = drivers_at.pop(chosen[0].year)
    drivers_at.pop(chosen[-1].year)
    drivers = [DriverSpec("dem", dem),
               *(DriverSpec(k, p, categorical=k == "builtup") for k, p in first.items()),
               *derived_specs("dem", [7])]
    setup = CalibrationSetup(maps=maps, drivers=drivers, drivers_at=drivers_at, maxiter=1,
                             popsize=2, samples=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = run_calibration(setup)
    assert [n for n in report.notes if "as they stood then" in n and "main_road2005" in n]
    for period in report.periods:
        m = {k: period.metrics[k]["overall"]["figure_of_merit"]
             for k in ("model", "null_no_change", "null_random")}
        assert m["model"] > m["null_no_change"] and m["model"] > m["null_random"], \
            (period.name, m)


@pytest.mark.slow
def test_change_patches_inside_protected_areas_agree_with_scipy_label(hk):
    from scipy import ndimage

    from scenarios.calibration.series import epoch_land_use, epochs, protected_mask
    from scenarios.monitoring.changes import change_patches
    from scenarios.monitoring.observed import ControlLines

    catalog, t = hk
    a, b = [e for e in epochs(dict(catalog.observed)) if e.label in LABELS[1:]]
    before, after = epoch_land_use(t, catalog, a), epoch_land_use(t, catalog, b)
    with pytest.warns(UserWarning, match="no designation year"):
        protected = protected_mask(t, a.year) == 1
    result = change_patches(t, before, after,
                            ControlLines({"ecological_red_line": protected}),
                            years=(a.year, b.year), min_area_ha=0)
    valid = (before != 255) & (after != 255)
    key = np.where(valid & (before != after), before.astype(np.int32) * 256 + after + 1, 0)
    expected = 0
    for value in np.unique(key[key > 0]):  # one transition at a time, 8-connected
        expected += ndimage.label(key == value, structure=np.ones((3, 3)))[1]
    assert len(result.patches) == expected
    cell_ha = t.grid.cell_area / 10_000
    inside = (key > 0) & protected
    assert result.patches["red_line_ha"].sum() == pytest.approx(inside.sum() * cell_ha)


@pytest.mark.slow
def test_hong_kong_scenario_builds_nothing_inside_the_protected_areas(hk):
    """Natural development's policy (protected areas hard) on the real TIM, two years of the
    engine's own model (a calibration is a folder; the policy is the scenario's either way)."""
    from scenarios.runner import run_scenario
    from scenarios.schema import Demand, load_scenario

    _, t = hk
    scenario = load_scenario("hongkong-natural-development")
    land_use = scenario.land_use.model_copy(update={"calibration": None, "demand": Demand()})
    population = scenario.population.model_copy(update={"annual_growth": 0.08})  # builds
    scenario = scenario.model_copy(update={"land_use": land_use, "years": 2,
                                           "population": population})
    result = run_scenario(t, scenario, seed=1)
    before = t.get("land_use__class")
    after = result.territory.get("land_use__class")
    protected = t.get("control__ecological_red_line") > 0
    built = t.classes.built.code
    converted = (after == built) & (before != built) & (before != 255)
    assert protected.sum() > 100_000 and converted[~protected].sum() > 0
    assert converted[protected].sum() == 0   # the control line: no construction inside


def test_population_shared_by_districts_then_spread_over_built_up_cells():
    import geopandas as gpd
    from shapely.geometry import box

    from tim.build import spread_population
    from tim.ingest.catalog import PopulationSpread

    grid = Grid("EPSG:2326", (10.0, 0, 0, 0, -10.0, 20.0), (2, 4))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES)
    built = DEFAULT_CLASSES.built.code
    t.set_field("land_use__class", np.array([[built, built, built, 1], [1, 1, built, 1]],
                                            np.uint8))
    t.set_field("planning__district_id", np.array([[1, 1, 2, 2], [1, 1, 2, 2]], np.int32))
    t.add_layer("planning_units", gpd.GeoDataFrame(
        {"unit_id": [1, 2], "district_id": [1, 2], "district": ["West", "East"]},
        geometry=[box(0, 0, 20, 20), box(20, 0, 40, 20)], crs="EPSG:2326"))
    spec = PopulationSpread(total=400, source="test", by_district={"West": 1, "East": 3})
    spread_population(t, spec)
    assert t.get("population__count").tolist() == [[50, 50, 150, 0], [0, 0, 150, 0]]
    assert "shared among 2 districts" in t.history[-1].detail["rule"]
    del t.fields["population__count"]
    with pytest.raises(InputError, match="not a district") as err:
        spread_population(t, PopulationSpread(total=1, source="x", by_district={"North": 1}))
    assert err.value.field == "population_spread.by_district.North"


def test_calibrate_series_bad_input_is_one_clean_error(tmp_path, capsys):
    from test_hostile import assert_clean, twin

    folder = fake_series(tmp_path / "s")
    out = tmp_path / "cal"
    assert_clean(*twin(["calibrate", "--series", folder, "--out", out], capsys), "--epochs")
    assert_clean(*twin(["calibrate", "--series", folder, "--epochs", "1998-2002,2020-2024",
                        "--out", out], capsys), "2020-2024")
    (tmp_path / "empty").mkdir()
    assert_clean(*twin(["calibrate", "--series", tmp_path / "empty", "--epochs", ",".join(LABELS),
                        "--out", out], capsys), "series.json")
    assert_clean(*twin(["calibrate", "--out", out], capsys), "--map")
