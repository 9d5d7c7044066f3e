"""Planning indicators of a territory state, and their green / yellow / red status.

Definitions, units and thresholds live in a YAML registry (``scenarios/indicators.yaml`` by
default) that users can edit; this module computes the values and applies the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal
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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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
        """Green, yellow or red against the registry's thresholds (``info`` where it sets
        none at ``level``, or for a missing value)."""
        return judge(self, value, level).status


@dataclass(frozen=True)
class Judgement:
    """How one value was judged: its status, against what, and which limit it is beyond.

    ``basis`` is ``"plan"`` (a plan target: a cap is green at or below it, yellow up to
    :data:`PLAN_MARGIN` beyond, red further; a floor mirrors it), ``"threshold"`` (the
    registry's green and yellow ranges) or ``""`` (nothing to judge against: ``info``).
    ``limit`` is ``"max"`` or ``"min"`` when the value lies beyond the green range's upper or
    lower bound, else ``""``.
    """

    status: str
    basis: str = "none"
    green: Range | None = None
    yellow: Range | None = None
    limit: str = "none"
    target: float | None = None

    def bound(self) -> float | None:
        """The green bound the value is beyond (the plan target for a plan), if any."""
        if self.limit == "none" or self.green is None:
            return None
        return self.green[1] if self.limit == "max" else self.green[0]

    def columns(self) -> dict[str, Any]:
        """The judgement as table columns (NaN for an open or missing bound)."""
        green = self.green or (None, None)
        yellow = self.yellow or (None, None)
        return {"target": self.target, "status": self.status, "basis": self.basis,
                "green_min": _nan(green[0]), "green_max": _nan(green[1]),
                "yellow_min": _nan(yellow[0]), "yellow_max": _nan(yellow[1]),
                "limit": self.limit}


#: Over a plan cap (or under a floor) by at most this share is yellow, beyond it red.
PLAN_MARGIN = 0.05
#: The columns :meth:`Judgement.columns` adds to every indicator row.
JUDGEMENT_COLUMNS = ["target", "status", "basis", "green_min", "green_max", "yellow_min",
                     "yellow_max", "limit"]


def judge(definition: IndicatorDef, value: float, level: str = "city",
          target: float | None = None, kind: str = "cap") -> Judgement:
    """The one rule every level (territory, district, unit) is judged by.

    A plan ``target`` for this area wins; else the registry's thresholds where its ``levels``
    name ``level``; else the value is for information. A missing value (NaN, "n/a") is
    never judged.

    Examples
    --------
    >>> d = IndicatorDef(id="p", name="Population", unit="persons", definition="")
    >>> judge(d, 76968.0, "city", target=60500.0).status
    'red'
    >>> j = judge(d, 62000.0, "unit", target=60500.0); (j.status, j.basis, j.limit, j.bound())
    ('yellow', 'plan', 'max', 60500.0)
    >>> judge(d, 5.0).status, judge(d, float("nan"), target=3.0).status
    ('info', 'info')
    """
    finite = value is not None and bool(np.isfinite(value))
    if target is not None and np.isfinite(target):
        margin = PLAN_MARGIN * abs(target)
        if kind == "cap":
            green, yellow = (None, target), (None, target + margin)
        else:
            green, yellow = (target, None), (target - margin, None)
        basis = "plan"
    elif definition.green is not None and level in definition.levels:
        green, yellow, basis = definition.green, definition.yellow, "threshold"
    else:
        return Judgement("info", target=target)
    if not finite:
        return Judgement("info", basis, green, yellow, "none", target)
    if _within(value, green):
        return Judgement("green", basis, green, yellow, "none", target)
    limit = "max" if green[1] is not None and value > green[1] else "min"
    status = "yellow" if yellow is not None and _within(value, yellow) else "red"
    return Judgement(status, basis, green, yellow, limit, target)


def plan_status(value: float, target: float, kind: str = "cap") -> str:
    """The status of ``value`` against a plan ``target`` alone: :func:`judge`'s plan rule, for
    callers that judge a projection or a milestone rather than an indicator of an area.

    >>> plan_status(62000.0, 60500.0), plan_status(50.0, 60.0, kind="floor")
    ('yellow', 'red')
    """
    return judge(_PLAN_ONLY, value, target=target, kind=kind).status


_PLAN_ONLY = IndicatorDef(id="plan", name="plan target", unit="", definition="")


def _nan(bound: float | None) -> float:
    return np.nan if bound is None else float(bound)


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


#: Facility types of the life-circle indicators (``lifecircle_<type>``): the default standards'
#: (``scenarios/planning/lifecircle_standards.yaml``), whose circles (minutes) they use.
LIFECIRCLE_TYPES = ("kindergarten", "primary_school", "middle_school", "health",
                    "elderly_care", "market", "park", "sports", "transit_stop")
INDICATORS = ("built_up_area", "population", "population_density", "development_intensity",
              "construction_land_per_capita", "farmland_lost", "ecological_land_lost",
              "control_line_encroachment", "built_outside_boundary", "boundary_use",
              "school_access", "park_access", "flooded_land_area", "flooded_buildings",
              "population_exposed", "flood_damage", "farmland_flooded",
              "ecological_land_flooded", *(f"lifecircle_{t}" for t in LIFECIRCLE_TYPES))
LIFECIRCLE_INDICATORS = tuple(f"lifecircle_{t}" for t in LIFECIRCLE_TYPES)
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
    #: per life-circle type present in the data: cells (flat) within its walking circle
    lifecircle: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, territory: Territory, damage: DamageModel | None = None) -> Baseline:
        shape = territory.grid.shape
        hard = np.zeros(shape, dtype=bool)
        for name in ("control__ecological_red_line", "control__permanent_basic_farmland"):
            if name in territory.fields:
                hard |= territory.fields[name] > 0
        boundary = territory.fields.get("control__urban_development_boundary")
        if boundary is not None and not boundary.any():
            boundary = None  # a control-lines layer without this kind (e.g. Hong Kong): no line
        return cls(land_use=territory.get("land_use__class").copy(),
                   cell_ha=territory.grid.cell_area / 10_000.0, hard=hard,
                   boundary=None if boundary is None else boundary > 0,
                   building_cells=building_cells(territory),
                   exposure=BuildingExposure.of(territory), damage=damage,
                   lifecircle=lifecircle_cells(territory))


def lifecircle_cells(territory: Territory) -> dict[str, np.ndarray]:
    """Per facility type of :data:`LIFECIRCLE_TYPES` present in the territory's amenities, the
    cells (flat mask) whose centre lies within the type's walking circle along the TIM's
    ``streets`` layer; empty without streets (the indicators are then n/a). The network and
    the facilities do not change during a run, so this is computed once, with the baseline."""
    from scenarios.planning.lifecircle import load_standards, territory_cell_minutes

    standards = load_standards()[0]
    minutes = territory_cell_minutes(territory, standards)
    if not minutes:
        return {}
    return {key: minutes[key] <= standards.facilities[key].minutes
            for key in LIFECIRCLE_TYPES if key in minutes}


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

    def circle(key: str) -> np.ndarray:  # n/a (NaN) where the data cannot say
        within = baseline.lifecircle.get(key)
        return np.full(size, np.nan) if within is None else population * within

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
        **{f"lifecircle_{t}_population": circle(t) for t in LIFECIRCLE_TYPES},
    }


def from_sums(s: dict[str, np.ndarray | float]) -> dict[str, np.ndarray | float]:
    """Indicator values from summed components (scalars for one area, arrays for many)."""
    def ratio(a, b, scale=1.0):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        # n/a (NaN), not 0, where there is nothing to divide by (no people, no built-up land)
        return np.divide(a * scale, b, out=np.full(np.broadcast(a, b).shape, np.nan),
                         where=b > 0)

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
        **{f"lifecircle_{t}": ratio(s[f"lifecircle_{t}_population"], s["population"], 100.0)
           for t in LIFECIRCLE_TYPES},
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
