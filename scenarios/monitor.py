"""Monitoring a run year by year: the state to keep, the indicators, and the early warnings.

The :class:`Monitor` is the simulation's recorder. After the start state and every step it keeps
the land-use and population maps, computes the city indicators and - when the territory has
planning units - the unit, district and city roll-up, and remembers the cells that broke a hard
control line. :meth:`Monitor.warnings` then lists everything a planning bureau must look at:
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
from scenarios.indicators import (Baseline, IndicatorDef, components, compute_indicators,
                                  encroaching_cells)
from tim.model import Territory

WARNING_COLUMNS = ["year", "level", "area", "indicator", "status", "message"]
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
        self._city: list[dict[str, Any]] = []
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
        for key, value in compute_indicators(state, self.baseline, per_cell).items():
            definition = self.registry[key]
            self._city.append({"year": year, "indicator": key, "value": round(value, 6),
                               "unit": definition.unit, "status": definition.status(value)})
        if self.areas is not None:
            self._areas.append(area_indicators(state, self.baseline, self.areas, year,
                                               self.registry, per_cell))
        cells = encroaching_cells(state, self.baseline)
        if cells.size:
            self._encroachment[year] = cells

    @property
    def indicators(self) -> pd.DataFrame:
        """City indicators: year, indicator, value, unit, status."""
        return pd.DataFrame(self._city)

    @property
    def area_indicators(self) -> pd.DataFrame | None:
        """Unit, district and city rows (see :func:`scenarios.areas.area_indicators`)."""
        return pd.concat(self._areas, ignore_index=True) if self._areas else None

    def warnings(self, reports: Sequence[StepReport], history: Sequence[Any]) -> pd.DataFrame:
        """Every early warning of the run, most severe first within each year."""
        rows = []
        for r in self.indicators.itertuples():
            if r.status in ("yellow", "red"):
                rows.append((r.year, "city", "", r.indicator, r.status,
                             f"{self.registry[r.indicator].name}: {_number(r.value)} {r.unit}"))
        areas = self.area_indicators
        if areas is not None:
            flagged = areas[(areas["level"] != "city") & areas["status"].isin(["yellow", "red"])]
            for r in flagged.itertuples():
                target = "" if pd.isna(r.target) else f" (target {_number(r.target)})"
                rows.append((r.year, r.level, r.area, r.indicator, r.status,
                             f"{self.registry[r.indicator].name}: {_number(r.value)} {r.unit}"
                             f"{target}"))
            rows.extend(self._emptied_units(areas))
        for year, cells in sorted(self._encroachment.items()):
            rows.append((year, "cell", "", "control_line_encroachment", "red",
                         f"{len(cells)} cell(s) built inside a hard control line: "
                         f"{self._cell_list(cells)}"))
        for report in reports:
            for key, value in report.values.items():
                if key.startswith("shortfall_") and value > 0:
                    rows.append((report.year, "city", "", "land_demand", "yellow",
                                 f"{value} cell(s) of demand for class {key[10:]} could not be "
                                 "allocated within the constraints"))
        for entry in history:
            if entry.action == "warning":
                rows.append((None, "plan", "", "plan_balance", "yellow",
                             entry.detail.get("problem", "")))
        order = {"red": 0, "yellow": 1}
        rows.sort(key=lambda r: (r[0] or 0, order.get(r[4], 2)))
        return pd.DataFrame(rows, columns=WARNING_COLUMNS)

    def _emptied_units(self, areas: pd.DataFrame) -> list[tuple]:
        """Units whose residents all left: reported, since a unit's indicators then stop
        meaning much (densities and access shares fall to 0)."""
        units = areas[(areas["level"] == "unit") & (areas["indicator"] == "population")]
        first = units[units["year"] == units["year"].min()].set_index("area_id")["value"]
        rows = []
        for r in units.itertuples():
            if r.value == 0 and first.get(r.area_id, 0) > 0:
                rows.append((r.year, "unit", r.area, "population", "red",
                             f"unit {r.area} has no residents left (from "
                             f"{_number(first[r.area_id])})"))
        return rows

    def _cell_list(self, cells: np.ndarray) -> str:
        xs, ys = self.grid.cell_centres()
        listed = "; ".join(f"({xs[c]:.1f}, {ys[r]:.1f})" for r, c in cells[:LISTED_CELLS])
        more = len(cells) - LISTED_CELLS
        return listed + (f"; and {more} more" if more > 0 else "")


def _number(value: float) -> str:
    """Readable: thousands separated, two decimals below 100."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
