"""Run a scenario on a territory and write the run directory.

``run_scenario`` wires the processes a scenario needs - households -> land-use change -> storm
surge - into a :class:`~engine.simulation.Simulation`, records the state every year and computes
the indicators. ``write_run`` stores the result (layout in :mod:`scenarios.rundir`).

The land-use process is the model of :mod:`engine.landuse` configured by the scenario
(:func:`scenarios.schema.land_use_config`), or a calibrated model (``land_use.calibration``
or ``twin run --calibration``; :mod:`scenarios.calibration.parameters`) with the scenario's
policy on top; its demand is the households' or a planner's table (``land_use.demand``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from agents.behaviour import ChoiceCoefficients
from agents.coupling import City, Development, HouseholdChoices
from agents.households import Demography
from agents.model import DevelopmentParams, HouseholdParams
from engine.process import Process, StepReport
from engine.flood.event import FloodOutcome
from engine.landuse import class_counts, codes_to_index
from engine.demand import MarkovChain, estimate_markov
from engine.landuse_config import LandUseConfig, markov_multipliers
from engine.processes import LandUseChange, StormSurge, territory_model
from engine.simulation import Simulation
from engine.suitability import logistic_suitability, slope_degrees
from scenarios.calibration.data import Notes, read_on_grid, yearly_targets
from scenarios.calibration.parameters import (Parameters, calibrated_model, load_parameters,
                                              parameters_path)
from scenarios.flood import surge_breaches, surge_defences, surge_event
from scenarios.impacts import DamageModel, FloodImpacts, jrc_folder
from scenarios.indicators import load_registry
from scenarios.monitor import Monitor
from scenarios.schema import LandUse, Scenario, land_use_config
from tim.errors import InputError
from tim.model import Territory
from tim.rasterize import centroid_cells

log = logging.getLogger(__name__)


PROJECT_COLUMNS = ["year", "cell", "unit_id", "developer", "floor_area_m2",
                   "added_floor_area_m2", "storeys", "margin", "kind"]


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
    buildings: pd.DataFrame | None = None  # per-building results (surge depth, damage)
    projects: pd.DataFrame | None = None   # what developers built, one row per project
    area_indicators: pd.DataFrame | None = None  # unit / district / city roll-up
    warnings: pd.DataFrame | None = None    # early warnings (see scenarios.monitor)
    new_buildings: Any = None               # GeoDataFrame of the projects' buildings
    engines: dict[str, str] = field(default_factory=dict)
    surge: SurgeResult | None = None
    calibration: dict[str, Any] | None = None  # the calibrated model used (manifest record)
    demand: dict[str, Any] | None = None  # the Markov chain estimated (manifest record)

    @property
    def years(self) -> list[int]:
        return sorted(self.land_use)


@dataclass
class SurgeResult:
    """The surge year's flood: every per-cell output, the depth maps over the event, the
    impacts per building and per planning unit, and the surge-year state's fields."""

    year: int
    outcome: FloodOutcome
    impacts: FloodImpacts
    damage: DamageModel | None  # None: the JRC data set was not there (see damage_note)
    damage_note: str | None = None


def prepare(territory: Territory, scenario: Scenario) -> Territory:
    """A working copy with what the run adds before the first step: suitability, distances to
    amenities, and the zoning caps as this scenario sets them."""
    work = territory.copy()
    if scenario.land_use.calibration is None:  # a calibrated model brings its suitability
        s = scenario.land_use.suitability
        drivers = {"slope": slope_degrees(work.get("terrain__elevation"), work.grid.cell_size),
                   "elevation": work.get("terrain__elevation")}
        suitability = logistic_suitability(drivers, {"slope": s.slope,
                                                     "elevation": s.elevation}, s.intercept)
        work.set_field("land_use__suitability", suitability)
    for name, values in amenity_distances(work).items():
        work.set_field(name, values)
    apply_zoning_policy(work, scenario)
    apply_height_rules(work, scenario)
    return work


