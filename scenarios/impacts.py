"""What a flood does to the territory: buildings, damage, people, farmland, ecological land,
rolled up per planning unit.

* Depth at a building is the mean of the maximum-depth raster over the cells its footprint
  covers, weighted by the area it covers in each (exact polygon-cell intersections), and the
  largest of those cells; where buildings are obstacles the raster already holds the depth of
  the water against them. A building is flooded when that mean is at least
  :data:`FLOODED_DEPTH`.
* Damage = JRC depth-damage fraction for the building's use (Asia curves, Huizinga et al.
  2017) x construction cost per m2 of the territory's country x floor area (footprint x
  storeys, or only the ``exposed_storeys`` lowest ones when set).
* People exposed are the residents (``population__count``) of land cells flooded at least
  :data:`FLOODED_DEPTH` deep (a cell inside a block of buildings, with no depth of its own,
  takes its building's); farmland and ecological land flooded are the areas of cells of those
  land-use groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tim.config import read_yaml
from tim.errors import InputError
from tim.model import Territory
from tim.rasterize import cell_areas, centroid_cells

#: Water shallower than this (m) does not count as a flood (a film, or rounding at the edge).
FLOODED_DEPTH = 0.01
USES = ("residential", "commercial", "industrial")


@dataclass(frozen=True)
class DamageModel:
    """Depth-damage curves by use and construction cost per m2 by use (one country)."""

    depths: np.ndarray
    curves: dict[str, np.ndarray]
    cost_per_m2: dict[str, float]
    country: str
    currency: str
    exposed_storeys: int | None = None

    @classmethod
    def load(cls, country: str = "China", exposed_storeys: int | None = None,
             path: str | Path | None = None) -> DamageModel:
        """The packaged JRC table (``scenarios/jrc_damage.yaml``) or the one at ``path``."""
        source = Path(path) if path else Path(str(resources.files("scenarios")
                                                  / "jrc_damage.yaml"))
        raw = read_yaml(source, "damage table",
                        not_a_mapping="a damage table maps depth_m, curves, "
                                      "construction_cost_per_m2 and currency")
        costs = raw["construction_cost_per_m2"]
        if country not in costs:
            raise InputError("no construction cost for this country in the damage table",
                             source=source, field="surge.damage.country", value=country,
                             hint=f"one of: {', '.join(costs)}")
        return cls(depths=np.array(raw["depth_m"], dtype=float),
                   curves={u: np.array(raw["curves"][u], dtype=float) for u in USES},
                   cost_per_m2={u: float(costs[country][u]) for u in USES}, country=country,
                   currency=raw["currency"], exposed_storeys=exposed_storeys)

    def fraction(self, use: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Damage fraction (0-1) at ``depth`` for each building's ``use``."""
        out = np.zeros(depth.shape)
        for u in USES:
            mine = use == u
            out[mine] = np.interp(depth[mine], self.depths, self.curves[u], left=0.0)
        return np.where(np.nan_to_num(depth) > 0, out, 0.0)

    def damage(self, use: np.ndarray, depth: np.ndarray, footprint: np.ndarray,
               storeys: np.ndarray) -> np.ndarray:
        """Damage in :attr:`currency` per building."""
        floors = storeys if self.exposed_storeys is None \
            else np.minimum(storeys, self.exposed_storeys)
        cost = np.array([self.cost_per_m2[u] for u in use]) if len(use) else np.zeros(0)
        return self.fraction(use, depth) * cost * footprint * floors


