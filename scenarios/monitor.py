"""Monitoring a run year by year: the state to keep, the indicators, and the early warnings.

The :class:`Monitor` is the simulation's recorder. After the start state and every step it keeps
the land-use and population maps, computes the indicators once - the territory row and, when the
territory has planning units, every unit and district (:func:`scenarios.areas.area_indicators`)
- and remembers the cells that broke a hard control line. ``indicators.csv`` is the territory
rows of that one table, so it never disagrees with ``indicators_areas.csv``. :meth:`Monitor.warnings` then lists everything a planning bureau must look at:
every indicator outside its green range (naming the area), each encroaching cell by its
coordinates, demand that could not be met, units a decline emptied, and plan allocations that
do not balance.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from engine.process import StepReport
from scenarios.areas import Areas, area_indicators
from scenarios.impacts import DamageModel, FloodImpacts, assess
from scenarios.indicators import Baseline, IndicatorDef, components, encroaching_cells
from tim.model import Territory

#: ``value``/``unit`` are the indicator's (for cells: how many), ``threshold`` the bound it is
#: beyond, ``basis`` "plan" (a plan target), "threshold" (the registry's) or "none", ``limit``
#: "max", "min" or "none": enough to say the warning in any language; ``message`` says it in English.
WARNING_COLUMNS = ["year", "level", "area", "indicator", "status", "message", "value", "unit",
                   "threshold", "basis", "limit"]
#: Columns of ``indicators.csv``: the territory rows of the area table.
CITY_COLUMNS = ["year", "indicator", "value", "unit", "status", "target", "basis",
                "green_min", "green_max", "yellow_min", "yellow_max", "limit"]
#: Encroaching cells listed by coordinates in one warning, at most (the count is always given).
LISTED_CELLS = 25


class Monitor:
    """Recorder of a simulation (see :class:`engine.simulation.Simulation`)."""

    def __init__(self, work: Territory, registry: dict[str, IndicatorDef],
                 surge_year: int | None, damage: DamageModel | None = None):
        self.baseline = Baseline.of(work, damage=damage)
        self.registry = registry
        self.surge_year = surge_year
        self.areas = Areas.of(work) if "planning_units" in work.layers else None
        self.grid = work.grid
        self.land_use: dict[int, np.ndarray] = {}
        self.population: dict[int, np.ndarray] = {}
        self.impacts: FloodImpacts | None = None  # the surge year's flood impacts
        self._areas: list[pd.DataFrame] = []
        self._encroachment: dict[int, np.ndarray] = {}

    def __call__(self, year: int, state: Territory) -> None:
        self.land_use[year] = state.get("land_use__class").copy()
        self.population[year] = state.get("population__count").copy()
        if year == self.surge_year:
            self.impacts = assess(state, self.baseline.exposure, self.baseline.damage,
                                  self.baseline.cell_ha)
        per_cell = components(state, self.baseline,
                              self.impacts if year == self.surge_year else None)
        self._areas.append(area_indicators(state, self.baseline, self.areas, year,
                                           self.registry, per_cell))
        cells = encroaching_cells(state, self.baseline)
        if cells.size:
            self._encroachment[year] = cells

    @property
    def indicators(self) -> pd.DataFrame:
        """Territory indicators (:data:`CITY_COLUMNS`): the city rows of
        :attr:`area_indicators`."""
        if not self._areas:
            return pd.DataFrame(columns=CITY_COLUMNS)
        return territory_rows(pd.concat(self._areas, ignore_index=True))

    @property
    def area_indicators(self) -> pd.DataFrame | None:
        """Unit, district and territory rows (see :func:`scenarios.areas.area_indicators`);
        None without planning units (then :attr:`indicators` has the territory's)."""
        if self.areas is None or not self._areas:
            return None
        return pd.concat(self._areas, ignore_index=True)

    def warnings(self, reports: Sequence[StepReport], history: Sequence[Any]) -> pd.DataFrame:
        """Every early warning of the run, most severe first within each year."""
        rows = []
        table = pd.concat(self._areas, ignore_index=True) if self._areas else None
        if table is not None:
            rows.extend(indicator_warnings(table, self.registry))
        areas = self.area_indicators
        if areas is not None:
            rows.extend(self._emptied_units(areas))
        for year, cells in sorted(self._encroachment.items()):
            rows.append((year, "cell", "", "control_line_encroachment", "red",
                         f"{len(cells)} cell(s) built inside a hard control line: "
                         f"{self._cell_list(cells)}", float(len(cells)), "cells", 0.0,
                         "threshold", "max"))
        for report in reports:
            for key, value in report.values.items():
                if key.startswith("shortfall_") and value > 0:
                    rows.append((report.year, "city", "", "land_demand", "yellow",
                                 f"{value} cell(s) of demand for class {key[10:]} could not be "
                                 "allocated within the constraints", float(value), "cells",
                                 np.nan, "none", "none"))
        for entry in history:
            if entry.action == "warning":
                rows.append((None, "plan", "", "plan_balance", "yellow",
                             entry.detail.get("problem", ""), np.nan, "", np.nan, "none", "none"))
        order = {"red": 0, "yellow": 1}
        rows.sort(key=lambda r: (r[0] or 0, order.get(r[4], 2)))
        return pd.DataFrame(rows, columns=WARNING_COLUMNS)

    def _emptied_units(self, areas: pd.DataFrame) -> list[tuple]:
        """Units whose residents all left: reported, since a unit's indicators then stop
        meaning much (densities and access shares become n/a)."""
        units = areas[(areas["level"] == "unit") & (areas["indicator"] == "population")]
        first = units[units["year"] == units["year"].min()].set_index("area_id")["value"]
        rows = []
        for r in units.itertuples():
            if r.value == 0 and first.get(r.area_id, 0) > 0:
                rows.append((r.year, "unit", r.area, "population", "red",
                             f"unit {r.area} has no residents left (from "
                             f"{_number(first[r.area_id])})", 0.0, r.unit,
                             float(first[r.area_id]), "none", "min"))
        return rows

    def _cell_list(self, cells: np.ndarray) -> str:
        xs, ys = self.grid.cell_centres()
        listed = "; ".join(f"({xs[c]:.1f}, {ys[r]:.1f})" for r, c in cells[:LISTED_CELLS])
        more = len(cells) - LISTED_CELLS
        return listed + (f"; and {more} more" if more > 0 else "")


def territory_rows(table: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """``indicators.csv`` of a run or an assessment: the territory ("city") rows of the area
    table (:func:`scenarios.areas.area_indicators`), in :data:`CITY_COLUMNS` (+ ``extra``), so
    the two files can never disagree."""
    return table[table["level"] == "city"][CITY_COLUMNS + list(extra)].reset_index(drop=True)


def indicator_warnings(table: pd.DataFrame, registry: dict[str, IndicatorDef]) -> list[tuple]:
    """A warning (:data:`WARNING_COLUMNS`) for every row of an area table beyond its green
    range (status yellow or red), at every level."""
    flagged = table[table["status"].isin(["yellow", "red"])]
    return [indicator_warning(r, registry) for r in flagged.itertuples()]


def indicator_warning(r: Any, registry: dict[str, IndicatorDef]) -> tuple:
    """One indicator row (of :data:`scenarios.areas.LEVEL_COLUMNS`) beyond its green range, as
    a warning naming the limit it is beyond."""
    definition = registry[r.indicator]
    if r.basis == "plan":
        bound, what = r.target, ("above the plan target" if r.limit == "max"
                                 else "below the plan target")
    else:
        bound = r.green_max if r.limit == "max" else r.green_min
        what = "above the upper threshold" if r.limit == "max" else \
            "below the lower threshold"
    return (r.year, r.level, r.area if r.level != "city" else "", r.indicator, r.status,
            f"{definition.name}: {_number(r.value)} {r.unit}, {what} {_number(bound)}",
            r.value, r.unit, bound, r.basis, r.limit)


def _number(value: float) -> str:
    """Readable: thousands separated, two decimals below 100."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