def amenity_distances(territory: Territory) -> dict[str, np.ndarray]:
    """Distance (m) from every cell to the nearest amenity of each kind in the ``amenities``
    layer (Euclidean distance transform from the amenities' cells)."""
    from scipy.ndimage import distance_transform_edt

    layer = territory.layers.get("amenities")
    if layer is None:
        return {}
    cells = centroid_cells(layer, territory.grid)
    out = {}
    for kind in ("school", "park", "transit", "centre"):
        at = cells[(layer["kind"].to_numpy() == kind) & (cells >= 0)]
        if at.size == 0:
            continue
        free = np.ones(territory.grid.shape, dtype=bool)
        free.ravel()[at] = False
        out[f"access__distance_to_{kind}"] = distance_transform_edt(
            free, sampling=territory.grid.cell_size[::-1]).astype(np.float32)
    return out


def apply_zoning_policy(work: Territory, scenario: Scenario) -> None:
    """Scenario changes to the zoning caps: per-zone overrides, a FAR multiplier everywhere and
    a further multiplier near transit. Cells without zoning keep NaN (the developers' default
    applies) - the default is scaled by the developers, not here."""
    d = scenario.development
    if "zoning__max_far" not in work.fields:
        return
    far = work.get("zoning__max_far").copy()
    height = work.get("zoning__max_height").copy()
    zones = work.layers.get("zoning")
    zone_field = work.get("zoning__zone_id")
    for key, override in d.zones.items():
        match = [] if zones is None else zones[(zones["zone"] == key)
                                               | (zones["zone_id"].astype(str) == key)]
        if len(match) == 0:
            known = [] if zones is None else zones["zone"].tolist()
            raise InputError(f"no zone of that name or id in the TIM (zones: {known})",
                             field=f"development.zones.{key}", value=key)
        cells = np.isin(zone_field, match["zone_id"].to_numpy())
        if override.max_far is not None:
            far[cells] = override.max_far
        if override.max_height is not None:
            height[cells] = override.max_height
    far = far * d.far_multiplier
    transit = work.fields.get("access__distance_to_transit")
    if transit is not None and d.transit_bonus.far_multiplier != 1.0:
        near = transit <= d.transit_bonus.radius_m
        far = np.where(near, far * d.transit_bonus.far_multiplier, far)
    work.set_field("zoning__max_far", far.astype(np.float32))
    work.set_field("zoning__max_height", height.astype(np.float32))


def apply_height_rules(work: Territory, scenario: Scenario) -> None:
    """Bind the developers to the inclined surfaces and view-corridor envelopes of
    ``development.height_rules`` as well: their lowest allowed height per cell joins the zoning
    height cap (zoning itself stays the TIM's, as this scenario sets it)."""
    from scenarios.planning.height_rules import load_rules
    from scenarios.planning.heights import surface_and_corridor_limit

    d = scenario.development
    if d.height_rules is None:
        return
    lowest = surface_and_corridor_limit(work, load_rules(d.height_rules, work))
    cap = (work.get("zoning__max_height").astype(np.float64)
           if "zoning__max_height" in work.fields else np.full(work.grid.shape, np.nan))
    capped = np.minimum(np.where(np.isnan(cap), d.default_max_height, cap), lowest)
    work.set_field("zoning__max_height",
                   np.where(np.isnan(lowest), cap, capped).astype(np.float32))


def resolve_calibration(scenario: Scenario, calibration: str | Path | None = None
                        ) -> tuple[Scenario, Parameters | None]:
    """The scenario with its calibration made a path, and the calibration's parameters.

    ``calibration`` (``twin run --calibration DIR``) overrides what the scenario names; a
    name in the scenario (as the built-in presets write ``calibration: wuhan``) that is not a
    folder must be given so. Either way the scenario may then set only the planner's keys.
    """
    lu = scenario.land_use
    if calibration is None and lu.calibration is None:
        return scenario, None
    if calibration is None and not Path(str(lu.calibration)).exists():
        raise InputError(f"calibration {lu.calibration!r} is not a folder here; give the "
                         "calibration folder", source=scenario.name,
                         field="land_use.calibration", value=lu.calibration,
                         hint="twin run ... --calibration DIR (from twin calibrate --out DIR)")
    path = parameters_path(calibration if calibration is not None else lu.calibration)
    data = lu.model_dump(mode="json", exclude_unset=True)
    data["calibration"] = str(path.parent.resolve())
    try:
        lu = LandUse.model_validate(data)
    except ValidationError as exc:
        raise InputError(exc.errors()[0]["msg"].removeprefix("Value error, "),
                         source=scenario.name, field="land_use",
                         value=str(calibration or lu.calibration)) from exc
    return scenario.model_copy(update={"land_use": lu}), load_parameters(path)


