"""Calibration search: today's scipy differential evolution (``scipy_de``, the baseline) beside
the screen-and-refine search with its convergence test (``screen_refine``), same data, same
seeds, each with its ``twin calibrate`` defaults (``maxiter`` 8; ``popsize`` 4 for today's
search as released, 3 for the new one: at most 468 and 351 simulations on Wuhan).

Each round is a whole ``run_calibration`` (suitability fit, search, validation): the part the
searches share is the same in both rows, ``extra_info`` holds the search's own seconds and
simulations and the calibration and validation Figure of Merit of both, so speed is never
bought with accuracy unseen. Run::

    .venv/bin/python -m pytest benchmarks/bench_calibration.py --benchmark-columns=min,median

The one-off Wuhan measurement (8.6 M cells; minutes) is the script itself::

    .venv/bin/python benchmarks/bench_calibration.py wuhan --search screen_refine
    .venv/bin/python benchmarks/bench_calibration.py wuhan --forest previous  # 30-tree forests
    .venv/bin/python benchmarks/bench_calibration.py wuhan-evaluation   # cost of one candidate

which prints wall and CPU seconds per stage, simulations, FoM and the convergence record
(README's land-use section gives the figures measured).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEARCHES = ("scipy_de", "screen_refine")
#: Suitability forests: the previous setting (30 trees each) and twin calibrate's default
#: (grown 5 trees at a time until the out-of-bag AUC rises by less than 0.005).
FORESTS = {"previous": {"trees": 30, "oob_tolerance": None},
           "oob": {"trees": 30, "oob_tolerance": 0.005}}
BUDGET = {"scipy_de": {"maxiter": 8, "popsize": 4},
          "screen_refine": {"maxiter": 8, "popsize": 3}}


def data_dir() -> Path:
    return Path(os.environ.get("TWIN_DATA", Path(__file__).resolve().parents[2] / "shared/data"))


def plum_island(**kwargs):
    from scenarios.calibration.calibrate import CalibrationSetup
    from scenarios.calibration.data import DriverSpec

    d = data_dir() / "landuse/plum_island_sibuyan"
    drivers = [DriverSpec("elevation", str(d / "pie_ef_001.tif")),
               DriverSpec("slope", str(d / "pie_ef_002.tif")),
               DriverSpec("distance_built_1985", str(d / "pie_ef_003.tif"))]
    return CalibrationSetup(maps={y: d / f"lu_pie_{y}.tif" for y in (1985, 1991, 1999)},
                            drivers=drivers, **kwargs)


def demo200(folder: Path, **kwargs):
    """SLEUTH demo200 (urban 1950 -> 1970 -> 1990) as GeoTIFFs on a dummy 30 m grid, as in
    tests/test_landuse_workflow.py."""
    from PIL import Image

    from engine.suitability import distance_to
    from scenarios.calibration.calibrate import CalibrationSetup
    from scenarios.calibration.data import DriverSpec
    from tim.model import Grid
    from tim.store import write_raster

    src = data_dir() / "landuse/sleuth_demo200"
    grid = Grid("EPSG:32617", (30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0), (200, 200))

    def gif(name):
        return np.array(Image.open(src / f"demo200.{name}.gif"))

    maps = {}
    for year in (1950, 1970, 1990):
        maps[year] = folder / f"urban{year}.tif"
        write_raster(maps[year], np.where(gif(f"urban.{year}") > 0, 2, 1).astype(np.uint8),
                     grid, 255)
    write_raster(folder / "slope.tif", gif("slope").astype(np.float32), grid, None)
    write_raster(folder / "roads.tif", distance_to(gif("roads.1950") > 0, grid.cell_size),
                 grid, None)
    write_raster(folder / "excluded.tif", (gif("excluded") < 100).astype(np.uint8), grid,
                 None)
    (folder / "conversion.csv").write_text("from,1,2\n1,,0\n2,x,\n")
    return CalibrationSetup(maps=maps, drivers=[
        DriverSpec("slope", str(folder / "slope.tif")),
        DriverSpec("distance_to_roads", str(folder / "roads.tif")),
        DriverSpec("distance_to_urban", distance_to=2)],
        constraint=folder / "excluded.tif", conversion=folder / "conversion.csv", **kwargs)


def summary(report, wall: float, cpu: float) -> dict:
    """What a row of the benchmark (or the Wuhan script) reports."""
    fom = {p.name: p.metrics["model"]["overall"]["figure_of_merit"] for p in report.periods}
    random = {p.name: p.metrics["null_random"]["overall"]["figure_of_merit"]
              for p in report.periods}
    return {"search": report.setup.search, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "timings_s": {k: round(v, 2) for k, v in report.timings.items()},
            "simulations": report.result.evaluations,
            "forest_trees": {k: t.get("trees", report.setup.trees)
                             for k, t in report.suitability.training.items()},
            "calibration_fom": fom.get("calibration"), "validation_fom": fom.get("validation"),
            "validation_fom_random_null": random.get("validation"),
            "converged": report.result.convergence.get("converged"),
            "criterion": report.result.convergence.get("criterion")}


def timed_calibration(setup) -> dict:
    from scenarios.calibration.calibrate import run_calibration

    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_calibration(setup)
    return summary(report, time.perf_counter() - wall, time.process_time() - cpu)


@pytest.fixture(scope="module")
def setups(tmp_path_factory):
    if not (data_dir() / "landuse").is_dir():
        pytest.skip("real data not found (set TWIN_DATA)")
    folder = tmp_path_factory.mktemp("demo200")
    made = {"plum-island": plum_island, "demo200": lambda **kw: demo200(folder, **kw)}
    for make in made.values():  # compile every kernel before timing
        for search in SEARCHES:
            timed_calibration(make(maxiter=0, popsize=1, search=search))
    return made


@pytest.mark.parametrize("data", ["plum-island", "demo200"])
@pytest.mark.parametrize("search", SEARCHES)
def test_calibration_search(benchmark, setups, data, search):
    setup = setups[data](search=search, **BUDGET[search])
    benchmark.group = f"calibration {data} (seed 0)"
    out = benchmark.pedantic(timed_calibration, args=(setup,), rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    assert out["validation_fom"] > out["validation_fom_random_null"]


# -- the one-off Wuhan measurement ------------------------------------------------------------
def wuhan(search: str, out: Path | None = None, **kwargs) -> dict:
    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.report import write_calibration
    from scenarios.calibration.data import DriverSpec, derived_specs

    d = data_dir() / "landuse/wuhan"
    setup = CalibrationSetup(
        maps={y: d / f"wh{y}_refy.tif" for y in (2003, 2005, 2010)},
        drivers=[DriverSpec("pop", str(d / "wh_Pop.tif")),
                 DriverSpec("dem", str(d / "wh_df_dem.tif")),
                 DriverSpec("soil", str(d / "wh_soiltype.tif"), categorical=True),
                 *derived_specs("dem", [4, 6, 3])],
        constraint=d / "WaterWuhan.tif", search=search, **kwargs)
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_calibration(setup)
        if out is not None:
            write_calibration(report, out)
    result = summary(report, time.perf_counter() - wall, time.process_time() - cpu)
    result["convergence"] = report.result.convergence
    return result


def wuhan_evaluation(candidates: int = 4) -> dict:
    """CPU and wall seconds of one candidate on the full Wuhan grid by today's path
    (``figure_of_merit_of``: model rebuilt and validated, NumPy transition table) and by the
    new one (``Problem.evaluate``), on the same candidates (suitability fitted as in
    ``twin calibrate``)."""
    from engine.calibration import (Problem, change_window, crop_problem, decode, end_targets,
                                    figure_of_merit_of, search_space)
    from engine.landuse import CAParams, LandUseModel, build_constraints, learn_patch_sizes
    from engine.learning import fit_suitability
    from scenarios.calibration.data import (OUTSIDE, DriverSpec, Notes, derive_drivers,
                                        derived_specs, read_constraint, read_drivers,
                                        read_land_use, study_area, to_index)

    d = data_dir() / "landuse/wuhan"
    specs = [DriverSpec("pop", str(d / "wh_Pop.tif")),
             DriverSpec("dem", str(d / "wh_df_dem.tif")),
             DriverSpec("soil", str(d / "wh_soiltype.tif"), categorical=True),
             *derived_specs("dem", [4, 6, 3])]
    grid, codes, maps = read_land_use({y: d / f"wh{y}_refy.tif" for y in (2003, 2005)}, None)
    raw = read_drivers(specs, grid)
    constraint = read_constraint(d / "WaterWuhan.tif", grid)
    drivers = derive_drivers(specs, raw, maps[2003], grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        area = study_area([maps[2003], maps[2005]], ["2003", "2005"], {**raw, **drivers},
                          constraint, Notes())
    eligible = area & (constraint == 1)
    start, end = (to_index(np.where(area, maps[y], OUTSIDE), codes) for y in (2003, 2005))
    suit = fit_suitability(start, end, drivers, codes, valid=area, categorical=["soil"],
                           seed=0).predict(drivers, eligible)
    model = LandUseModel(codes, suit, CAParams(), build_constraints(
        area.shape, len(codes), hard=[(~eligible, None)]),
        learn_patch_sizes(start, end, len(codes), valid=area))
    problem = Problem(start, end, model, end_targets(start, end, model, 2), 0)
    screen = crop_problem(problem, change_window(start, end, len(codes), 2_000_000))
    bounds, integral = search_space(len(codes))
    low, high = np.array(bounds).T
    xs = low + np.random.default_rng(0).random((candidates, len(bounds))) * (high - low)
    xs[:, integral] = np.round(xs[:, integral])
    problem.evaluate(xs[:1])  # compile
    out = {}
    for name, run in {
            "today (full grid)": lambda: [figure_of_merit_of(
                decode(x, len(codes), model.params), start, end, model, problem.targets, 0)
                for x in xs],
            "new (full grid)": lambda: problem.evaluate(xs),
            "new (screening window)": lambda: screen.evaluate(xs)}.items():
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        out[name] = {"wall_s_per_candidate": round((time.perf_counter() - wall) / len(xs), 3),
                     "cpu_s_per_candidate": round((time.process_time() - cpu) / len(xs), 3)}
    out["screening_cells"] = screen.cells
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["wuhan", "wuhan-evaluation"])
    parser.add_argument("--search", choices=SEARCHES, default="screen_refine")
    parser.add_argument("--out", type=Path, help="also write the report directory here")
    parser.add_argument("--forest", choices=sorted(FORESTS), default="oob",
                        help="suitability forests: 'previous' (always 30 trees) or 'oob' "
                             "(grown 5 trees at a time while the out-of-bag AUC rises, the "
                             "default of twin calibrate)")
    args = parser.parse_args()
    result = (wuhan(args.search, args.out, **FORESTS[args.forest]) if args.what == "wuhan"
              else wuhan_evaluation())
    print(json.dumps(result, indent=2, default=str))
