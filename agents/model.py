"""The household model: growth, moves to units with free dwellings, and demand for new land."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from agents.households import UnitHouseholds


@dataclass(frozen=True)
class HouseholdParams:
    annual_growth: float = 0.01
    persons_per_household: float = 2.8
    households_per_new_cell: float = 7.5
    vacancy: float = 0.05


class HouseholdModel(mesa.Model):
    """Households per planning unit; each step they grow, the overflow moves to units with free
    dwellings, and those still without a dwelling become demand for new built-up cells."""

    def __init__(self, unit_ids: np.ndarray, households: np.ndarray, params: HouseholdParams,
                 *, seed: int):
        super().__init__(rng=seed)
        self.params = params
        capacity = np.ceil(households * (1.0 + params.vacancy))
        self.units = UnitHouseholds.create_agents(self, len(unit_ids), list(unit_ids),
                                                  list(households), list(capacity))
        self.unhoused = 0

    def add_capacity(self, new_cells_by_unit: dict[int, int]) -> None:
        """Newly built-up cells add dwellings at the new-development density."""
        for unit in self.units:
            unit.capacity += new_cells_by_unit.get(unit.unit_id, 0) * \
                self.params.households_per_new_cell

    def step(self) -> None:
        self.units.do("grow", self.params.annual_growth)
        self._relocate_overflow()
        self.unhoused = sum(unit.overflow for unit in self.units)

    def _relocate_overflow(self) -> None:
        """Households a unit cannot hold move to units with spare dwellings, shared in
        proportion to the spare dwellings (largest remainders, so counts stay integers)."""
        movers = sum(unit.overflow for unit in self.units)
        spare = np.array([unit.spare for unit in self.units], dtype=np.int64)
        moving = min(movers, int(spare.sum()))
        if moving == 0:
            return
        share = spare * moving / spare.sum()
        arrivals = np.floor(share).astype(np.int64)
        order = np.argsort(-(share - arrivals), kind="stable")
        arrivals[order[: moving - arrivals.sum()]] += 1
        left = moving
        for unit in self.units:  # departures, in unit order, until `moving` have left
            out = min(unit.overflow, left)
            unit.households -= out
            left -= out
        for unit, extra in zip(self.units, arrivals):
            unit.households += int(extra)

    def demand_cells(self) -> int:
        """New built-up cells needed to house everyone without a dwelling."""
        return int(np.ceil(self.unhoused / self.params.households_per_new_cell))

    @property
    def households(self) -> dict[int, int]:
        return {unit.unit_id: unit.households for unit in self.units}