@dataclass(frozen=True)
class BuildingExposure:
    """The territory's buildings as the flood sees them: footprint cells, use, floor area."""

    building_id: np.ndarray
    use: np.ndarray
    footprint_m2: np.ndarray
    storeys: np.ndarray
    unit_id: np.ndarray
    owner: np.ndarray  # building index of each (building, cell) pair
    cells: np.ndarray  # flat cell index of each pair
    areas: np.ndarray  # footprint area in that cell

    @classmethod
    def of(cls, territory: Territory) -> BuildingExposure | None:
        frame = territory.layers.get("buildings")
        if frame is None or len(frame) == 0:
            return None
        ptr, cells, areas = cell_areas(frame.geometry.values, territory.grid)
        owner = np.repeat(np.arange(len(frame)), np.diff(ptr))
        centroid = centroid_cells(frame, territory.grid)
        units = territory.fields.get("planning__unit_id")
        unit_id = np.zeros(len(frame), dtype=np.int64)
        if units is not None:
            unit_id[centroid >= 0] = units.ravel()[centroid[centroid >= 0]]
        use = frame["use"].astype(str).str.lower().to_numpy() if "use" in frame \
            else np.full(len(frame), "residential")
        use = np.where(np.isin(use, USES), use, "residential")  # other uses: the commonest
        storeys = frame["storeys"].to_numpy(dtype=float) if "storeys" in frame \
            else np.ones(len(frame))
        ids = frame["building_id"].astype(str).to_numpy() if "building_id" in frame \
            else np.arange(len(frame)).astype(str)
        return cls(building_id=ids, use=use, footprint_m2=frame.geometry.area.to_numpy(),
                   storeys=np.nan_to_num(storeys, nan=1.0), unit_id=unit_id, owner=owner,
                   cells=cells, areas=areas)

    def __len__(self) -> int:
        return len(self.building_id)

    def mean(self, raster: np.ndarray) -> np.ndarray:
        """Footprint-area-weighted mean of ``raster`` per building (NaN off the grid)."""
        values = raster.ravel()[self.cells].astype(float)
        ok = np.isfinite(values)
        weight = np.bincount(self.owner[ok], self.areas[ok], minlength=len(self))
        total = np.bincount(self.owner[ok], self.areas[ok] * values[ok], minlength=len(self))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 0, total / weight, np.nan)

    def extreme(self, raster: np.ndarray, reduce=np.fmax) -> np.ndarray:
        """``reduce`` (fmax / fmin) of ``raster`` over each building's cells."""
        out = np.full(len(self), np.nan)
        reduce.at(out, self.owner, raster.ravel()[self.cells].astype(float))
        return out


@dataclass(frozen=True)
class FloodImpacts:
    """Per-building and per-unit tables and territory totals of one flood."""

    buildings: pd.DataFrame | None
    units: pd.DataFrame
    totals: dict[str, float]
    wet: np.ndarray  # land cells flooded at least FLOODED_DEPTH deep


def assess(state: Territory, exposure: BuildingExposure | None,
           damage: DamageModel | None, cell_ha: float) -> FloodImpacts:
    """Impacts of the flood in ``state``'s ``surge__*`` fields."""
    raw = state.get("surge__water_depth")
    buildings = None
    if exposure is not None:
        buildings = building_table(state, exposure, damage, raw)
        # Cells inside blocks of buildings (obstacles) have no depth of their own: they take
        # their building's, so that the people living there are counted.
        inside = np.isnan(raw)
        if inside.any():
            from_buildings = np.full(raw.size, np.nan)
            np.fmax.at(from_buildings, exposure.cells,
                       buildings["surge_depth_m"].to_numpy()[exposure.owner])
            raw = np.where(inside, from_buildings.reshape(raw.shape), raw)
    depth = np.nan_to_num(raw, nan=0.0)
    classes = state.classes
    lu = state.get("land_use__class")
    land = ~classes.group_mask(lu, "sea")
    wet = land & (depth >= FLOODED_DEPTH)
    population = state.fields.get("population__count", np.zeros(depth.shape, np.float32))
    farmland = wet & classes.group_mask(lu, "farmland")
    ecological = wet & classes.group_mask(lu, "ecological")
    units = state.fields.get("planning__unit_id", np.zeros(depth.shape, np.int32))
    totals = {"flooded_land_area": float(wet.sum()) * cell_ha,
              "flooded_buildings": 0.0 if buildings is None else float(
                  buildings["flooded"].sum()),
              "flood_damage": 0.0 if buildings is None else float(
                  buildings["damage_eur"].sum()) / 1e6,
              "population_exposed": float(population[wet].sum()),
              "farmland_flooded": float(farmland.sum()) * cell_ha,
              "ecological_land_flooded": float(ecological.sum()) * cell_ha}
    table = unit_table(state, units, depth, wet, population, farmland, ecological, cell_ha,
                       buildings)
    return FloodImpacts(buildings, table, totals, wet)


