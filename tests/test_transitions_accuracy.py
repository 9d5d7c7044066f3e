"""Validation with gross demand on real data: calibrate on the first pair of maps, validate on
the next with (a) net demand as ``twin calibrate`` does today, (b) the observed gross
transition matrix of the validation period as demand, (c) Markov demand estimated from the
calibration period only - each beside the no-change and random-allocation null models.

The calibration itself is today's (:func:`scenarios.calibration.calibrate.run_calibration`, read-only): it
fits the CA parameters on net demand and gives the baseline (a). The variants then add the
driver layers derived from the maps (:func:`engine.suitability.land_use_drivers`) and, with
gross demand, a suitability learned per *transition* (per source class, as Dinamica EGO's
weights of evidence are per transition): a cell of class ``i`` is scored for becoming ``j`` by
the model of ``i -> j`` trained on the cells of ``i``.

Plum Island and SLEUTH demo200 run in seconds; Wuhan (8.6 M cells) is marked ``slow`` and
writes its table to ``test-artifacts/transitions/wuhan.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.demand import estimate_markov, project_demand, transition_counts
from engine.landuse import (CAParams, LandUseModel, allocate_step, build_constraints,
                            class_counts)
from engine.learning import fit_suitability
from engine.metrics import compare_with_nulls
from engine.suitability import land_use_drivers
from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
from scenarios.calibration.data import (OUTSIDE, DriverSpec, derive_drivers, read_drivers,
                                    read_land_use, to_index)

KEYS = ("figure_of_merit", "hits", "misses", "wrong_hits", "false_alarms", "kappa_simulation",
        "quantity_disagreement", "allocation_disagreement")


@dataclass
class Experiment:
    """The validation period's metrics per variant, and what the variants learned."""

    years: tuple[int, int, int]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    shortfall: dict[str, int] = field(default_factory=dict)
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def fom(self, variant: str, model: str = "model") -> float:
        return self.metrics[variant][model]["overall"]["figure_of_merit"]

    def table(self) -> dict[str, dict[str, float]]:
        rows = {}
        for name, m in self.metrics.items():
            rows[name] = {k: m["model"]["overall"][k] for k in KEYS}
        any_run = next(iter(self.metrics.values()))
        for null in ("null_no_change", "null_random"):
            rows[null] = {k: any_run[null]["overall"][k] for k in KEYS}
        return rows


def finite_drivers(layers: dict[str, np.ndarray], area: np.ndarray) -> dict[str, np.ndarray]:
    """Distances to a class absent from a map are NaN: the farthest distance instead."""
    out = {}
    for name, v in layers.items():
        if np.isnan(v[area]).any():
            top = np.nanmax(v) if np.isfinite(v).any() else 0.0
            v = np.where(np.isnan(v), top, v).astype(np.float32)
        out[name] = v
    return out


