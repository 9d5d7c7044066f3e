"""Wuhan (PLUS test data): calibrate 2003 -> 2005, validate 2005 -> 2010 with the observed 2010
class areas as demand, then forecast 2010 -> 2013 with the 2013 demand of PROVENANCE.md.

Marked slow (several minutes on 2 cores: 8.6 M cells, 7 classes, a random forest per class).
The search budget is small here; README gives the full command and its figures. The metrics
are written to test-artifacts/wuhan/ for the record.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
from scenarios.calibration.report import write_calibration
from scenarios.calibration.forecast import run_forecast, write_forecast
from scenarios.calibration.data import DriverSpec, derived_specs

pytestmark = pytest.mark.slow

#: Class areas (cells) of the withheld 2013 map, from ../shared/data/landuse/wuhan/PROVENANCE.md
DEMAND_2013 = {1: 44394, 2: 231113, 3: 2477356, 4: 929417, 5: 39413, 6: 1453586, 7: 150790}


def drivers(d):
    return [DriverSpec("pop", str(d / "wh_Pop.tif")), DriverSpec("dem", str(d / "wh_df_dem.tif")),
            DriverSpec("soil", str(d / "wh_soiltype.tif"), categorical=True)]


def test_wuhan_calibration_validation_and_2013_forecast(twin_data, artifacts, tmp_path):
    d = twin_data / "landuse/wuhan"
    setup = CalibrationSetup(
        maps={y: d / f"wh{y}_refy.tif" for y in (2003, 2005, 2010)},
        drivers=drivers(d) + derived_specs("dem", [4, 6, 3]), constraint=d / "WaterWuhan.tif",
        maxiter=2, popsize=2)
    with pytest.warns(UserWarning) as caught:
        report = run_calibration(setup)
    assert any("1595 cells with data in some inputs only were left out" in str(w.message)
               for w in caught)  # 462 + 364 + 595 cells missing in one of the maps, ...
    out = write_calibration(report, artifacts / "wuhan" / "calibration")
    validation = report.periods[1]
    assert validation.years == (2005, 2010)
    model = validation.metrics["model"]["overall"]
    for null in ("null_no_change", "null_random"):
        other = validation.metrics[null]["overall"]
        assert model["figure_of_merit"] > other["figure_of_merit"]
        assert model["kappa_simulation"] > other["kappa_simulation"]
    # Demand: the observed 2010 area of every class, met exactly on the study area.
    sim, end = validation.simulated, validation.end
    np.testing.assert_array_equal(np.bincount(sim[sim < 7], minlength=7),
                                  np.bincount(end[end < 7], minlength=7))
    # Built-up (class 4) grows where the model expects it: better than random allocation.
    built = validation.metrics
    assert built["model"]["per_class"]["4"]["figure_of_merit"] > \
        built["null_random"]["per_class"]["4"]["figure_of_merit"]

    demand = tmp_path / "demand2013.csv"
    demand.write_text("year," + ",".join(map(str, DEMAND_2013)) + "\n2013,"
                      + ",".join(map(str, DEMAND_2013.values())) + "\n")
    with pytest.warns(UserWarning) as caught:  # the table counts 5,326,069 cells
        forecast = run_forecast(d / "wh2010_refy.tif", 2010, out / "parameters.yaml", demand,
                                drivers=drivers(d), constraint=d / "WaterWuhan.tif")
    messages = [str(w.message) for w in caught]
    assert any("totals 5326069 cells" in m and "scaled by" in m for m in messages)
    assert any("left out of the study area" in m for m in messages)
    path = write_forecast(forecast, d / "wh2010_refy.tif", artifacts / "wuhan" / "2013.tif")
    with rasterio.open(path) as sim13, rasterio.open(d / "wh2010_refy.tif") as ref:
        assert (sim13.transform, sim13.shape) == (ref.transform, ref.shape)
        values = sim13.read(1)
    last = forecast.summary["steps"][-1]
    assert forecast.years == [2011, 2012, 2013]
    assert all(v == 0 for v in last["gain_shortfall"].values())
    study = forecast.summary["study_area_cells"]
    for code, cells in DEMAND_2013.items():  # the demand, rescaled to the study area
        assert abs(last["class_cells"][str(code)] - cells * study / 5326069) <= 1
    assert np.isin(values[values != 255], list(DEMAND_2013)).all()
    (artifacts / "wuhan" / "summary.json").write_text(json.dumps({
        "validation": {k: validation.metrics[k]["overall"] for k in validation.metrics},
        "calibration_fom": report.result.figure_of_merit,
        "forecast_seconds_per_year": forecast.summary["timings_s"]["per_year"]}, indent=2))
