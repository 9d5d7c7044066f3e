"""``twin calibrate``: learn suitability and fit the CA on one pair of land-use maps, then
validate on the next pair, every accuracy figure beside the two null models.

With maps for years y0 < y1 (< y2):

1. suitability per class is learned from the change y0 -> y1 (:mod:`engine.learning`), with
   drivers derived from the y0 map where asked (slope, distance to a class);
2. patch sizes are learned from the same change (:func:`engine.landuse.learn_patch_sizes`);
3. the CA parameters are fitted by differential evolution to maximise the Figure of Merit of
   y0 -> y1 with the observed y1 class areas as demand (:mod:`engine.calibration`);
4. with a third map, the fitted model runs y1 -> y2 with the observed y2 class areas as demand
   (drivers derived from the y1 map) and is scored against the y2 map: the validation.

The report directory (written atomically) holds what ``twin simulate`` needs
(``parameters.yaml`` + ``suitability.skops``) and what a reader or a dashboard wants
(``metrics.json``, maps as GeoTIFF + PNG, convergence, ``report.html``); see
:mod:`scenarios.calibration.report` for the layout, and ``write_calibration`` there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from engine.calibration import CalibrationResult, Executor, calibrate, end_targets
from engine.landuse import CAParams, LandUseModel, learn_patch_sizes, simulate
from engine.landuse_config import LandUseConfig, build_model
from engine.learning import METHODS, SuitabilityModel, fit_suitability
from engine.metrics import agreement_map, compare_with_nulls
from scenarios.calibration.data import (OUTSIDE, DriverSpec, Notes, derive_drivers, read_constraint,
                                    read_conversion, read_drivers, read_land_use, study_area,
                                    to_index)
from tim.errors import InputError
from tim.model import Grid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationSetup:
    """What ``twin calibrate`` was asked to do."""

    maps: Mapping[int, str | Path]
    drivers: Sequence[DriverSpec]
    constraint: str | Path | None = None
    conversion: str | Path | None = None
    classes: Sequence[int] | None = None
    method: str = "random_forest"
    samples: int = 20000
    trees: int = 30  # the most trees of a suitability forest
    oob_tolerance: float | None = 0.005  # stop growing a forest below this out-of-bag AUC gain
    roulette_rounds: int = 2
    seed: int = 0
    maxiter: int = 8
    popsize: int = 3  # scipy_de as first released: 4
    search_seed: int = 0
    search: str = "screen_refine"  # or "scipy_de" (the first version's search)
    #: start year -> {raster driver name: path}: that period's drivers as they stood then
    #: (e.g. roads of each epoch, ``twin calibrate --series``); others keep ``drivers``' path
    drivers_at: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.maps) < 2:
            raise InputError("calibration needs land-use maps of at least two years",
                             field="--map", value=sorted(self.maps))
        if self.method not in METHODS:
            raise InputError(f"unknown method (use {', '.join(METHODS)})", field="--method",
                             value=self.method)
        if self.maxiter < 0 or self.popsize < 1:
            raise InputError("maxiter must be >= 0 and popsize >= 1", field="--maxiter",
                             value=(self.maxiter, self.popsize))
        rasters = {d.name for d in self.drivers if d.path is not None}
        for year, paths in self.drivers_at.items():
            if set(paths) - rasters:
                raise InputError("a dated driver that is not a raster driver",
                                 field=f"drivers_at.{year}", value=sorted(set(paths) - rasters))


@dataclass
class Period:
    """One pair of maps and what the calibrated model made of it."""

    name: str
    years: tuple[int, int]
    start: np.ndarray  # class indices, 255 outside the study area
    end: np.ndarray
    simulated: np.ndarray
    metrics: dict[str, Any]
    seconds: float


@dataclass
class CalibrationReport:
    """Everything ``twin calibrate`` found, as written to the report directory."""

    setup: CalibrationSetup
    grid: Grid
    codes: tuple[int, ...]
    study_area: np.ndarray
    eligible: np.ndarray
    suitability: SuitabilityModel
    patch_sizes: tuple[np.ndarray, ...]
    conversion: np.ndarray  # (K, K) 0 = forbidden, else 1 - cost
    result: CalibrationResult
    periods: list[Period]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def params(self) -> CAParams:
        return self.result.params


def run_calibration(setup: CalibrationSetup,
                    progress: Callable[[int, int, float], None] | None = None,
                    executor: Executor | None = None) -> CalibrationReport:
    """Calibrate on the first pair of years and validate on the next (see module docs).

    ``executor`` runs the search's candidates (``scenarios.ensemble``: serial or Dask)."""
    timings: dict[str, float] = {}
    clock, cpu = time.perf_counter(), time.process_time()
    notes = Notes()
    grid, codes, maps = read_land_use(setup.maps, setup.classes)
    years = sorted(maps)[:3]
    raw = {y: read_drivers(_drivers_at(setup, y), grid) for y in years[:-1]}
    constraint = read_constraint(setup.constraint, grid)
    drivers = {y: derive_drivers(setup.drivers, raw[y], maps[y], grid) for y in years[:-1]}
    dated = {name for paths in setup.drivers_at.values() for name in paths}
    for year in sorted(set(setup.drivers_at) & set(years[:-1])):
        notes.items.append(f"the period from {year} reads its drivers as they stood then: "
                           + ", ".join(f"{k}={v}" for k, v in setup.drivers_at[year].items()))
    derived = {d.name for d in setup.drivers if d.path is None} | dated
    every = {**raw[years[0]], **{f"{name} ({y})": layer for y, ds in drivers.items()
                                 for name, layer in ds.items() if name in derived}}
    area = study_area([maps[y] for y in years], [str(y) for y in years], every, constraint,
                      notes)
    eligible = area if constraint is None else area & (constraint == 1)
    index = {y: to_index(np.where(area, maps[y], OUTSIDE), codes) for y in years}
    timings["read_s"] = time.perf_counter() - clock
    timings["read_cpu_s"] = time.process_time() - cpu

    clock, cpu = time.perf_counter(), time.process_time()
    y0, y1 = years[0], years[1]
    suit_model = fit_suitability(index[y0], index[y1], drivers[y0], codes, valid=area,
                                 method=setup.method,
                                 categorical=[d.name for d in setup.drivers if d.categorical],
                                 samples=setup.samples, seed=setup.seed,
                                 n_trees=setup.trees, oob_tolerance=setup.oob_tolerance)
    for note in suit_model.notes:
        notes.items.append(note)
    suitability = suit_model.predict(drivers[y0], eligible)
    sizes = learn_patch_sizes(index[y0], index[y1], len(codes), valid=area)
    timings["suitability_s"] = time.perf_counter() - clock
    timings["suitability_cpu_s"] = time.process_time() - cpu

    allowed, cost = (None, None) if setup.conversion is None else \
        read_conversion(setup.conversion, codes)
    conversion = None if allowed is None else np.where(allowed, 1.0 - cost, 0.0)
    model = build_model(codes, suitability,
                        LandUseConfig(ca=CAParams(roulette_rounds=setup.roulette_rounds)),
                        hard=[(~eligible, None)], conversion=conversion, patch_sizes=sizes)
    constraints = model.constraints
    clock, cpu = time.perf_counter(), time.process_time()
    result = calibrate(index[y0], index[y1], model, steps=y1 - y0, seed=setup.seed,
                       maxiter=setup.maxiter, popsize=setup.popsize,
                       search_seed=setup.search_seed, progress=progress,
                       search=setup.search, executor=executor)
    timings["calibration_s"] = time.perf_counter() - clock
    timings["calibration_cpu_s"] = time.process_time() - cpu  # this process (not Dask workers)
    log.info("calibrated: FoM %.4f after %d simulations", result.figure_of_merit,
             result.evaluations)

    clock, cpu = time.perf_counter(), time.process_time()
    fitted = dataclasses.replace(model, params=result.params)
    periods = [_period("calibration", index[y0], index[y1], (y0, y1), fitted, codes, setup,
                       eligible)]
    if len(years) == 3:
        y2 = years[2]
        fitted = dataclasses.replace(fitted, suitability=suit_model.predict(drivers[y1],
                                                                            eligible))
        periods.append(_period("validation", index[y1], index[y2], (y1, y2), fitted, codes,
                               setup, eligible))
    timings["periods_s"] = time.perf_counter() - clock  # with the validation's prediction
    timings["periods_cpu_s"] = time.process_time() - cpu
    return CalibrationReport(setup, grid, codes, area, eligible, suit_model, sizes,
                             constraints.conversion, result, periods, notes.items, timings)