def building_table(state: Territory, exposure: BuildingExposure, damage: DamageModel | None,
                   depth: np.ndarray) -> pd.DataFrame:
    mean = exposure.mean(depth)
    flooded = np.nan_to_num(mean) >= FLOODED_DEPTH
    shown = np.where(flooded, mean, 0.0)
    floors = exposure.storeys if damage is None or damage.exposed_storeys is None \
        else np.minimum(exposure.storeys, damage.exposed_storeys)
    frame = pd.DataFrame({
        "building_id": exposure.building_id, "use": exposure.use,
        "storeys": exposure.storeys, "floor_area_m2": np.round(exposure.footprint_m2 * floors, 1),
        "unit_id": exposure.unit_id,
        "surge_depth_m": np.round(shown, 2),
        "depth_max_m": np.round(np.where(flooded, exposure.extreme(depth), 0.0), 2),
        "flooded": flooded,
    })
    arrival = state.fields.get("surge__arrival_time")
    if arrival is not None:
        frame["arrival_h"] = np.round(exposure.extreme(arrival, np.fmin) / 3600.0, 3)
        frame["hazard_duration_h"] = np.round(
            np.nan_to_num(exposure.extreme(state.get("surge__hazard_duration"))) / 3600.0, 3)
    if damage is not None:
        frame["damage_fraction"] = np.round(damage.fraction(exposure.use, shown), 4)
        frame["damage_eur"] = np.round(damage.damage(exposure.use, shown,
                                                     exposure.footprint_m2, exposure.storeys))
    return frame


def unit_table(state: Territory, units: np.ndarray, depth: np.ndarray, wet: np.ndarray,
               population: np.ndarray, farmland: np.ndarray, ecological: np.ndarray,
               cell_ha: float, buildings: pd.DataFrame | None) -> pd.DataFrame:
    """Totals per planning unit (``unit_id`` 0: outside every unit)."""
    ids = np.unique(units)
    index = np.searchsorted(ids, units.ravel())
    n = ids.size

    def per_unit(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = mask.ravel().astype(float) if weights is None else (mask * weights).ravel()
        return np.bincount(index, w, minlength=n)

    flooded_cells = per_unit(wet)
    deepest = np.zeros(n)
    np.maximum.at(deepest, index, np.where(wet, depth, 0.0).ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_depth = np.where(flooded_cells > 0, per_unit(wet, depth) / flooded_cells, 0.0)
    table = pd.DataFrame({
        "unit_id": ids.astype(int), "flooded_area_ha": flooded_cells * cell_ha,
        "max_depth_m": np.round(deepest, 3), "mean_depth_m": np.round(mean_depth, 3),
        "population_exposed": np.round(per_unit(wet, population), 1),
        "farmland_flooded_ha": per_unit(farmland) * cell_ha,
        "ecological_land_flooded_ha": per_unit(ecological) * cell_ha})
    if buildings is not None:
        by_unit = buildings.groupby("unit_id").agg(buildings=("flooded", "size"),
                                                   buildings_flooded=("flooded", "sum"))
        if "damage_eur" in buildings:
            by_unit["damage_eur"] = buildings.groupby("unit_id")["damage_eur"].sum()
        table = table.join(by_unit, on="unit_id").fillna(0)
        table[["buildings", "buildings_flooded"]] = \
            table[["buildings", "buildings_flooded"]].astype(int)
    layer = state.layers.get("planning_units")
    if layer is not None and "unit_id" in layer:
        names = layer.drop(columns=layer.geometry.name).drop_duplicates("unit_id")
        keep = [c for c in ("unit_id", "name", "district") if c in names]
        table = table.merge(names[keep], on="unit_id", how="left")
    return table