def land_use_process(work: Territory, scenario: Scenario,
                     calibration: Parameters | None = None) -> LandUseChange:
    """The land-use process of ``scenario``: its model (the engine's defaults with the
    scenario's keys, or a calibration's model with the scenario's policy) and its demand."""
    lu = scenario.land_use
    config = land_use_config(lu, ca=calibration.ca if calibration is not None else None)
    if calibration is None:
        model = territory_model(work, config)
    else:
        model = calibrated_model(calibration, work,
                                 lambda **arrays: territory_model(work, config, **arrays),
                                 drivers=lu.drivers)
    targets = targeted = chain = None
    if lu.demand.source == "table":
        targets, targeted = table_demand(work, scenario, model.codes)
    elif lu.demand.source == "markov":
        chain = markov_demand(work, scenario, config, calibration)
    return LandUseChange(work, config, model=model, targets=targets, targeted=targeted,
                         chain=chain)


def markov_record(chain: MarkovChain, codes: Any, scenario: Scenario) -> dict[str, Any]:
    """What the run manifest keeps of a Markov demand: the maps' years, the adjustments and
    the adjusted one-year matrix (rows: from, columns: to, in class-code order)."""
    spec = scenario.land_use.demand.markov
    return {"source": "markov", "years": list(chain.years), "classes": [int(c) for c in codes],
            "adjust": [a.model_dump(mode="json") for a in (spec.adjust if spec else ())],
            "annual": [[round(float(v), 8) for v in row] for row in chain.annual[0]]}


def markov_demand(work: Territory, scenario: Scenario, config: LandUseConfig,
                  calibration: Parameters | None = None) -> MarkovChain:
    """The scenario's Markov chain: estimated from its maps (or its calibration's, as
    recorded in parameters.yaml) read on the TIM grid with the TIM's classes, then adjusted
    by the policy's ``markov_adjust`` (the scenario's ``adjust``, mapped by
    :func:`scenarios.schema.land_use_config`).
    Every map and rule is checked before anything runs (InputError naming file and key)."""
    spec = scenario.land_use.demand.markov
    maps = dict(spec.maps) if spec is not None else {}
    where = "land_use.demand.markov.maps"
    source: str | Path = scenario.name
    if not maps:
        recorded = (calibration.raw.get("calibration", {}).get("maps")
                    if calibration is not None else None)
        if not recorded:
            raise InputError("the calibration records no land-use maps for a Markov estimate; "
                             "give markov: {maps: {YEAR: FILE, ...}} or recalibrate",
                             source=calibration.path if calibration else scenario.name,
                             field="calibration.maps")
        maps, where, source = recorded, "calibration.maps", calibration.path
    if len(maps) < 2:
        raise InputError("a Markov estimate needs land-use maps of at least two years",
                         source=source, field=where, value=sorted(maps))
    codes = work.classes.codes
    index = {}
    for year, path in sorted(maps.items()):
        if not Path(path).is_file():
            raise InputError("no such land-use map", source=source, field=f"{where}.{year}",
                             value=str(path))
        try:
            values, _, nodata = read_on_grid(path, work.grid, f"land-use map {year}")
        except InputError as exc:  # name the scenario key, and the TIM as the reference
            raise InputError(exc.problem.replace("the first land-use map", "the TIM"),
                             source=path, field=f"{where}.{year}", value=exc.value,
                             hint=exc.hint) from exc
        inside = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape,
                                                                              bool)
        if nodata is not None:
            inside &= values != nodata
        unknown = sorted(set(np.unique(values[inside]).tolist()) - set(int(c) for c in codes))
        if unknown:
            raise InputError(f"class codes not in the territory's classes {list(codes)}",
                             source=path, field=f"{where}.{year}", value=unknown[:10])
        code_map = np.where(inside, values, 255).astype(np.uint8)
        index[float(year)] = codes_to_index(code_map, codes)
    area = np.logical_and.reduce([m != 255 for m in index.values()])
    index = {y: np.where(area, m, 255).astype(np.uint8) for y, m in index.items()}
    chain = estimate_markov(index, len(codes))
    rules = config.policy.markov_adjust
    try:
        multipliers = markov_multipliers(work.classes, rules)
    except InputError as exc:
        raise InputError(exc.problem, source=scenario.name, field=exc.field, value=exc.value,
                         hint=exc.hint) from exc
    return chain.adjusted(multipliers) if rules else chain


