"""Planning indicators of a territory state, and their green / yellow / red status.

Definitions, units and thresholds live in a YAML registry (``scenarios/indicators.yaml`` by
default) that users can edit; this module computes the values and applies the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scenarios.impacts import BuildingExposure, DamageModel, assess
from tim.errors import InputError
from tim.model import Territory

Range = tuple[float | None, float | None]
STATUSES = ("green", "yellow", "red", "info")


class IndicatorDef(BaseModel):
    """One indicator of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    unit: str
    definition: str
    green: Range | None = None
    yellow: Range | None = None

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

    def status(self, value: float) -> str:
        if self.green is None:
            return "info"
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
    try:
        raw = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the indicator registry: {exc}", source=source) from exc
    registry = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            raise InputError("an indicator is a mapping of name, unit, definition and "
                             "thresholds", source=source, field=key, value=entry)
        try:
            registry[key] = IndicatorDef(id=key, **entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in (key, *error["loc"]))
            raise InputError(error["msg"].removeprefix("Value error, "), source=source,
                             field=where) from exc
    missing = set(INDICATORS) - set(registry)
    if missing:
        raise InputError(f"indicators computed but not defined: {sorted(missing)}",
                         source=source)
    return registry


INDICATORS = ("built_up_area", "population", "construction_land_per_capita", "farmland_lost",
              "ecological_land_lost", "control_line_encroachment", "built_outside_boundary",
              "boundary_use", "flooded_land_area", "flooded_buildings", "population_exposed",
              "flood_damage", "farmland_flooded", "ecological_land_flooded")
FLOOD_INDICATORS = ("flooded_land_area", "flooded_buildings", "population_exposed",
                    "flood_damage", "farmland_flooded", "ecological_land_flooded")


@dataclass(frozen=True)
class Baseline:
    """What indicators compare a state with: the territory at the start year (and, for
    floods, its buildings and the damage model)."""

    land_use: np.ndarray
    cell_ha: float
    hard: np.ndarray            # inside a hard control line
    boundary: np.ndarray | None  # inside the urban development boundary
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
                   exposure=BuildingExposure.of(territory), damage=damage)


def compute_indicators(state: Territory, baseline: Baseline) -> dict[str, float]:
    """Indicator values (registry units) of ``state`` against the start-year ``baseline``."""
    classes = state.classes
    lu = state.get("land_use__class")
    built = lu == classes.built.code
    new_built = built & (baseline.land_use != classes.built.code)
    population = float(state.fields.get("population__count", np.zeros(1)).sum())
    area_ha = float(built.sum()) * baseline.cell_ha
    values = {
        "built_up_area": area_ha,
        "population": population,
        "construction_land_per_capita": area_ha * 10_000.0 / population if population else 0.0,
        "farmland_lost": _lost(baseline.land_use, lu, classes, "farmland") * baseline.cell_ha,
        "ecological_land_lost": _lost(baseline.land_use, lu, classes, "ecological")
        * baseline.cell_ha,
        "control_line_encroachment": float((new_built & baseline.hard).sum()),
        "built_outside_boundary": 0.0, "boundary_use": 0.0,
    }
    if baseline.boundary is not None:
        values["built_outside_boundary"] = float((new_built & ~baseline.boundary).sum()) \
            * baseline.cell_ha
        inside = baseline.boundary.sum()
        values["boundary_use"] = 100.0 * float((built & baseline.boundary).sum()) / inside \
            if inside else 0.0
    values.update(flood_indicators(state, baseline))
    return values


def _lost(start: np.ndarray, now: np.ndarray, classes, group: str) -> float:
    codes = [c.code for c in classes.in_group(group)]
    return float((np.isin(start, codes) & ~np.isin(now, codes)).sum())


def flood_indicators(state: Territory, baseline: Baseline) -> dict[str, float]:
    """Flood totals (see :mod:`scenarios.impacts`); all zero without surge water."""
    depth = state.fields.get("surge__water_depth")
    if depth is None or not np.nan_to_num(depth).any():
        return dict.fromkeys(FLOOD_INDICATORS, 0.0)
    return assess(state, baseline.exposure, baseline.damage, baseline.cell_ha).totals
