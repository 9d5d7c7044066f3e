"""twin calibrate / twin simulate on real data at small scale (Plum Island, SLEUTH demo200),
and every kind of bad input they must refuse or report."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
import yaml

from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
from scenarios.calibration.report import write_calibration
from scenarios.calibration.forecast import run_forecast, write_forecast
from scenarios.calibration.parameters import load_parameters
from scenarios.calibration.data import DriverSpec, read_land_use
from tim.errors import InputError
from tim.model import crs_equal

PIE_YEARS = (1985, 1991, 1999)


def pie_setup(twin_data, **kwargs):
    d = twin_data / "landuse/plum_island_sibuyan"
    maps = {y: d / f"lu_pie_{y}.tif" for y in PIE_YEARS}
    drivers = [DriverSpec("elevation", str(d / "pie_ef_001.tif")),
               DriverSpec("slope", str(d / "pie_ef_002.tif")),
               DriverSpec("distance_built_1985", str(d / "pie_ef_003.tif"))]
    return CalibrationSetup(maps=maps, drivers=drivers, **{"maxiter": 2, "popsize": 2,
                                                           **kwargs})


@pytest.fixture(scope="module")
def pie(twin_data, tmp_path_factory):
    """Plum Island: calibrate 1985 -> 1991, validate 1991 -> 1999 (lulcc's PIE data)."""
    report = run_calibration(pie_setup(twin_data))
    out = write_calibration(report, tmp_path_factory.mktemp("pie") / "calibration")
    return report, out


def overall(period, model):
    return period.metrics[model]["overall"]


def test_plum_island_model_beats_both_null_models(pie):
    report, _ = pie
    assert [p.name for p in report.periods] == ["calibration", "validation"]
    for period in report.periods:
        model, random = overall(period, "model"), overall(period, "null_random")
        no_change = overall(period, "null_no_change")
        # The no-change map has no hits: FoM 0. The random allocation of the right
        # quantities has a few hits by chance; the model must place change better than both.
        assert no_change["figure_of_merit"] == 0.0
        assert model["figure_of_merit"] > random["figure_of_merit"] > 0
        assert model["kappa_simulation"] > random["kappa_simulation"]
        # The demand is the observed end-year area of each class: met exactly.
        have = np.bincount(period.simulated[period.simulated < 3], minlength=3)
        want = np.bincount(period.end[period.end < 3], minlength=3)
        np.testing.assert_array_equal(have, want)
    # At most (maxiter + 1) x popsize x dims simulations; repeated candidates run once.
    assert 2 * 9 <= report.result.evaluations <= (2 + 1) * 2 * 9
    assert report.result.figure_of_merit == pytest.approx(
        overall(report.periods[0], "model")["figure_of_merit"])


def test_calibration_report_directory(pie, twin_data):
    report, out = pie
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"parameters.yaml", "suitability.skops", "metrics.json", "report.html",
            "convergence.csv", "convergence.png", "driver_contributions.csv",
            "maps/calibration_agreement.tif", "maps/validation_agreement.tif",
            "maps/validation_simulated.tif", "maps/validation_agreement.png"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    validation = metrics["periods"]["validation"]
    assert set(validation) >= {"model", "null_no_change", "null_random", "years"}
    search = metrics["calibration"]["convergence"]
    assert search["search"] == "screen_refine" and "criterion" in search
    assert set(validation["model"]["per_class"]) == {"1", "2", "3"}
    assert metrics["suitability"]["auc"]["2"] > 0.6  # built-up gains are predictable
    with rasterio.open(out / "maps/validation_agreement.tif") as src:
        agree = src.read(1)
        with rasterio.open(twin_data / "landuse/plum_island_sibuyan/lu_pie_1999.tif") as ref:
            assert src.transform == ref.transform and crs_equal(src.crs, ref.crs)
    counts = np.bincount(agree[agree != 255], minlength=5)
    m = validation["model"]["overall"]
    assert counts[1:].tolist() == [m["hits"], m["misses"], m["wrong_hits"], m["false_alarms"]]
    params = load_parameters(out / "parameters.yaml")
    assert params.ca == report.params and params.codes == (1, 2, 3)
    assert "Figure of Merit" in (out / "report.html").read_text()


def test_simulate_forecast_on_the_start_grid(pie, twin_data, tmp_path):
    _, out = pie
    d = twin_data / "landuse/plum_island_sibuyan"
    start = d / "lu_pie_1999.tif"
    demand = tmp_path / "demand.csv"
    demand.write_text("year,1,2,3\n2003,44377,45455,23731\n2005,43877,46455,23231\n")
    drivers = [DriverSpec.parse(f"elevation={d / 'pie_ef_001.tif'}"),
               DriverSpec.parse(f"slope={d / 'pie_ef_002.tif'}"),
               DriverSpec.parse(f"distance_built_1985={d / 'pie_ef_003.tif'}")]
    result = run_forecast(start, 1999, out / "parameters.yaml", demand, drivers=drivers, seed=3)
    assert result.years == list(range(2000, 2006))
    path = write_forecast(result, start, tmp_path / "pie_2005.tif")
    with rasterio.open(path) as sim, rasterio.open(start) as ref:
        assert (sim.transform, sim.shape) == (ref.transform, ref.shape)
        assert crs_equal(sim.crs, ref.crs)
        values = sim.read(1)
    # 113,563 valid cells, the demand sums to the same: met exactly, class by class.
    assert np.bincount(values[values != 255], minlength=4)[1:].tolist() == [43877, 46455, 23231]
    summary = json.loads((tmp_path / "pie_2005.tif.json").read_text())
    assert summary["steps"][3]["class_cells"] == {"1": 44377, "2": 45455, "3": 23731}
    again = run_forecast(start, 1999, out / "parameters.yaml", demand, drivers=drivers, seed=3)
    np.testing.assert_array_equal(again.simulated, result.simulated)


def test_sleuth_demo200_urban_growth(twin_data, tmp_path):
    """SLEUTH's demo200 urban extents (GIF, no georeference) as GeoTIFFs on a dummy 30 m grid:
    calibrate 1950 -> 1970, validate 1970 -> 1990, with slope and distance to the 1950 roads
    as drivers and SLEUTH's exclusion layer (>= 100 = excluded) as constraint."""
    from PIL import Image

    from engine.suitability import distance_to
    from tim.model import Grid
    from tim.store import write_raster

    src = twin_data / "landuse/sleuth_demo200"
    grid = Grid("EPSG:32617", (30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0), (200, 200))

    def gif(name):
        return np.array(Image.open(src / f"demo200.{name}.gif"))

    maps = {}
    for year in (1950, 1970, 1990):
        path = tmp_path / f"urban{year}.tif"
        write_raster(path, np.where(gif(f"urban.{year}") > 0, 2, 1).astype(np.uint8), grid,
                     255)  # 1 non-urban, 2 urban
        maps[year] = path
    write_raster(tmp_path / "slope.tif", gif("slope").astype(np.float32), grid, None)
    roads = distance_to(gif("roads.1950") > 0, grid.cell_size)
    write_raster(tmp_path / "roads.tif", roads, grid, None)
    write_raster(tmp_path / "excluded.tif", (gif("excluded") < 100).astype(np.uint8), grid,
                 None)
    # Urban land never reverts (SLEUTH's rule): urban -> non-urban is forbidden.
    (tmp_path / "conversion.csv").write_text("from,1,2\n1,,0\n2,x,\n")
    setup = CalibrationSetup(maps=maps, drivers=[
        DriverSpec("slope", str(tmp_path / "slope.tif")),
        DriverSpec("distance_to_roads", str(tmp_path / "roads.tif")),
        DriverSpec("distance_to_urban", distance_to=2)],
        constraint=tmp_path / "excluded.tif", conversion=tmp_path / "conversion.csv",
        maxiter=2, popsize=2)
    # Urban land never reverts: non-urban has no gains to learn from, and says so.
    with pytest.warns(UserWarning, match="class 1 gained no cells .* where it is at the end"):
        report = run_calibration(setup)
    for period in report.periods:
        model, random = overall(period, "model"), overall(period, "null_random")
        assert model["figure_of_merit"] > random["figure_of_merit"]
        assert model["kappa_simulation"] > random["kappa_simulation"]
    # Excluded cells never change; urban cells stay urban.
    excluded = gif("excluded") >= 100
    for period in report.periods:
        assert (period.simulated[excluded] == period.start[excluded]).all()
        assert (period.simulated[period.start == 1] == 1).all()  # index 1 = code 2, urban
    assert report.conversion.tolist() == [[0.0, 1.0], [0.0, 0.0]]


# -- bad input --------------------------------------------------------------------------------
def test_rasters_on_different_grids_are_refused(twin_data, tmp_path):
    from tim.model import Grid
    from tim.store import write_raster

    setup = pie_setup(twin_data)
    with rasterio.open(setup.maps[1991]) as src:
        values, transform, crs = src.read(1), src.transform, src.crs.to_wkt()
    shifted = Grid(crs, (transform.a, 0.0, transform.c + 50.0, 0.0, transform.e, transform.f),
                   values.shape)  # half a cell east
    write_raster(tmp_path / "shifted.tif", values, shifted, 255)
    with pytest.raises(InputError, match=r"shifted\.tif: land-use map 1991 is on another "
                                         r"grid .*origin .*resample it"):
        read_land_use({**setup.maps, 1991: tmp_path / "shifted.tif"})
    with pytest.raises(InputError, match=r"lu_sib_1997\.tif: crs: the raster declares no CRS"):
        read_land_use({1997: twin_data / "landuse/plum_island_sibuyan/lu_sib_1997.tif"})


def test_unknown_class_codes_are_refused(twin_data):
    setup = pie_setup(twin_data)
    with pytest.raises(InputError, match=r"class codes not in the class list .*\{3: "):
        read_land_use(setup.maps, classes=(1, 2))


def test_nodata_inside_the_study_area_is_counted_and_left_out(twin_data, tmp_path):
    from scenarios.calibration.data import read_on_grid
    from tim.store import write_raster

    d = twin_data / "landuse/plum_island_sibuyan"
    values, grid, _ = read_on_grid(d / "pie_ef_001.tif", None, "elevation")
    holes = values.astype(np.float32).copy()
    _, _, maps = read_land_use({1985: d / "lu_pie_1985.tif"})
    hole = np.zeros(holes.shape, bool)
    hole[200:210, 200:210] = True
    assert (maps[1985][hole] != 255).all()  # 100 cells inside the study area ...
    holes[hole] = np.nan  # ... lose their elevation
    write_raster(tmp_path / "elev.tif", holes, grid, None)
    setup = pie_setup(twin_data, maxiter=0, popsize=1)
    setup = CalibrationSetup(**{**setup.__dict__, "drivers": [
        DriverSpec("elevation", str(tmp_path / "elev.tif")), *setup.drivers[1:]]})
    with pytest.warns(UserWarning, match=r"100 cells .* left out of the study area .*"
                                         r"'driver elevation': 100\}"):
        report = run_calibration(setup)
    assert not report.study_area[hole].any()
    assert any("left out" in n for n in report.notes)


def test_demand_larger_than_the_land_is_refused(pie, twin_data, tmp_path):
    _, out = pie
    d = twin_data / "landuse/plum_island_sibuyan"
    demand = tmp_path / "demand.csv"
    demand.write_text("year,1,2,3\n2005,60000,60000,30000\n")  # 150,000 > 113,563 cells
    drivers = [DriverSpec("elevation", str(d / "pie_ef_001.tif")),
               DriverSpec("slope", str(d / "pie_ef_002.tif")),
               DriverSpec("distance_built_1985", str(d / "pie_ef_003.tif"))]
    with pytest.raises(InputError, match=r"demand for 2005 totals 150000 cells but the study "
                                         r"area .* has 113563: 36437 cells more than the land"):
        run_forecast(d / "lu_pie_1999.tif", 1999, out / "parameters.yaml", demand,
                     drivers=drivers)
    demand.write_text("year,1,2,3\n2005,45000,45000,23600\n")  # 37 more: spread, with a note
    with pytest.warns(UserWarning, match="scaled by"):
        result = run_forecast(d / "lu_pie_1999.tif", 1999, out / "parameters.yaml", demand,
                              drivers=drivers)
    assert sum(result.summary["steps"][-1]["class_cells"].values()) == 113563
    with pytest.raises(InputError, match=r"trained on raster drivers .*missing "
                                         r"\['distance_built_1985'\]"):
        run_forecast(d / "lu_pie_1999.tif", 1999, out / "parameters.yaml", demand,
                     drivers=drivers[:2])


def test_a_class_with_no_observed_gains_is_learned_from_presence(twin_data, tmp_path):
    from engine.learning import fit_suitability

    grid, codes, maps = read_land_use(pie_setup(twin_data).maps)
    start = np.where(maps[1985] == 255, 255, maps[1985] - 1).astype(np.uint8)
    end = start.copy()
    changed = (start == 0) & (np.arange(start.size).reshape(start.shape) % 7 == 0)
    end[changed] = 1  # class index 1 gains, class 2 gains nothing, class 0 only loses
    rng = np.random.default_rng(0)
    drivers = {"noise": rng.random(start.shape).astype(np.float32)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_suitability(start, end, drivers, codes, valid=start != 255, samples=2000)
    messages = [str(w.message) for w in caught]
    assert any("class 3 gained no cells" in m and "where it is at the end" in m
               for m in messages)
    assert model.training["3"]["target"] == "presence"
    assert model.training["2"]["target"] == "gains"


def test_parameters_with_a_changed_model_file_are_refused(pie, tmp_path):
    import shutil

    from tim.errors import StoreError

    _, out = pie
    copy = tmp_path / "cal"
    shutil.copytree(out, copy)
    (copy / "suitability.skops").write_bytes(b"not the model")
    with pytest.raises(StoreError, match="sha256 differs"):
        load_parameters(copy / "parameters.yaml")
    raw = yaml.safe_load((out / "parameters.yaml").read_text())
    raw["format"] = "something else"
    (copy / "parameters.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="not a land-use parameters file"):
        load_parameters(copy / "parameters.yaml")


def test_a_crafted_model_file_never_runs_code(pie, tmp_path):
    """A calibration folder is data: a pickle whose hash is made to match is refused unread,
    and a skops file holding an untrusted type is refused before anything is built."""
    import hashlib
    import pickle
    import shutil
    from pathlib import Path

    import skops.io as sio

    _, out = pie
    copy = tmp_path / "cal"
    shutil.copytree(out, copy)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    def point_parameters_at(name: str) -> None:
        raw = yaml.safe_load((copy / "parameters.yaml").read_text())
        raw["suitability"]["file"] = name
        raw["suitability"]["sha256"] = hashlib.sha256((copy / name).read_bytes()).hexdigest()
        (copy / "parameters.yaml").write_text(yaml.safe_dump(raw))

    (copy / "suitability.joblib").write_bytes(pickle.dumps(Payload()))
    point_parameters_at("suitability.joblib")
    with pytest.raises(InputError, match="pickle, which is never loaded"):
        load_parameters(copy / "parameters.yaml")
    # an object of an unknown type inside a skops container: named untrusted, never built
    (copy / "evil.skops").write_bytes(sio.dumps({"estimators": [Payload()]}))
    point_parameters_at("evil.skops")
    with pytest.raises(InputError, match="not trusted"):
        load_parameters(copy / "parameters.yaml")
    assert not marker.exists()


def test_twin_calibrate_and_simulate_commands(twin_data, tmp_path):
    """The two commands as a user runs them; a bad input exits 2 with one line and writes
    nothing."""
    import subprocess
    import sys

    d = twin_data / "landuse/plum_island_sibuyan"
    twin = [sys.executable, "-m", "viz.cli"]
    drivers = ["--driver", f"elevation={d / 'pie_ef_001.tif'}",
               "--driver", f"slope={d / 'pie_ef_002.tif'}"]
    done = subprocess.run([*twin, "calibrate", "--map", f"1985={d / 'lu_pie_1985.tif'}",
                           "--map", f"1991={d / 'lu_pie_1991.tif'}", *drivers,
                           "--distance-to", "2", "--maxiter", "0", "--popsize", "1",
                           "--no-progress", "--out", str(tmp_path / "cal")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "calibration 1985-1991: FoM" in done.stdout and "random" in done.stdout
    (tmp_path / "demand.csv").write_text("year,1,2,3\n1995,46000,42000,25563\n")
    done = subprocess.run([*twin, "simulate", "--start", str(d / "lu_pie_1991.tif"),
                           "--start-year", "1991", *drivers, "--params",
                           str(tmp_path / "cal/parameters.yaml"), "--demand",
                           str(tmp_path / "demand.csv"), "--out", str(tmp_path / "sim.tif")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "simulated 1991-1995 (4 years" in done.stdout
    with rasterio.open(tmp_path / "sim.tif") as src:
        values = src.read(1)
    assert np.bincount(values[values != 255], minlength=4)[1:].tolist() == [46000, 42000, 25563]
    done = subprocess.run([*twin, "calibrate", "--map", f"1985={d / 'lu_pie_1985.tif'}",
                           "--map", f"1997={d / 'lu_sib_1997.tif'}", *drivers,
                           "--out", str(tmp_path / "bad")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2 and "lu_sib_1997.tif: crs: the raster declares no CRS" in \
        done.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("text, pattern", [
    ("to,1,2\n1,,0\n2,x,\n", r"needs a 'from' column"),
    ("from,1,2\n1,,0\n", r"missing \['2'\]"),
    ("from,1,2,9\n1,,0,0\n2,x,,0\n9,0,0,\n", r"unknown \['9'\]"),
    ("from,1,2\n1,,1.5\n2,x,\n", r"1->2: a cost must be in \[0, 1\] \(got 1\.5\)"),
    ("from,1,2\n1,,cheap\n2,x,\n", r"1->2: a cost must be a number"),
])
def test_bad_conversion_tables_are_refused(tmp_path, text, pattern):
    from scenarios.calibration.data import read_conversion

    path = tmp_path / "conversion.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=pattern):
        read_conversion(path, (1, 2))
    path.write_text("from,1,2\n1,,0.25\n2,x,\n")
    allowed, cost = read_conversion(path, (1, 2))
    assert allowed.tolist() == [[False, True], [False, False]] and cost[0, 1] == 0.25


def test_simulate_with_demand_per_zone(pie, twin_data, tmp_path):
    """Regional demand (CLUE-S style): each zone gets its own class areas, met zone by zone;
    an impossible one is reported per class and zone."""
    from scenarios.calibration.data import read_on_grid, to_index
    from tim.store import write_raster

    _, out = pie
    d = twin_data / "landuse/plum_island_sibuyan"
    start = d / "lu_pie_1999.tif"
    codes_map, grid, _ = read_on_grid(start, None, "start")
    zones = (np.arange(codes_map.shape[1])[None, :] >= 250).repeat(codes_map.shape[0], 0)
    write_raster(tmp_path / "zones.tif", zones.astype(np.uint8), grid, None)
    index = to_index(np.where(codes_map == 255, 255, codes_map).astype(np.uint8), (1, 2, 3))
    have = [np.bincount(index[(index < 3) & (zones == z)], minlength=3) for z in (0, 1)]
    # West: 300 cells from forest to built-up; east: 200 from other to built-up.
    west = have[0] + [-300, 300, 0]
    east = have[1] + [0, 200, -200]
    demand = tmp_path / "demand.csv"
    demand.write_text("year,zone,1,2,3\n" + "\n".join(
        f"2001,{z},{a},{b},{c}" for z, (a, b, c) in enumerate((west, east))) + "\n")
    drivers = [DriverSpec("elevation", str(d / "pie_ef_001.tif")),
               DriverSpec("slope", str(d / "pie_ef_002.tif")),
               DriverSpec("distance_built_1985", str(d / "pie_ef_003.tif"))]
    result = run_forecast(start, 1999, out / "parameters.yaml", demand, drivers=drivers,
                          zones=tmp_path / "zones.tif")
    sim = to_index(result.simulated, (1, 2, 3))
    for z, want in enumerate((west, east)):
        assert np.bincount(sim[(sim < 3) & (zones == z)], minlength=3).tolist() == list(want)
    last = result.summary["steps"][-1]  # class areas per zone, by class code
    assert last["class_cells"]["0"]["2"] == west[1] and last["class_cells"]["1"]["3"] == east[2]
    # East: every "other" cell must become built-up, but a constraint keeps some of them: the
    # shortfall is reported for that zone and class, and matches the cells that stayed.
    restricted = (zones == 1) & (index == 2) & (np.arange(index.shape[0])[:, None] % 2 == 0)
    write_raster(tmp_path / "constraint.tif", (~restricted).astype(np.uint8), grid, None)
    east_bad = have[1] + [0, int(have[1][2]), -int(have[1][2])]
    demand.write_text("year,zone,1,2,3\n" + "\n".join(
        f"2001,{z},{a},{b},{c}" for z, (a, b, c) in enumerate((west, east_bad))) + "\n")
    with pytest.warns(UserWarning, match="could not be met"):
        bad = run_forecast(start, 1999, out / "parameters.yaml", demand, drivers=drivers,
                           zones=tmp_path / "zones.tif", constraint=tmp_path / "constraint.tif")
    final = bad.summary["steps"][-1]
    assert final["gain_shortfall"]["1"]["2"] == final["loss_shortfall"]["1"]["3"] \
        >= restricted.sum() > 0
    assert final["gain_shortfall"]["0"]["2"] == 0