def run_experiment(setup: CalibrationSetup, *, prior: Path | None = None,
                   radii: tuple[int, ...] = (1, 4), seed: int = 0) -> Experiment:
    """Calibrate with today's workflow, then validate each demand variant in one step.

    ``prior``: a map of a year before the first, to learn the pull of recent change
    (``distance_to_change``) on the calibration period and use it on the validation period.
    """
    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_calibration(setup)
    grid, codes, maps = read_land_use(setup.maps, setup.classes)
    y0, y1, y2 = sorted(maps)[:3]
    out = Experiment((y0, y1, y2))
    out.seconds["calibration"] = time.perf_counter() - clock
    out.metrics["net_today"] = report.periods[1].metrics  # (a): yearly steps, today's drivers
    n, area, eligible = len(codes), report.study_area, report.eligible
    index = {y: to_index(np.where(area, maps[y], OUTSIDE), codes) for y in (y0, y1, y2)}
    before = None
    if prior is not None:
        _, _, old = read_land_use({0: prior}, codes)
        before = to_index(np.where(area, old[0], OUTSIDE), codes)
    raw = read_drivers(setup.drivers, grid)
    categorical = [d.name for d in setup.drivers if d.categorical]
    # change drivers only when the calibration period has a change before it to learn from
    previous = {y0: before, y1: index[y0] if before is not None else None}
    drivers = {y: finite_drivers({**derive_drivers(setup.drivers, raw, maps[y], grid),
                           **land_use_drivers(index[y], n, grid.cell_size, radii=radii,
                                              previous=previous[y])}, area)
               for y in (y0, y1)}

    clock = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        suit = fit_suitability(index[y0], index[y1], drivers[y0], codes, valid=area,
                               method=setup.method, categorical=categorical,
                               samples=setup.samples, seed=seed)
    out.contributions = suit.contributions
    base = suit.predict(drivers[y1], eligible)
    out.seconds["suitability"] = time.perf_counter() - clock

    constraints = build_constraints(area.shape, n, hard=[(~eligible, None)],
                                    allowed=(report.conversion > 0) | np.eye(n, dtype=bool),
                                    cost=np.where(report.conversion > 0,
                                                  1.0 - report.conversion, 0.0))
    params: CAParams = report.params
    start, end = index[y1], index[y2]
    gross = transition_counts(start, end, n)
    chain = estimate_markov({y0: index[y0], y1: index[y1]}, n)
    markov = project_demand(chain, class_counts(start, n), 1, years_per_step=y2 - y1)
    variants = {
        "net": (base, {"change": class_counts(end, n) - class_counts(start, n)}),
        "transitions": (base, {"transitions": gross}),
        "markov": (base, {"transitions": markov.gross[0]}),
        "transitions_per_source": (None, {"transitions": gross}),
        "markov_per_source": (None, {"transitions": markov.gross[0]}),
        # Dinamica-like allocation: best potentials first, no roulette, no noise, 1-cell patches
        "transitions_greedy": (base, {"transitions": gross, "greedy": True}),
        "markov_greedy": (base, {"transitions": markov.gross[0], "greedy": True}),
    }
    source_cube = None
    for name, (cube, demand) in variants.items():
        clock = time.perf_counter()
        if cube is None:
            if source_cube is None:
                source_cube = _source_cube(index, drivers, codes, area, eligible, base,
                                           categorical, setup.samples // 2, seed, y0, y1)
            cube = source_cube
        model = LandUseModel(codes, cube, params, constraints, report.patch_sizes)
        if demand.get("greedy"):
            model = LandUseModel(codes, cube, dataclasses.replace(
                params, roulette_rounds=0, alpha=0.0), constraints, ())
        change = demand.get("change")
        simulated, outcome, _ = allocate_step(start, model, change,
                                              transitions=demand.get("transitions"),
                                              seed=seed)
        out.seconds[name] = time.perf_counter() - clock
        out.metrics[name] = compare_with_nulls(start, end, simulated, codes, seed=seed,
                                               eligible=eligible)
        out.shortfall[name] = int(outcome.gain_shortfall.sum())
    return out


def _source_cube(index, drivers, codes, area, eligible, base, categorical, samples, seed,
                 y0, y1):
    """Suitability per transition for the validation start map: for each source class ``i``,
    models of ``i -> j`` trained on the cells of ``i`` in y0 (gains of ``j`` from ``i`` against
    the rest of ``i``, y0 drivers), applied to the cells of ``i`` in y1 (y1 drivers). Where
    ``i -> j`` was never observed, and for staying, the class-level suitability ``base``."""
    n = len(codes)
    cube = base.copy()
    start, end = index[y0], index[y1]
    for i in range(n):
        cells = area & (start == i)
        if not ((end[cells] != i) & (end[cells] < n)).any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fit_suitability(np.where(cells, start, OUTSIDE).astype(np.uint8), end,
                                    drivers[y0], codes, valid=cells, categorical=categorical,
                                    samples=samples, seed=seed)
        fitted = [j for j, est in enumerate(model.estimators)
                  if est is not None and j != i and model.training.get(
                      str(codes[j]), {}).get("target") == "gains"]
        if not fitted:
            continue
        target = area & (index[y1] == i)
        p = model.predict(drivers[y1], target & eligible)
        for j in fitted:
            cube[..., j] = np.where(target, p[..., j], cube[..., j])
    return cube


# -- the fast cases -----------------------------------------------------------------------------
def pie_setup(twin_data):
    d = twin_data / "landuse/plum_island_sibuyan"
    return CalibrationSetup(
        maps={y: d / f"lu_pie_{y}.tif" for y in (1985, 1991, 1999)},
        drivers=[DriverSpec("elevation", str(d / "pie_ef_001.tif")),
                 DriverSpec("slope", str(d / "pie_ef_002.tif")),
                 DriverSpec("distance_built_1985", str(d / "pie_ef_003.tif"))],
        maxiter=2, popsize=2)


def sleuth_setup(twin_data, folder):
    """SLEUTH demo200 urban extents on a dummy 30 m grid (as tests/test_landuse_workflow.py
    does): 1 non-urban, 2 urban; slope and distance to the 1950 roads; excluded >= 100."""
    from PIL import Image

    from engine.suitability import distance_to
    from tim.model import Grid
    from tim.store import write_raster

    src = twin_data / "landuse/sleuth_demo200"
    grid = Grid("EPSG:32617", (30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0), (200, 200))

    def gif(name):
        return np.array(Image.open(src / f"demo200.{name}.gif"))

    maps = {}
    for year in (1930, 1950, 1970, 1990):
        maps[year] = folder / f"urban{year}.tif"
        write_raster(maps[year], np.where(gif(f"urban.{year}") > 0, 2, 1).astype(np.uint8),
                     grid, 255)
    write_raster(folder / "slope.tif", gif("slope").astype(np.float32), grid, None)
    write_raster(folder / "roads.tif", distance_to(gif("roads.1950") > 0, grid.cell_size),
                 grid, None)
    write_raster(folder / "excluded.tif", (gif("excluded") < 100).astype(np.uint8), grid, None)
    (folder / "conversion.csv").write_text("from,1,2\n1,,0\n2,x,\n")
    setup = CalibrationSetup(
        maps={y: maps[y] for y in (1950, 1970, 1990)},
        drivers=[DriverSpec("slope", str(folder / "slope.tif")),
                 DriverSpec("distance_to_roads", str(folder / "roads.tif"))],
        constraint=folder / "excluded.tif", conversion=folder / "conversion.csv",
        maxiter=2, popsize=2)
    return setup, maps[1930]


def assert_beats_both_nulls(exp: Experiment, variant: str) -> None:
    m = exp.metrics[variant]
    model = m["model"]["overall"]
    for null in ("null_no_change", "null_random"):
        other = m[null]["overall"]
        assert model["figure_of_merit"] > other["figure_of_merit"], (variant, null)
        assert model["kappa_simulation"] > other["kappa_simulation"], (variant, null)


@pytest.fixture(scope="module")
def pie(twin_data):
    return run_experiment(pie_setup(twin_data))


def test_plum_island_transition_and_markov_demand_beat_both_nulls(pie):
    for variant in ("net", "transitions", "markov", "transitions_per_source",
                    "markov_per_source", "transitions_greedy", "markov_greedy"):
        assert_beats_both_nulls(pie, variant)
    # the observed gross matrix is met exactly (every transition allowed, room everywhere)
    assert pie.shortfall["transitions"] == 0 and pie.shortfall["transitions_per_source"] == 0
    # with the observed transitions, the quantity disagreement can only come from shortfall
    q = pie.metrics["transitions"]["model"]["overall"]["quantity_disagreement"]
    assert q == pytest.approx(0.0, abs=1e-12)


def test_sleuth_transition_and_markov_demand_beat_both_nulls(twin_data, tmp_path):
    setup, prior = sleuth_setup(twin_data, tmp_path)
    exp = run_experiment(setup, prior=prior)
    for variant in ("transitions", "markov", "transitions_per_source"):
        assert_beats_both_nulls(exp, variant)
    # urban never reverts: no transition 2 -> 1 observed, so the gross demand is the net one
    assert exp.shortfall["transitions"] == 0
    assert "distance_to_change" in exp.contributions["2"]  # the pull of 1930 -> 1950 growth


# -- Wuhan ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_wuhan_validation_with_gross_and_markov_demand(twin_data, artifacts):
    """Calibrate 2003 -> 2005 (small search budget), validate 2005 -> 2010. The figures are
    written to test-artifacts/transitions/wuhan.json for the report."""
    from scenarios.calibration.data import derived_specs

    d = twin_data / "landuse/wuhan"
    setup = CalibrationSetup(
        maps={y: d / f"wh{y}_refy.tif" for y in (2003, 2005, 2010)},
        drivers=[DriverSpec("pop", str(d / "wh_Pop.tif")),
                 DriverSpec("dem", str(d / "wh_df_dem.tif")),
                 DriverSpec("soil", str(d / "wh_soiltype.tif"), categorical=True)]
        + derived_specs("dem", [4, 6, 3]),
        constraint=d / "WaterWuhan.tif", maxiter=1, popsize=1)
    exp = run_experiment(setup, radii=(2, 8))
    folder = artifacts / "transitions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wuhan.json").write_text(json.dumps(
        {"years": exp.years, "table": exp.table(), "shortfall": exp.shortfall,
         "seconds": exp.seconds, "contributions": exp.contributions}, indent=1))
    for variant in ("net", "transitions", "markov", "transitions_greedy", "markov_greedy"):
        assert_beats_both_nulls(exp, variant)
    assert exp.fom("transitions") > exp.fom("net_today")

