"""Planning indicators of a territory state, and their green / yellow / red status.

Definitions, units and thresholds live in a YAML registry (``scenarios/indicators.yaml`` by
default) that users can edit; this module computes the values and applies the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Literal
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scenarios.impacts import BuildingExposure, DamageModel, FloodImpacts, assess
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import Territory
from tim.rasterize import centroid_cells

Range = tuple[float | None, float | None]
STATUSES = ("green", "yellow", "red", "info")


class IndicatorDef(BaseModel):
    """One indicator of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    unit: str
    definition: str
    formula: str = ""  # how it is computed, in words (shown behind a card's "?")
    source: str = ""  # the data it is computed from
    green: Range | None = None
    yellow: Range | None = None
    levels: tuple[Literal["city", "district", "unit"], ...] = ("city",)

    @model_validator(mode="after")
    def _ordered(self) -> IndicatorDef:
        for label, bounds in (("green", self.green), ("yellow", self.yellow)):
            if bounds and None not in bounds and bounds[0] > bounds[1]:
                raise ValueError(f"{label} range {list(bounds)} has min > max")
        if self.green and self.yellow and not _contains(self.yellow, self.green):
            raise ValueError(f"green range {list(self.green)} must lie inside yellow range "
                             f"{list(self.yellow)}")
        if self.yellow and not self.green:
            raise ValueError("a yellow range needs a green range")
        return self

    def status(self, value: float, level: str = "city") -> str:
        if self.green is None or level not in self.levels or not np.isfinite(value):
            return "info"  # no thresholds here, or no value (e.g. no schools in the data)
        if _within(value, self.green):
            return "green"
        if self.yellow is not None and _within(value, self.yellow):
            return "yellow"
        return "red"


def _within(value: float, bounds: Range) -> bool:
    lo, hi = bounds
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _contains(outer: Range, inner: Range) -> bool:
    lo_ok = outer[0] is None or (inner[0] is not None and inner[0] >= outer[0])
    hi_ok = outer[1] is None or (inner[1] is not None and inner[1] <= outer[1])
    return lo_ok and hi_ok


def load_registry(path: str | Path | None = None) -> dict[str, IndicatorDef]:
    """The indicator registry; the packaged one unless ``path`` is given."""
    source = Path(path) if path else Path(str(resources.files("scenarios") / "indicators.yaml"))
    raw = read_yaml(source, "indicator registry",
                    not_a_mapping="the indicator registry maps indicator keys to definitions")
    registry = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            raise InputError("an indicator is a mapping of name, unit, definition and "
                             "thresholds", source=source, field=key, value=entry)
        try:
            registry[key] = IndicatorDef(id=key, **entry)
        except ValidationError as exc:
            raise validation_error(exc, source, prefix=(key,)) from exc
    missing = set(INDICATORS) - set(registry)
    if missing:
        raise InputError(f"indicators computed but not defined: {sorted(missing)}",
                         source=source)
    return registry


INDICATORS = ("built_up_area", "population", "population_density", "development_intensity",
              "construction_land_per_capita", "farmland_lost", "ecological_land_lost",
              "control_line_encroachment", "built_outside_boundary", "boundary_use",
              "school_access", "park_access", "flooded_land_area", "flooded_buildings",
              "population_exposed", "flood_damage", "farmland_flooded",
              "ecological_land_flooded")
FLOOD_INDICATORS = ("flooded_land_area", "flooded_buildings", "population_exposed",
                    "flood_damage", "farmland_flooded", "ecological_land_flooded")
#: Distance (m) within which a school or park counts as accessible.
ACCESS_RADIUS = 1000.0


@dataclass(frozen=True)
class Baseline:
    """What indicators compare a state with: the territory at the start year (and, for
    floods, its buildings and the damage model)."""

    land_use: np.ndarray
    cell_ha: float
    hard: np.ndarray            # inside a hard control line
    boundary: np.ndarray | None  # inside the urban development boundary
    building_cells: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    exposure: BuildingExposure | None = None
    damage: DamageModel | None = None

    @classmethod
    def of(cls, territory: Territory, damage: DamageModel | None = None) -> Baseline:
        shape = territory.grid.shape
        hard = np.zeros(shape, dtype=bool)
        for name in ("control__ecological_red_line", "control__permanent_basic_farmland"):
            if name in territory.fields:
                hard |= territory.fields[name] > 0
        boundary = territory.fields.get("control__urban_development_boundary")
        return cls(land_use=territory.get("land_use__class").copy(),
                   cell_ha=territory.grid.cell_area / 10_000.0, hard=hard,
                   boundary=None if boundary is None else boundary > 0,
                   building_cells=building_cells(territory),
                   exposure=BuildingExposure.of(territory), damage=damage)


def building_cells(territory: Territory) -> np.ndarray:
    """Flat index of the cell holding each building's footprint centroid (-1 if outside)."""
    buildings = territory.layers.get("buildings")
    if buildings is None or len(buildings) == 0:
        return np.empty(0, dtype=np.int64)
    return centroid_cells(buildings, territory.grid)


