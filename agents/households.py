"""Households of a planning unit: how many there are, how they grow, where they live.

One agent per planning unit holds that unit's household count (a cohort, not one Python object
per household), so the model scales with the number of units, not of people. Growth is drawn from
the model's seeded generator: Poisson arrivals for growth, binomial departures for decline.
"""

from __future__ import annotations

import mesa
import numpy as np


class UnitHouseholds(mesa.Agent):
    """The households living in one planning unit and the dwellings available to them."""

    def __init__(self, model: mesa.Model, unit_id: int, households: int, capacity: float):
        super().__init__(model)
        self.unit_id = int(unit_id)
        self.households = int(households)
        self.capacity = float(capacity)  # dwellings, updated as land is developed

    def grow(self, rate: float) -> int:
        """Add (rate > 0) or remove (rate < 0) households at ``rate`` per year; return the change."""
        rng: np.random.Generator = self.model.rng
        if rate >= 0:
            change = int(rng.poisson(rate * self.households))
        else:
            change = -int(rng.binomial(self.households, -rate))
        self.households += change
        return change

    @property
    def overflow(self) -> int:
        """Households the unit's dwellings cannot hold."""
        return max(0, self.households - int(np.floor(self.capacity)))

    @property
    def spare(self) -> int:
        return max(0, int(np.floor(self.capacity)) - self.households)