def table_demand(work: Territory, scenario: Scenario, codes: tuple[int, ...]
                 ) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Class areas per simulated year from the scenario's demand table (as twin simulate
    reads one), and which classes it binds."""
    d = scenario.land_use.demand
    index = codes_to_index(work.get("land_use__class"), codes)
    have = class_counts(index, len(codes))
    years, targets, targeted = yearly_targets(d.table, codes, have, scenario.start_year,
                                              tolerance=d.tolerance, notes=Notes())
    if years[-1] < scenario.end_year:
        raise InputError(f"the demand table ends in {years[-1]}, the scenario in "
                         f"{scenario.end_year}", source=d.table, field="year",
                         value=years[-1], hint="add a row for the last simulated year")
    return {y: targets[i, 0] for i, y in enumerate(years)}, targeted[0]


def build_processes(work: Territory, scenario: Scenario, seed: int,
                    calibration: Parameters | None = None) -> tuple[list[Process], City]:
    """The ordered processes of ``scenario`` on the working territory, and the city model."""
    p, h, d = scenario.population, scenario.households, scenario.development
    households = HouseholdParams(
        annual_growth=p.annual_growth, growth_by_year=dict(p.growth_by_year),
        migration_by_year=dict(p.migration_by_year),
        demography=Demography(p.household_sizes, p.income_shares), mobility=p.mobility,
        vacancy=p.vacancy, m2_per_dwelling=p.m2_per_dwelling,
        choice=ChoiceCoefficients(h.accessibility, h.amenities, h.flood_risk,
                                  h.price_by_income),
        initial_price_m2=h.initial_price_m2, price_elasticity=h.price_elasticity)
    development = DevelopmentParams(
        developers=d.developers, hurdles=d.hurdles, capacity_m2=d.capacity_m2,
        coverage=d.coverage, storey_height=d.storey_height,
        construction_cost_m2=d.construction_cost_m2, high_rise_premium=d.high_rise_premium,
        land_cost_m2=d.land_cost_m2, default_far=d.default_far * d.far_multiplier,
        default_max_height=d.default_max_height, redevelop_below=d.redevelop_below)
    city = City(work, households, development, seed=seed, flood_level=h.flood_reference_level)
    processes: list[Process] = [HouseholdChoices(work, city),
                                land_use_process(work, scenario, calibration),
                                Development(work, city)]
    if scenario.surge is not None:
        surge = scenario.surge
        processes.append(StormSurge(work, surge_event(surge), year=scenario.surge_year,
                                    defences=surge_defences(surge),
                                    obstacles=surge.buildings_as_obstacles,
                                    manning=surge.manning,
                                    breaches=surge_breaches(surge)))
    return processes, city


def surge_damage(scenario: Scenario) -> tuple[DamageModel | None, str | None]:
    """The damage model of a surge scenario, or why there is none.

    The JRC curves are shared data read at run time (:class:`~scenarios.impacts.DamageModel`);
    no copy is packaged. Without the data folder at all (``$TWIN_DATA`` not set up, as for the
    synthetic sample on a machine without it) the flood still runs and damage is reported as
    not assessed (NaN, with this note in the run manifest) rather than guessed. A folder that
    is there but incomplete or corrupt, or a country without costs, is an error.
    """
    if scenario.surge is None:
        return None, None
    if not jrc_folder().is_dir():
        note = (f"flood damage not assessed: JRC depth-damage data not found at "
                f"{jrc_folder()} (set TWIN_DATA to the shared data folder)")
        log.warning("%s", note)
        return None, note
    spec = scenario.surge.damage
    return DamageModel.load(spec.country, spec.exposed_storeys), None


def run_scenario(territory: Territory, scenario: Scenario, seed: int = 0, *,
                 calibration: str | Path | None = None) -> RunResult:
    """Simulate ``scenario`` on ``territory`` (left unchanged) with ``seed``.

    ``calibration`` (a ``twin calibrate`` folder) runs the calibrated model instead of the
    scenario's own parameters (see :func:`resolve_calibration`). The same territory, scenario
    and seed give the same result, with any number of threads.
    """
    started = time.perf_counter()
    scenario, params = resolve_calibration(scenario, calibration)
    work = prepare(territory, scenario)
    damage, damage_note = surge_damage(scenario)
    monitor = Monitor(work, load_registry(), scenario.surge_year, damage=damage)
    processes, city = build_processes(work, scenario, seed, params)
    simulation = Simulation(work, processes, start_year=scenario.start_year,
                            years=scenario.years, seed=seed, recorder=monitor)
    reports = simulation.run()
    result = RunResult(scenario=scenario, seed=seed, territory=work,
                       land_use=monitor.land_use, population=monitor.population,
                       indicators=monitor.indicators, reports=reports,
                       timings={**simulation.timings,
                                "total_s": time.perf_counter() - started},
                       engines={"land_use": "multi-class CA: roulette competition, "
                                            "demand-driven patch allocation",
                                "agents": "Mesa households (logit location choice) and "
                                          "developers (pro forma)"},
                       projects=pd.DataFrame(city.projects, columns=PROJECT_COLUMNS),
                       area_indicators=monitor.area_indicators,
                       warnings=monitor.warnings(reports, work.history),
                       calibration=params.record() if params is not None else None)
    if params is not None:
        result.engines["land_use"] += f"; calibrated model {params.path.parent}"
    land_use = next((p for p in processes if isinstance(p, LandUseChange)), None)
    if land_use is not None and land_use.chain is not None:
        result.demand = markov_record(land_use.chain, work.classes.codes, scenario)
    result.new_buildings = project_buildings(result.projects, territory, scenario)
    surge = next((p for p in processes if isinstance(p, StormSurge)), None)
    if surge is not None and surge.outcome is not None and monitor.impacts is not None:
        outcome = surge.outcome
        result.surge = SurgeResult(year=surge.year, outcome=outcome, impacts=monitor.impacts,
                                   damage=damage, damage_note=damage_note)
        result.water_depth = outcome.max_depth
        result.buildings = monitor.impacts.buildings
        result.engines["surge"] = outcome.engine
    return result


def project_buildings(projects: pd.DataFrame, territory: Territory, scenario: Scenario) -> Any:
    """The developers' projects as buildings (GeoDataFrame in the territory CRS): a square
    footprint of the scenario's site coverage centred on the cell, storeys x storey height.
    A redevelopment lists the ids of the buildings it replaces (those centred in its cell)."""
    import geopandas as gpd
    import shapely

    grid = territory.grid
    d = scenario.development
    side = float(np.sqrt(d.coverage * grid.cell_area))
    xs, ys = grid.cell_centres()
    rows, cols = np.divmod(projects["cell"].to_numpy(dtype=np.int64), grid.shape[1])
    cx, cy = xs[cols], ys[rows]
    footprints = shapely.box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    existing = territory.layers.get("buildings")
    replaced: dict[int, str] = {}
    if existing is not None and len(existing):
        at = centroid_cells(existing, grid)
        ids = existing["building_id"].to_numpy()
        for cell in projects.loc[projects["kind"] == "redevelopment", "cell"]:
            replaced[int(cell)] = " ".join(ids[at == cell])
    frame = gpd.GeoDataFrame({
        "building_id": [f"P{y}-{c}" for y, c in zip(projects["year"], projects["cell"])],
        "year": projects["year"].to_numpy(), "kind": projects["kind"].to_numpy(),
        "unit_id": projects["unit_id"].to_numpy(),
        "storeys": projects["storeys"].to_numpy(),
        "height": projects["storeys"].to_numpy() * d.storey_height,
        "floor_area_m2": projects["floor_area_m2"].to_numpy(),
        "replaces": [replaced.get(int(c), "") for c in projects["cell"]],
    }, geometry=footprints, crs=grid.crs)
    return frame
