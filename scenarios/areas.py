"""Indicators per planning unit, rolled up to districts and the territory, judged by one rule.

Every indicator is a sum or a ratio of sums of per-cell components
(:func:`scenarios.indicators.components`), so a district's value is computed from its units'
sums - never by averaging their ratios. The territory row ("city" level) sums every cell of
the grid, so it is the same number as ``indicators.csv`` (cells outside every unit, e.g. the
coast, count there and in no district). Each row is judged by
:func:`scenarios.indicators.judge`: the plan target (:mod:`tim.plan`) where the plan gives one
for that area, else the registry's thresholds at the levels it names. A unit or district with no
cells has no value (NaN, shown "n/a"), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

import numpy as np
import pandas as pd

from scenarios.indicators import (JUDGEMENT_COLUMNS, PLAN_MARGIN, Baseline, IndicatorDef,
                                  components, from_sums, judge)
from tim.errors import InputError
from tim.model import Territory

__all__ = ["PLAN_MARGIN", "LEVEL_COLUMNS", "Areas", "area_indicators", "judged_rows"]
LEVEL_COLUMNS = ["year", "level", "area_id", "area", "indicator", "value", "unit",
                 *JUDGEMENT_COLUMNS]


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

    def cell_counts(self) -> np.ndarray:
        """Cells of each unit (0 for a unit the grid does not cover)."""
        inside = self.of_cell >= 0
        return np.bincount(self.of_cell[inside], minlength=self.unit_ids.size)


def area_indicators(state: Territory, baseline: Baseline, areas: Areas | None, year: int,
                    registry: dict[str, IndicatorDef],
                    per_cell: dict[str, np.ndarray] | None = None,
                    unmeasured: Collection[str] = ()) -> pd.DataFrame:
    """Rows (:data:`LEVEL_COLUMNS`) for every unit, every district and the territory.

    Without planning units (``areas`` None) only the territory row is given, named after the
    territory. Indicators in ``unmeasured`` (e.g. those needing residents in a year with no
    observed population) have no value at any level and are judged ``info``, never guessed.
    """
    per_cell = components(state, baseline) if per_cell is None else per_cell
    plan = state.plan.indicators if state.plan is not None else {}
    levels = []
    if areas is not None:
        unit_sums = areas.sums(per_cell)
        counts = areas.cell_counts()
        district_names = list(dict.fromkeys(areas.districts))
        members = [areas.districts == d for d in district_names]
        district_sums = {k: np.array([v[m].sum() for m in members])
                         for k, v in unit_sums.items()}
        district_counts = np.array([counts[m].sum() for m in members])
        levels += [("unit", [str(i) for i in areas.unit_ids], list(areas.names), unit_sums,
                    counts),
                   ("district", district_names, district_names, district_sums,
                    district_counts)]
        city = areas.city
    else:
        city = state.name
    city_sums = {k: np.array([np.sum(v)]) for k, v in per_cell.items()}
    levels.append(("city", [city], [city], city_sums,
                   np.array([state.grid.shape[0] * state.grid.shape[1]])))
    frames = [judged_rows(year, level, ids, names, sums, cells, registry, plan, unmeasured)
              for level, ids, names, sums, cells in levels]
    return pd.concat(frames, ignore_index=True)[LEVEL_COLUMNS]


def judged_rows(year: int, level: str, ids: list[str], names: list[str],
                sums: dict[str, np.ndarray], cells: np.ndarray,
                registry: dict[str, IndicatorDef], plan: dict[str, Any],
                unmeasured: Collection[str] = ()) -> pd.DataFrame:
    """The indicator rows of the areas of one level from their summed components, each
    judged by :func:`scenarios.indicators.judge`; areas without cells, and indicators in
    ``unmeasured``, get NaN."""
    empty = np.asarray(cells) == 0
    rows: list[dict[str, Any]] = []
    for key, series in from_sums(sums).items():
        definition = registry[key]
        values = np.array(series, dtype=float).reshape(-1)
        values[empty] = np.nan
        if key in unmeasured:
            values[:] = np.nan
        for area_id, name, value in zip(ids, names, values):
            target = _target(plan.get(key), level, area_id)
            judgement = judge(definition, value, level, target,
                              plan[key].kind if target is not None else "cap")
            rows.append({"year": year, "level": level, "area_id": area_id, "area": name,
                         "indicator": key, "value": round(float(value), 6),
                         "unit": definition.unit, **judgement.columns()})
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)


def _target(plan: Any, level: str, area_id: str) -> float | None:
    if plan is None:
        return None
    if level == "city":
        return float(plan.city)
    if level == "district":
        return plan.districts.get(area_id)
    return plan.units.get(int(area_id))