def components(state: Territory, baseline: Baseline,
               impacts: FloodImpacts | None = None) -> dict[str, np.ndarray]:
    """Additive quantities per cell (flat) from which every indicator is a sum or a ratio of
    sums, so values for units, districts and the city come from one formula (``impacts``: the
    flood's, when already assessed)."""
    classes, f = state.classes, state.fields
    lu = state.get("land_use__class").ravel()
    ha = baseline.cell_ha
    size = lu.size
    built = lu == classes.built.code
    new_built = built & (baseline.land_use.ravel() != classes.built.code)
    population = f.get("population__count", np.zeros(state.grid.shape)).ravel().astype(float)
    land = ~classes.group_mask(lu, "sea")
    boundary = np.zeros(size, bool) if baseline.boundary is None else baseline.boundary.ravel()

    def lost(group: str) -> np.ndarray:
        member = np.zeros(256, dtype=bool)
        member[[c.code for c in classes.in_group(group)]] = True
        return (member[baseline.land_use.ravel()] & ~member[lu]) * ha

    def near(kind: str) -> np.ndarray:
        d = f.get(f"access__distance_to_{kind}")
        return np.full(size, np.nan) if d is None else population * (d.ravel() <= ACCESS_RADIUS)

    flood = flood_cells(state, baseline, impacts)
    floor = f.get("building__floor_area")
    return {
        "land_ha": land * ha, "built_ha": built * ha, "population": population,
        "floor_area_m2": np.zeros(size) if floor is None else floor.ravel().astype(float),
        "farmland_lost_ha": lost("farmland"), "ecological_lost_ha": lost("ecological"),
        "encroachment_cells": (new_built & baseline.hard.ravel()).astype(float),
        "outside_boundary_ha": (new_built & ~boundary) * ha * (baseline.boundary is not None),
        "boundary_ha": boundary * ha, "boundary_built_ha": (boundary & built) * ha,
        "school_population": near("school"), "park_population": near("park"),
        **flood,
    }


def from_sums(s: dict[str, np.ndarray | float]) -> dict[str, np.ndarray | float]:
    """Indicator values from summed components (scalars for one area, arrays for many)."""
    def ratio(a, b, scale=1.0):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return np.divide(a * scale, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    return {
        "built_up_area": s["built_ha"], "population": s["population"],
        "population_density": ratio(s["population"], s["land_ha"]),
        "development_intensity": ratio(s["floor_area_m2"], s["built_ha"], 1e-4),
        "construction_land_per_capita": ratio(s["built_ha"], s["population"], 1e4),
        "farmland_lost": s["farmland_lost_ha"], "ecological_land_lost": s["ecological_lost_ha"],
        "control_line_encroachment": s["encroachment_cells"],
        "built_outside_boundary": s["outside_boundary_ha"],
        "boundary_use": ratio(s["boundary_built_ha"], s["boundary_ha"], 100.0),
        "school_access": ratio(s["school_population"], s["population"], 100.0),
        "park_access": ratio(s["park_population"], s["population"], 100.0),
        "flooded_land_area": s["flooded_ha"], "flooded_buildings": s["flooded_buildings"],
        "population_exposed": s["exposed_population"], "flood_damage": s["flood_damage_meur"],
        "farmland_flooded": s["farmland_flooded_ha"],
        "ecological_land_flooded": s["ecological_flooded_ha"],
    }


def compute_indicators(state: Territory, baseline: Baseline,
                       per_cell: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Indicator values (registry units) of the whole territory against the start year
    (``per_cell``: the :func:`components` when already computed)."""
    per_cell = components(state, baseline) if per_cell is None else per_cell
    sums = {k: float(v.sum()) for k, v in per_cell.items()}
    return {k: float(v) for k, v in from_sums(sums).items()}


def encroaching_cells(state: Territory, baseline: Baseline) -> np.ndarray:
    """(row, col) of every cell converted to built-up inside a hard control line."""
    built = state.get("land_use__class") == state.classes.built.code
    new = built & (baseline.land_use != state.classes.built.code)
    return np.argwhere(new & baseline.hard)


def building_depths(depth: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Water depth (m) at each building's centroid cell (see :func:`building_cells`); NaN for
    buildings off the grid."""
    out = np.full(cells.shape, np.nan, dtype=np.float32)
    out[cells >= 0] = depth.ravel()[cells[cells >= 0]]
    return out


def flood_cells(state: Territory, baseline: Baseline,
                impacts: FloodImpacts | None = None) -> dict[str, np.ndarray]:
    """Flood components per cell (flat; see :mod:`scenarios.impacts`): flooded land, people,
    farmland and ecological land in flooded cells, and flooded buildings and their damage
    (M EUR) counted in the cell of each building's centroid. All zero without surge water."""
    size = state.grid.shape[0] * state.grid.shape[1]
    keys = ("flooded_ha", "exposed_population", "farmland_flooded_ha", "ecological_flooded_ha",
            "flooded_buildings", "flood_damage_meur")
    depth = state.fields.get("surge__water_depth")
    if depth is None or not np.nan_to_num(depth).any():
        return {k: np.zeros(size) for k in keys}
    if impacts is None:
        impacts = assess(state, baseline.exposure, baseline.damage, baseline.cell_ha)
    wet = impacts.wet.ravel()
    lu = state.get("land_use__class").ravel()
    population = state.fields.get("population__count", np.zeros(state.grid.shape)).ravel()
    out = {"flooded_ha": wet * baseline.cell_ha,
           "exposed_population": population.astype(float) * wet,
           "farmland_flooded_ha": wet * state.classes.group_mask(lu, "farmland")
           * baseline.cell_ha,
           "ecological_flooded_ha": wet * state.classes.group_mask(lu, "ecological")
           * baseline.cell_ha,
           "flooded_buildings": np.zeros(size), "flood_damage_meur": np.zeros(size)}
    buildings, cells = impacts.buildings, baseline.building_cells
    if buildings is not None:
        on_grid = cells >= 0
        out["flooded_buildings"] = np.bincount(
            cells[on_grid], buildings["flooded"].to_numpy(float)[on_grid], minlength=size)
        if "damage_eur" in buildings:
            out["flood_damage_meur"] = np.bincount(
                cells[on_grid], buildings["damage_eur"].to_numpy(float)[on_grid] / 1e6,
                minlength=size)
        else:  # no damage model (the JRC data were not there): not assessed, not zero
            out["flood_damage_meur"] = np.full(size, np.nan)
    return out