def _drivers_at(setup: CalibrationSetup, year: int) -> list[DriverSpec]:
    """The raster drivers of the period starting in ``year`` (``drivers_at`` paths first)."""
    paths = setup.drivers_at.get(year, {})
    return [dataclasses.replace(d, path=paths.get(d.name, d.path)) if d.path else d
            for d in setup.drivers]


def _period(name: str, start: np.ndarray, end: np.ndarray, years: tuple[int, int],
            model: LandUseModel, codes: Sequence[int], setup: CalibrationSetup,
            eligible: np.ndarray) -> Period:
    clock = time.perf_counter()
    targets = end_targets(start, end, model, years[1] - years[0])
    simulated = simulate(start, model, targets, seed=setup.seed).index
    seconds = time.perf_counter() - clock
    metrics = compare_with_nulls(start, end, simulated, codes, seed=setup.seed,
                                 eligible=eligible)
    log.info("%s %d-%d: FoM %.4f (no change %.4f, random %.4f), %.1f s", name, *years,
             metrics["model"]["overall"]["figure_of_merit"],
             metrics["null_no_change"]["overall"]["figure_of_merit"],
             metrics["null_random"]["overall"]["figure_of_merit"], seconds)
    return Period(name, years, start, end, simulated, metrics, seconds)


def agreement(period: Period, n_classes: int) -> np.ndarray:
    return agreement_map(period.start, period.end, period.simulated, n_classes)
