"""One simulated year on the full Wuhan grid (2931 x 2931 = 8.6 M cells, 7 classes) and the
peak memory of a ten-year run.

Setup (not timed): the 2005 map, a random-forest suitability learned from 2003 -> 2005 (pop,
dem, soil, slope, distance to built-up and water), the water constraint, patch sizes of
2003 -> 2005, and a year of demand = a fifth of the observed 2005 -> 2010 net change. The CA
parameters are fixed (below), not calibrated, so the figure does not depend on a search.

- ``numba``: :func:`engine.landuse.allocate_step` (goal: <= 0.45 s on 2 cores).
- ``numpy``: the same step, competition in NumPy, allocation in Python (bench_landuse_step).
- ``python``: tests/landuse_reference.py cell by cell on a 40 x 40 crop (compare per cell).
- peak memory: ``python benchmarks/bench_wuhan.py`` runs ten years in a fresh process from the
  raw files and prints the peak resident memory (goal: < 3 GB); the test does the same.

Skipped without ../shared/data (TWIN_DATA).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from validators import twin_data as twin_data_dir  # noqa: E402

from engine.landuse import (CAParams, LandUseModel, build_constraints, class_counts,
                            interpolate_targets, learn_patch_sizes, simulate)

PARAMS = CAParams(neighbourhood_size=7, weights=(0.5,) * 7, inertia=(1.0,) * 7, alpha=0.5,
                  spontaneous=0.02, roulette_rounds=2, patch_scale=1.0, patch_compactness=1.0)


def build(data: Path):
    """(2005 index map, model, yearly targets 2006..2010)."""
    from engine.learning import fit_suitability
    from scenarios.calibration.data import (DriverSpec, Notes, OUTSIDE, derive_drivers,
                                        derived_specs, read_constraint, read_drivers,
                                        read_land_use, study_area, to_index)

    d = data / "landuse/wuhan"
    grid, codes, maps = read_land_use({y: d / f"wh{y}_refy.tif" for y in (2003, 2005, 2010)})
    specs = [DriverSpec("pop", str(d / "wh_Pop.tif")), DriverSpec("dem", str(d / "wh_df_dem.tif")),
             DriverSpec("soil", str(d / "wh_soiltype.tif"), categorical=True),
             *derived_specs("dem", [4, 6])]
    raw = read_drivers(specs, grid)
    constraint = read_constraint(d / "WaterWuhan.tif", grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d03, d05 = (derive_drivers(specs, raw, maps[y], grid) for y in (2003, 2005))
        area = study_area([maps[y] for y in (2003, 2005, 2010)], ["2003", "2005", "2010"],
                          {**d03, **{f"{k} 2005": v for k, v in d05.items()}}, constraint,
                          Notes())
    eligible = area & (constraint == 1)
    index = {y: to_index(np.where(area, maps[y], OUTSIDE), codes) for y in maps}
    fitted = fit_suitability(index[2003], index[2005], d03, codes, valid=area,
                             categorical=["soil"], samples=10000)
    model = LandUseModel(codes, fitted.predict(d05, eligible), PARAMS,
                         build_constraints(area.shape, 7, hard=[(~eligible, None)]),
                         learn_patch_sizes(index[2003], index[2005], 7, area))
    targets = interpolate_targets(class_counts(index[2005], 7), class_counts(index[2010], 7), 5)
    return index[2005], model, targets


@pytest.fixture(scope="module")
def wuhan():
    data = twin_data_dir()
    if not (data / "landuse/wuhan").is_dir():
        pytest.skip(f"Wuhan data not found under {data}")
    return build(data)


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_wuhan_year(benchmark, wuhan, impl):
    from bench_landuse_step import numpy_compete

    import landuse_reference as ref

    index, model, targets = wuhan
    change = targets[0] - class_counts(index, 7)
    if impl == "numba":
        def step():
            return simulate(index, model, targets[:1], seed=1).index
    else:
        def step():
            return ref.step(index, model, change, seed=1, step_no=0,
                            compete_fn=numpy_compete)[0]
    result = step()  # compiles the kernels
    assert (class_counts(result, 7) == targets[0]).all()
    if impl == "numpy":
        np.testing.assert_array_equal(result, simulate(index, model, targets[:1], seed=1).index)
    benchmark.group = "Wuhan year (2931 x 2931, 7 classes)"
    benchmark.extra_info["cells"] = index.size
    benchmark.pedantic(step, rounds=5 if impl == "numba" else 1, iterations=1)


def test_wuhan_year_per_cell_python(benchmark, wuhan):
    """The cell-by-cell Python reference on a 40 x 40 crop in the built-up fringe, with the
    crop's share of a year's demand; compare ``mean / cells`` with the full-grid Numba year."""
    import dataclasses

    import landuse_reference as ref

    index, model, targets = wuhan
    r0, c0, n = 1400, 1500, 40  # east of the centre: built-up, cropland and water mix
    crop = (slice(r0, r0 + n), slice(c0, c0 + n))
    c = model.constraints
    small = dataclasses.replace(
        model, suitability=np.ascontiguousarray(model.suitability[crop]),
        constraints=dataclasses.replace(c, forbid=np.ascontiguousarray(c.forbid[crop]),
                                        policy=np.ascontiguousarray(c.policy[crop])))
    sub = np.ascontiguousarray(index[crop])
    share = (sub < 7).sum() / (index < 7).sum()
    change = np.round((targets[0] - class_counts(index, 7)) * share).astype(np.int64)
    change[0, int(np.argmax(class_counts(sub, 7)))] -= change.sum()  # balance: net zero
    result = ref.step(sub, small, change, seed=1)[0]
    np.testing.assert_array_equal(result, simulate(sub, small, (class_counts(sub, 7)
                                                                + change)[None], seed=1).index)
    benchmark.group = "Wuhan year per cell: Python reference on a 40 x 40 crop"
    benchmark.extra_info["cells"] = n * n
    benchmark.pedantic(ref.step, args=(sub, small, change), kwargs={"seed": 1}, rounds=3,
                       iterations=1)


def test_wuhan_ten_years_peak_memory(wuhan):
    done = subprocess.run([sys.executable, __file__], capture_output=True, text=True,
                          check=True, timeout=3600)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["years"] == 10


def peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss on Linux also counts the
    parent's memory at fork time, which would inflate the figure under pytest)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Ten years from the raw files in this process; prints peak RSS (MB) and timings."""
    started = time.perf_counter()
    index, model, targets = build(twin_data_dir())
    built = time.perf_counter()
    start = class_counts(index, 7)[0]
    trend = targets[-1][0] + (targets[-1][0] - start)  # 2015: the 2005-2010 change once more
    targets = np.concatenate([targets, interpolate_targets(targets[-1], trend[None], 5)])
    simulate(index, model, targets[:1], seed=0)  # compile before timing
    run = time.perf_counter()
    result = simulate(index, model, targets, seed=0)
    end = time.perf_counter()
    print(json.dumps({"years": len(result.outcomes), "peak_rss_mb": round(peak_rss_mb()),
                      "setup_s": round(built - started, 1),
                      "seconds_per_year": round((end - run) / len(result.outcomes), 3)}))


if __name__ == "__main__":
    main()
