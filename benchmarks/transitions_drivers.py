"""Wuhan validation with the observed gross transitions as demand: which driver layers and
which allocation settings help (docs/landuse.md, "Gross (from -> to) demand").

The procedure is the ``transitions`` variant of ``tests/test_transitions_accuracy.py``:
calibrate 2003 -> 2005 with today's workflow (small search budget), learn the suitability on
2003 -> 2005 with the drivers of the 2003 map, predict it with the drivers of the 2005 map and
allocate 2005 -> 2010 in one step with the observed 2005 -> 2010 transition matrix as demand,
scored beside both null models. Per driver set it reports the forests' contributions, and per
allocation setting (the calibrated CA; greedy: no roulette, no noise, one-cell patches;
greedy with the calibrated patch sizes) the
calibration period's FoM with *out-of-fold* suitability (forests fitted on one half of a
checkerboard of blocks, predicted on the other), so that a setting can be chosen on the
calibration period without the in-sample bias of a forest scored on its own training cells.

    python benchmarks/transitions_drivers.py [--window R0 R1 C0 C1] [--sets today,terrain]
        [--settings calibrated,greedy,greedy_patches] [--samples 20000] --out result.json

``--window`` crops every input (rows R0:R1, columns C0:C1) to prototype on fewer cells.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from engine.demand import transition_counts  # noqa: E402
from engine.landuse import LandUseModel, allocate_step, build_constraints  # noqa: E402
from engine.learning import fit_suitability  # noqa: E402
from engine.metrics import compare_with_nulls  # noqa: E402
from engine.suitability import box_sum, land_use_drivers  # noqa: E402
from scenarios.calibration.calibrate import CalibrationSetup, run_calibration  # noqa: E402
from scenarios.calibration.data import (OUTSIDE, DriverSpec, derive_drivers,  # noqa: E402
                                        derived_specs, read_drivers, read_land_use, to_index)
from test_transitions_accuracy import finite_drivers  # noqa: E402

KEYS = ("figure_of_merit", "hits", "misses", "wrong_hits", "false_alarms", "kappa_simulation")
DATA = Path(os.environ.get("TWIN_DATA", Path(__file__).resolve().parents[2] / "shared/data")) \
    / "landuse/wuhan"
FILES = {"2003": "wh2003_refy.tif", "2005": "wh2005_refy.tif", "2010": "wh2010_refy.tif",
         "pop": "wh_Pop.tif", "dem": "wh_df_dem.tif", "soil": "wh_soiltype.tif",
         "water": "WaterWuhan.tif"}


def crop_inputs(window: tuple[int, int, int, int], folder: Path) -> dict[str, Path]:
    """Every input cropped to rows r0:r1, columns c0:c1 (same cell size and CRS)."""
    import rasterio
    from rasterio.windows import Window

    r0, r1, c0, c1 = window
    out = {}
    for key, name in FILES.items():
        with rasterio.open(DATA / name) as src:
            w = Window(c0, r0, c1 - c0, r1 - r0)
            profile = src.profile | {"height": r1 - r0, "width": c1 - c0,
                                     "transform": src.window_transform(w)}
            data = src.read(1, window=w)
        out[key] = folder / name
        with rasterio.open(out[key], "w", **profile) as dst:
            dst.write(data, 1)
    return out


def terrain(dem: np.ndarray, area: np.ndarray, radii: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Topographic position: elevation minus the mean elevation within ``r`` cells."""
    valid = area & np.isfinite(dem)
    z = np.where(valid, dem, 0.0)
    out = {}
    for r in radii:
        n = box_sum(valid, r)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, box_sum(z, r) / n, 0.0)
        out[f"tpi_r{r}"] = np.where(valid, dem - mean, 0.0).astype(np.float32)
    return out


