"""Indicators per planning unit, rolled up to districts and the city, judged against the plan.

Every indicator is a sum or a ratio of sums of per-cell components
(:func:`scenarios.indicators.components`), so a district's value is computed from its units'
sums - never by averaging their ratios - and the city row is the sum over all units. Plan
targets (:mod:`tim.plan`) give the status where they exist: a cap is green at or below its
target, yellow up to 5 % above, red beyond (a floor mirrors it); elsewhere the registry's
thresholds apply at the levels it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scenarios.indicators import Baseline, IndicatorDef, components, from_sums
from tim.errors import InputError
from tim.model import Territory

#: Over a cap (or under a floor) by at most this share is yellow, beyond it red.
PLAN_MARGIN = 0.05
LEVEL_COLUMNS = ["year", "level", "area_id", "area", "indicator", "value", "unit", "target",
                 "status"]


@dataclass(frozen=True)
class Areas:
    """Planning units (with their district and city) and which unit each cell is in."""

    unit_ids: np.ndarray
    names: np.ndarray
    districts: np.ndarray
    city: str
    of_cell: np.ndarray  # flat: index into unit_ids, -1 outside every unit

    @classmethod
    def of(cls, territory: Territory) -> Areas:
        layer = territory.layers.get("planning_units")
        if layer is None or "planning__unit_id" not in territory.fields:
            raise InputError("the territory has no planning units", source=territory.name,
                             field="planning_units")
        layer = layer.sort_values("unit_id")
        ids = layer["unit_id"].to_numpy(dtype=np.int64)
        field = territory.get("planning__unit_id").ravel()
        lookup = np.full(max(int(field.max()), int(ids.max())) + 1, -1, dtype=np.int64)
        lookup[ids] = np.arange(ids.size)
        cities = layer["city"].unique()
        return cls(ids, layer["name"].to_numpy(), layer["district"].to_numpy(),
                   str(cities[0]) if len(cities) == 1 else "city", lookup[field])

    def sums(self, per_cell: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inside = self.of_cell >= 0
        return {k: np.bincount(self.of_cell[inside], weights=v[inside],
                               minlength=self.unit_ids.size) for k, v in per_cell.items()}


def area_indicators(state: Territory, baseline: Baseline, areas: Areas, year: int,
                    registry: dict[str, IndicatorDef],
                    per_cell: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Rows (year, level, area_id, area, indicator, value, unit, target, status) for every
    unit, district and the city (the sum of the units)."""
    per_cell = components(state, baseline) if per_cell is None else per_cell
    unit_sums = areas.sums(per_cell)
    district_names = list(dict.fromkeys(areas.districts))
    district_sums = {k: np.array([v[areas.districts == d].sum() for d in district_names])
                     for k, v in unit_sums.items()}
    city_sums = {k: np.array([v.sum()]) for k, v in unit_sums.items()}
    levels = (("unit", [str(i) for i in areas.unit_ids], list(areas.names), unit_sums),
              ("district", district_names, district_names, district_sums),
              ("city", [areas.city], [areas.city], city_sums))
    plan = state.plan.indicators if state.plan is not None else {}
    rows: list[dict[str, Any]] = []
    for level, ids, names, sums in levels:
        values = from_sums(sums)
        for key, series in values.items():
            definition = registry[key]
            for area_id, name, value in zip(ids, names, np.asarray(series, dtype=float)):
                target = _target(plan.get(key), level, area_id)
                status = (_plan_status(value, target, plan[key].kind) if target is not None
                          else definition.status(value, level))
                rows.append({"year": year, "level": level, "area_id": area_id, "area": name,
                             "indicator": key, "value": round(float(value), 6),
                             "unit": definition.unit, "target": target, "status": status})
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)


def _target(plan: Any, level: str, area_id: str) -> float | None:
    if plan is None:
        return None
    if level == "city":
        return float(plan.city)
    if level == "district":
        return plan.districts.get(area_id)
    return plan.units.get(int(area_id))


def _plan_status(value: float, target: float, kind: str) -> str:
    excess = (value - target) if kind == "cap" else (target - value)
    if excess <= 1e-9:
        return "green"
    return "yellow" if excess <= PLAN_MARGIN * abs(target) else "red"
