"""The household model as an engine process, coupled to the land-use CA through fields.

Reads ``land_use__class`` and ``planning__unit_id``; writes ``land_use__demand`` (built-up cells
needed) and ``population__count`` (residents per cell).
"""

from __future__ import annotations

import numpy as np

from agents.model import HouseholdModel, HouseholdParams
from engine.process import Clock, FieldUse, Process, StepReport
from tim.errors import InputError
from tim.model import Territory


class HouseholdDemand(Process):
    """Grow households per planning unit and turn the unhoused into demand for built-up land."""

    FIELDS = (
        FieldUse("land_use__class", "in"),
        FieldUse("planning__unit_id", "in"),
        FieldUse("population__count", "inout"),
        FieldUse("land_use__demand", "out"),
    )

    def __init__(self, territory: Territory, params: HouseholdParams, *, seed: int):
        super().__init__(territory)
        self.params = params
        self.built_code = territory.classes.built.code
        self.built_index = territory.classes.index_of(self.built_code)
        units = territory.get("planning__unit_id")
        self.unit_ids = np.unique(units[units > 0])
        if self.unit_ids.size == 0:
            raise InputError("no planning units on the grid", source=territory.name,
                             field="planning__unit_id")
        self.initial_population = territory.get("population__count").astype(np.float64)
        self.initial_built = territory.get("land_use__class") == self.built_code
        persons = np.bincount(units.ravel(), self.initial_population.ravel(),
                              minlength=int(units.max()) + 1)[self.unit_ids]
        households = np.round(persons / params.persons_per_household).astype(np.int64)
        self.model = HouseholdModel(self.unit_ids, households, params, seed=seed)
        self._built_counted = self.initial_built.copy()

    def run_one_step(self, clock: Clock) -> StepReport:
        t = self.territory
        units = t.get("planning__unit_id")
        built = t.get("land_use__class") == self.built_code
        fresh = built & ~self._built_counted  # built since the last step: new dwellings
        self._built_counted |= built
        counts = np.bincount(units[fresh], minlength=int(units.max()) + 1)
        self.model.add_capacity({int(u): int(counts[u]) for u in self.unit_ids})
        self.model.step()

        demand = np.zeros(len(t.classes), dtype=np.int64)
        demand[self.built_index] = self.model.demand_cells()
        t.set_field("land_use__demand", demand)
        t.set_field("population__count", self._population_grid(units, built))
        households = sum(self.model.households.values())
        return StepReport(self.name, clock.year, {
            "households": households,
            "population": households * self.params.persons_per_household,
            "unhoused_households": self.model.unhoused,
            "demand_built_cells": int(demand[self.built_index]),
        })

    def _population_grid(self, units: np.ndarray, built: np.ndarray) -> np.ndarray:
        """Each unit's residents spread over its built-up cells: in proportion to the initial
        population on cells built at the start, at the new-development density elsewhere.
        A unit with no such cells spreads its residents evenly, so no one is dropped."""
        weight = np.where(self.initial_built, self.initial_population, 0.0)
        weight = np.where(built & ~self.initial_built,
                          self.params.households_per_new_cell, weight)
        weight = np.where(built, weight, 0.0)
        size = int(units.max()) + 1
        unit_weight = np.bincount(units.ravel(), weight.ravel(), minlength=size)
        weight = np.where((unit_weight[units] == 0) & (units > 0), 1.0, weight)
        unit_weight = np.bincount(units.ravel(), weight.ravel(), minlength=size)
        persons = np.zeros(size)
        for unit_id, households in self.model.households.items():
            persons[unit_id] = households * self.params.persons_per_household
        scale = np.divide(persons, unit_weight, out=np.zeros(size), where=unit_weight > 0)
        return (weight * scale[units]).astype(np.float32)