def overall(metrics: dict) -> dict:
    return {m: {k: metrics[m]["overall"][k] for k in KEYS}
            for m in ("model", "null_no_change", "null_random")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, nargs=4)
    ap.add_argument("--sets", default="today,terrain")
    ap.add_argument("--settings", default="calibrated,greedy,greedy_patches")
    ap.add_argument("--samples", type=int, default=20000, help="training cells per class")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    files = (crop_inputs(tuple(args.window), Path(tmp.name)) if args.window else
             {k: DATA / v for k, v in FILES.items()})
    setup = CalibrationSetup(
        maps={y: files[str(y)] for y in (2003, 2005, 2010)},
        drivers=[DriverSpec("pop", str(files["pop"])), DriverSpec("dem", str(files["dem"])),
                 DriverSpec("soil", str(files["soil"]), categorical=True)]
        + derived_specs("dem", [4, 6, 3]),
        constraint=files["water"], maxiter=1, popsize=1, samples=args.samples)
    result: dict = {"window": args.window, "seconds": {}}
    clock, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_calibration(setup)
    result["seconds"]["calibration_cpu"] = time.process_time() - cpu
    grid, codes, maps = read_land_use(setup.maps, setup.classes)
    n, area, eligible = len(codes), report.study_area, report.eligible
    y0, y1, y2 = 2003, 2005, 2010
    index = {y: to_index(np.where(area, maps[y], OUTSIDE), codes) for y in (y0, y1, y2)}
    result["net_today"] = overall(report.periods[1].metrics)
    raw = read_drivers(setup.drivers, grid)
    categorical = ["soil"]
    base = {y: finite_drivers({**derive_drivers(setup.drivers, raw, maps[y], grid),
                        **land_use_drivers(index[y], n, grid.cell_size, radii=(2, 8))}, area)
            for y in (y0, y1)}
    extra = terrain(raw["dem"], area, (4, 16))
    driver_sets = {"today": base, "terrain": {y: {**base[y], **extra} for y in (y0, y1)}}
    constraints = build_constraints(area.shape, n, hard=[(~eligible, None)],
                                    allowed=(report.conversion > 0) | np.eye(n, dtype=bool),
                                    cost=np.where(report.conversion > 0,
                                                  1.0 - report.conversion, 0.0))
    settings = {"calibrated": (report.params, report.patch_sizes),
                "greedy": (dataclasses.replace(report.params, roulette_rounds=0, alpha=0.0),
                           ()),
                "greedy_patches": (dataclasses.replace(report.params, roulette_rounds=0,
                                                       alpha=0.0), report.patch_sizes)}
    gross = {"calibration": transition_counts(index[y0], index[y1], n),
             "validation": transition_counts(index[y1], index[y2], n)}
    rows, cols = area.shape
    block = ((np.arange(rows)[:, None] // 64) + (np.arange(cols)[None, :] // 64)) % 2 == 0
    fit = dict(method=setup.method, categorical=categorical, samples=setup.samples,
               seed=setup.seed, n_trees=setup.trees, oob_tolerance=setup.oob_tolerance)

    def run(cube, setting, period):
        params, sizes = settings[setting]
        start, end = ((index[y0], index[y1]) if period == "calibration"
                      else (index[y1], index[y2]))
        model = LandUseModel(codes, cube, params, constraints, sizes)
        simulated, _, _ = allocate_step(start, model, None, transitions=gross[period],
                                        seed=setup.seed)
        return overall(compare_with_nulls(start, end, simulated, codes, seed=setup.seed,
                                          eligible=eligible))

    for name in args.sets.split(","):
        drivers = driver_sets[name]
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            suit = fit_suitability(index[y0], index[y1], drivers[y0], codes, valid=area, **fit)
            folds = [fit_suitability(index[y0], index[y1], drivers[y0], codes,
                                     valid=area & (block == half), **fit)
                     for half in (True, False)]
        oof = np.where(block[..., None], folds[1].predict(drivers[y0], eligible & block),
                       folds[0].predict(drivers[y0], eligible & ~block))
        inside = suit.predict(drivers[y0], eligible)
        valid_cube = suit.predict(drivers[y1], eligible)
        entry: dict = {"auc": suit.auc, "contributions": suit.contributions,
                       "impurity": suit.impurity, "drivers": list(drivers[y0])}
        for setting in args.settings.split(","):
            entry[setting] = {
                "calibration_in_sample": run(inside, setting, "calibration"),
                "calibration_out_of_fold": run(oof, setting, "calibration"),
                "validation": run(valid_cube, setting, "validation")}
            print(name, setting, {k: round(v["model"]["figure_of_merit"], 4)
                                  for k, v in entry[setting].items()}, flush=True)
        result[name] = entry
        result["seconds"][name + "_cpu"] = time.process_time() - cpu
    result["seconds"]["total_wall"] = time.perf_counter() - clock
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
