"""The city model as two engine processes, coupled to the land-use CA through fields.

Order in a year: :class:`HouseholdChoices` -> ``LandUseChange`` -> :class:`Development`.

* HouseholdChoices reads ``planning__unit_id`` and writes ``land_use__demand`` (built-up cells
  needed for the floor area households lack) and ``population__count``.
* Development reads the land use the CA produced, ``zoning__max_far``/``zoning__max_height``
  (NaN: the scenario's defaults) and the hard control lines, and writes
  ``building__floor_area``; each project is recorded for the run (new or taller buildings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.behaviour import pro_forma
from agents.developers import Sites
from agents.model import CityModel, DevelopmentParams, HouseholdParams, UnitAttributes
from engine.kernels.bathtub import bathtub_depth
from engine.process import Clock, FieldUse, Process, StepReport
from tim.errors import InputError
from tim.model import Territory

#: Share of new floor area that is dwellings, by zone use; cells without a zone: 1.
RESIDENTIAL_SHARE = {"residential": 1.0, "rural": 1.0, "mixed": 0.6, "commercial": 0.3,
                     "industrial": 0.0}
HARD_LINES = ("control__ecological_red_line", "control__permanent_basic_farmland")


@dataclass(frozen=True)
class UnitIndex:
    """Planning-unit ids and, per cell, the index of its unit (-1 outside every unit)."""

    ids: np.ndarray
    of_cell: np.ndarray  # flat

    @classmethod
    def of(cls, territory: Territory) -> UnitIndex:
        field = territory.get("planning__unit_id").ravel()
        ids = np.unique(field[field > 0])
        if ids.size == 0:
            raise InputError("no planning units on the grid", source=territory.name,
                             field="planning__unit_id")
        lookup = np.full(int(field.max()) + 1, -1, dtype=np.int64)
        lookup[ids] = np.arange(ids.size)
        return cls(ids, lookup[field])

    def mean(self, values: np.ndarray, where: np.ndarray) -> np.ndarray:
        """Mean of ``values`` over the cells of each unit where ``where`` holds (0 if none)."""
        ok = (self.of_cell >= 0) & where.ravel()
        total = np.bincount(self.of_cell[ok], weights=values.ravel()[ok], minlength=self.ids.size)
        count = np.bincount(self.of_cell[ok], minlength=self.ids.size)
        return np.divide(total, count, out=np.zeros(self.ids.size), where=count > 0)


def unit_attributes(territory: Territory, units: UnitIndex,
                    flood_level: float) -> UnitAttributes:
    """Accessibility, amenities and flood risk per unit, averaged over its land cells.

    accessibility = exp(-d_transit / 800 m) + 0.5 exp(-d_centre / 2 km); amenities = share of a
    school and of a park within 1 km (mean of the two); flood risk = share of cells the
    connected bathtub floods at ``flood_level``. A missing input layer contributes 0.
    """
    f = territory.fields
    land = ~territory.classes.group_mask(territory.get("land_use__class"), "sea")
    shape = territory.grid.shape

    def near(name: str, scale: float) -> np.ndarray:
        d = f.get(name)
        return np.zeros(shape) if d is None else np.exp(-np.nan_to_num(d, nan=np.inf) / scale)

    def within(name: str, radius: float) -> np.ndarray:
        d = f.get(name)
        return np.zeros(shape) if d is None else (np.nan_to_num(d, nan=np.inf) <= radius)

    access = near("access__distance_to_transit", 800.0) + 0.5 * near(
        "access__distance_to_centre", 2000.0)
    amenities = 0.5 * (within("access__distance_to_school", 1000.0)
                       + within("access__distance_to_park", 1000.0))
    flooded = np.zeros(shape, dtype=bool)
    if "terrain__elevation" in f and (~land).any():
        flooded = bathtub_depth(f["terrain__elevation"], ~land, flood_level) > 0
    return UnitAttributes(accessibility=units.mean(access, land),
                          amenities=units.mean(amenities.astype(float), land),
                          flood_risk=units.mean(flooded.astype(float), land))


class City:
    """The state the two processes share: the Mesa model, units, zoning and what was built."""

    def __init__(self, territory: Territory, households: HouseholdParams,
                 development: DevelopmentParams, *, seed: int, flood_level: float = 3.0):
        self.territory, self.development = territory, development
        self.units = UnitIndex.of(territory)
        n = self.units.ids.size
        self.initial_population = np.nan_to_num(territory.get("population__count").astype(np.float64))
        persons = np.bincount(np.maximum(self.units.of_cell, 0),
                              weights=self.initial_population.ravel() * (self.units.of_cell >= 0),
                              minlength=n)
        per_unit = np.round(persons / households.demography.mean_size).astype(np.int64)
        self.model = CityModel(per_unit, unit_attributes(territory, self.units, flood_level),
                               households, development, seed=seed)
        built = territory.classes.built.code
        self.built_at_start = (territory.get("land_use__class") == built).ravel()
        self.developed = np.zeros(self.built_at_start.size, dtype=bool)
        self.new_dwellings_m2 = np.zeros(self.built_at_start.size)
        self.projects: list[dict] = []
        self.cell_area = territory.grid.cell_area

    # -- zoning ------------------------------------------------------------------------------
    def caps(self) -> tuple[np.ndarray, np.ndarray]:
        """Effective max FAR and height per cell (flat); NaN zoning falls back to defaults."""
        f, d = self.territory.fields, self.development
        size = self.built_at_start.size
        far = f["zoning__max_far"].ravel() if "zoning__max_far" in f else np.full(size, np.nan)
        height = f["zoning__max_height"].ravel() if "zoning__max_height" in f else \
            np.full(size, np.nan)
        return (np.where(np.isnan(far), d.default_far, far),
                np.where(np.isnan(height), d.default_max_height, height))

    def residential_share(self) -> np.ndarray:
        """Per cell (flat), the share of new floor area that is dwellings (zone use)."""
        zones = self.territory.fields.get("zoning__zone_id")
        layer = self.territory.layers.get("zoning")
        if zones is None or layer is None:
            return np.ones(self.built_at_start.size)
        lookup = np.ones(int(max(zones.max(), layer["zone_id"].max())) + 1)
        for zone_id, use in zip(layer["zone_id"], layer["use"]):
            lookup[int(zone_id)] = RESIDENTIAL_SHARE.get(str(use), 1.0)
        return lookup[zones.ravel()]

    def appraise(self, cells: np.ndarray, existing_m2: np.ndarray):
        d = self.development
        far, height = self.caps()
        price = self.model.price[np.maximum(self.units.of_cell[cells], 0)]
        acquisition = existing_m2 * price / self.cell_area  # buying out what stands there
        return pro_forma(self.cell_area, far[cells], height[cells], price,
                         d.land_cost_m2 + acquisition, coverage=d.coverage,
                         storey_height=d.storey_height,
                         construction_cost_m2=d.construction_cost_m2,
                         high_rise_premium=d.high_rise_premium)

    def expected_dwelling_m2_per_cell(self) -> float:
        """Median residential floor area a newly built-up cell would get (sets land demand)."""
        lu = self.territory.get("land_use__class").ravel()
        developable = np.isin(lu, [c.code for c in self.territory.classes if c.developable])
        cells = np.flatnonzero(developable & (self.units.of_cell >= 0))
        if cells.size == 0:
            return self.development.default_far * self.cell_area
        appraisal = self.appraise(cells, np.zeros(cells.size))
        dwellings = appraisal.floor_area * self.residential_share()[cells]
        return float(max(np.median(dwellings), 1.0))


class HouseholdChoices(Process):
    """Households arrive, move and choose units; the unhoused become demand for land."""

    FIELDS = (FieldUse("land_use__class", "in"), FieldUse("planning__unit_id", "in"),
              FieldUse("population__count", "inout"), FieldUse("land_use__demand", "out"))

    def __init__(self, territory: Territory, city: City):
        super().__init__(territory)
        self.city = city
        self.built_index = territory.classes.index_of(territory.classes.built.code)
        self.dwelling_m2_per_cell = city.expected_dwelling_m2_per_cell()

    def run_one_step(self, clock: Clock) -> StepReport:
        t, city = self.territory, self.city
        values = city.model.households_step(clock.year)
        # Converted cells not built on yet will still host dwellings: do not ask for them twice.
        built = (t.get("land_use__class") == t.classes.built.code).ravel()
        waiting_land = built & ~city.built_at_start & ~city.developed
        pending_m2 = float(waiting_land.sum()) * self.dwelling_m2_per_cell
        needed = max(0.0, values["floor_demand_m2"] - pending_m2)
        demand = np.zeros(len(t.classes), dtype=np.int64)
        demand[self.built_index] = int(np.ceil(needed / self.dwelling_m2_per_cell))
        t.set_field("land_use__demand", demand)
        t.set_field("population__count", self._population_grid(built))
        values["demand_built_cells"] = int(demand[self.built_index])
        return StepReport(self.name, clock.year, values)

    def _population_grid(self, built: np.ndarray) -> np.ndarray:
        """Residents of each unit spread over its cells in proportion to today's population
        plus new dwellings; a unit with neither spreads them evenly over its cells."""
        city = self.city
        units = city.units.of_cell
        persons = city.model.households.persons_by_unit(city.units.ids.size).astype(float)
        weight = np.where(city.built_at_start | built, city.initial_population.ravel(), 0.0)
        weight = weight + city.new_dwellings_m2 / city.model.params.m2_per_dwelling
        inside = units >= 0
        total = np.bincount(units[inside], weights=weight[inside], minlength=persons.size)
        empty = np.flatnonzero(total == 0)
        weight = np.where(inside & np.isin(units, empty), 1.0, weight)
        total = np.bincount(units[inside], weights=weight[inside], minlength=persons.size)
        scale = np.divide(persons, total, out=np.zeros_like(persons), where=total > 0)
        grid = np.where(inside, weight * scale[np.maximum(units, 0)], 0.0)
        return grid.reshape(self.territory.grid.shape).astype(np.float32)


class Development(Process):
    """Developers build on converted and under-used land within zoning and control lines."""

    FIELDS = (FieldUse("land_use__class", "in"), FieldUse("planning__unit_id", "in"),
              FieldUse("building__floor_area", "inout", optional=True))

    def __init__(self, territory: Territory, city: City):
        super().__init__(territory)
        self.city = city
        territory.ensure_field("building__floor_area")
        hard = np.zeros(territory.grid.shape, dtype=bool)
        for name in HARD_LINES:
            if name in territory.fields:
                hard |= territory.fields[name] > 0
        self.hard = hard.ravel()

    def run_one_step(self, clock: Clock) -> StepReport:
        t, city = self.territory, self.city
        lu = t.get("land_use__class").ravel()
        built = lu == t.classes.built.code
        floor = t.get("building__floor_area").ravel().astype(np.float64)
        inside = city.units.of_cell >= 0
        greenfield = np.flatnonzero(built & ~city.built_at_start & ~city.developed & inside
                                    & ~self.hard)
        existing = floor.copy()
        far, _ = city.caps()
        allowed = far * city.cell_area
        underused = built & city.built_at_start & ~city.developed & inside & ~self.hard & \
            (floor > 0) & (floor < city.development.redevelop_below * allowed)
        redevelop = np.flatnonzero(underused)
        cells = np.concatenate([greenfield, redevelop])
        sites = Sites(cell=cells, unit=city.units.of_cell[cells],
                      redevelopment=np.r_[np.zeros(greenfield.size, bool),
                                          np.ones(redevelop.size, bool)],
                      existing_m2=existing[cells], appraisal=city.appraise(cells, existing[cells]),
                      residential_share=city.residential_share()[cells])
        projects = city.model.development_step(sites)
        built_cells = np.asarray(projects.cell, dtype=np.int64)
        floor[built_cells] = np.asarray(projects.floor_area)
        city.developed[built_cells] = True
        city.new_dwellings_m2[built_cells] += np.asarray(projects.residential_m2)
        t.set_field("building__floor_area", floor.reshape(t.grid.shape).astype(np.float32))
        for i in range(len(projects)):
            city.projects.append({"year": clock.year, "cell": projects.cell[i],
                                  "unit_id": int(city.units.ids[projects.unit[i]]),
                                  "developer": projects.developer[i],
                                  "floor_area_m2": round(projects.floor_area[i], 1),
                                  "added_floor_area_m2": round(projects.added_floor_area[i], 1),
                                  "storeys": projects.storeys[i],
                                  "margin": round(projects.margin[i], 4),
                                  "kind": "redevelopment" if projects.redevelopment[i]
                                  else "new"})
        nonconforming = int(((existing > allowed) & built & inside).sum())
        return StepReport(self.name, clock.year, {
            "sites_offered": int(cells.size), "projects": len(projects),
            "redevelopments": int(sum(projects.redevelopment)),
            "floor_area_added_m2": float(sum(projects.added_floor_area)),
            "dwellings_added": float(sum(projects.residential_m2)
                                     / city.model.params.m2_per_dwelling),
            "nonconforming_cells": nonconforming})
