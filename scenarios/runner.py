"""Run a scenario on a territory and write the run directory.

``run_scenario`` wires the processes a scenario needs - households -> land-use change -> storm
surge - into a :class:`~engine.simulation.Simulation`, records the state every year and computes
the indicators. ``write_run`` stores the result (layout in :mod:`scenarios.rundir`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from agents.coupling import HouseholdDemand
from agents.model import HouseholdParams
from engine.process import Process, StepReport
from engine.processes import LandUseChange, LandUseParams, StormSurge
from engine.processes.surge import ENGINE as SURGE_ENGINE
from engine.simulation import Simulation
from engine.suitability import logistic_suitability, slope_degrees
from scenarios.indicators import (Baseline, IndicatorDef, building_depths, compute_indicators,
                                  load_registry)
from scenarios.schema import Scenario
from tim.fields import CONTROL_LINE_FIELDS
from tim.model import Territory

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Everything a run produced, in memory."""

    scenario: Scenario
    seed: int
    territory: Territory  # the final state
    land_use: dict[int, np.ndarray]
    population: dict[int, np.ndarray]
    indicators: pd.DataFrame  # year, indicator, value, unit, status
    reports: list[StepReport]
    timings: dict[str, float]
    water_depth: np.ndarray | None = None
    buildings: pd.DataFrame | None = None  # per-building results (surge depth)
    engines: dict[str, str] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        return sorted(self.land_use)


def prepare(territory: Territory, scenario: Scenario) -> Territory:
    """A working copy with the fields the run adds before the first step (suitability)."""
    work = territory.copy()
    s = scenario.land_use.suitability
    drivers = {"slope": slope_degrees(work.get("terrain__elevation"), work.grid.cell_size),
               "elevation": work.get("terrain__elevation")}
    suitability = logistic_suitability(drivers, {"slope": s.slope, "elevation": s.elevation},
                                       s.intercept)
    work.set_field("land_use__suitability", suitability)
    return work


def build_processes(work: Territory, scenario: Scenario, seed: int) -> list[Process]:
    """The ordered processes of ``scenario`` on the working territory."""
    cell_ha = work.grid.cell_area / 10_000.0
    p = scenario.population
    households = HouseholdParams(annual_growth=p.annual_growth,
                                 persons_per_household=p.persons_per_household,
                                 households_per_new_cell=p.new_households_per_ha * cell_ha,
                                 vacancy=p.vacancy)
    lu = scenario.land_use
    land_use = LandUseParams(neighbourhood_size=lu.neighbourhood_size, alpha=lu.alpha,
                             spontaneous=lu.spontaneous,
                             hard_constraints=tuple(CONTROL_LINE_FIELDS[k] for k in lu.protect),
                             outside_boundary_weight=lu.outside_boundary_weight,
                             inertia=lu.inertia, roulette_rounds=lu.roulette_rounds,
                             patch_size=lu.patch_size, patch_compactness=lu.patch_compactness)
    processes: list[Process] = [HouseholdDemand(work, households, seed=seed),
                                LandUseChange(work, land_use)]
    if scenario.surge is not None:
        processes.append(StormSurge(work, water_level=scenario.surge.water_level,
                                    year=scenario.surge_year))
    return processes


def run_scenario(territory: Territory, scenario: Scenario, seed: int = 0) -> RunResult:
    """Simulate ``scenario`` on ``territory`` (left unchanged) with ``seed``.

    The same territory, scenario and seed give the same result, with any number of threads.
    """
    started = time.perf_counter()
    work = prepare(territory, scenario)
    baseline = Baseline.of(work)
    registry = load_registry()
    land_use: dict[int, np.ndarray] = {}
    population: dict[int, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    water_depth: list[np.ndarray] = []

    def record(year: int, state: Territory) -> None:
        land_use[year] = state.get("land_use__class").copy()
        population[year] = state.get("population__count").copy()
        rows.extend(_indicator_rows(year, compute_indicators(state, baseline), registry))
        if year == scenario.surge_year:
            water_depth.append(state.get("surge__water_depth").copy())

    simulation = Simulation(work, build_processes(work, scenario, seed),
                            start_year=scenario.start_year, years=scenario.years, seed=seed,
                            recorder=record)
    reports = simulation.run()
    result = RunResult(scenario=scenario, seed=seed, territory=work, land_use=land_use,
                       population=population, indicators=pd.DataFrame(rows), reports=reports,
                       timings={**simulation.timings,
                                "total_s": time.perf_counter() - started},
                       engines={"land_use": "multi-class CA: roulette competition, "
                                            "demand-driven patch allocation"})
    if water_depth:
        result.water_depth = water_depth[0]
        result.engines["surge"] = SURGE_ENGINE
        if "buildings" in work.layers:
            depth = building_depths(water_depth[0], baseline.building_cells)
            result.buildings = pd.DataFrame({
                "building_id": work.layers["buildings"]["building_id"].to_numpy(),
                "surge_depth_m": np.round(depth, 3), "flooded": depth > 0})
    return result


def _indicator_rows(year: int, values: dict[str, float],
                    registry: dict[str, IndicatorDef]) -> list[dict[str, Any]]:
    return [{"year": year, "indicator": key, "value": round(float(value), 6),
             "unit": registry[key].unit, "status": registry[key].status(value)}
            for key, value in values.items()]
